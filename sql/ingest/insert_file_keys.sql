-- The key index rows of the calls one file wrote straight into the lake (file_keys; sql/schema/014_lake.sql,
-- call_keys); grain: one row per call.
INSERT INTO call_keys
SELECT keyHash, "month" FROM file_keys
