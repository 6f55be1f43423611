-- The nightly runs (`run JOB`) started in the report's window: duration, rows, outcome, and how the duration
-- compares with the median of the runs shown; grain: one row per run.
WITH nightly AS (
    SELECT
        id,
        command,
        startedAt,
        endedAt,
        outcome,
        epoch(endedAt - startedAt) AS seconds,
        coalesce(TRY_CAST(json_extract_string(counts, '$."ingest-cdr".rows') AS BIGINT), 0)
            + coalesce(TRY_CAST(json_extract_string(counts, '$."ingest-ultravox".newCalls') AS BIGINT), 0) AS rowsLoaded,
        coalesce(TRY_CAST(json_extract_string(counts, '$.materialise.deleted') AS BIGINT), 0)
            + coalesce(TRY_CAST(json_extract_string(counts, '$."ingest-ultravox".deleted') AS BIGINT), 0) AS deleted,
        coalesce(TRY_CAST(json_extract_string(counts, '$.retention.rowsPurged') AS BIGINT), 0) AS purged
    FROM runs
    WHERE (command = 'run' OR command LIKE 'run %')
      AND startedAt >= CAST($first AS TIMESTAMP) AND startedAt < CAST($end AS TIMESTAMP)
)
SELECT
    *,
    median(seconds) OVER () AS medianSeconds
FROM nightly
ORDER BY startedAt, id
