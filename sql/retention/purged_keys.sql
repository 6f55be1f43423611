-- Keep the key hashes of the rows a purge of one partition is about to delete (same transaction); grain: one purged row.
-- purged_key: sql/macros/purged_key.sql.
INSERT INTO purged_keys
SELECT
    purged_key(w.warehouseId, d.carrier, d.carrierCallID),
    d.deletedMonth,
    CAST($now AS TIMESTAMP)
FROM deleted_calls AS d, warehouse_info AS w
WHERE d.deletedMonth = $partition AND d.id <= $max_id AND d.carrierCallID IS NOT NULL
