-- Add the Ultravox deletions of these files to deleted_calls_summary (no cost: 0); grain: one row per month, carrier and deleter.
INSERT INTO deleted_calls_summary
SELECT deletedMonth, carrier, deletedBy, count(*), coalesce(sum(costCDR), 0), sum(duration)
FROM deleted_calls
WHERE id BETWEEN $first_deleted AND $last_deleted
GROUP BY ALL
ON CONFLICT (deletedMonth, carrier, deletedBy) DO UPDATE SET
    deletions = deletions + excluded.deletions,
    costCDR = costCDR + excluded.costCDR,
    duration = duration + excluded.duration
