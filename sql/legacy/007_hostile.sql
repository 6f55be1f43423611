-- Hostile files (SPEC 2.3): the reject limit a CDR file was judged by, and deletion logs rejected whole.
-- A CDR file rejected over its limit loads again when the limit is raised above the one it was judged by.
ALTER TABLE cdr_files ADD COLUMN maxRejectRatio DOUBLE;   -- the reject limit in force when it was ingested
ALTER TABLE deletion_files ADD COLUMN status VARCHAR DEFAULT 'ingested';  -- ingested | rejected (no valid entry, or not JSON Lines text)
ALTER TABLE deletion_files ADD COLUMN reason VARCHAR;     -- why a rejected log was rejected
