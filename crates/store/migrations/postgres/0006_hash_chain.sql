-- The hash chain (see `chain.rs` and docs/audit.md): every event's `hash` is SHA-256 over the
-- previous event's hash and the event's canonical content, computed here, under the advisory
-- lock that hands out positions, because it needs the position, the version and the hash of the
-- event before.
--
-- The writer cannot know the position and version, and SQL cannot write RFC 8785 JSON, so the
-- writer passes each event's canonical content cut at those two numbers: `p_before_position`
-- ends with `"position":`, `p_before_version` runs from the comma after the position to
-- `"version":`, and the content is `before_position || position || before_version || version || '}'`.
--
-- Events recorded before this migration have no hash yet: the store computes them once, in
-- order, when it opens (holding the same advisory lock), before it appends anything.
ALTER TABLE events ADD COLUMN hash TEXT;

DROP FUNCTION append_event_groups(INT[], INT[], TEXT[], BIGINT[], INT[], BIGINT[], UUID[], TEXT[],
                                  INT[], TIMESTAMPTZ[], UUID[], TEXT[], JSONB[], JSONB[], UUID[],
                                  TEXT[]);
DROP FUNCTION append_events(TEXT[], BIGINT[], INT[], BIGINT[], UUID[], TEXT[], INT[], TIMESTAMPTZ[],
                            UUID[], TEXT[], JSONB[], JSONB[], UUID, TEXT);

-- As in migration 0002, with the hash: answers `hashes`, one per appended event, in order.
CREATE FUNCTION append_events(
    p_streams          TEXT[],
    p_expected         BIGINT[],
    p_write            INT[],
    p_offset           BIGINT[],
    p_event_ids        UUID[],
    p_types            TEXT[],
    p_schema_versions  INT[],
    p_occurred_at      TIMESTAMPTZ[],
    p_actor_ids        UUID[],
    p_actor_roles      TEXT[],
    p_data             JSONB[],
    p_metadata         JSONB[],
    p_before_position  TEXT[],
    p_before_version   TEXT[],
    p_key_actor        UUID,
    p_key              TEXT
) RETURNS TABLE (
    result          TEXT,
    conflict_stream TEXT,
    conflict_actual BIGINT,
    first_pos       BIGINT,
    last_pos        BIGINT,
    first_versions  BIGINT[],
    hashes          TEXT[]
)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    head      BIGINT;
    actual    BIGINT;
    expected  BIGINT;
    versions  BIGINT[] := '{}';
    key_first BIGINT;
    key_last  BIGINT;
    previous  TEXT;
    chained   TEXT[] := '{}';
BEGIN
    -- Before the lock: answers that no later commit can change.
    IF p_key_actor IS NOT NULL THEN
        SELECT k.first_position, k.last_position INTO key_first, key_last
          FROM idempotency_keys k WHERE k.actor_id = p_key_actor AND k.key = p_key;
        IF FOUND THEN
            RETURN QUERY SELECT 'duplicate'::TEXT, NULL::TEXT, NULL::BIGINT, key_first, key_last, NULL::BIGINT[], NULL::TEXT[];
            RETURN;
        END IF;
    END IF;
    FOR i IN 1 .. cardinality(p_streams) LOOP
        SELECT max(e.version) INTO actual FROM events e WHERE e.stream = p_streams[i];
        expected := p_expected[i];
        IF (expected = -2 AND actual IS NOT NULL) OR (expected >= 0 AND actual > expected) THEN
            RETURN QUERY SELECT 'conflict'::TEXT, p_streams[i], actual, NULL::BIGINT, NULL::BIGINT, NULL::BIGINT[], NULL::TEXT[];
            RETURN;
        END IF;
    END LOOP;

    -- From here to the commit, one append at a time (the key is "hub_evts" in ASCII).
    PERFORM pg_advisory_xact_lock(7527030514083329139);

    IF p_key_actor IS NOT NULL THEN
        SELECT k.first_position, k.last_position INTO key_first, key_last
          FROM idempotency_keys k WHERE k.actor_id = p_key_actor AND k.key = p_key;
        IF FOUND THEN
            RETURN QUERY SELECT 'duplicate'::TEXT, NULL::TEXT, NULL::BIGINT, key_first, key_last, NULL::BIGINT[], NULL::TEXT[];
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
            RETURN QUERY SELECT 'conflict'::TEXT, p_streams[i], actual, NULL::BIGINT, NULL::BIGINT, NULL::BIGINT[], NULL::TEXT[];
            RETURN;
        END IF;
        versions := versions || coalesce(actual + 1, 0);
    END LOOP;

    SELECT coalesce(max(e.position), 0) INTO head FROM events e;
    IF head = 0 THEN
        previous := repeat('0', 64);
    ELSE
        SELECT e.hash INTO previous FROM events e WHERE e.position = head;
        IF previous IS NULL THEN
            RAISE EXCEPTION 'the event log has events without a hash: open it with this version of the hub first';
        END IF;
    END IF;
    FOR n IN 1 .. cardinality(p_event_ids) LOOP
        previous := encode(sha256(convert_to(
            previous || p_before_position[n] || (head + n)::TEXT || p_before_version[n]
                     || (versions[p_write[n]] + p_offset[n])::TEXT || '}', 'UTF8')), 'hex');
        chained := chained || previous;
    END LOOP;

    INSERT INTO events (position, event_id, stream, version, event_type, schema_version,
                        occurred_at, actor_id, actor_role, data, metadata, hash)
    SELECT head + u.n, u.event_id, p_streams[u.w], versions[u.w] + u.o, u.event_type,
           u.schema_version, u.occurred_at, u.actor_id, u.actor_role, u.data, u.metadata,
           chained[u.n]
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
                        head + cardinality(p_event_ids), versions, chained;
END;
$$;

-- As in migration 0005, passing the canonical parts through.
CREATE FUNCTION append_event_groups(
    p_writes           INT[],
    p_events           INT[],
    p_streams          TEXT[],
    p_expected         BIGINT[],
    p_write            INT[],
    p_offset           BIGINT[],
    p_event_ids        UUID[],
    p_types            TEXT[],
    p_schema_versions  INT[],
    p_occurred_at      TIMESTAMPTZ[],
    p_actor_ids        UUID[],
    p_actor_roles      TEXT[],
    p_data             JSONB[],
    p_metadata         JSONB[],
    p_before_position  TEXT[],
    p_before_version   TEXT[],
    p_key_actors       UUID[],
    p_keys             TEXT[]
) RETURNS TABLE (
    append_no       INT,
    result          TEXT,
    conflict_stream TEXT,
    conflict_actual BIGINT,
    first_pos       BIGINT,
    last_pos        BIGINT,
    first_versions  BIGINT[],
    hashes          TEXT[]
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
                   r.first_versions, r.hashes
              FROM append_events(p_streams[w0 + 1 : w1], p_expected[w0 + 1 : w1],
                                 p_write[e0 + 1 : e1], p_offset[e0 + 1 : e1],
                                 p_event_ids[e0 + 1 : e1], p_types[e0 + 1 : e1],
                                 p_schema_versions[e0 + 1 : e1], p_occurred_at[e0 + 1 : e1],
                                 p_actor_ids[e0 + 1 : e1], p_actor_roles[e0 + 1 : e1],
                                 p_data[e0 + 1 : e1], p_metadata[e0 + 1 : e1],
                                 p_before_position[e0 + 1 : e1], p_before_version[e0 + 1 : e1],
                                 p_key_actors[a], p_keys[a]) r;
        w0 := w1;
        e0 := e1;
    END LOOP;
END;
$$;
