-- With the purge of one partition, its deleted_calls_summary cells keep their counts but no cost or duration (SPEC 4:
-- a one-call cell would keep that call's exact values); deletions added to the month later leave them NULL. Grain: one
-- summary cell.
UPDATE deleted_calls_summary SET costCDR = NULL, duration = NULL WHERE deletedMonth = $partition
