-- The deletion requests that have waited longest at the as-of date (the first $limit), with who made them and
-- why they wait; grain: one row per request (entry id).
WITH waiting AS (
    SELECT
        userActivityLog AS entry,
        "user",
        "timestamp" AS requestedAt,
        CASE WHEN kind IN ('cdrFile', 'cdrFileLine') THEN 'CDR file not loaded yet' ELSE 'call not in the warehouse yet' END AS reason
    FROM pending_deletions
    UNION ALL
    SELECT
        regexp_extract(r.reasons[1], 'entry id ''([^'']*)''', 1),
        NULL,
        f.ingestedAt,
        'conflicting entry, not applied'
    FROM rejected_rows AS r
    JOIN deletion_files AS f ON f.id = r.deletionFileID
    WHERE r.source = 'deletions' AND r.reasons[1] LIKE 'conflict:%'
)
SELECT
    entry,
    max("user") AS "user",
    min(requestedAt) AS requestedAt,
    greatest(date_diff('day', CAST(min(requestedAt) AS DATE), CAST($as_of AS DATE)), 0) AS days,
    count(*) AS items,
    string_agg(DISTINCT reason, '; ' ORDER BY reason) AS reasons
FROM waiting
GROUP BY entry
ORDER BY requestedAt, entry
LIMIT $limit
