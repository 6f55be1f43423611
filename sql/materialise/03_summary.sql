-- Add the calls deleted now to deleted_calls_summary (by month, carrier, user; no phone numbers); grain: one row per group.
-- Ultravox calls have no cost (NULL): a cell of them sums to 0.
INSERT INTO deleted_calls_summary
SELECT c.deletedMonth, c.carrier, c.deletedBy, count(*), coalesce(sum(c.costCDR), 0), sum(c.duration)
FROM deleted_calls AS c
JOIN materialise_winners AS w ON w.callId = c.callId
GROUP BY ALL
ON CONFLICT (deletedMonth, carrier, deletedBy) DO UPDATE SET
    deletions = deletions + excluded.deletions,
    costCDR = costCDR + excluded.costCDR,
    duration = duration + excluded.duration
