-- Partitions of deleted_calls whose last day + retention days is before the as-of date; grain: one row per partition.
SELECT
    deletedMonth AS "partition",
    count(*) AS "rows",
    min(id) AS minId,
    max(id) AS maxId,
    CAST(last_day(CAST(deletedMonth || '-01' AS DATE)) + to_days(CAST($days AS INTEGER)) AS DATE) AS expiresAfter
FROM deleted_calls
GROUP BY deletedMonth
HAVING last_day(CAST(deletedMonth || '-01' AS DATE)) + to_days(CAST($days AS INTEGER)) < $as_of
ORDER BY deletedMonth
