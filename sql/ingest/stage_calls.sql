-- Stage one file's validated, typed batches (the registered Arrow stream `batch`) in a temporary table, where its
-- duplicates are found and removed before the calls go into the lake; grain: one row per record.
-- Types were cast by polars from checked text (DECIMAL(18,4), DATE, TIME, BIGINT); startedAt is a UTC instant: no float anywhere.
CREATE OR REPLACE TEMP TABLE staged_calls AS
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
