-- The moved calls' own fields leave ultravox_calls (they are in deleted_calls.ultravox now); grain: one deleted row per moved call.
DELETE FROM ultravox_calls WHERE id IN (SELECT liveId FROM uv_deleting WHERE liveId IS NOT NULL)
