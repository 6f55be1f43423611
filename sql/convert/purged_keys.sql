-- The old layout's purged keys as the lake keeps them: the 128-bit value (UHUGEINT, big-endian halves) as its 16 bytes,
-- which is what sql/macros/purged_key.sql now computes; grain: one purged deleted row.
SELECT
    unhex(lpad(hex(CAST(keyHash >> 64 AS UBIGINT)), 16, '0') || lpad(hex(CAST(keyHash % CAST('18446744073709551616' AS UHUGEINT) AS UBIGINT)), 16, '0')) AS keyHash,
    "partition",
    purgedAt
FROM old.main.purged_keys
