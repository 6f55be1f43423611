-- The own fields of the new Ultravox calls; grain: one row per new call.
INSERT INTO ultravox_calls (id, callId, ultravox, stage, ultravoxFileID, "position", updated, runId)
SELECT $first_id - 1 + rn, callId, ultravox, stage, $first_file + fileIdx, "position", $now, $run
FROM uv_new
ORDER BY rn
