-- Every key the warehouse recorded for a partition (made, or used by an archive), oldest id first; grain: one key.
SELECT DISTINCT keyId FROM dr_key_events WHERE "partition" = $p AND event = 'created'
UNION
SELECT DISTINCT keyId FROM dr_archives WHERE "partition" = $p AND keyId IS NOT NULL
ORDER BY 1
