-- Which unresolved deletion items name which live calls, and the entry that deletes each call first; grain: one row per call to delete.
-- Items naming a carrierCallID read only the months of calls the key index gives for their keys (calls_touched:
-- store/keys.pending_touched); items naming call ids or files read calls whose id or file statistics match.
CREATE OR REPLACE TEMP TABLE materialise_winners AS
WITH items AS (
    SELECT i.userActivityLog, i.item, i.kind, i.carrier, i.carrierCallID, i.callId, i.cdrFile, i.lineNumber,
           u."timestamp", u."user"
    FROM deletion_items AS i
    JOIN user_activity_log AS u ON u.id = i.userActivityLog
    WHERE i.resolvedAt IS NULL
),
loaded_files AS (
    SELECT id, fileName FROM cdr_files WHERE status = 'loaded'
),
matches AS (
    SELECT it.userActivityLog, it.item, it."timestamp", it."user", c.id AS callId
    FROM items AS it
    JOIN calls_touched AS c ON c.carrierCallID = it.carrierCallID
    WHERE it.kind = 'carrierCallID' AND (it.carrier IS NULL OR c.carrier = it.carrier)
    UNION ALL
    SELECT it.userActivityLog, it.item, it."timestamp", it."user", c.id
    FROM items AS it
    JOIN calls AS c ON c.id = it.callId
    WHERE it.kind = 'callId'
    UNION ALL
    SELECT it.userActivityLog, it.item, it."timestamp", it."user", c.id
    FROM items AS it
    JOIN loaded_files AS f ON f.fileName = it.cdrFile
    JOIN calls AS c ON c.CDRFileID = f.id
    WHERE it.kind = 'cdrFile' OR (it.kind = 'cdrFileLine' AND c.lineNumber = it.lineNumber)
)
SELECT callId, userActivityLog, item, "timestamp", "user"
FROM matches
QUALIFY row_number() OVER (PARTITION BY callId ORDER BY "timestamp", userActivityLog, item) = 1
