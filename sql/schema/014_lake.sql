-- The warehouse as a DuckLake (issue 28): every table of the single-file layout's last version (sql/legacy/: 001-013),
-- now lake
-- tables whose data are Parquet files under data/, partitioned by month where they grow with the history.
-- A new home starts here; a home of the old layout is converted (store/convert.py) into a lake made by this file.
-- DuckLake has no PRIMARY KEY or UNIQUE constraint: uniqueness is the writer's (ids from counters, audits).
-- Column order is that of the last legacy version, so positional INSERTs keep working. Times are UTC (TIMESTAMP without zone).

CREATE TABLE schema_migrations (
    version   INTEGER NOT NULL,
    name      VARCHAR NOT NULL,
    appliedAt TIMESTAMP NOT NULL
);

-- Id counters: ids are reserved inside the transaction that uses them (store/warehouse.next_ids).
CREATE TABLE counters (
    name  VARCHAR NOT NULL,
    value BIGINT NOT NULL
);
INSERT INTO counters VALUES ('run', 0), ('cdr_file', 0), ('call', 0), ('deletion_file', 0), ('deleted_call', 0), ('ultravox_file', 0);

-- One row per command that changed (or tried to change) the warehouse.
CREATE TABLE runs (
    id        BIGINT NOT NULL,
    command   VARCHAR NOT NULL,
    "user"    VARCHAR NOT NULL,
    startedAt TIMESTAMP NOT NULL,
    endedAt   TIMESTAMP,
    outcome   VARCHAR NOT NULL,   -- running | ok | rejected | failed | interrupted
    exitCode  INTEGER,
    counts    VARCHAR,            -- JSON object of per-stage counts
    message   VARCHAR
);

-- One row per CDR file seen: loaded, or rejected whole.
CREATE TABLE cdr_files (
    id             BIGINT NOT NULL,
    fileName       VARCHAR NOT NULL,
    sha256         VARCHAR NOT NULL,
    carrier        VARCHAR,
    status         VARCHAR NOT NULL,  -- loaded | rejected
    "rows"         BIGINT NOT NULL,
    rejected       BIGINT NOT NULL,
    sizeBytes      BIGINT NOT NULL,
    extraColumns   VARCHAR[],
    reason         VARCHAR,
    ingestedAt     TIMESTAMP NOT NULL,
    runId          BIGINT NOT NULL,
    profile        VARCHAR,
    maxRejectRatio DOUBLE,
    startByte      BIGINT,            -- 013: where this load's part of the text starts (0: the file from its start)
    endByte        BIGINT,            -- 013: where the text read ends, exclusive: its size, or its last line end
    firstLine      BIGINT,            -- 013: the first line of this load's part (1: the file's first line)
    lastLine       BIGINT,            -- 013: the last line of this load's part
    textSha256     VARCHAR,           -- 013: SHA-256 of the text's bytes [0, endByte) (of the text inside a .gz or .zip)
    extendsFile    BIGINT,            -- 013: the load of the same growing file that this one continues (cdr_files.id)
    profileSha256  VARCHAR            -- 013: SHA-256 of the resolved profile (and zone) it was read with
);

-- Active call records, partitioned by the UTC month of startedAt: a night appends new files to the months it
-- brings, and a deletion rewrites only the files holding the calls it deletes.
CREATE TABLE calls (
    id                                  BIGINT NOT NULL,
    CDRFileID                           BIGINT,
    lineNumber                          BIGINT,
    target                              VARCHAR,
    extension                           VARCHAR,
    external                            VARCHAR,
    terminationNumber                   VARCHAR,
    locationCarrier                     VARCHAR,
    callTypeDirectionFlag               VARCHAR,
    chargeBand                          VARCHAR,
    callTypeOriginationTypeFlag         VARCHAR,
    callTypeRecordingFlag               VARCHAR NOT NULL,
    startDate                           DATE NOT NULL,
    startTime                           TIME NOT NULL,
    tariffTime                          VARCHAR,
    duration                            BIGINT NOT NULL,
    answerTime                          BIGINT,
    costCDR                             DECIMAL(18, 4),
    costSuggestedRetail                 DECIMAL(18, 4),
    costCDRBasic                        DECIMAL(18, 4),
    costCDRAccessCharge                 DECIMAL(18, 4),
    costCDRSurchargeMobileOrigination   DECIMAL(18, 4),
    costCDRSurchargePayphoneOrigination DECIMAL(18, 4),
    costCDRSurchargeCallRecording       DECIMAL(18, 4),
    carrier                             VARCHAR NOT NULL,
    callCarrier                         VARCHAR,
    carrierCallID                       VARCHAR NOT NULL,
    startedAt                           TIMESTAMPTZ
);
ALTER TABLE calls SET PARTITIONED BY (year(startedAt), month(startedAt));

