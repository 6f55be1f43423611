-- Keep the key hashes of the rows a purge of one partition is about to delete (same transaction); grain: one purged row.
-- The same expression finds them again in sql/ingest/purged_duplicates.sql and sql/ultravox/*.
INSERT INTO purged_keys
SELECT
    CAST('0x' || left(sha256(w.warehouseId || ':' || length(d.carrier) || ':' || d.carrier || d.carrierCallID), 32) AS UHUGEINT),
    d.deletedMonth,
    CAST($now AS TIMESTAMP)
FROM deleted_calls AS d, warehouse_info AS w
WHERE d.deletedMonth = $partition AND d.id <= $max_id AND d.carrierCallID IS NOT NULL
