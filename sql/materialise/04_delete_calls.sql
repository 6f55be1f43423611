-- Remove the moved calls from calls (same transaction as the insert); grain: one deleted row per moved call.
DELETE FROM calls WHERE id IN (SELECT callId FROM materialise_winners)
