-- Records of file $file whose (carrier, carrierCallID) was already in the warehouse or earlier in the file
-- (every such row has a smaller id); grain: one row per duplicate record.
SELECT m.id, m.lineNumber, arg_min(x.src, x.id) AS "where", arg_min(x.CDRFileID, x.id) AS CDRFileID, min(x.id) AS original
FROM calls AS m
JOIN (
    SELECT carrier, carrierCallID, id, CDRFileID, 'calls' AS src FROM calls
    UNION ALL
    SELECT carrier, carrierCallID, callId, CDRFileID, 'deleted_calls' FROM deleted_calls
) AS x
  ON x.carrier = m.carrier AND x.carrierCallID = m.carrierCallID AND x.id < m.id
WHERE m.CDRFileID = $file
GROUP BY m.id, m.lineNumber
ORDER BY m.id
