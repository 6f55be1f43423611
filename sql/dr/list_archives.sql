-- Every DR archive with its state: live, or shredded once its key was destroyed (dr_key_events); grain: one archive part.
-- keyId NULL: a plain archive written before SPEC 11, which `dr migrate` encrypts to the targets.
SELECT
    a.id, a."partition", a.part, a."rows", a.sizeBytes AS size, a.sha256, a.minId, a.maxId, a.contentChecksum,
    a.keyId, a.manifestSha256, a.created, a.path,
    CASE WHEN k.keyId IS NULL THEN 'live' ELSE 'shredded' END AS state,
    k.destroyedAt AS shreddedAt,
    a.keyId IS NOT NULL AS encrypted
FROM dr_archives AS a
LEFT JOIN (
    SELECT keyId, min("at") AS destroyedAt FROM dr_key_events WHERE event = 'destroyed' GROUP BY keyId
) AS k ON k.keyId = a.keyId
ORDER BY a."partition", a.part
