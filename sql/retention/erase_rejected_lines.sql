-- With the purge of one partition, erase the raw line, the reasons that quote values and the key of every rejected
-- record that may be a copy of a call it purges: one naming such a call (duplicateOf), one keyed like one
-- (carrier, carrierCallID), and every CDR or Ultravox record whose key could not be read (a line with a field too
-- many, invalid bytes, a record rejected before issue 25 kept keys): it may be a copy of any call. Its reasons
-- become their codes (sql/macros/reason_code.sql) plus the erasure. Grain: one rejected row.
UPDATE rejected_rows
SET rawLine = '',
    reasons = list_append(coalesce(reasonCodes, []), 'raw line erased with partition ' || $partition),
    reasonCodes = list_append(coalesce(reasonCodes, []), 'raw_line_erased'),
    carrierCallID = NULL
WHERE source IN ('cdr', 'ultravox')
  AND rawLine <> ''
  AND (
      duplicateOf IN (SELECT callId FROM deleted_calls WHERE deletedMonth = $partition AND id <= $max_id)
      OR EXISTS (SELECT 1 FROM deleted_calls AS d
                 WHERE d.deletedMonth = $partition AND d.id <= $max_id
                   AND d.carrier = rejected_rows.carrier AND d.carrierCallID = rejected_rows.carrierCallID)
      OR (carrierCallID IS NULL AND duplicateOf IS NULL)
  )
