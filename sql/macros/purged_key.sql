-- The key a purge keeps of a purged deleted call (table purged_keys): the first 128 bits of a SHA-256 of the warehouse
-- id, the carrier (its length first, so that ('a:b', 'c') and ('a', 'b:c') differ) and the carrierCallID, as 16 bytes.
-- One definition for every statement that writes or looks up purged keys; a temporary macro that warehouse.connect()
-- creates on each writer connection. A BLOB: DuckLake returns stored UHUGEINT values rounded (docs/DECISIONS.md).
CREATE OR REPLACE TEMP MACRO purged_key(warehouse_id, carrier, carrier_call_id) AS (
    unhex(left(sha256(warehouse_id || ':' || length(carrier) || ':' || carrier || carrier_call_id), 32))
)
