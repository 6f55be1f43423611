-- The copies of shredded archives (their key destroyed) still on their targets, to delete; grain: archive x target.
SELECT c.archiveId, c.target, a.path
FROM dr_copies AS c
JOIN dr_archives AS a ON a.id = c.archiveId
WHERE c.deletedAt IS NULL
  AND a.keyId IN (SELECT keyId FROM dr_key_events WHERE event = 'destroyed')
ORDER BY c.archiveId, c.target
