-- Issue 25: the analyst store holds no raw line and no quoted value of a rejected record (SPEC 7), and a purge erases
-- the raw lines of the rejected records that may be copies of the calls it purges (docs/SECURITY.md).
-- reasonCodes: each reason without any value, 'columns: code' (sql/macros/reason_code.sql); what analysts see.
ALTER TABLE rejected_rows ADD COLUMN reasonCodes VARCHAR[];
-- the record's key, when it could be read (NULL otherwise): a purge erases the raw line of a record keyed like a
-- purged call, and of every record whose key could not be read (it may be a copy of any call)
ALTER TABLE rejected_rows ADD COLUMN carrier VARCHAR;
ALTER TABLE rejected_rows ADD COLUMN carrierCallID VARCHAR;
UPDATE rejected_rows SET reasonCodes = list_transform(reasons, lambda r: reason_code(r));
-- After a purge, deleted_calls_summary keeps the counts of the purged months but no cost or duration (SPEC 4; a
-- one-call cell is that call's exact values): NULL from the purge on (sql/retention/summary_purged.sql). Months
-- purged before this migration lose theirs now, and their retention events are marked for erasure again, so that
-- the next `retention enforce` rewrites the database file without the old sums' bytes.
ALTER TABLE deleted_calls_summary ALTER COLUMN costCDR DROP NOT NULL;
ALTER TABLE deleted_calls_summary ALTER COLUMN duration DROP NOT NULL;
UPDATE deleted_calls_summary SET costCDR = NULL, duration = NULL
WHERE deletedMonth IN (SELECT "partition" FROM retention_events);
UPDATE retention_events SET erasedAt = NULL
WHERE "partition" IN (SELECT deletedMonth FROM deleted_calls_summary WHERE costCDR IS NULL);
