-- A plain archive encrypted to the targets by `dr migrate`: its key, the new object's SHA-256 and size, its
-- manifest's SHA-256; grain: one archive part.
UPDATE dr_archives SET keyId = $k, sha256 = $s, sizeBytes = $z, manifestSha256 = $m WHERE id = $a
