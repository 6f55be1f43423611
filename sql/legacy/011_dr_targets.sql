-- DR archives that survive the machine (SPEC 11): encrypted archives on one or more targets, each copy verified
-- there, and the life of each partition's key-encryption key (made, rotated, destroyed: crypto-shredding).

-- The key that wraps the archive's data keys (NULL: a plain archive written before SPEC 11, until `dr migrate`),
-- and the SHA-256 of its manifest (the same bytes on every target).
ALTER TABLE dr_archives ADD COLUMN keyId VARCHAR;
ALTER TABLE dr_archives ADD COLUMN manifestSha256 VARCHAR;
-- path: the object's path under a target's root (it was relative to the home: dr/deletedMonth=.../part-NNNN.parquet)
UPDATE dr_archives SET path = substr(path, 4) WHERE path LIKE 'dr/%';

-- One row per archive written and verified on one target (grain: archive x target).
CREATE TABLE dr_copies (
    archiveId  VARCHAR NOT NULL,
    target     VARCHAR NOT NULL,     -- the target's URI (file:///... or s3://bucket/prefix)
    verifiedAt TIMESTAMP NOT NULL,   -- read back, decrypted and compared with the warehouse rows (UTC)
    lockMode   VARCHAR,              -- S3 Object Lock mode set on its objects, NULL when not locked
    lockUntil  TIMESTAMP,            -- their retention date (the partition's DR expiry)
    deletedAt  TIMESTAMP,            -- its objects deleted at DR expiry, after the key was destroyed
    runId      BIGINT NOT NULL
);

-- What happened to each key-encryption key, and who did it (grain: one event). Never key material.
CREATE TABLE dr_key_events (
    keyId       VARCHAR NOT NULL,    -- the keyring's key id (a partition: 2026-01; 2026-01.2 for a later key)
    "partition" VARCHAR NOT NULL,
    event       VARCHAR NOT NULL,    -- created, rotated, destroyed
    "at"        TIMESTAMP NOT NULL,  -- UTC
    "user"      VARCHAR NOT NULL,
    detail      VARCHAR,
    runId       BIGINT
);
