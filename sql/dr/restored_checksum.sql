-- Row count, id range and content checksum of a restored file's rows, without the partition column (as archived);
-- grain: one row. The same expression as sql/dr/checksum.sql.
SELECT count(*) AS "rows", min(id) AS minId, max(id) AS maxId, CAST(bit_xor(hash(t)) AS VARCHAR) AS checksum
FROM (SELECT * EXCLUDE (deletedMonth) FROM deleted_calls) AS t
