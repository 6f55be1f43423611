-- The copies still on their targets of the archives a key protects; grain: archive x target.
SELECT c.archiveId, c.target, a.path, a.keyId, a."partition", c.lockMode, c.lockUntil
FROM dr_copies AS c
JOIN dr_archives AS a ON a.id = c.archiveId
WHERE a.keyId = $k AND c.deletedAt IS NULL
ORDER BY c.archiveId, c.target
