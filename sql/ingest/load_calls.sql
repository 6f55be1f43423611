-- One file's validated, typed batches (the registered Arrow stream `batch`) straight into the lake's calls, which
-- writes them as new Parquet files in the month folders of their startedAt; grain: one row per record. Used when the
-- file turns out to repeat no known key (ingest/duplicates.repeats_known); otherwise the transaction is rolled back
-- and the file staged (stage_calls.sql). Types were cast by polars from checked text: no float anywhere.
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
