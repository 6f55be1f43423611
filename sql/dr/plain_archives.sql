-- The plain (unencrypted) archives written before SPEC 11, for `dr migrate`; grain: one archive part.
SELECT * FROM dr_archives WHERE keyId IS NULL ORDER BY "partition", part