-- Records that broke a rule, kept with every reason and their raw text.
CREATE TABLE rejected_rows (
    source         VARCHAR NOT NULL,  -- cdr | deletions | ultravox
    CDRFileID      BIGINT,
    deletionFileID BIGINT,
    fileName       VARCHAR NOT NULL,
    lineNumber     BIGINT NOT NULL,
    reasons        VARCHAR[] NOT NULL,
    rawLine        VARCHAR NOT NULL,
    runId          BIGINT NOT NULL,
    ultravoxFileID BIGINT,
    duplicateOf    BIGINT,
    reasonCodes    VARCHAR[],         -- 012: each reason without any value (sql/macros/reason_code.sql): what analysts see
    carrier        VARCHAR,           -- 012: the record's key when it could be read (a purge erases lines keyed like purged calls)
    carrierCallID  VARCHAR
);

-- One row per deletion log file seen.
CREATE TABLE deletion_files (
    id         BIGINT NOT NULL,
    fileName   VARCHAR NOT NULL,
    sha256     VARCHAR NOT NULL,
    entries    BIGINT NOT NULL,
    duplicates BIGINT NOT NULL,
    conflicts  BIGINT NOT NULL,
    rejected   BIGINT NOT NULL,
    ingestedAt TIMESTAMP NOT NULL,
    runId      BIGINT NOT NULL,
    status     VARCHAR,               -- ingested | rejected
    reason     VARCHAR
);

-- One row per accepted user-activity entry.
CREATE TABLE user_activity_log (
    id             VARCHAR NOT NULL,
    "user"         VARCHAR NOT NULL,
    "timestamp"    TIMESTAMP NOT NULL,
    action         VARCHAR NOT NULL,
    reason         VARCHAR,
    selector       VARCHAR NOT NULL,
    selectorKind   VARCHAR NOT NULL,
    contentSha256  VARCHAR NOT NULL,
    deletionFileID BIGINT NOT NULL,
    lineNumber     BIGINT NOT NULL,
    ingestedAt     TIMESTAMP NOT NULL,
    appliedAt      TIMESTAMP,
    runId          BIGINT NOT NULL
);

-- One row per thing a selector names.
CREATE TABLE deletion_items (
    userActivityLog VARCHAR NOT NULL,
    item            INTEGER NOT NULL,
    kind            VARCHAR NOT NULL,   -- carrierCallID | callId | cdrFile | cdrFileLine
    carrier         VARCHAR,
    carrierCallID   VARCHAR,
    callId          BIGINT,
    cdrFile         VARCHAR,
    lineNumber      BIGINT,
    resolvedAt      TIMESTAMP,
    resolvedRunId   BIGINT,
    callsDeleted    BIGINT
);

-- Deleted calls, partitioned by deletedMonth (the retention partition): a purge drops that month's files.
CREATE TABLE deleted_calls (
    id                                  BIGINT NOT NULL,
    callId                              BIGINT NOT NULL,
    CDRFileID                           BIGINT,
    lineNumber                          BIGINT,
    target                              VARCHAR,
    extension                           VARCHAR,
    external                            VARCHAR,
    terminationNumber                   VARCHAR,
    locationCarrier                     VARCHAR,
    callTypeDirectionFlag               VARCHAR,
    chargeBand                          VARCHAR,
    callTypeOriginationTypeFlag         VARCHAR,
    callTypeRecordingFlag               VARCHAR NOT NULL,
    startDate                           DATE NOT NULL,
    startTime                           TIME NOT NULL,
    tariffTime                          VARCHAR,
    duration                            BIGINT NOT NULL,
    answerTime                          BIGINT,
    costCDR                             DECIMAL(18, 4),
    costSuggestedRetail                 DECIMAL(18, 4),
    costCDRBasic                        DECIMAL(18, 4),
    costCDRAccessCharge                 DECIMAL(18, 4),
    costCDRSurchargeMobileOrigination   DECIMAL(18, 4),
    costCDRSurchargePayphoneOrigination DECIMAL(18, 4),
    costCDRSurchargeCallRecording       DECIMAL(18, 4),
    carrier                             VARCHAR NOT NULL,
    callCarrier                         VARCHAR,
    carrierCallID                       VARCHAR NOT NULL,
    userActivityLog                     VARCHAR NOT NULL,
    deletedBy                           VARCHAR NOT NULL,
    deletedAt                           TIMESTAMP NOT NULL,
    deletedMonth                        VARCHAR NOT NULL,
    created                             TIMESTAMP NOT NULL,
    updated                             TIMESTAMP NOT NULL,
    runId                               BIGINT NOT NULL,
    startedAt                           TIMESTAMPTZ,
    ultravox STRUCT(
        accountId        VARCHAR,
        agentId          VARCHAR,
        voice            VARCHAR,
        metadata         MAP(VARCHAR, VARCHAR),
        endReason        VARCHAR,
        recordingEnabled BOOLEAN,
        created          TIMESTAMP,
        joined           TIMESTAMP,
        ended            TIMESTAMP,
        maxDuration      VARCHAR,
        hadSummary       BOOLEAN,
        callObject       BOOLEAN
    )
);
ALTER TABLE deleted_calls SET PARTITIONED BY (deletedMonth);

