-- Retention and DR archives: the warehouse's identity, archive parts, retention events.

-- One row: this warehouse's identity, written into every archive manifest.
CREATE TABLE warehouse_info (
    warehouseId VARCHAR NOT NULL,
    createdAt   TIMESTAMP NOT NULL
);
INSERT INTO warehouse_info SELECT CAST(uuid() AS VARCHAR), CAST(now() AS TIMESTAMP);

-- One row per DR archive file (a partition may have several parts).
CREATE TABLE dr_archives (
    id              VARCHAR PRIMARY KEY,   -- <partition>-part-<NNNN>, what dr verify / restore take
    "partition"     VARCHAR NOT NULL,      -- deletedMonth, YYYY-MM
    part            INTEGER NOT NULL,
    path            VARCHAR NOT NULL,      -- relative to the warehouse home
    "rows"          BIGINT NOT NULL,
    sizeBytes       BIGINT NOT NULL,
    sha256          VARCHAR NOT NULL,
    minId           BIGINT NOT NULL,
    maxId           BIGINT NOT NULL,
    contentChecksum VARCHAR NOT NULL,      -- bit_xor of row hashes, checked at write time
    created         TIMESTAMP NOT NULL,
    runId           BIGINT NOT NULL
);

-- One row per partition purge, and whether the database file has since been rewritten (erased).
CREATE TABLE retention_events (
    archiveId     VARCHAR NOT NULL,
    "partition"   VARCHAR NOT NULL,
    "rows"        BIGINT NOT NULL,
    "asOf"        DATE NOT NULL,
    retentionDays INTEGER NOT NULL,
    purgedAt      TIMESTAMP NOT NULL,
    erasedAt      TIMESTAMP,             -- when the database file was rewritten without the purged bytes
    runId         BIGINT NOT NULL
);

-- Every read of deleted-call data, and every refusal (grain: one access attempt).
CREATE TABLE access_log (
    "user"       VARCHAR NOT NULL,
    "at"         TIMESTAMP NOT NULL,
    command      VARCHAR NOT NULL,
    filters      VARCHAR,            -- JSON object of the filters / query
    rowsReturned BIGINT,
    allowed      BOOLEAN NOT NULL,
    reason       VARCHAR
);
