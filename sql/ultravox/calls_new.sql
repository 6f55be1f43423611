-- Incoming Ultravox calls the warehouse has never seen (neither live nor deleted, nor deleted and purged: see
-- sql/retention/purged_keys.sql), numbered in file order; grain: one row per new call.
CREATE OR REPLACE TEMP TABLE uv_new AS
SELECT i.*, row_number() OVER (ORDER BY i.fileIdx, i."position") AS rn
FROM uv_incoming AS i
WHERE NOT EXISTS (SELECT 1 FROM ultravox_calls AS u WHERE u.callId = i.callId)
  AND NOT EXISTS (SELECT 1 FROM deleted_calls AS d WHERE d.ultravox IS NOT NULL AND d.carrierCallID = i.callId)
  AND purged_key((SELECT warehouseId FROM warehouse_info), 'ultravox', i.callId) NOT IN (SELECT keyHash FROM purged_keys)
