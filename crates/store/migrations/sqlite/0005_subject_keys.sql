-- Data keys for crypto-shredding (see `keys.rs` and docs/audit.md): one AES-256 key per
-- subject (a patient), wrapped under the key-encryption key from HUB_MASTER_KEY or the data
-- folder's `master.key`. Erasure sets `wrapped` to NULL; the row stays, so no new key is ever
-- made for the subject.
CREATE TABLE subject_keys (
    subject      TEXT PRIMARY KEY,
    wrapped      BLOB,
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    destroyed_at TEXT
);
