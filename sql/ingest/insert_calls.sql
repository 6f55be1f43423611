-- Insert one validated batch (the registered Arrow table `batch`, all text) into calls; grain: one row per record.
INSERT INTO calls
SELECT
    id, CDRFileID, lineNumber,
    target, extension, external, terminationNumber, locationCarrier,
    callTypeDirectionFlag, chargeBand, callTypeOriginationTypeFlag, callTypeRecordingFlag,
    CAST(startDate AS DATE), CAST(startTime AS TIME), tariffTime,
    CAST(duration AS BIGINT), CAST(answerTime AS BIGINT),
    CAST(costCDR AS DECIMAL(18, 4)),
    CAST(costSuggestedRetail AS DECIMAL(18, 4)),
    CAST(costCDRBasic AS DECIMAL(18, 4)),
    CAST(costCDRAccessCharge AS DECIMAL(18, 4)),
    CAST(costCDRSurchargeMobileOrigination AS DECIMAL(18, 4)),
    CAST(costCDRSurchargePayphoneOrigination AS DECIMAL(18, 4)),
    CAST(costCDRSurchargeCallRecording AS DECIMAL(18, 4)),
    carrier, callCarrier, carrierCallID
FROM batch
ORDER BY id
