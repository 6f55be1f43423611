-- Rejected call objects, tombstones and events of one Ultravox file (registered as uv_rejects), by position or line;
-- grain: one row per rejected record. A rejected record that names a known call is a copy of it: it names that call
-- (duplicateOf, so that its text is erased when the call's deleted row is purged), and one of a call retention
-- purged (sql/retention/purged_keys.sql) keeps no text at all.
INSERT INTO rejected_rows (source, ultravoxFileID, fileName, lineNumber, reasons, rawLine, runId, duplicateOf)
SELECT
    'ultravox', $file, $name, r.line,
    CASE WHEN r.purged THEN list_append(r.reasons, 'a copy of a deleted call that was purged: its text is not kept') ELSE r.reasons END,
    CASE WHEN r.purged THEN '' ELSE r.raw END,
    $run,
    coalesce(
        (SELECT min(c.id) FROM calls AS c WHERE c.carrier = 'ultravox' AND c.carrierCallID = r.callId),
        (SELECT min(d.callId) FROM deleted_calls AS d WHERE d.carrier = 'ultravox' AND d.carrierCallID = r.callId)
    )
FROM (
    SELECT u.*, coalesce(
        purged_key(w.warehouseId, 'ultravox', u.callId) IN (SELECT keyHash FROM purged_keys),
        false) AS purged
    FROM uv_rejects AS u, warehouse_info AS w
) AS r
ORDER BY r.line
