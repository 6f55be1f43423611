-- Audit: a call deleted more than once, or a deleted-call id used twice (must return no rows).
SELECT 'callId' AS what, callId AS value FROM deleted_calls GROUP BY callId HAVING count(*) > 1
UNION ALL
SELECT 'id', id FROM deleted_calls GROUP BY id HAVING count(*) > 1
