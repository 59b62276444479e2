-- Data keys for crypto-shredding (see `keys.rs` and docs/audit.md): one AES-256 key per
-- subject (a patient), wrapped under the key-encryption key. Erasure sets `wrapped` to NULL;
-- the row stays, so no new key is ever made for the subject.
CREATE TABLE subject_keys (
    subject      UUID        PRIMARY KEY,
    wrapped      BYTEA,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    destroyed_at TIMESTAMPTZ
);

-- The key-encryption key when HUB_MASTER_KEY is not set (generated on first use).
CREATE TABLE master_key (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    key BYTEA   NOT NULL
);
