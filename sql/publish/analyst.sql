-- The analyst store (attached as pub): every table analysts may query, by allow-list, and no protected row.
-- Not copied: deleted_calls, access_log, user_activity_log, deletion_items (they name deleted calls and why),
-- and any table not listed here. The writer's database is the default catalog.
CREATE TABLE pub.schema_migrations AS SELECT * FROM schema_migrations;
CREATE TABLE pub.warehouse_info AS SELECT * FROM warehouse_info;
CREATE TABLE pub.counters AS SELECT * FROM counters;
CREATE TABLE pub.runs AS SELECT * FROM runs ORDER BY id;
CREATE TABLE pub.cdr_files AS SELECT * FROM cdr_files ORDER BY id;
CREATE TABLE pub.calls AS SELECT * FROM calls;
-- a rejected line of a deletion log names the calls it meant to delete: CDR rejects only
CREATE TABLE pub.rejected_rows AS SELECT * FROM rejected_rows WHERE source = 'cdr';
CREATE TABLE pub.deletion_files AS SELECT * FROM deletion_files ORDER BY id;
CREATE TABLE pub.dr_archives AS SELECT * FROM dr_archives;
CREATE TABLE pub.retention_events AS SELECT * FROM retention_events;
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
