-- The key index rows of new live Ultravox calls (sql/schema/014_lake.sql, call_keys): the month of joined, else created; grain: one row per new call.
INSERT INTO call_keys
SELECT call_key(callId), strftime(coalesce(ultravox.joined, ultravox.created), '%Y-%m') FROM uv_new
