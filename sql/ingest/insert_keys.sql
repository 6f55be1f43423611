-- The key index rows of the calls just inserted (sql/schema/014_lake.sql, call_keys); grain: one row per call.
INSERT INTO call_keys
SELECT call_key(carrierCallID), strftime(startedAt, '%Y-%m') FROM staged_calls
