-- Rejected call objects, tombstones and events of one Ultravox file (registered as uv_rejects), by position or line;
-- grain: one row per rejected record. A rejected record that names a known call is a copy of it: it names that call
-- (duplicateOf, so that its text is erased when the call's deleted row is purged), and one of a call retention
-- purged (sql/retention/purged_keys.sql) keeps no text at all, and no value in its reasons (their codes,
-- sql/macros/reason_code.sql); the key of a record is kept (carrier, carrierCallID) unless it is a purged call's.
INSERT INTO rejected_rows (source, ultravoxFileID, fileName, lineNumber, reasons, rawLine, runId, duplicateOf,
                           reasonCodes, carrier, carrierCallID)
SELECT
    'ultravox', $file, $name, r.line,
    CASE WHEN r.purged THEN list_transform(r.reasons, lambda x: reason_code(x)) ELSE r.reasons END,
    CASE WHEN r.purged THEN '' ELSE r.raw END,
    $run,
    coalesce(
        (SELECT min(c.id) FROM calls AS c WHERE c.carrier = 'ultravox' AND c.carrierCallID = r.callId),
        (SELECT min(d.callId) FROM deleted_calls AS d WHERE d.carrier = 'ultravox' AND d.carrierCallID = r.callId)
    ),
    list_transform(r.reasons, lambda x: reason_code(x)),
    CASE WHEN r.callId IS NOT NULL AND NOT r.purged THEN 'ultravox' END,
    CASE WHEN NOT r.purged THEN r.callId END
FROM (
    SELECT q.* REPLACE (CASE WHEN q.purged THEN list_append(q.reasons, 'a copy of a deleted call that was purged: its text is not kept')
                             ELSE q.reasons END AS reasons)
    FROM (
        SELECT u.*, coalesce(
            purged_key(w.warehouseId, 'ultravox', u.callId) IN (SELECT keyHash FROM purged_keys),
            false) AS purged
        FROM uv_rejects AS u, warehouse_info AS w
    ) AS q
) AS r
ORDER BY r.line
