-- A rejection reason without any value of the record it rejects (SPEC 7): 'columns: code' or 'code', where the
-- columns are canonical CDR column names named by the reason and the code comes from the fixed list below. Reasons
-- quote what they reject ("duration: must be whole seconds >= 0 (got '-7')", "'0.12345' pounds cannot be held
-- exactly"); whatever a reason holds, this gives back only names from these two fixed sets, so the analyst store
-- (which shows reason codes, never reasons) cannot hold a value. A reason it does not know is 'other'. One
-- definition: temporary macros on every writer connection (warehouse.create_macros); the codes are listed in
-- docs/TABLES.md.
CREATE OR REPLACE TEMP MACRO reason_head(reason) AS (
    CASE WHEN contains(reason, ': ') THEN split_part(reason, ': ', 1) ELSE '' END
);
CREATE OR REPLACE TEMP MACRO reason_tail(reason) AS (
    CASE WHEN contains(reason, ': ') THEN substr(reason, length(split_part(reason, ': ', 1)) + 3) ELSE reason END
);
-- the canonical column names a reason's head names (a profile's label is 'Source → canonical': only those count)
CREATE OR REPLACE TEMP MACRO reason_columns(head) AS (
    list_filter(
        string_split_regex(CASE WHEN contains(head, '→') THEN split_part(head, '→', 2) ELSE head END, '[ ,]+'),
        lambda c: list_contains([
            'target', 'extension', 'external', 'terminationNumber', 'locationCarrier', 'callTypeDirectionFlag',
            'chargeBand', 'callTypeOriginationTypeFlag', 'callTypeRecordingFlag', 'startDate', 'startTime',
            'tariffTime', 'duration', 'answerTime', 'costCDR', 'costSuggestedRetail', 'costCDRBasic',
            'costCDRAccessCharge', 'costCDRSurchargeMobileOrigination', 'costCDRSurchargePayphoneOrigination',
            'costCDRSurchargeCallRecording', 'carrier', 'callCarrier', 'carrierCallID'], c)
    )
);
CREATE OR REPLACE TEMP MACRO reason_rule(reason, tail) AS (
    CASE
        WHEN reason LIKE 'holds a NUL byte%' THEN 'binary_data'
        WHEN reason LIKE 'expected % fields %' THEN 'field_count'
        WHEN reason LIKE 'a quoted field is never closed%' THEN 'unclosed_quote'
        WHEN reason LIKE 'not valid UTF-8 text%' OR tail LIKE 'bytes that are not valid % text%' THEN 'invalid_bytes'
        WHEN reason LIKE 'duplicate: % appears earlier in this file%' THEN 'duplicate_in_file'
        WHEN reason LIKE 'duplicate: % archived % and purged%' THEN 'purged_call'
        WHEN reason LIKE 'duplicate: %' THEN 'duplicate'
        WHEN reason LIKE 'a copy of a deleted call that was purged%' THEN 'purged_call'
        WHEN reason LIKE 'raw line erased%' THEN 'raw_line_erased'
        WHEN tail = 'required' THEN 'required'
        WHEN tail LIKE 'must be + or a digit, then digits%' THEN 'phone_number'
        WHEN tail LIKE 'must be A (outbound) or B (inbound)%' THEN 'direction_flag'
        WHEN tail LIKE 'must be M, L, P or empty%' THEN 'origination_flag'
        WHEN tail LIKE 'must be Y or N%' THEN 'recording_flag'
        WHEN tail LIKE 'must be a date YYYY-MM-DD%' OR tail LIKE 'not a date in the format %' THEN 'date_format'
        WHEN tail LIKE 'must be a real calendar date%' THEN 'calendar_date'
        WHEN tail LIKE 'must be a 24-hour time HH:MM:SS%' OR tail LIKE 'not a time in the format %' THEN 'time_format'
        WHEN tail LIKE 'must be day, evening, weekend or empty%' THEN 'tariff_time'
        WHEN tail LIKE 'must be whole seconds >= 0%' THEN 'whole_seconds'
        WHEN tail LIKE 'must be pence >= 0 with at most 4 decimal places%' OR tail LIKE 'not an amount of %' THEN 'amount'
        WHEN tail LIKE '% cannot be held exactly at 4 decimal places of pence%' THEN 'inexact_amount'
        WHEN tail LIKE 'unknown code %' THEN 'unknown_code'
        WHEN tail LIKE '% does not exist in % (the clocks went forward over it)' THEN 'nonexistent_time'
        WHEN tail LIKE '% occurs twice in % (the clocks went back)%' THEN 'ambiguous_time'
        WHEN reason LIKE 'not valid JSON%' THEN 'invalid_json'
        WHEN reason LIKE 'not a JSON object%' THEN 'not_an_object'
        WHEN reason LIKE 'conflict: %' THEN 'conflict'
        ELSE 'other'
    END
);
CREATE OR REPLACE TEMP MACRO reason_code(reason) AS (
    CASE WHEN len(reason_columns(reason_head(reason))) = 0 THEN reason_rule(reason, reason_tail(reason))
         ELSE array_to_string(reason_columns(reason_head(reason)), ', ') || ': ' || reason_rule(reason, reason_tail(reason)) END
)
