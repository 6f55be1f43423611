-- Mark resolved the items whose calls are now all in deleted_calls (moved now, or deleted before), or were deleted and
-- purged by retention (a carrier-qualified key in purged_keys: sql/macros/purged_key.sql); grain: one row per item.
UPDATE deletion_items AS i
SET resolvedAt = $now,
    resolvedRunId = $run,
    callsDeleted = (
        SELECT count(*) FROM materialise_winners AS w
        WHERE w.userActivityLog = i.userActivityLog AND w.item = i.item
    )
WHERE i.resolvedAt IS NULL
  AND CASE i.kind
        WHEN 'carrierCallID' THEN EXISTS (
            SELECT 1 FROM deleted_calls AS d
            WHERE d.carrierCallID = i.carrierCallID AND (i.carrier IS NULL OR d.carrier = i.carrier))
            OR (i.carrier IS NOT NULL
                AND purged_key((SELECT warehouseId FROM warehouse_info), i.carrier, i.carrierCallID) IN (SELECT keyHash FROM purged_keys))
        WHEN 'callId' THEN EXISTS (SELECT 1 FROM deleted_calls AS d WHERE d.callId = i.callId)
        WHEN 'cdrFile' THEN EXISTS (SELECT 1 FROM cdr_files AS f WHERE f.fileName = i.cdrFile AND f.status = 'loaded')
        WHEN 'cdrFileLine' THEN EXISTS (
            SELECT 1 FROM deleted_calls AS d JOIN cdr_files AS f ON f.id = d.CDRFileID
            WHERE f.fileName = i.cdrFile AND f.status = 'loaded' AND d.lineNumber = i.lineNumber)
      END
