-- The latest refusals in the report's window (the first $limit), newest first: who was refused what, and why;
-- grain: one row per refused access.
SELECT "at", "user", command, client, reason
FROM access_log
WHERE NOT allowed AND "at" >= CAST($first AS TIMESTAMP) AND "at" < CAST($end AS TIMESTAMP)
ORDER BY "at" DESC
LIMIT $limit
