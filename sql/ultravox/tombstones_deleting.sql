-- The tombstones of a group of files (registered as uv_tombs) that delete something: one per call (earliest deletion), not deleted (nor purged) before; with the live call if there is one; grain: one row per call to delete.
CREATE OR REPLACE TEMP TABLE uv_deleting AS
WITH t AS (
    SELECT * FROM uv_tombs
    QUALIFY row_number() OVER (PARTITION BY callId ORDER BY deletionTime, fileIdx, "position") = 1
)
SELECT
    t.*,
    c.id AS liveId,
    u.ultravox AS fields,
    CASE WHEN c.id IS NULL THEN row_number() OVER (PARTITION BY c.id IS NULL ORDER BY t.fileIdx, t."position") END AS newRank,
    row_number() OVER (ORDER BY t.deletionTime, t.callId) AS deletedRank
FROM t
LEFT JOIN ultravox_calls AS u ON u.callId = t.callId
LEFT JOIN calls AS c ON c.id = u.id
WHERE NOT EXISTS (SELECT 1 FROM deleted_calls AS d WHERE d.ultravox IS NOT NULL AND d.carrierCallID = t.callId)
  -- a call deleted and purged stays deleted: its tombstone again changes nothing (sql/retention/purged_keys.sql)
  AND purged_key((SELECT warehouseId FROM warehouse_info), 'ultravox', t.callId) NOT IN (SELECT keyHash FROM purged_keys)
