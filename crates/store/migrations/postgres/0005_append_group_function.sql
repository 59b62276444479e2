-- A whole group of appends as one statement: one round trip for the committer's group instead of
-- one `append_events` call per append inside a transaction.
--
-- Each append is still decided on its own by `append_events` (migration 0002), in order, inside
-- the one transaction this statement runs in: a conflict or a repeated key answers that append
-- alone and the others go on; a unique violation aborts the statement, and the caller then
-- appends one by one. The advisory lock `append_events` takes is held by the transaction from
-- the first append on, so the group's positions are gap-free and in commit order.
--
-- Appends arrive as the parallel arrays of `append_events`, concatenated: `p_writes[a]` and
-- `p_events[a]` say how many writes and events the a-th append has, and `p_write` numbers each
-- event's write within its own append (1-based). Idempotency keys come one per append (NULL for
-- none). Answers one row per append, in order, with its 1-based number in `append_no`.
CREATE FUNCTION append_event_groups(
    p_writes          INT[],
    p_events          INT[],
    p_streams         TEXT[],
    p_expected        BIGINT[],
    p_write           INT[],
    p_offset          BIGINT[],
    p_event_ids       UUID[],
    p_types           TEXT[],
    p_schema_versions INT[],
    p_occurred_at     TIMESTAMPTZ[],
    p_actor_ids       UUID[],
    p_actor_roles     TEXT[],
    p_data            JSONB[],
    p_metadata        JSONB[],
    p_key_actors      UUID[],
    p_keys            TEXT[]
) RETURNS TABLE (
    append_no       INT,
    result          TEXT,
    conflict_stream TEXT,
    conflict_actual BIGINT,
    first_pos       BIGINT,
    last_pos        BIGINT,
    first_versions  BIGINT[]
)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    w0 INT := 0;
    e0 INT := 0;
    w1 INT;
    e1 INT;
BEGIN
    FOR a IN 1 .. cardinality(p_writes) LOOP
        w1 := w0 + p_writes[a];
        e1 := e0 + p_events[a];
        RETURN QUERY
            SELECT a, r.result, r.conflict_stream, r.conflict_actual, r.first_pos, r.last_pos,
                   r.first_versions
              FROM append_events(p_streams[w0 + 1 : w1], p_expected[w0 + 1 : w1],
                                 p_write[e0 + 1 : e1], p_offset[e0 + 1 : e1],
                                 p_event_ids[e0 + 1 : e1], p_types[e0 + 1 : e1],
                                 p_schema_versions[e0 + 1 : e1], p_occurred_at[e0 + 1 : e1],
                                 p_actor_ids[e0 + 1 : e1], p_actor_roles[e0 + 1 : e1],
                                 p_data[e0 + 1 : e1], p_metadata[e0 + 1 : e1],
                                 p_key_actors[a], p_keys[a]) r;
        w0 := w1;
        e0 := e1;
    END LOOP;
END;
$$;
