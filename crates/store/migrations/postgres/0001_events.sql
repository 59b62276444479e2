-- The event log: append-only, one row per event, never updated or deleted.
CREATE TABLE events (
    position       BIGINT      PRIMARY KEY,          -- global order, gap-free, in commit order
    event_id       UUID        NOT NULL UNIQUE,
    stream         TEXT        NOT NULL,
    version        BIGINT      NOT NULL,             -- 0-based position in the stream
    event_type     TEXT        NOT NULL,
    schema_version INTEGER     NOT NULL,
    occurred_at    TIMESTAMPTZ NOT NULL,
    actor_id       UUID        NOT NULL,
    actor_role     TEXT        NOT NULL,
    data           JSONB       NOT NULL,
    metadata       JSONB       NOT NULL,
    recorded_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (stream, version)
);

-- A command's idempotency key and the positions of the events it produced.
CREATE TABLE idempotency_keys (
    actor_id       UUID   NOT NULL,
    key            TEXT   NOT NULL,
    first_position BIGINT NOT NULL,
    last_position  BIGINT NOT NULL,
    PRIMARY KEY (actor_id, key)
);
