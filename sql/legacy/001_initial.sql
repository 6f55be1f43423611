-- Initial warehouse schema: runs, counters, CDR files, calls (one row per accepted CDR record) and rejected rows.
-- Every time is UTC (TIMESTAMP without zone). Phone numbers are VARCHAR, money DECIMAL(18,4).

CREATE TABLE schema_migrations (
    version   INTEGER PRIMARY KEY,
    name      VARCHAR NOT NULL,
    appliedAt TIMESTAMP NOT NULL
);

-- Id counters: ids are reserved inside the transaction that uses them, so a
-- rolled-back load leaves no gap-filling surprise and ids stay deterministic.
CREATE TABLE counters (
    name  VARCHAR PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters VALUES ('run', 0), ('cdr_file', 0), ('call', 0);

-- One row per command that changed (or tried to change) the warehouse.
CREATE TABLE runs (
    id        BIGINT PRIMARY KEY,
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
    id           BIGINT PRIMARY KEY,
    fileName     VARCHAR NOT NULL,
    sha256       VARCHAR NOT NULL,
    carrier      VARCHAR,          -- the carrier(s) of its records, comma-separated when several
    status       VARCHAR NOT NULL, -- loaded | rejected
    "rows"       BIGINT NOT NULL,  -- records loaded
    rejected     BIGINT NOT NULL,  -- records rejected
    sizeBytes    BIGINT NOT NULL,
    extraColumns VARCHAR[],        -- header columns that are not part of the CDR format (ignored)
    reason       VARCHAR,          -- why a rejected file was rejected
    ingestedAt   TIMESTAMP NOT NULL,
    runId        BIGINT NOT NULL
);

-- Active call records: one row per accepted CDR record, in id order.
CREATE TABLE calls (
    id                                 BIGINT NOT NULL,
    CDRFileID                          BIGINT NOT NULL,
    lineNumber                         BIGINT NOT NULL,
    target                             VARCHAR NOT NULL,
    extension                          VARCHAR,
    external                           VARCHAR,
    terminationNumber                  VARCHAR,
    locationCarrier                    VARCHAR,
    callTypeDirectionFlag              VARCHAR NOT NULL,
    chargeBand                         VARCHAR,
    callTypeOriginationTypeFlag        VARCHAR,
    callTypeRecordingFlag              VARCHAR NOT NULL,
    startDate                          DATE NOT NULL,
    startTime                          TIME NOT NULL,
    tariffTime                         VARCHAR,
    duration                           BIGINT NOT NULL,
    answerTime                         BIGINT,
    costCDR                            DECIMAL(18, 4) NOT NULL,
    costSuggestedRetail                DECIMAL(18, 4),
    costCDRBasic                       DECIMAL(18, 4),
    costCDRAccessCharge                DECIMAL(18, 4),
    costCDRSurchargeMobileOrigination  DECIMAL(18, 4),
    costCDRSurchargePayphoneOrigination DECIMAL(18, 4),
    costCDRSurchargeCallRecording      DECIMAL(18, 4),
    carrier                            VARCHAR NOT NULL,
    callCarrier                        VARCHAR,
    carrierCallID                      VARCHAR NOT NULL
);

-- Records that broke a rule, kept with every reason and their raw text.
CREATE TABLE rejected_rows (
    source         VARCHAR NOT NULL,  -- cdr | deletions
    CDRFileID      BIGINT,            -- the CDR file (source = cdr)
    deletionFileID BIGINT,            -- the deletion log (source = deletions)
    fileName       VARCHAR NOT NULL,
    lineNumber     BIGINT NOT NULL,
    reasons        VARCHAR[] NOT NULL,
    rawLine        VARCHAR NOT NULL,
    runId          BIGINT NOT NULL
);
