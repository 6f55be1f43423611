-- Record one archive written and verified on one target; grain: archive x target.
INSERT INTO dr_copies (archiveId, target, verifiedAt, lockMode, lockUntil, deletedAt, runId) VALUES ($a, $t, $v, $m, $u, NULL, $r)
