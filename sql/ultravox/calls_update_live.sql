-- Update the call records of changed live Ultravox calls: start from joined (else created), duration ended - joined, recording flag; grain: one row per changed call.
UPDATE calls
SET startDate = CAST(coalesce(ch.ultravox.joined, ch.ultravox.created) AS DATE),
    startTime = CAST(date_trunc('second', coalesce(ch.ultravox.joined, ch.ultravox.created)) AS TIME),
    startedAt = timezone('UTC', date_trunc('second', coalesce(ch.ultravox.joined, ch.ultravox.created))),
    duration = coalesce((epoch_us(ch.ultravox.ended) - epoch_us(ch.ultravox.joined)) // 1000000, 0),
    callTypeRecordingFlag = CASE WHEN ch.ultravox.recordingEnabled THEN 'Y' ELSE 'N' END
FROM uv_changed AS ch
WHERE calls.id = ch.id
