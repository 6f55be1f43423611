-- Entries whose every item is resolved are applied; grain: one row per entry.
UPDATE user_activity_log AS u
SET appliedAt = $now
WHERE u.appliedAt IS NULL
  AND NOT EXISTS (SELECT 1 FROM deletion_items AS i WHERE i.userActivityLog = u.id AND i.resolvedAt IS NULL)
