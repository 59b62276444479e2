-- How far each checkpointed consumer of the log (the dispatchers reading the log directly)
-- has got: the last global position it finished.
CREATE TABLE consumer_checkpoints (
    name     TEXT    PRIMARY KEY,
    position INTEGER NOT NULL
);
