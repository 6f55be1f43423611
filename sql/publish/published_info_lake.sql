-- This publish, recorded in the lake's published_info just before its catalog is copied to published/protected.duckdb
-- (the protected store): which store, when, by which run, at which schema version; grain: one row.
INSERT INTO published_info
SELECT
    CAST($store AS VARCHAR) AS store,
    CAST($t AS TIMESTAMP) AS publishedAt,
    CAST($run AS BIGINT) AS runId,
    CAST($v AS INTEGER) AS schemaVersion,
    CAST($mode AS VARCHAR) AS publishMode
