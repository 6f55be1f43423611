-- Audit: Ultravox fields belong to exactly one live Ultravox call, and every live Ultravox call has them (must return no rows).
SELECT 'fields without a live call' AS what, u.callId AS value
FROM ultravox_calls AS u
LEFT JOIN calls AS c ON c.id = u.id AND c.carrierCallID = u.callId AND c.carrier = 'ultravox'
WHERE c.id IS NULL
UNION ALL
SELECT 'fields twice', callId FROM ultravox_calls GROUP BY callId HAVING count(*) > 1
UNION ALL
SELECT 'Ultravox call without fields', c.carrierCallID
FROM calls AS c
WHERE c.carrier = 'ultravox' AND c.CDRFileID IS NULL AND c.id NOT IN (SELECT id FROM ultravox_calls)
UNION ALL
SELECT 'Ultravox call deleted twice', carrierCallID
FROM deleted_calls WHERE ultravox IS NOT NULL GROUP BY carrierCallID HAVING count(*) > 1
