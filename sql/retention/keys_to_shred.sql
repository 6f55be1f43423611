-- The live keys of purged partitions with the as-of date of their latest purge, from which their DR expiry counts
-- ([dr] retention_days; decided in Python, store/retention.py); grain: one key.
SELECT a.keyId, a."partition", max(e."asOf") AS lastPurge
FROM dr_archives AS a
JOIN retention_events AS e ON e.archiveId = a.id
WHERE a.keyId IS NOT NULL
  AND a.keyId NOT IN (SELECT keyId FROM dr_key_events WHERE event = 'destroyed')
GROUP BY a.keyId, a."partition"
ORDER BY a.keyId
