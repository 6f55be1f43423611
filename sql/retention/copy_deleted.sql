-- A shredded archive's objects deleted from one target; grain: archive x target.
UPDATE dr_copies SET deletedAt = $t WHERE archiveId = $a AND target = $u AND deletedAt IS NULL
