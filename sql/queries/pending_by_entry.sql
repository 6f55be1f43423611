-- Example (needs data_protection): deletion entries still waiting for their calls, oldest first; grain: one row per entry.
SELECT userActivityLog, "user", min(pendingSince) AS pendingSince, count(*) AS items, list(DISTINCT kind) AS kinds
FROM pending_deletions
GROUP BY userActivityLog, "user"
ORDER BY pendingSince
