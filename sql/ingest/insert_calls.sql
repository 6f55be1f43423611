-- Insert one validated, typed batch (the registered Arrow table `batch`) into calls; grain: one row per record.
-- Types were cast by polars from checked text (DECIMAL(18,4), DATE, TIME, BIGINT); startedAt is a UTC instant: no float anywhere.
INSERT INTO calls
SELECT
    id, CDRFileID, lineNumber,
    target, extension, external, terminationNumber, locationCarrier,
    callTypeDirectionFlag, chargeBand, callTypeOriginationTypeFlag, callTypeRecordingFlag,
    startDate, startTime, tariffTime, duration, answerTime,
    costCDR, costSuggestedRetail, costCDRBasic, costCDRAccessCharge,
    costCDRSurchargeMobileOrigination, costCDRSurchargePayphoneOrigination, costCDRSurchargeCallRecording,
    carrier, callCarrier, carrierCallID,
    startedAt
FROM batch
