-- How many archive parts each key-encryption key protects (for `dr keys list`); grain: one key.
SELECT keyId, count(*) FROM dr_archives WHERE keyId IS NOT NULL GROUP BY keyId
