-- The keys of the calls one file just wrote into the lake (its CDRFileID, bound): what the duplicate and purged-key
-- checks and the key index need of them, read back from the file's new Parquet files; grain: one row per call.
CREATE OR REPLACE TEMP TABLE file_keys AS
SELECT id, carrier, carrierCallID, call_key(carrierCallID) AS keyHash, strftime(startedAt, '%Y-%m') AS "month"
FROM calls
WHERE CDRFileID = $file
