-- Erase the raw lines of records rejected as duplicates of the calls of one partition being purged; grain: one rejected row.
UPDATE rejected_rows
SET rawLine = '',
    reasons = list_append(reasons, 'raw line erased: the call it duplicated was purged (partition ' || $partition || ')')
WHERE duplicateOf IN (SELECT callId FROM deleted_calls WHERE deletedMonth = $partition AND id <= $max_id)
  AND rawLine <> ''
