-- Example: deletions and their wholesale cost by month (all carriers, all users); grain: one row per month.
SELECT deletedMonth, sum(deletions) AS deletions, sum(costCDR) AS wholesaleCostPence
FROM deleted_calls_summary
GROUP BY deletedMonth
ORDER BY deletedMonth
