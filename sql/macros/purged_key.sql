-- The key a purge keeps of a purged deleted call (table purged_keys, migration 010): the first 128 bits of a SHA-256
-- of the warehouse id, the carrier (its length first, so that ('a:b', 'c') and ('a', 'b:c') differ) and the
-- carrierCallID. One definition for every statement that writes or looks up purged keys; a temporary macro that
-- warehouse.connect() creates on each writer connection. Built from two 64-bit halves: duckdb 1.5 cannot cast a
-- 128-bit hex literal ('0x…'::UHUGEINT), and the halves give the same value on every version.
CREATE OR REPLACE TEMP MACRO purged_key(warehouse_id, carrier, carrier_call_id) AS (
    (CAST(CAST('0x' || left(sha256(warehouse_id || ':' || length(carrier) || ':' || carrier || carrier_call_id), 16) AS UBIGINT) AS UHUGEINT) << 64)
    | CAST(CAST('0x' || substr(sha256(warehouse_id || ':' || length(carrier) || ':' || carrier || carrier_call_id), 17, 16) AS UBIGINT) AS UHUGEINT)
)
