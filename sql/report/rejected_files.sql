-- CDR files and deletion logs rejected whole by the last $runs runs, newest first; grain: one row per file
-- (a file rejected again is listed each time).
WITH recent AS (
    SELECT id FROM runs ORDER BY id DESC LIMIT $runs
)
SELECT fileName, 'CDR file' AS kind, reason, rejected AS records, ingestedAt
FROM cdr_files
WHERE status = 'rejected' AND runId IN (SELECT id FROM recent)
UNION ALL
SELECT fileName, 'deletion log', reason, rejected, ingestedAt
FROM deletion_files
WHERE status = 'rejected' AND runId IN (SELECT id FROM recent)
ORDER BY ingestedAt DESC, fileName
