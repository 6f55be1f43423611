-- The partitions of deleted_calls with their rows and id range; grain: one row per deletedMonth.
-- Which of them are expired is decided in Python (clock.partition_expiry), the one statement of that rule.
SELECT deletedMonth AS "partition", count(*) AS "rows", min(id) AS minId, max(id) AS maxId
FROM deleted_calls
GROUP BY deletedMonth
ORDER BY deletedMonth
