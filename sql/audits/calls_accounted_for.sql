-- Audit: every record ever loaded is live, deleted, or archived (must return no rows).
-- Loaded: CDR records, plus Ultravox calls that entered from a call object or from a tombstone alone.
SELECT loaded, live, deleted, archived
FROM (
    SELECT
        (SELECT coalesce(sum("rows"), 0) FROM cdr_files WHERE status = 'loaded')
          + (SELECT coalesce(sum(newCalls + newDeleted), 0) FROM ultravox_files WHERE status = 'loaded') AS loaded,
        (SELECT count(*) FROM calls) AS live,
        (SELECT count(*) FROM deleted_calls) AS deleted,
        (SELECT coalesce(sum("rows"), 0) FROM archived_rows_total) AS archived
)
WHERE loaded <> live + deleted + archived
