-- Reads of deleted calls and refusals in the report's window, per user and week (weeks start on Monday, UTC),
-- from access_log (with the spooled entries not folded yet); grain: one row per week and user.
SELECT
    CAST(date_trunc('week', "at") AS DATE) AS week,
    "user",
    count(*) FILTER (WHERE allowed) AS reads,
    count(*) FILTER (WHERE NOT allowed) AS refused,
    coalesce(sum(rowsReturned) FILTER (WHERE allowed), 0) AS rowsReturned
FROM access_log
WHERE "at" >= CAST($first AS TIMESTAMP) AND "at" < CAST($end AS TIMESTAMP)
GROUP BY ALL
ORDER BY week, "user"
