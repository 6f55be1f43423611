-- Audit: a call id present in both calls and deleted_calls (must return no rows).
SELECT c.id AS callId FROM calls AS c JOIN deleted_calls AS d ON d.callId = c.id
