-- The CDR file loads a delivery may repeat, continue or conflict with (grain: one cdr_files row): the loads of its name
-- or of its size, and every load of a profile whose rotated names it has. isHead: no loaded load continues it (the
-- growing file's newest extent; a name is taken only while a head bears it).
SELECT f.id, f.fileName, f.sha256, f.textSha256, f.status, f.endByte, f.lastLine, f.profile, f.profileSha256,
       f.maxRejectRatio, f.reason, f.sizeBytes,
       NOT EXISTS (SELECT 1 FROM cdr_files AS n WHERE n.extendsFile = f.id AND n.status = 'loaded') AS isHead
FROM cdr_files AS f
WHERE f.fileName = $name
   OR f.sizeBytes = $size
   OR (f.status = 'loaded' AND list_contains($profiles::VARCHAR[], f.profile))
ORDER BY f.id
