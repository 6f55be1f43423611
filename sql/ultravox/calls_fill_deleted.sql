-- Fill in the call-object fields of those deleted calls (uv_fill); the deletion itself (time, deleter, the tombstone's fields) is not changed; grain: one row per such call.
-- The struct is written whole (every field named): struct_update inside an UPDATE crashes duckdb 1.5.
UPDATE deleted_calls
SET ultravox = {
        'accountId': coalesce(deleted_calls.ultravox.accountId, f.ultravox.accountId),
        'agentId': f.ultravox.agentId,
        'voice': f.ultravox.voice,
        'metadata': f.ultravox.metadata,
        'endReason': deleted_calls.ultravox.endReason,
        'recordingEnabled': deleted_calls.ultravox.recordingEnabled,
        'created': deleted_calls.ultravox.created,
        'joined': deleted_calls.ultravox.joined,
        'ended': deleted_calls.ultravox.ended,
        'maxDuration': deleted_calls.ultravox.maxDuration,
        'hadSummary': deleted_calls.ultravox.hadSummary OR f.ultravox.hadSummary,
        'callObject': true
    },
    updated = $now
FROM uv_fill AS f
WHERE deleted_calls.id = f.id
