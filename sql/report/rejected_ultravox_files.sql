-- Ultravox files rejected whole by the last $runs runs (the protected store only), newest first; grain: one row per file.
WITH recent AS (
    SELECT id FROM runs ORDER BY id DESC LIMIT $runs
)
SELECT fileName, 'Ultravox file' AS kind, reason, rejected AS records, ingestedAt
FROM ultravox_files
WHERE status = 'rejected' AND runId IN (SELECT id FROM recent)
ORDER BY ingestedAt DESC, fileName
