-- The analyst store (attached as pub): every table analysts may query, by allow-list, and no protected row.
-- Not copied: deleted_calls, access_log, user_activity_log, deletion_items, api_tokens (they name deleted calls
-- and why, or grant access), and any table not listed here. The writer's lake is the default catalog;
-- materialise_winners (sql/materialise/01_matches.sql) holds the calls that pending deletions name.
-- calls is not copied here: store/publish.py makes it a view over links to the lake's calls files (which hold
-- live calls only), and a file holding a call that a pending deletion names is replaced by a copy without it.
CREATE TABLE pub.schema_migrations AS SELECT * FROM schema_migrations;
CREATE TABLE pub.warehouse_info AS SELECT * FROM warehouse_info;
CREATE TABLE pub.counters AS SELECT * FROM counters;
CREATE TABLE pub.runs AS SELECT * FROM runs ORDER BY id;
CREATE TABLE pub.cdr_files AS SELECT * FROM cdr_files ORDER BY id;
-- a rejected line of a deletion log names the calls it meant to delete: CDR rejects only. A raw line, and a reason
-- that quotes a value, is personal data (SPEC 7): by construction, analysts get the file, the line number and the
-- reason codes (column names and codes from fixed sets, sql/macros/reason_code.sql) and never a raw line (rawLine
-- stays, always NULL, so that queries naming it keep working); officers see everything in the protected store.
CREATE TABLE pub.rejected_rows AS
SELECT source, CDRFileID, fileName, lineNumber, reasonCodes AS reasons, CAST(NULL AS VARCHAR) AS rawLine, runId
FROM rejected_rows
WHERE source = 'cdr';
CREATE TABLE pub.deletion_files AS SELECT * FROM deletion_files ORDER BY id;
CREATE TABLE pub.dr_archives AS SELECT * FROM dr_archives;
CREATE TABLE pub.retention_events AS SELECT * FROM retention_events;
-- where each archive is and what happened to its key (no key material, no personal data)
CREATE TABLE pub.dr_copies AS SELECT * FROM dr_copies;
CREATE TABLE pub.dr_key_events AS SELECT * FROM dr_key_events;
-- a cell of fewer than [privacy] min_cell deletions shows its count, not its cost or duration
CREATE TABLE pub.deleted_calls_summary AS
SELECT
    deletedMonth,
    carrier,
    deletedBy,
    deletions,
    CASE WHEN deletions >= getvariable('min_cell') THEN costCDR END AS costCDR,
    CASE WHEN deletions >= getvariable('min_cell') THEN duration END AS duration
FROM deleted_calls_summary
ORDER BY deletedMonth, carrier, deletedBy;
