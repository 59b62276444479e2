-- The hash chain (see `chain.rs` and docs/audit.md): every event's `hash` is SHA-256 over the
-- previous event's hash and the event's canonical content, computed by the one writer as it
-- hands out positions. Events recorded before this migration get theirs once, in order, when
-- the store opens, before it appends anything.
ALTER TABLE events ADD COLUMN hash TEXT;
