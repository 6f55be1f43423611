-- Records of file $file whose (carrier, carrierCallID) belongs to a deleted call that retention purged
-- (sql/retention/purged_keys.sql); grain: one row per such record.
SELECT m.id, m.lineNumber
FROM calls AS m, warehouse_info AS w
WHERE m.CDRFileID = $file
  AND CAST('0x' || left(sha256(w.warehouseId || ':' || length(m.carrier) || ':' || m.carrier || m.carrierCallID), 32) AS UHUGEINT)
      IN (SELECT keyHash FROM purged_keys)
ORDER BY m.id
