-- Example: who deleted the most calls, and their wholesale cost; grain: one row per user.
SELECT deletedBy, sum(deletions) AS deletions, sum(costCDR) AS wholesaleCostPence, count(DISTINCT carrier) AS carriers
FROM deleted_calls_summary
GROUP BY deletedBy
ORDER BY deletions DESC
