-- The key index rows of calls stored from a tombstone alone (never ingested live): a CDR record or call object with the
-- same key must find them in deleted_calls; grain: one row per such call.
INSERT INTO call_keys
SELECT call_key(callId), strftime(coalesce(joined, created), '%Y-%m') FROM uv_deleting WHERE newRank IS NOT NULL
