-- Inbox read models on SQLite. `{ns}` is the table-name prefix of one generation of the models.
-- Ids are UUID text, times RFC 3339 UTC text with microseconds (sortable as text).
CREATE TABLE {ns}conversations (
    id                TEXT    PRIMARY KEY,
    patient_id        TEXT    NOT NULL,
    counterpart       TEXT    NOT NULL,
    initiator_id      TEXT    NOT NULL,
    initiator_role    TEXT    NOT NULL,
    archived          INTEGER  NOT NULL DEFAULT 0,
    status            TEXT    NOT NULL,
    awaiting          TEXT    NOT NULL,
    latest_message_id TEXT,
    last_message_at   TEXT,
    last_position     INTEGER  NOT NULL,
    unread_inbound    INTEGER  NOT NULL DEFAULT 0,
    unread_outbound   INTEGER  NOT NULL DEFAULT 0,
    started_at        TEXT    NOT NULL
);

CREATE TABLE {ns}participants (
    conversation_id TEXT NOT NULL,
    actor_id        TEXT NOT NULL,
    role            TEXT NOT NULL,
    joined_position INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, actor_id)
);

CREATE TABLE {ns}messages (
    id                    TEXT   PRIMARY KEY,
    conversation_id       TEXT   NOT NULL,
    patient_id            TEXT   NOT NULL,
    position              INTEGER NOT NULL UNIQUE,
    channel               TEXT   NOT NULL,
    direction             TEXT   NOT NULL,
    author_id             TEXT   NOT NULL,
    author_role           TEXT   NOT NULL,
    author_name           TEXT,
    subject               TEXT,
    body                  TEXT   NOT NULL,
    attachments           TEXT   NOT NULL,
    status                TEXT   NOT NULL,
    delivery_status       TEXT,
    delivery_error        TEXT,
    sent_at               TEXT   NOT NULL,
    call_occurred_at      TEXT,
    template_id           TEXT,
    template_version      INTEGER,
    scheduled_for         TEXT,
    call_duration_seconds INTEGER,
    erased                INTEGER NOT NULL DEFAULT 0
);
CREATE VIRTUAL TABLE {ns}message_search USING fts5(subject, body, tokenize = 'unicode61');
-- Deleted rows are removed from the index's pages at once (an erased patient's words).
INSERT INTO {ns}message_search ({ns}message_search, rank) VALUES ('secure-delete', 1);
-- The full-text index's terms, read by searches to spell a word's prefix out as whole terms.
CREATE VIRTUAL TABLE {ns}message_search_vocab USING fts5vocab({ns}message_search, 'row');

CREATE TABLE {ns}stars (
    message_id      TEXT   NOT NULL,
    staff_id        TEXT   NOT NULL,
    conversation_id TEXT   NOT NULL,
    position        INTEGER NOT NULL,
    PRIMARY KEY (message_id, staff_id)
);

CREATE TABLE {ns}message_attachments (
    attachment_id   TEXT NOT NULL,
    message_id      TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    PRIMARY KEY (attachment_id, message_id)
);

CREATE TABLE {ns}checkpoint (
    projection TEXT   PRIMARY KEY,
    position   INTEGER NOT NULL
);
INSERT INTO {ns}checkpoint (projection, position) VALUES ('inbox', 0), ('patients', 0), ('reporting', 0);

-- The patient directory (a second projection with its own checkpoint).
CREATE TABLE {ns}patients (
    id             TEXT    PRIMARY KEY,
    name           TEXT    NOT NULL,
    has_phone      INTEGER  NOT NULL,
    has_email      INTEGER  NOT NULL,
    portal_enabled INTEGER  NOT NULL,
    whatsapp_opt_in INTEGER NOT NULL,
    sms_opted_out  INTEGER  NOT NULL DEFAULT 0,
    registered_at  TEXT    NOT NULL,
    position       INTEGER  NOT NULL,
    name_folded    TEXT    NOT NULL DEFAULT '',
    registered_position INTEGER NOT NULL DEFAULT 0
);

-- The staff directory (patient-directory projection).
CREATE TABLE {ns}staff (
    id                  TEXT    PRIMARY KEY,
    name                TEXT    NOT NULL,
    role                TEXT    NOT NULL,
    permissions         TEXT    NOT NULL,
    registered_position INTEGER NOT NULL
);

-- Message templates, each at its current version (patient-directory projection).
CREATE TABLE {ns}templates (
    id               TEXT    PRIMARY KEY,
    name             TEXT    NOT NULL,
    version          INTEGER NOT NULL,
    subject          TEXT,
    body             TEXT    NOT NULL,
    whatsapp         TEXT,
    variables        TEXT    NOT NULL,
    retired          INTEGER NOT NULL DEFAULT 0,
    created_position INTEGER NOT NULL,
    position         INTEGER NOT NULL
);

