-- Record one archive part written and verified on every target (in the purge's transaction); grain: one part.
INSERT INTO dr_archives (id, "partition", part, path, "rows", sizeBytes, sha256, minId, maxId, contentChecksum, created,
                         runId, keyId, manifestSha256)
VALUES ($id, $p, $part, $path, $rows, $size, $sha, $min, $max, $ck, $t, $run, $key, $msha)
