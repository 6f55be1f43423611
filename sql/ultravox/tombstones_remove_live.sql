-- The moved calls leave calls (same transaction as their insert into deleted_calls); grain: one deleted row per moved call.
DELETE FROM calls WHERE id IN (SELECT liveId FROM uv_deleting WHERE liveId IS NOT NULL)
