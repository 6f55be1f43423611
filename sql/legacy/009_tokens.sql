-- HTTP API tokens (grain: one token), which token an access_log entry was made with, and which call a duplicate duplicates.
CREATE TABLE api_tokens (
    id           VARCHAR PRIMARY KEY,   -- public part of the token, shown by `tokens list`
    "user"       VARCHAR NOT NULL,      -- the user the token acts as
    secretSha256 VARCHAR NOT NULL,      -- SHA-256 of the secret part; the secret itself is never stored
    created      TIMESTAMP NOT NULL,    -- UTC
    expires      TIMESTAMP,             -- UTC; NULL: never
    revokedAt    TIMESTAMP,             -- UTC; NULL: valid
    createdBy    VARCHAR NOT NULL,
    runId        BIGINT NOT NULL
);
ALTER TABLE access_log ADD COLUMN tokenId VARCHAR;  -- the API token of an HTTP request; NULL for the CLI
-- A record rejected as a duplicate names the call it duplicates: its raw line is a copy of that call,
-- so it is withheld from analysts and erased when that call's deleted row is purged.
ALTER TABLE rejected_rows ADD COLUMN duplicateOf BIGINT;  -- the platform call id (calls.id / deleted_calls.callId)
