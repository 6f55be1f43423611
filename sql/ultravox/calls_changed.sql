-- Live Ultravox calls whose incoming object differs from what is stored and knows at least as much (stage); grain: one row per call to update.
CREATE OR REPLACE TEMP TABLE uv_changed AS
SELECT u.id, i.callId, i.fileIdx, i."position", i.stage, i.ultravox
FROM uv_incoming AS i
JOIN ultravox_calls AS u ON u.callId = i.callId
WHERE i.stage >= u.stage AND i.ultravox IS DISTINCT FROM u.ultravox
