-- Store each deletion: a live call moves with its fields, a call never ingested is stored from its tombstone; the tombstone's ten fields win; grain: one row per deleted call.
INSERT INTO deleted_calls BY NAME
SELECT
    $first_deleted - 1 + deletedRank AS id,
    coalesce(liveId, $first_call - 1 + newRank) AS callId,
    CASE WHEN recordingEnabled THEN 'Y' ELSE 'N' END AS callTypeRecordingFlag,
    CAST(coalesce(joined, created) AS DATE) AS startDate,
    CAST(date_trunc('second', coalesce(joined, created)) AS TIME) AS startTime,
    timezone('UTC', date_trunc('second', coalesce(joined, created))) AS startedAt,
    coalesce((epoch_us(ended) - epoch_us(joined)) // 1000000, 0) AS duration,
    'ultravox' AS carrier,
    callId AS carrierCallID,
    'ultravox:' || callId AS userActivityLog,
    'ultravox:' || accountId AS deletedBy,
    deletionTime AS deletedAt,
    strftime(deletionTime, '%Y-%m') AS deletedMonth,
    $now AS created,
    $now AS updated,
    $run AS runId,
    {
        'accountId': accountId, 'agentId': fields.agentId, 'voice': fields.voice, 'metadata': fields.metadata,
        'endReason': endReason, 'recordingEnabled': recordingEnabled, 'created': created, 'joined': joined,
        'ended': ended, 'maxDuration': maxDuration, 'hadSummary': hadSummary OR coalesce(fields.hadSummary, false),
        'callObject': coalesce(fields.callObject, false)
    } AS ultravox
FROM uv_deleting
ORDER BY deletedRank
