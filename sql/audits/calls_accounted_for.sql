-- Audit: every record ever loaded is live, deleted, or archived (must return no rows).
SELECT loaded, live, deleted, archived
FROM (
    SELECT
        (SELECT coalesce(sum("rows"), 0) FROM cdr_files WHERE status = 'loaded') AS loaded,
        (SELECT count(*) FROM calls) AS live,
        (SELECT count(*) FROM deleted_calls) AS deleted,
        (SELECT coalesce(sum("rows"), 0) FROM archived_rows_total) AS archived
)
WHERE loaded <> live + deleted + archived
