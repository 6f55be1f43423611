-- Whether any call one file just wrote into the lake (file_keys) repeats a key: earlier in the same file, a call of
-- another file (calls_touched: the months the key index hit, store/keys.py), a deleted call (deleted_touched), or,
-- when $purged, a deleted call that retention purged (sql/retention/purged_keys.sql); grain: one row. Any of them
-- sends the file back to the staged load, which rejects each repeat with its reason (ingest/duplicates.py).
SELECT
    EXISTS (SELECT 1 FROM file_keys GROUP BY carrier, carrierCallID HAVING count(*) > 1)
    OR EXISTS (
        SELECT 1 FROM calls_touched AS c JOIN file_keys AS m ON c.carrier = m.carrier AND c.carrierCallID = m.carrierCallID
        WHERE c.CDRFileID IS DISTINCT FROM $file
    )
    OR EXISTS (
        SELECT 1 FROM deleted_touched AS d JOIN file_keys AS m ON d.carrier = m.carrier AND d.carrierCallID = m.carrierCallID
    )
    OR ($purged AND EXISTS (
        SELECT 1 FROM file_keys AS m, warehouse_info AS w
        WHERE purged_key(w.warehouseId, m.carrier, m.carrierCallID) IN (SELECT keyHash FROM purged_keys)
    ))
