-- Deletion requests still waiting at the as-of date, by how long they have waited and why; grain: one row per
-- age band and reason. A request waits from its own timestamp (when it was made); a request waiting for both a
-- call and a file counts under each reason. A conflicting entry (an id seen before with other content) is never
-- applied: it waits from the ingestion of the log that carried it.
WITH waiting AS (
    SELECT
        userActivityLog AS entry,
        "timestamp" AS requestedAt,
        CASE WHEN kind IN ('cdrFile', 'cdrFileLine') THEN 'CDR file not loaded yet' ELSE 'call not in the warehouse yet' END AS reason
    FROM pending_deletions
    UNION ALL
    SELECT
        regexp_extract(r.reasons[1], 'entry id ''([^'']*)''', 1),
        f.ingestedAt,
        'conflicting entry, not applied'
    FROM rejected_rows AS r
    JOIN deletion_files AS f ON f.id = r.deletionFileID
    WHERE r.source = 'deletions' AND r.reasons[1] LIKE 'conflict:%'
),
requests AS (
    SELECT entry, reason, count(*) AS items,
           greatest(date_diff('day', CAST(min(requestedAt) AS DATE), CAST($as_of AS DATE)), 0) AS days
    FROM waiting
    GROUP BY entry, reason
)
SELECT
    CASE WHEN days < 7 THEN 0 WHEN days < 30 THEN 1 WHEN days < 90 THEN 2 ELSE 3 END AS band,
    reason,
    count(*) AS requests,
    sum(items) AS items,
    max(days) AS oldestDays
FROM requests
GROUP BY ALL
ORDER BY band, reason
