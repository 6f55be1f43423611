-- The rejected records of a file whose key could be read (registered as reject_keys: line, carrier, carrierCallID):
-- the call each repeats, live or deleted, and whether its key was purged (sql/retention/purged_keys.sql). A rejected
-- line may be a copy of that call: it is then withheld from analysts and erased with it, or not kept at all.
-- Calls are read only where the key index says these keys may be (calls_touched, deleted_touched: store/keys.py).
-- Grain: one row per rejected record with a key.
SELECT
    k.line,
    coalesce(
        (SELECT min(c.id) FROM calls_touched AS c WHERE c.carrier = k.carrier AND c.carrierCallID = k.carrierCallID),
        (SELECT min(d.callId) FROM deleted_touched AS d WHERE d.carrier = k.carrier AND d.carrierCallID = k.carrierCallID)
    ) AS copyOf,
    purged_key(w.warehouseId, k.carrier, k.carrierCallID) IN (SELECT keyHash FROM purged_keys) AS purged
FROM reject_keys AS k, warehouse_info AS w
