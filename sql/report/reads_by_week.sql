-- Reads of deleted calls and refusals in the report's window, per user and week (weeks start on Monday, UTC),
-- from access_log (with the spooled entries not folded yet); grain: one row per week and user. An officer's `sql`
-- statement is logged twice, when it starts and with its outcome (whose filters name the first entry as `started`):
-- it counts once, by its outcome; a started statement with no outcome (its process was killed) counts as a read.
WITH outcomes AS (
    SELECT json_extract_string(filters, '$.started') AS started
    FROM access_log
    WHERE command = 'sql' AND json_extract_string(filters, '$.started') IS NOT NULL
),
accesses AS (
    SELECT * FROM access_log
    WHERE NOT coalesce(reason = 'started' AND entryId IN (SELECT started FROM outcomes), false)
)
SELECT
    CAST(date_trunc('week', "at") AS DATE) AS week,
    "user",
    count(*) FILTER (WHERE allowed) AS reads,
    count(*) FILTER (WHERE NOT allowed) AS refused,
    coalesce(sum(rowsReturned) FILTER (WHERE allowed), 0) AS rowsReturned
FROM accesses
WHERE "at" >= CAST($first AS TIMESTAMP) AND "at" < CAST($end AS TIMESTAMP)
GROUP BY ALL
ORDER BY week, "user"
