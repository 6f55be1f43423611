-- Rejected call objects, tombstones and events of one Ultravox file (registered as uv_rejects), by position or line; grain: one row per rejected record.
INSERT INTO rejected_rows (source, ultravoxFileID, fileName, lineNumber, reasons, rawLine, runId)
SELECT 'ultravox', $file, $name, line, reasons, raw, $run FROM uv_rejects ORDER BY line
