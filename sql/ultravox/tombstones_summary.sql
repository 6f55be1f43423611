-- Add the Ultravox deletions of these files to deleted_calls_summary (no cost: 0); grain: one row per month, carrier and deleter.
-- MERGE: the lake has no key to upsert on.
MERGE INTO deleted_calls_summary AS s
USING (
    SELECT deletedMonth, carrier, deletedBy, count(*) AS deletions, coalesce(sum(costCDR), 0) AS costCDR, sum(duration) AS duration
    FROM deleted_calls
    WHERE id BETWEEN $first_deleted AND $last_deleted
    GROUP BY ALL
) AS n
ON s.deletedMonth = n.deletedMonth AND s.carrier = n.carrier AND s.deletedBy = n.deletedBy
WHEN MATCHED THEN UPDATE SET deletions = s.deletions + n.deletions, costCDR = s.costCDR + n.costCDR, duration = s.duration + n.duration
WHEN NOT MATCHED THEN INSERT (deletedMonth, carrier, deletedBy, deletions, costCDR, duration)
    VALUES (n.deletedMonth, n.carrier, n.deletedBy, n.deletions, n.costCDR, n.duration)
