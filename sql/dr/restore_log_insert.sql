-- Record a restore in the restored file's restore_log; grain: one restore.
INSERT INTO restore_log VALUES ($archive, $partition, $source, $sha, $key, $rows, $at, $user, $host, $warehouse)
