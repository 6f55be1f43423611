-- Records of the registered batch `batch_keys` whose (carrier, carrierCallID) the warehouse already holds; grain: one row per duplicate record.
SELECT row, arg_min("where", CDRFileID) AS "where", min(CDRFileID) AS CDRFileID
FROM (
    SELECT b.row, 'calls' AS "where", c.CDRFileID
    FROM batch_keys AS b
    JOIN calls AS c ON c.carrier = b.carrier AND c.carrierCallID = b.carrierCallID
    UNION ALL
    SELECT b.row, 'deleted_calls' AS "where", d.CDRFileID
    FROM batch_keys AS b
    JOIN deleted_calls AS d ON d.carrier = b.carrier AND d.carrierCallID = b.carrierCallID
)
GROUP BY row
ORDER BY row
