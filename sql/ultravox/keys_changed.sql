-- A changed live Ultravox call may have moved to another month of calls: the index gets a row for the month it is in now
-- (the index is append-only: a row for a month the call left only costs a look that finds nothing); grain: one row per changed call.
INSERT INTO call_keys
SELECT call_key(callId), strftime(coalesce(ultravox.joined, ultravox.created), '%Y-%m') FROM uv_changed
