-- Staged records of one file whose (carrier, carrierCallID) was already in the warehouse or earlier in the file
-- (every such row has a smaller id); grain: one row per duplicate record. The warehouse's side is read only where
-- the key index says a key may be (store/keys.py): calls_touched holds the calls of the months the file's keys hit,
-- deleted_touched the deleted calls (bounded by retention) whose key hash hit.
SELECT m.id, m.lineNumber, arg_min(x.src, x.id) AS "where", arg_min(x.CDRFileID, x.id) AS CDRFileID, min(x.id) AS original
FROM staged_calls AS m
JOIN (
    SELECT carrier, carrierCallID, id, CDRFileID, 'calls' AS src FROM calls_touched
    UNION ALL
    SELECT carrier, carrierCallID, callId, CDRFileID, 'deleted_calls' FROM deleted_touched
    UNION ALL
    SELECT carrier, carrierCallID, id, CDRFileID, 'calls' FROM staged_calls
) AS x
  ON x.carrier = m.carrier AND x.carrierCallID = m.carrierCallID AND x.id < m.id
GROUP BY m.id, m.lineNumber
ORDER BY m.id
