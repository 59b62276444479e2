-- The event log: append-only, one row per event, never updated or deleted.
CREATE TABLE events (
    position       INTEGER PRIMARY KEY,              -- global order, gap-free, in commit order
    event_id       TEXT    NOT NULL UNIQUE,
    stream         TEXT    NOT NULL,
    version        INTEGER NOT NULL,                 -- 0-based position in the stream
    event_type     TEXT    NOT NULL,
    schema_version INTEGER NOT NULL,
    occurred_at    TEXT    NOT NULL,                 -- RFC 3339 UTC
    actor_id       TEXT    NOT NULL,
    actor_role     TEXT    NOT NULL,
    data           TEXT    NOT NULL,                 -- JSON
    metadata       TEXT    NOT NULL,                 -- JSON
    recorded_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (stream, version)
);

-- A command's idempotency key and the positions of the events it produced.
CREATE TABLE idempotency_keys (
    actor_id       TEXT    NOT NULL,
    key            TEXT    NOT NULL,
    first_position INTEGER NOT NULL,
    last_position  INTEGER NOT NULL,
    PRIMARY KEY (actor_id, key)
);
