-- Deletions per month of the report's window, by carrier ($by = 'carrier') or by the user who deleted ($by = 'user'),
-- from deleted_calls_summary (which outlives purges); grain: one row per month and carrier (or user).
-- costCDR is the cells' wholesale cost, or NULL when a cell of it shows none (the analyst store hides the cost
-- of a cell of fewer than [privacy] min_cell deletions).
SELECT
    deletedMonth AS "month",
    CASE WHEN $by = 'carrier' THEN carrier ELSE deletedBy END AS series,
    sum(deletions) AS deletions,
    CASE WHEN count(costCDR) = count(*) THEN sum(costCDR) END AS costCDR
FROM deleted_calls_summary
WHERE deletedMonth BETWEEN $first_month AND $last_month
GROUP BY ALL
ORDER BY "month", deletions DESC, series
