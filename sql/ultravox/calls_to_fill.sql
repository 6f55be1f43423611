-- Already deleted Ultravox calls of which an incoming call object adds what only a call object has (agent, voice, metadata); grain: one row per such call.
CREATE OR REPLACE TEMP TABLE uv_fill AS
SELECT d.id, i.fileIdx, i.ultravox
FROM uv_incoming AS i
JOIN deleted_calls AS d ON d.ultravox IS NOT NULL AND d.carrierCallID = i.callId
WHERE NOT d.ultravox.callObject
   OR d.ultravox.agentId IS DISTINCT FROM i.ultravox.agentId
   OR d.ultravox.voice IS DISTINCT FROM i.ultravox.voice
   OR d.ultravox.metadata IS DISTINCT FROM i.ultravox.metadata
   OR (i.ultravox.hadSummary AND NOT d.ultravox.hadSummary)
