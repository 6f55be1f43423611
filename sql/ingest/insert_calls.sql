-- The staged calls of one file that are not duplicates (those were removed from staged_calls) into the lake's calls,
-- which writes them as new Parquet files in the month folders of their startedAt; grain: one row per call.
INSERT INTO calls
SELECT * FROM staged_calls
