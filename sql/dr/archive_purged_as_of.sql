-- The as-of date of the purge that an archive was written for (its DR expiry counts from it); grain: one row.
SELECT max("asOf") FROM retention_events WHERE archiveId = $a
