-- Row count, id range and content checksum of an archive file as read back; grain: one row.
SELECT count(*) AS "rows", min(id) AS minId, max(id) AS maxId, CAST(bit_xor(hash(t)) AS VARCHAR) AS checksum
FROM (SELECT * FROM read_parquet($path, hive_partitioning = false)) AS t
