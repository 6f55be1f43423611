-- Ultravox calls (SPEC 10): their files, their own fields while live, and a column that carries those fields into deleted_calls.
-- An Ultravox call has no phone number, no cost, no direction and no CDR file: those columns become nullable
-- (NULL means "the source has none"; no sentinel values). CDR rows still require them (the CDR schema says so).

ALTER TABLE calls ALTER COLUMN CDRFileID DROP NOT NULL;
ALTER TABLE calls ALTER COLUMN lineNumber DROP NOT NULL;
ALTER TABLE calls ALTER COLUMN target DROP NOT NULL;
ALTER TABLE calls ALTER COLUMN callTypeDirectionFlag DROP NOT NULL;
ALTER TABLE calls ALTER COLUMN costCDR DROP NOT NULL;
ALTER TABLE deleted_calls ALTER COLUMN CDRFileID DROP NOT NULL;
ALTER TABLE deleted_calls ALTER COLUMN lineNumber DROP NOT NULL;
ALTER TABLE deleted_calls ALTER COLUMN target DROP NOT NULL;
ALTER TABLE deleted_calls ALTER COLUMN callTypeDirectionFlag DROP NOT NULL;
ALTER TABLE deleted_calls ALTER COLUMN costCDR DROP NOT NULL;

-- A deleted Ultravox call's own fields (NULL for carrier calls). Kept in deleted_calls itself, so that
-- retention archives, purges, erases and restores them with the row, by the code that does it for every row.
ALTER TABLE deleted_calls ADD COLUMN ultravox STRUCT(
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
    callObject       BOOLEAN     -- a call object (page or webhook) was ingested, not only a tombstone
);

-- Rejected call objects, tombstones and events name their Ultravox file.
ALTER TABLE rejected_rows ADD COLUMN ultravoxFileID BIGINT;

INSERT INTO counters VALUES ('ultravox_file', 0);

-- One row per Ultravox file seen: a saved /api/calls page, a saved /api/deleted_calls page, or a webhook spool.
CREATE TABLE ultravox_files (
    id          BIGINT PRIMARY KEY,
    fileName    VARCHAR NOT NULL,
    sha256      VARCHAR NOT NULL,
    kind        VARCHAR,           -- calls | tombstones | events (NULL: not recognised)
    status      VARCHAR NOT NULL,  -- loaded | rejected
    records     BIGINT NOT NULL,   -- call objects, tombstones or events in the file
    newCalls    BIGINT NOT NULL,   -- live calls created
    updated     BIGINT NOT NULL,   -- calls whose stored fields changed
    unchanged   BIGINT NOT NULL,   -- records that changed nothing (repeats, stale events, known tombstones)
    deleted     BIGINT NOT NULL,   -- calls moved to deleted_calls
    newDeleted  BIGINT NOT NULL,   -- deleted calls stored from a tombstone alone (the call was never ingested)
    rejected    BIGINT NOT NULL,   -- records rejected (see rejected_rows)
    sizeBytes   BIGINT NOT NULL,
    reason      VARCHAR,           -- why a rejected file was rejected
    ingestedAt  TIMESTAMP NOT NULL,
    runId       BIGINT NOT NULL
);

-- The own fields of each live Ultravox call (grain: one live Ultravox call). When the call is deleted
-- they move into deleted_calls.ultravox and the row leaves this table, in the same transaction.
CREATE TABLE ultravox_calls (
    id             BIGINT NOT NULL,     -- calls.id
    callId         VARCHAR NOT NULL,    -- Ultravox's call id (calls.carrierCallID)
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
    stage          INTEGER NOT NULL,    -- 0 created, 1 joined, 2 ended: a stale event never replaces a later state
    ultravoxFileID BIGINT NOT NULL,     -- the file of the current state
    position       BIGINT NOT NULL,     -- its 1-based position in results (pages) or line (webhook spools)
    updated        TIMESTAMP NOT NULL,
    runId          BIGINT NOT NULL
);
