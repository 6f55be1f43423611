-- Fill in the call-object fields of those deleted calls (uv_fill); the deletion itself (time, deleter, the tombstone's fields) is not changed; grain: one row per such call.
UPDATE deleted_calls
SET ultravox = struct_update(
        deleted_calls.ultravox,
        agentId := f.ultravox.agentId, voice := f.ultravox.voice, metadata := f.ultravox.metadata,
        accountId := coalesce(deleted_calls.ultravox.accountId, f.ultravox.accountId),
        hadSummary := deleted_calls.ultravox.hadSummary OR f.ultravox.hadSummary, callObject := true),
    updated = $now
FROM uv_fill AS f
WHERE deleted_calls.id = f.id
