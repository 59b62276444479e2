-- How far each checkpointed consumer of the log (the NATS relay, the dispatchers reading the
-- log directly) has got: the last global position it finished.
CREATE TABLE consumer_checkpoints (
    name     TEXT   PRIMARY KEY,
    position BIGINT NOT NULL
);
