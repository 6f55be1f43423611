-- Every partition (deletedMonth) the warehouse has known, with its deletions, its DR archive parts and its purges;
-- grain: one row per partition. Deletions come from deleted_calls_summary, which outlives purges, so a partition
-- holds deletions - purgedRows rows now. Which are past retention is decided in Python (clock.partition_expiry).
WITH deleted AS (
    SELECT deletedMonth AS "partition", sum(deletions) AS deletions
    FROM deleted_calls_summary
    GROUP BY ALL
),
archived AS (
    SELECT "partition", count(*) AS parts, sum("rows") AS archivedRows, sum(sizeBytes) AS archivedBytes,
           min(created) AS firstArchived, max(created) AS lastArchived
    FROM dr_archives
    GROUP BY ALL
),
purged AS (
    SELECT "partition", sum("rows") AS purgedRows, min(purgedAt) AS firstPurged, max(purgedAt) AS lastPurged,
           CASE WHEN count(erasedAt) = count(*) THEN max(erasedAt) END AS erasedAt
    FROM retention_events
    GROUP BY ALL
)
SELECT
    "partition",
    coalesce(d.deletions, 0) AS deletions,
    coalesce(a.parts, 0) AS parts,
    coalesce(a.archivedRows, 0) AS archivedRows,
    a.archivedBytes,
    a.firstArchived,
    a.lastArchived,
    coalesce(p.purgedRows, 0) AS purgedRows,
    p.firstPurged,
    p.lastPurged,
    p.erasedAt
FROM deleted AS d
FULL JOIN archived AS a USING ("partition")
FULL JOIN purged AS p USING ("partition")
ORDER BY "partition"
