-- Add the calls deleted now to deleted_calls_summary (by month, carrier, user; no phone numbers); grain: one row per group.
-- Ultravox calls have no cost (NULL): a cell of them sums to 0. MERGE: the lake has no key to upsert on.
MERGE INTO deleted_calls_summary AS s
USING (
    SELECT c.deletedMonth, c.carrier, c.deletedBy, count(*) AS deletions, coalesce(sum(c.costCDR), 0) AS costCDR, sum(c.duration) AS duration
    FROM deleted_calls AS c
    JOIN materialise_winners AS w ON w.callId = c.callId
    GROUP BY ALL
) AS n
ON s.deletedMonth = n.deletedMonth AND s.carrier = n.carrier AND s.deletedBy = n.deletedBy
WHEN MATCHED THEN UPDATE SET deletions = s.deletions + n.deletions, costCDR = s.costCDR + n.costCDR, duration = s.duration + n.duration
WHEN NOT MATCHED THEN INSERT (deletedMonth, carrier, deletedBy, deletions, costCDR, duration)
    VALUES (n.deletedMonth, n.carrier, n.deletedBy, n.deletions, n.costCDR, n.duration)
