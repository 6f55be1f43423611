-- One row in each published store: which store it is, when it was published, by which run, at which schema version.
CREATE TABLE pub.published_info AS
SELECT
    CAST($store AS VARCHAR) AS store,
    CAST($t AS TIMESTAMP) AS publishedAt,
    CAST($run AS BIGINT) AS runId,
    CAST($v AS INTEGER) AS schemaVersion;
