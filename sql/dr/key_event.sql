-- Record what happened to a key-encryption key (created, rotated, destroyed) and who did it; grain: one event.
INSERT INTO dr_key_events (keyId, "partition", event, "at", "user", detail, runId) VALUES ($k, $p, $e, $t, $u, $d, $r)