-- One row: this warehouse's identity, written into every archive manifest.
CREATE TABLE warehouse_info (
    warehouseId VARCHAR NOT NULL,
    createdAt   TIMESTAMP NOT NULL
);
INSERT INTO warehouse_info SELECT CAST(uuid() AS VARCHAR), CAST(now() AS TIMESTAMP);

-- One row per DR archive file.
CREATE TABLE dr_archives (
    id              VARCHAR NOT NULL,
    "partition"     VARCHAR NOT NULL,
    part            INTEGER NOT NULL,
    path            VARCHAR NOT NULL,
    "rows"          BIGINT NOT NULL,
    sizeBytes       BIGINT NOT NULL,
    sha256          VARCHAR NOT NULL,
    minId           BIGINT NOT NULL,
    maxId           BIGINT NOT NULL,
    contentChecksum VARCHAR NOT NULL,
    created         TIMESTAMP NOT NULL,
    runId           BIGINT NOT NULL,
    keyId           VARCHAR,          -- 011: the key that wraps the archive's data keys (NULL: a plain archive of before SPEC 11)
    manifestSha256  VARCHAR           -- 011: SHA-256 of its manifest (the same bytes on every target)
);

-- 011: one row per archive written and verified on one target (grain: archive x target).
CREATE TABLE dr_copies (
    archiveId  VARCHAR NOT NULL,
    target     VARCHAR NOT NULL,     -- the target's URI (file:///... or s3://bucket/prefix)
    verifiedAt TIMESTAMP NOT NULL,   -- read back, decrypted and compared with the warehouse rows (UTC)
    lockMode   VARCHAR,              -- S3 Object Lock mode set on its objects, NULL when not locked
    lockUntil  TIMESTAMP,            -- their retention date (the partition's DR expiry)
    deletedAt  TIMESTAMP,            -- its objects deleted at DR expiry, after the key was destroyed
    runId      BIGINT NOT NULL
);

-- 011: what happened to each key-encryption key, and who did it (grain: one event). Never key material.
CREATE TABLE dr_key_events (
    keyId       VARCHAR NOT NULL,    -- the keyring's key id (a partition: 2026-01; 2026-01.2 for a later key)
    "partition" VARCHAR NOT NULL,
    event       VARCHAR NOT NULL,    -- created, rotated, destroyed
    "at"        TIMESTAMP NOT NULL,  -- UTC
    "user"      VARCHAR NOT NULL,
    detail      VARCHAR,
    runId       BIGINT
);

-- One row per partition purge, and when the purged bytes were erased from every file of the home.
CREATE TABLE retention_events (
    archiveId     VARCHAR NOT NULL,
    "partition"   VARCHAR NOT NULL,
    "rows"        BIGINT NOT NULL,
    "asOf"        DATE NOT NULL,
    retentionDays INTEGER NOT NULL,
    purgedAt      TIMESTAMP NOT NULL,
    erasedAt      TIMESTAMP,
    runId         BIGINT NOT NULL
);

-- Every read of deleted-call data, and every refusal.
CREATE TABLE access_log (
    "user"       VARCHAR NOT NULL,
    "at"         TIMESTAMP NOT NULL,
    command      VARCHAR NOT NULL,
    filters      VARCHAR,
    rowsReturned BIGINT,
    allowed      BOOLEAN NOT NULL,
    reason       VARCHAR,
    entryId      VARCHAR,
    client       VARCHAR,
    tokenId      VARCHAR
);

-- The analysts' deletion summary (no phone numbers), kept by materialise (MERGE: one row per cell).
CREATE TABLE deleted_calls_summary (
    deletedMonth VARCHAR NOT NULL,
    carrier      VARCHAR NOT NULL,
    deletedBy    VARCHAR NOT NULL,
    deletions    BIGINT NOT NULL,
    costCDR      DECIMAL(38, 4),    -- 012: NULL for purged months (counts kept, no cost or duration)
    duration     BIGINT
);

-- One row per Ultravox file seen.
CREATE TABLE ultravox_files (
    id          BIGINT NOT NULL,
    fileName    VARCHAR NOT NULL,
    sha256      VARCHAR NOT NULL,
    kind        VARCHAR,
    status      VARCHAR NOT NULL,
    records     BIGINT NOT NULL,
    newCalls    BIGINT NOT NULL,
    updated     BIGINT NOT NULL,
    unchanged   BIGINT NOT NULL,
    deleted     BIGINT NOT NULL,
    newDeleted  BIGINT NOT NULL,
    rejected    BIGINT NOT NULL,
    sizeBytes   BIGINT NOT NULL,
    reason      VARCHAR,
    ingestedAt  TIMESTAMP NOT NULL,
    runId       BIGINT NOT NULL
);

-- The own fields of each live Ultravox call.
CREATE TABLE ultravox_calls (
    id             BIGINT NOT NULL,
    callId         VARCHAR NOT NULL,
    ultravox       STRUCT(
        accountId        VARCHAR,
        agentId          VARCHAR,
        voice            VARCHAR,
        metadata         MAP(VARCHAR, VARCHAR),
        endReason        VARCHAR,
        recordingEnabled BOOLEAN,
        created          TIMESTAMP,
        joined           TIMESTAMP,
        ended            TIMESTAMP,
        maxDuration      VARCHAR,
        hadSummary       BOOLEAN,
        callObject       BOOLEAN
    ) NOT NULL,
    stage          INTEGER NOT NULL,
    ultravoxFileID BIGINT NOT NULL,
    "position"     BIGINT NOT NULL,
    updated        TIMESTAMP NOT NULL,
    runId          BIGINT NOT NULL
);

-- HTTP API tokens (only a hash of each secret).
CREATE TABLE api_tokens (
    id           VARCHAR NOT NULL,
    "user"       VARCHAR NOT NULL,
    secretSha256 VARCHAR NOT NULL,
    created      TIMESTAMP NOT NULL,
    expires      TIMESTAMP,
    revokedAt    TIMESTAMP,
    createdBy    VARCHAR NOT NULL,
    runId        BIGINT NOT NULL
);

-- The keys of purged deleted calls (grain: one purged deleted row): the first 128 bits of a SHA-256 of the
-- warehouse id, the carrier (length-prefixed) and the carrierCallID, as 16 bytes (sql/macros/purged_key.sql).
-- A BLOB, not UHUGEINT: DuckLake returns stored UHUGEINT values rounded to about 16 significant digits.
CREATE TABLE purged_keys (
    keyHash     BLOB NOT NULL,
    "partition" VARCHAR NOT NULL,  -- the deletedMonth it was purged with
    purgedAt    TIMESTAMP NOT NULL
);

-- The key index (grain: one call that entered the warehouse): a 64-bit hash of its carrierCallID and the UTC month
-- of its start. Append-only. A new record's key is looked up here (a scan of 8-byte hashes, nothing held per call
-- of the history), and only a hit is checked exactly, in the months it names, in deleted_calls and in purged_keys
-- (sql/ingest/duplicate_keys.sql). Deletions find the months of the calls they name the same way.
CREATE TABLE call_keys (
    keyHash UBIGINT NOT NULL,   -- md5_number_lower(carrierCallID): the carrier is left out, so a selector without one finds its calls
    "month" VARCHAR NOT NULL    -- YYYY-MM of startedAt (UTC): the calls partition the call went into
);

-- One row: the publish the protected store (a copy of this catalog) comes from (store/publish.py).
CREATE TABLE published_info (
    store         VARCHAR NOT NULL,
    publishedAt   TIMESTAMP NOT NULL,
    runId         BIGINT,
    schemaVersion INTEGER NOT NULL,
    publishMode   VARCHAR NOT NULL
);
