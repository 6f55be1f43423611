-- Insert new Ultravox calls into calls (no CDR file, numbers, costs or direction: NULL) with ids from $first_id; grain: one row per new call.
INSERT INTO calls BY NAME
SELECT
    $first_id - 1 + rn AS id,
    CASE WHEN ultravox.recordingEnabled THEN 'Y' ELSE 'N' END AS callTypeRecordingFlag,
    CAST(coalesce(ultravox.joined, ultravox.created) AS DATE) AS startDate,
    CAST(date_trunc('second', coalesce(ultravox.joined, ultravox.created)) AS TIME) AS startTime,
    timezone('UTC', date_trunc('second', coalesce(ultravox.joined, ultravox.created))) AS startedAt,
    coalesce((epoch_us(ultravox.ended) - epoch_us(ultravox.joined)) // 1000000, 0) AS duration,
    'ultravox' AS carrier,
    callId AS carrierCallID
FROM uv_new
ORDER BY rn
