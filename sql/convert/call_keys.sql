-- The key index of a converted warehouse: one row per call it holds, live or deleted (sql/schema/014_lake.sql, call_keys).
-- Calls purged before the conversion are not in it: ingest checks purged keys exactly for every new record while any
-- purged key is not indexed (sql/ingest/purged_duplicates.sql); grain: one call.
INSERT INTO call_keys
SELECT call_key(carrierCallID), coalesce(strftime(startedAt, '%Y-%m'), strftime(startDate, '%Y-%m')) FROM calls
UNION ALL
SELECT call_key(carrierCallID), coalesce(strftime(startedAt, '%Y-%m'), strftime(startDate, '%Y-%m')) FROM deleted_calls
