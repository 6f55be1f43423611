-- Deletion log and the deleted-calls audit table: deletion files, user-activity entries, their selector items, deleted calls.
INSERT INTO counters VALUES ('deletion_file', 0), ('deleted_call', 0);

-- One row per deletion log file seen.
CREATE TABLE deletion_files (
    id         BIGINT PRIMARY KEY,
    fileName   VARCHAR NOT NULL,
    sha256     VARCHAR NOT NULL,
    entries    BIGINT NOT NULL,   -- new entries recorded
    duplicates BIGINT NOT NULL,   -- entries seen before with the same content (no-ops)
    conflicts  BIGINT NOT NULL,   -- entries whose id was seen with other content (not applied)
    rejected   BIGINT NOT NULL,   -- lines that are not valid JSON or break the schema
    ingestedAt TIMESTAMP NOT NULL,
    runId      BIGINT NOT NULL
);

-- One row per accepted user-activity entry (grain: entry id).
CREATE TABLE user_activity_log (
    id             VARCHAR PRIMARY KEY,
    "user"         VARCHAR NOT NULL,
    "timestamp"    TIMESTAMP NOT NULL,  -- UTC
    action         VARCHAR NOT NULL,
    reason         VARCHAR,
    selector       VARCHAR NOT NULL,    -- the selector as JSON text
    selectorKind   VARCHAR NOT NULL,    -- carrierCallIds | cdrFile | cdrFileLines | callIds
    contentSha256  VARCHAR NOT NULL,    -- of the canonical JSON of the entry: tells a replay from a conflict
    deletionFileID BIGINT NOT NULL,
    lineNumber     BIGINT NOT NULL,
    ingestedAt     TIMESTAMP NOT NULL,
    appliedAt      TIMESTAMP,           -- when its last item was resolved
    runId          BIGINT NOT NULL
);

-- One row per thing a selector names: a carrierCallID, a call id, a file, or a line of a file.
CREATE TABLE deletion_items (
    userActivityLog VARCHAR NOT NULL,
    item            INTEGER NOT NULL,   -- position within the selector
    kind            VARCHAR NOT NULL,   -- carrierCallID | callId | cdrFile | cdrFileLine
    carrier         VARCHAR,
    carrierCallID   VARCHAR,
    callId          BIGINT,
    cdrFile         VARCHAR,
    lineNumber      BIGINT,
    resolvedAt      TIMESTAMP,          -- NULL while pending
    resolvedRunId   BIGINT,
    callsDeleted    BIGINT              -- calls this item moved (0 when they were already deleted)
);

-- Deleted calls: every field of the call, plus who deleted it, when, and the partition.
CREATE TABLE deleted_calls (
    id                                  BIGINT NOT NULL,   -- deleted-call id, increasing
    callId                              BIGINT NOT NULL,   -- the call's platform id (calls.id)
    CDRFileID                           BIGINT NOT NULL,
    lineNumber                          BIGINT NOT NULL,
    target                              VARCHAR NOT NULL,
    extension                           VARCHAR,
    external                            VARCHAR,
    terminationNumber                   VARCHAR,
    locationCarrier                     VARCHAR,
    callTypeDirectionFlag               VARCHAR NOT NULL,
    chargeBand                          VARCHAR,
    callTypeOriginationTypeFlag         VARCHAR,
    callTypeRecordingFlag               VARCHAR NOT NULL,
    startDate                           DATE NOT NULL,
    startTime                           TIME NOT NULL,
    tariffTime                          VARCHAR,
    duration                            BIGINT NOT NULL,
    answerTime                          BIGINT,
    costCDR                             DECIMAL(18, 4) NOT NULL,
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
    deletedAt                           TIMESTAMP NOT NULL,  -- the entry's timestamp, UTC
    deletedMonth                        VARCHAR NOT NULL,    -- YYYY-MM of deletedAt: the retention partition
    created                             TIMESTAMP NOT NULL,
    updated                             TIMESTAMP NOT NULL,
    runId                               BIGINT NOT NULL
);