-- Scheduled messages and where they stand, for GET /v1/scheduled (patient-directory projection).
CREATE TABLE {ns}scheduled (
    message_id          TEXT    PRIMARY KEY,
    conversation_id     TEXT    NOT NULL,
    patient_id          TEXT    NOT NULL,
    author_id           TEXT    NOT NULL,
    author_role         TEXT    NOT NULL,
    author_name         TEXT,
    channel             TEXT    NOT NULL,
    subject             TEXT,
    body                TEXT    NOT NULL,
    template_id         TEXT,
    template_version    INTEGER,
    attachments         TEXT    NOT NULL,
    send_at             TEXT    NOT NULL,
    release_at          TEXT    NOT NULL,
    status              TEXT    NOT NULL,
    failure_reason      TEXT,
    position            INTEGER  NOT NULL UNIQUE
);

CREATE INDEX {ns}scheduled_release ON {ns}scheduled (release_at, position);

-- Inbound messages from senders that match no patient, kept for reception (inbox projection).
CREATE TABLE {ns}unmatched (
    id                  TEXT   PRIMARY KEY,
    channel             TEXT   NOT NULL,
    sender              TEXT   NOT NULL,
    subject             TEXT,
    body                TEXT   NOT NULL,
    attachments         TEXT   NOT NULL,
    provider_message_id TEXT   NOT NULL,
    received_at         TEXT   NOT NULL,
    position            INTEGER NOT NULL,
    assigned_patient_id TEXT,
    assigned_message_id TEXT
);

-- Each patient's phone number and e-mail address, for matching inbound messages (patient directory).
CREATE TABLE {ns}patient_contacts (
    kind       TEXT NOT NULL,
    address    TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    PRIMARY KEY (kind, address, patient_id)
);
CREATE INDEX {ns}patient_contacts_patient ON {ns}patient_contacts (patient_id);

-- Reporting (a projection of its own): ids, channels, directions, times and counts only, never
-- a name, subject, body or address. Per UTC day, channel and direction: every message or call
-- log, and how many messages are in each delivery outcome now.
CREATE TABLE {ns}report_daily (
    day       TEXT   NOT NULL,
    channel   TEXT   NOT NULL,
    direction TEXT   NOT NULL,
    messages  INTEGER NOT NULL DEFAULT 0,
    queued    INTEGER NOT NULL DEFAULT 0,
    sent      INTEGER NOT NULL DEFAULT 0,
    delivered INTEGER NOT NULL DEFAULT 0,
    failed    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, channel, direction)
);

-- Each message with a delivery status, and where `report_daily` counts it (reporting).
CREATE TABLE {ns}report_deliveries (
    message_id      TEXT PRIMARY KEY,
    day             TEXT NOT NULL,
    channel         TEXT NOT NULL,
    direction       TEXT NOT NULL,
    delivery_status TEXT NOT NULL
);

-- Each inbound message from a patient and the clinic's first answer after it (reporting).
CREATE TABLE {ns}report_first_responses (
    message_id        TEXT   PRIMARY KEY,
    conversation_id   TEXT   NOT NULL,
    channel           TEXT   NOT NULL,
    received_at       TEXT   NOT NULL,
    position          INTEGER NOT NULL,
    answer_message_id TEXT,
    answer_channel    TEXT,
    answered_at       TEXT,
    response_seconds  INTEGER
);
CREATE INDEX {ns}report_first_responses_waiting ON {ns}report_first_responses (conversation_id) WHERE answered_at IS NULL;

-- Each conversation's start, archives and reopenings (reporting).
CREATE TABLE {ns}report_conversations (
    conversation_id  TEXT   PRIMARY KEY,
    counterpart      TEXT   NOT NULL,
    started_at       TEXT   NOT NULL,
    archived         INTEGER NOT NULL DEFAULT 0,
    archive_count    INTEGER NOT NULL DEFAULT 0,
    last_archived_at TEXT,
    reopen_count     INTEGER NOT NULL DEFAULT 0,
    last_reopened_at TEXT
);

-- @query-indexes
-- Indexes only queries read through (the projectors look rows up by primary key). A full rebuild
-- creates them after it has filled the tables, which costs far less than keeping them up to date
-- row by row; a fresh database creates them at once.
CREATE INDEX {ns}conversations_activity ON {ns}conversations (last_position DESC);
CREATE INDEX {ns}conversations_patient ON {ns}conversations (patient_id, last_position DESC);
CREATE INDEX {ns}conversations_counterpart ON {ns}conversations (counterpart, last_position DESC);
CREATE INDEX {ns}conversations_status ON {ns}conversations (status, last_position DESC);
CREATE INDEX {ns}participants_actor ON {ns}participants (actor_id, conversation_id);
CREATE INDEX {ns}messages_conversation ON {ns}messages (conversation_id, position);
CREATE INDEX {ns}messages_patient ON {ns}messages (patient_id, position DESC);
CREATE INDEX {ns}messages_channel ON {ns}messages (channel, position DESC);
CREATE INDEX {ns}messages_direction ON {ns}messages (direction, position DESC);
CREATE INDEX {ns}messages_status ON {ns}messages (status, position DESC);
CREATE INDEX {ns}stars_staff ON {ns}stars (staff_id, position DESC);
CREATE INDEX {ns}stars_conversation ON {ns}stars (staff_id, conversation_id);
CREATE INDEX {ns}patients_name ON {ns}patients (name);
CREATE INDEX {ns}unmatched_open ON {ns}unmatched (assigned_patient_id, position DESC);
CREATE INDEX {ns}report_first_responses_received ON {ns}report_first_responses (received_at);
