-- The call objects of a group of Ultravox files (registered as uv_objects), one per call: the highest stage, then the last file and position; grain: one row per Ultravox call id.
CREATE OR REPLACE TEMP TABLE uv_incoming AS
SELECT
    callId,
    fileIdx,
    min(fileIdx) OVER (PARTITION BY callId) AS firstFileIdx,  -- a new call is counted for the file it first appeared in
    "position",
    stage,
    {
        'accountId': accountId, 'agentId': agentId, 'voice': voice, 'metadata': map(metadataKeys, metadataValues),
        'endReason': endReason, 'recordingEnabled': recordingEnabled, 'created': created, 'joined': joined,
        'ended': ended, 'maxDuration': maxDuration, 'hadSummary': hadSummary, 'callObject': true
    } AS ultravox
FROM uv_objects
QUALIFY row_number() OVER (PARTITION BY callId ORDER BY stage DESC, fileIdx DESC, "position" DESC) = 1
