-- An Ultravox call deleted by a deletion-log entry: its own fields moved with it (02), so they leave ultravox_calls; grain: one row per moved Ultravox call.
DELETE FROM ultravox_calls WHERE id IN (SELECT callId FROM materialise_winners)
