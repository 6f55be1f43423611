-- Carrier profiles: each call's instant in UTC (startedAt) beside the carrier's wall clock, and each CDR file's profile.
-- Calls ingested before this migration came from canonical files, whose wall clock was taken as UTC.

ALTER TABLE calls ADD COLUMN startedAt TIMESTAMPTZ;            -- startDate + startTime in the profile's zone, as UTC
UPDATE calls SET startedAt = timezone('UTC', startDate + startTime);

ALTER TABLE deleted_calls ADD COLUMN startedAt TIMESTAMPTZ;    -- as calls.startedAt
UPDATE deleted_calls SET startedAt = timezone('UTC', startDate + startTime);

ALTER TABLE cdr_files ADD COLUMN profile VARCHAR;              -- the profile the file was read with
UPDATE cdr_files SET profile = 'canonical';
