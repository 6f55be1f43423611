-- Staged records of one file whose (carrier, carrierCallID) belongs to a deleted call that retention purged
-- (sql/retention/purged_keys.sql); grain: one row per such record. The join builds on the smaller side (DuckDB's
-- choice by estimate): memory follows the file or the purged keys, whichever is smaller.
SELECT m.id, m.lineNumber
FROM (SELECT id, lineNumber, purged_key(w.warehouseId, carrier, carrierCallID) AS k FROM staged_calls, warehouse_info AS w) AS m
SEMI JOIN purged_keys AS p ON p.keyHash = m.k
ORDER BY m.id
