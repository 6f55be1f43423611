-- The key-encryption keys destroyed at DR expiry (crypto-shredded); grain: one key.
SELECT DISTINCT keyId FROM dr_key_events WHERE event = 'destroyed'
