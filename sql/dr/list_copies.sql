-- Where each DR archive was written and verified; grain: one archive on one target.
SELECT archiveId, target, verifiedAt, lockMode, lockUntil, deletedAt
FROM dr_copies
ORDER BY archiveId, target
