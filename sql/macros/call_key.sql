-- The key index's hash of a call (table call_keys): 64 bits of the MD5 of its carrierCallID, stable across duckdb
-- versions (hash() is not promised to be). The carrier is left out so that a deletion naming a carrierCallID without
-- its carrier finds its calls too; a hit is always checked exactly on (carrier, carrierCallID).
CREATE OR REPLACE TEMP MACRO call_key(carrier_call_id) AS (md5_number_lower(carrier_call_id))
