-- Records of file $file whose (carrier, carrierCallID) belongs to a deleted call that retention purged
-- (sql/retention/purged_keys.sql); grain: one row per such record.
SELECT m.id, m.lineNumber
FROM calls AS m, warehouse_info AS w
WHERE m.CDRFileID = $file
  AND purged_key(w.warehouseId, m.carrier, m.carrierCallID) IN (SELECT keyHash FROM purged_keys)
ORDER BY m.id
