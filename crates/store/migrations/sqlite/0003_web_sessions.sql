-- Signed-in web sessions (the pages' cookie). Only the SHA-256 of a session id is kept, with
-- the digest of the access token it was started from and its expiry (Unix seconds).
CREATE TABLE web_sessions (
    id_sha256    TEXT   PRIMARY KEY,
    token_sha256 TEXT   NOT NULL,
    holder       TEXT,
    expires_at   INTEGER NOT NULL
);
