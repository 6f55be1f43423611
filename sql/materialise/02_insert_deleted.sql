-- Copy each call to delete into deleted_calls with its deletion facts; ids follow (entry time, entry id, call id); grain: one row per deleted call.
-- An Ultravox call takes its own fields along (ultravox_calls -> deleted_calls.ultravox); BY NAME: columns are matched by name.
INSERT INTO deleted_calls BY NAME
SELECT
    $first_id - 1 + row_number() OVER (ORDER BY w."timestamp", w.userActivityLog, c.id) AS id,
    c.id AS callId,
    c.CDRFileID, c.lineNumber,
    c.target, c.extension, c.external, c.terminationNumber, c.locationCarrier,
    c.callTypeDirectionFlag, c.chargeBand, c.callTypeOriginationTypeFlag, c.callTypeRecordingFlag,
    c.startDate, c.startTime, c.tariffTime, c.duration, c.answerTime,
    c.costCDR, c.costSuggestedRetail, c.costCDRBasic, c.costCDRAccessCharge,
    c.costCDRSurchargeMobileOrigination, c.costCDRSurchargePayphoneOrigination, c.costCDRSurchargeCallRecording,
    c.carrier, c.callCarrier, c.carrierCallID,
    w.userActivityLog,
    w."user" AS deletedBy,
    w."timestamp" AS deletedAt,
    strftime(w."timestamp", '%Y-%m') AS deletedMonth,
    $now AS created,
    $now AS updated,
    $run AS runId,
    c.startedAt,
    u.ultravox
FROM materialise_winners AS w
JOIN calls AS c ON c.id = w.callId
LEFT JOIN ultravox_calls AS u ON u.id = c.id
ORDER BY id
