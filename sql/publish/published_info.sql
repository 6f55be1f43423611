-- One row in each published store: which store it is, when it was published, by which run, at which schema version,
-- and how: 'fresh' (written anew) or 'extended' (the previous file plus what was appended since, stores.py).
CREATE TABLE pub.published_info AS
SELECT
    CAST($store AS VARCHAR) AS store,
    CAST($t AS TIMESTAMP) AS publishedAt,
    CAST($run AS BIGINT) AS runId,
    CAST($v AS INTEGER) AS schemaVersion,
    CAST($mode AS VARCHAR) AS publishMode;
