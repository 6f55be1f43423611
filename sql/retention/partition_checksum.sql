-- Row count, id range and content checksum of the rows of one partition up to an id, as archived (without deletedMonth); grain: one row.
SELECT count(*) AS "rows", min(id) AS minId, max(id) AS maxId, CAST(bit_xor(hash(t)) AS VARCHAR) AS checksum
FROM (SELECT * EXCLUDE (deletedMonth) FROM deleted_calls WHERE deletedMonth = $partition AND id <= $max_id) AS t
