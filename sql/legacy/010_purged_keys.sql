-- The keys of purged deleted calls (grain: one purged deleted row), so that a call deleted and purged never comes
-- back: a carrier re-sending an old CDR, a re-delivered Ultravox page or tombstone. Not the key itself but the first 128 bits of a
-- SHA-256 of the warehouse id, the carrier (length-prefixed) and the carrierCallID (sql/retention/purged_keys.sql):
-- the warehouse can tell that a key was purged, not which call it was. Purges before this migration left no keys.
CREATE TABLE purged_keys (
    keyHash   UHUGEINT NOT NULL,   -- purged_key(warehouseId, carrier, carrierCallID): sql/macros/purged_key.sql
    "partition" VARCHAR NOT NULL,  -- the deletedMonth it was purged with
    purgedAt  TIMESTAMP NOT NULL   -- UTC
);
