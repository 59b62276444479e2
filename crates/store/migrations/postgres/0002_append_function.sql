-- One append as one statement (one round trip, its own transaction when called outside one).
--
-- Positions are handed out under a transaction-scoped advisory lock that is released only after
-- the commit is visible, so they are gap-free and in commit order (see the crate docs). The lock
-- is taken as late as is correct: a repeated idempotency key and a conflict that is already
-- certain (a stream that exists when none was expected, or is past the expected version) are
-- answered before it, since keys and events are never deleted; everything else is decided again
-- under the lock, where every earlier append's commit is visible (READ COMMITTED takes a fresh
-- snapshot per statement), and only then are positions assigned.
--
-- Expected versions, one per write: -1 any, -2 no stream, -3 stream exists, n >= 0 exactly n.
-- Events arrive as parallel arrays; `p_write` is each event's 1-based write and `p_offset` its
-- place within that write.
--
-- Answers one row: `result` = 'appended' (positions first_pos..last_pos, `first_versions` per
-- write), 'duplicate' (the key's first append took first_pos..last_pos; nothing was written) or
-- 'conflict' (`conflict_stream` is at `conflict_actual`; nothing was written).
CREATE FUNCTION append_events(
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
    p_key_actor       UUID,
    p_key             TEXT
) RETURNS TABLE (
    result          TEXT,
    conflict_stream TEXT,
    conflict_actual BIGINT,
    first_pos       BIGINT,
    last_pos        BIGINT,
    first_versions  BIGINT[]
)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    head     BIGINT;
    actual   BIGINT;
    expected BIGINT;
    versions BIGINT[] := '{}';
    key_first BIGINT;
    key_last  BIGINT;
BEGIN
    -- Before the lock: answers that no later commit can change.
    IF p_key_actor IS NOT NULL THEN
        SELECT k.first_position, k.last_position INTO key_first, key_last
          FROM idempotency_keys k WHERE k.actor_id = p_key_actor AND k.key = p_key;
        IF FOUND THEN
            RETURN QUERY SELECT 'duplicate'::TEXT, NULL::TEXT, NULL::BIGINT, key_first, key_last, NULL::BIGINT[];
            RETURN;
        END IF;
    END IF;
    FOR i IN 1 .. cardinality(p_streams) LOOP
        SELECT max(e.version) INTO actual FROM events e WHERE e.stream = p_streams[i];
        expected := p_expected[i];
        IF (expected = -2 AND actual IS NOT NULL) OR (expected >= 0 AND actual > expected) THEN
            RETURN QUERY SELECT 'conflict'::TEXT, p_streams[i], actual, NULL::BIGINT, NULL::BIGINT, NULL::BIGINT[];
            RETURN;
        END IF;
    END LOOP;

    -- From here to the commit, one append at a time (the key is "hub_evts" in ASCII).
    PERFORM pg_advisory_xact_lock(7527030514083329139);

    IF p_key_actor IS NOT NULL THEN
        SELECT k.first_position, k.last_position INTO key_first, key_last
          FROM idempotency_keys k WHERE k.actor_id = p_key_actor AND k.key = p_key;
        IF FOUND THEN
            RETURN QUERY SELECT 'duplicate'::TEXT, NULL::TEXT, NULL::BIGINT, key_first, key_last, NULL::BIGINT[];
            RETURN;
        END IF;
    END IF;
    FOR i IN 1 .. cardinality(p_streams) LOOP
        SELECT max(e.version) INTO actual FROM events e WHERE e.stream = p_streams[i];
        expected := p_expected[i];
        IF NOT (expected = -1
                OR (expected = -2 AND actual IS NULL)
                OR (expected = -3 AND actual IS NOT NULL)
                OR (expected >= 0 AND actual IS NOT NULL AND actual = expected)) THEN
            RETURN QUERY SELECT 'conflict'::TEXT, p_streams[i], actual, NULL::BIGINT, NULL::BIGINT, NULL::BIGINT[];
            RETURN;
        END IF;
        versions := versions || coalesce(actual + 1, 0);
    END LOOP;

    SELECT coalesce(max(e.position), 0) INTO head FROM events e;
    INSERT INTO events (position, event_id, stream, version, event_type, schema_version,
                        occurred_at, actor_id, actor_role, data, metadata)
    SELECT head + u.n, u.event_id, p_streams[u.w], versions[u.w] + u.o, u.event_type,
           u.schema_version, u.occurred_at, u.actor_id, u.actor_role, u.data, u.metadata
      FROM unnest(p_write, p_offset, p_event_ids, p_types, p_schema_versions, p_occurred_at,
                  p_actor_ids, p_actor_roles, p_data, p_metadata)
           WITH ORDINALITY AS u(w, o, event_id, event_type, schema_version, occurred_at,
                                actor_id, actor_role, data, metadata, n);
    IF p_key_actor IS NOT NULL THEN
        INSERT INTO idempotency_keys (actor_id, key, first_position, last_position)
        VALUES (p_key_actor, p_key, head + 1, head + cardinality(p_event_ids));
    END IF;
    PERFORM pg_notify('hub_events', (head + cardinality(p_event_ids))::TEXT);
    RETURN QUERY SELECT 'appended'::TEXT, NULL::TEXT, NULL::BIGINT, head + 1,
                        head + cardinality(p_event_ids), versions;
END;
$$;
