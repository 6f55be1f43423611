-- Store the new state of changed live Ultravox calls and where it came from; grain: one row per changed call.
UPDATE ultravox_calls
SET ultravox = ch.ultravox, stage = ch.stage, ultravoxFileID = $first_file + ch.fileIdx, "position" = ch."position", updated = $now, runId = $run
FROM uv_changed AS ch
WHERE ultravox_calls.id = ch.id
