-- The access boundary: access_log entries come from the spool (each once, by entryId) and name the client.
ALTER TABLE access_log ADD COLUMN entryId VARCHAR;   -- the spool entry's id: folding twice adds nothing
ALTER TABLE access_log ADD COLUMN client VARCHAR;    -- where the read came from: cli, or an HTTP client address
UPDATE access_log SET entryId = 'pre-005-' || CAST(rowid AS VARCHAR), client = 'cli';
