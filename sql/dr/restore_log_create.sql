-- In a restored file: who restored which archive, from where and when (grain: one restore). It travels with the
-- file, so a restore made on a machine without the warehouse is still recorded.
CREATE TABLE restore_log (
    archiveId   VARCHAR NOT NULL,
    "partition" VARCHAR NOT NULL,
    source      VARCHAR NOT NULL,    -- the object's URI on the target it was read from
    sha256      VARCHAR NOT NULL,    -- of the encrypted object, as read
    keyId       VARCHAR,             -- the key that opened it (NULL: a plain archive written before SPEC 11)
    "rows"      BIGINT NOT NULL,
    restoredAt  TIMESTAMP NOT NULL,  -- UTC
    restoredBy  VARCHAR NOT NULL,
    host        VARCHAR NOT NULL,
    warehouseId VARCHAR
)
