-- Whether this warehouse has made DR keys (an encrypted archive or a key event): then its keyring must exist and is
-- never made anew; grain: one row.
SELECT (SELECT count(*) FROM dr_archives WHERE keyId IS NOT NULL) + (SELECT count(*) FROM dr_key_events WHERE event = 'created') AS made
