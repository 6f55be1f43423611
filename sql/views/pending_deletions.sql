-- Unresolved deletion items: what each entry names that is not (yet) in the warehouse; grain: one row per item.
CREATE OR REPLACE VIEW pending_deletions AS
SELECT
    i.userActivityLog,
    i.kind,
    i.carrier,
    i.carrierCallID,
    i.callId,
    i.cdrFile,
    i.lineNumber,
    u."user",
    u."timestamp",
    u.ingestedAt AS pendingSince
FROM deletion_items AS i
JOIN user_activity_log AS u ON u.id = i.userActivityLog
WHERE i.resolvedAt IS NULL;
