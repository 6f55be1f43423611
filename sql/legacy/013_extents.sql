-- Growing and rotated deliveries, and re-ingest after a fix (issue 26). A CDR file a switch keeps appending to
-- (Master.csv) is loaded in extents: each load is one cdr_files row that records which bytes and lines of the
-- file's text it read, and the SHA-256 of the text up to its end, which a later, longer copy must start with.
-- Additive columns only (no constraint, no default that needs a rewrite), so that they port to DuckLake.
ALTER TABLE cdr_files ADD COLUMN startByte BIGINT;      -- where this load's part of the text starts (0: the file from its start)
ALTER TABLE cdr_files ADD COLUMN endByte BIGINT;        -- where the text read ends, exclusive: its size, or its last line end
ALTER TABLE cdr_files ADD COLUMN firstLine BIGINT;      -- the first line of this load's part (1: the file's first line)
ALTER TABLE cdr_files ADD COLUMN lastLine BIGINT;       -- the last line of this load's part
ALTER TABLE cdr_files ADD COLUMN textSha256 VARCHAR;    -- SHA-256 of the text's bytes [0, endByte) (of the text inside a .gz or .zip)
ALTER TABLE cdr_files ADD COLUMN extendsFile BIGINT;    -- the load of the same growing file that this one continues (cdr_files.id)
ALTER TABLE cdr_files ADD COLUMN profileSha256 VARCHAR; -- SHA-256 of the resolved profile (and zone) it was read with
-- Files loaded before: read whole from their start. A plain file's text is the file itself; a compressed one's is not known.
UPDATE cdr_files SET startByte = 0, firstLine = 1,
       endByte = CASE WHEN lower(fileName) LIKE '%.gz' OR lower(fileName) LIKE '%.zip' THEN NULL ELSE sizeBytes END,
       textSha256 = CASE WHEN lower(fileName) LIKE '%.gz' OR lower(fileName) LIKE '%.zip' THEN NULL ELSE sha256 END;
