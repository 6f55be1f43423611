-- Row count, id range and content checksum of archived rows read back (the Arrow stream registered as batches);
-- grain: one row. The same expression as sql/retention/partition_checksum.sql computes on the warehouse rows.
SELECT count(*) AS "rows", min(id) AS minId, max(id) AS maxId, CAST(bit_xor(hash(t)) AS VARCHAR) AS checksum
FROM (SELECT * FROM batches) AS t
