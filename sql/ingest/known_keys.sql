-- Records of the registered batch `batch_keys` whose (carrier, carrierCallID) the warehouse already holds; grain: one row per duplicate record.
SELECT b.row, 'calls' AS "where", min(c.CDRFileID) AS CDRFileID
FROM batch_keys AS b
JOIN calls AS c ON c.carrier = b.carrier AND c.carrierCallID = b.carrierCallID
GROUP BY b.row
ORDER BY b.row
