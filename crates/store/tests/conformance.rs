//! One conformance suite, run against both backends (SQLite on a file and in memory,
//! PostgreSQL on a fresh database per test): ordering, optimistic concurrency, atomic appends,
//! idempotency, subscriptions, and many concurrent writers; then backend-specific tests of a
//! slow committer, unique violations from writers that bypass the store, notifications across
//! stores, and two SQLite stores on one file.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::StreamExt;
use rand::Rng;
use serde_json::json;
use store::testing::TestDatabase;
use store::{
    append_to_stream, chain, keys, open_store, AppendRequest, EventStore, ExpectedVersion,
    IdempotencyKey, NewEvent, PgEventStore, SqliteEventStore, StoreError, StreamWrite,
};
use uuid::Uuid;

/// A store under test and what keeps it alive.
struct Fixture {
    store: Arc<dyn EventStore>,
    _dir: Option<tempfile::TempDir>,
    database: Option<TestDatabase>,
}

impl Fixture {
    async fn sqlite() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteEventStore::open(&dir.path().join("events.db"))
            .await
            .unwrap();
        Fixture {
            store: Arc::new(store),
            _dir: Some(dir),
            database: None,
        }
    }

    async fn sqlite_memory() -> Fixture {
        Fixture {
            store: Arc::new(SqliteEventStore::in_memory().await.unwrap()),
            _dir: None,
            database: None,
        }
    }

    async fn postgres() -> Fixture {
        let database = TestDatabase::create().await.unwrap();
        let store = PgEventStore::connect(&database.url).await.unwrap();
        Fixture {
            store: Arc::new(store),
            _dir: None,
            database: Some(database),
        }
    }

    async fn finish(self) {
        drop(self.store);
        if let Some(database) = self.database {
            database.drop_database().await.unwrap();
        }
    }
}

fn event(n: u64) -> NewEvent {
    NewEvent {
        event_id: Uuid::new_v4(),
        event_type: "Tested".into(),
        schema_version: 1,
        occurred_at: Utc::now(),
        actor_id: Uuid::new_v4(),
        actor_role: "admin".into(),
        data: json!({ "n": n, "text": "Grüße \"quoted\" 'single'" }),
        metadata: json!({ "correlation_id": null }),
    }
}

fn write(stream: &str, expected: ExpectedVersion, count: u64) -> StreamWrite {
    StreamWrite {
        stream: stream.into(),
        expected,
        events: (0..count).map(event).collect(),
    }
}

async fn ordering_and_reads(store: Arc<dyn EventStore>) {
    assert_eq!(store.head_position().await.unwrap(), 0);
    let first = append_to_stream(
        &*store,
        "a",
        ExpectedVersion::NoStream,
        vec![event(0), event(1)],
    )
    .await
    .unwrap();
    assert_eq!(
        first
            .events
            .iter()
            .map(|e| (e.position, e.version))
            .collect::<Vec<_>>(),
        vec![(1, 0), (2, 1)]
    );
    append_to_stream(&*store, "b", ExpectedVersion::Any, vec![event(2)])
        .await
        .unwrap();
    append_to_stream(&*store, "a", ExpectedVersion::Exact(1), vec![event(3)])
        .await
        .unwrap();
    assert_eq!(store.head_position().await.unwrap(), 4);
    assert_eq!(store.stream_version("a").await.unwrap(), Some(2));
    assert_eq!(store.stream_version("nothing").await.unwrap(), None);
    let a = store.read_stream("a", 1, 10).await.unwrap();
    assert_eq!(a.iter().map(|e| e.version).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(a[0].data["n"], 1);
    assert_eq!(a[0].data["text"], "Grüße \"quoted\" 'single'");
    let all = store.read_all(1, 2, None).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.position).collect::<Vec<_>>(),
        vec![2, 3]
    );
    let only_b = store.read_all(0, 10, Some("b")).await.unwrap();
    assert_eq!(only_b.len(), 1);
    assert_eq!(only_b[0].stream, "b");
    assert_eq!(
        only_b[0].event_id,
        store.read_all(2, 1, None).await.unwrap()[0].event_id
    );
}

async fn expected_versions(store: Arc<dyn EventStore>) {
    let conflict =
        |r: Result<_, StoreError>| matches!(r, Err(StoreError::ConcurrencyConflict { .. }));
    assert!(conflict(
        append_to_stream(&*store, "s", ExpectedVersion::StreamExists, vec![event(0)]).await
    ));
    assert!(conflict(
        append_to_stream(&*store, "s", ExpectedVersion::Exact(0), vec![event(0)]).await
    ));
    append_to_stream(&*store, "s", ExpectedVersion::NoStream, vec![event(0)])
        .await
        .unwrap();
    assert!(conflict(
        append_to_stream(&*store, "s", ExpectedVersion::NoStream, vec![event(1)]).await
    ));
    assert!(conflict(
        append_to_stream(&*store, "s", ExpectedVersion::Exact(5), vec![event(1)]).await
    ));
    append_to_stream(&*store, "s", ExpectedVersion::StreamExists, vec![event(1)])
        .await
        .unwrap();
    append_to_stream(&*store, "s", ExpectedVersion::Exact(1), vec![event(2)])
        .await
        .unwrap();
    append_to_stream(&*store, "s", ExpectedVersion::Any, vec![event(3)])
        .await
        .unwrap();
    // Conflicts wrote nothing and left no holes.
    let all = store.read_all(0, 100, None).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.position).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    assert_eq!(
        all.iter().map(|e| e.version).collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );
}

async fn atomic_multi_stream(store: Arc<dyn EventStore>) {
    append_to_stream(
        &*store,
        "patient",
        ExpectedVersion::NoStream,
        vec![event(0)],
    )
    .await
    .unwrap();
    let failed = store
        .append(AppendRequest {
            writes: vec![
                write("conversation", ExpectedVersion::NoStream, 3),
                write("patient", ExpectedVersion::NoStream, 1),
            ],
            idempotency: None,
        })
        .await;
    assert!(
        matches!(failed, Err(StoreError::ConcurrencyConflict { ref stream, .. }) if stream == "patient")
    );
    assert_eq!(store.stream_version("conversation").await.unwrap(), None);
    assert_eq!(store.head_position().await.unwrap(), 1);
    let done = store
        .append(AppendRequest {
            writes: vec![
                write("conversation", ExpectedVersion::NoStream, 3),
                write("patient", ExpectedVersion::Exact(0), 1),
            ],
            idempotency: None,
        })
        .await
        .unwrap();
    assert_eq!(
        done.events.iter().map(|e| e.position).collect::<Vec<_>>(),
        vec![2, 3, 4, 5]
    );
    assert_eq!(store.stream_version("patient").await.unwrap(), Some(1));
    let empty = store.append(AppendRequest::default()).await;
    assert!(matches!(empty, Err(StoreError::InvalidRequest(_))));
}

async fn idempotency(store: Arc<dyn EventStore>) {
    let actor = Uuid::new_v4();
    let key = IdempotencyKey {
        actor_id: actor,
        key: "send-1".into(),
    };
    let request = |key: IdempotencyKey| AppendRequest {
        writes: vec![write("s", ExpectedVersion::Any, 2)],
        idempotency: Some(key),
    };
    let first = store.append(request(key.clone())).await.unwrap();
    assert!(!first.duplicate);
    let again = store.append(request(key.clone())).await.unwrap();
    assert!(again.duplicate);
    assert_eq!(again.events, first.events);
    assert_eq!(store.head_position().await.unwrap(), 2);
    assert_eq!(
        store.find_idempotent(&key).await.unwrap(),
        Some(first.events.clone())
    );
    let other_actor = IdempotencyKey {
        actor_id: Uuid::new_v4(),
        key: "send-1".into(),
    };
    assert!(store.find_idempotent(&other_actor).await.unwrap().is_none());
    let other = store.append(request(other_actor)).await.unwrap();
    assert!(!other.duplicate);
    assert_eq!(other.events[0].position, 3);
    // Concurrent repeats of one key append once.
    let key = IdempotencyKey {
        actor_id: actor,
        key: "send-2".into(),
    };
    let racers = (0..8).map(|_| {
        let store = store.clone();
        let key = key.clone();
        tokio::spawn(async move { store.append(request(key)).await.unwrap() })
    });
    let outcomes: Vec<_> = futures::future::join_all(racers)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(outcomes.iter().filter(|o| !o.duplicate).count(), 1);
    assert!(outcomes.iter().all(|o| o.events == outcomes[0].events));
    assert_eq!(store.head_position().await.unwrap(), 6);
}

async fn subscriptions(store: Arc<dyn EventStore>) {
    append_to_stream(
        &*store,
        "s",
        ExpectedVersion::Any,
        (0..3).map(event).collect(),
    )
    .await
    .unwrap();
    let mut subscription = store.subscribe(1);
    let caught_up: Vec<u64> = (&mut subscription)
        .take(2)
        .map(|e| e.unwrap().position)
        .collect()
        .await;
    assert_eq!(caught_up, vec![2, 3]);
    let writer = store.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        append_to_stream(&*writer, "t", ExpectedVersion::Any, vec![event(9)])
            .await
            .unwrap();
    });
    let live = tokio::time::timeout(Duration::from_secs(5), subscription.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!((live.position, live.stream.as_str()), (4, "t"));
    let mut watch = store.head_watch();
    assert_eq!(*watch.borrow_and_update(), 4);
}

/// An append that reuses a recorded event id is refused and writes nothing, and appends
/// committed in the same group as it are unaffected.
async fn duplicate_event_id(store: Arc<dyn EventStore>) {
    let first = append_to_stream(&*store, "a", ExpectedVersion::Any, vec![event(0)])
        .await
        .unwrap();
    let mut reused = event(1);
    reused.event_id = first.events[0].event_id;
    for round in 0..3 {
        let mut tasks = vec![{
            let store = store.clone();
            let reused = reused.clone();
            tokio::spawn(async move {
                append_to_stream(&*store, "b", ExpectedVersion::Any, vec![reused]).await
            })
        }];
        tasks.extend((0..5).map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                append_to_stream(
                    &*store,
                    &format!("c-{round}-{i}"),
                    ExpectedVersion::NoStream,
                    vec![event(i)],
                )
                .await
            })
        }));
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await.unwrap());
        }
        assert!(
            matches!(outcomes[0], Err(StoreError::InvalidRequest(_))),
            "{:?}",
            outcomes[0]
        );
        assert!(outcomes[1..].iter().all(Result::is_ok), "{outcomes:?}");
    }
    assert_eq!(store.stream_version("b").await.unwrap(), None);
    let positions: Vec<u64> = store
        .read_all(0, 100, None)
        .await
        .unwrap()
        .iter()
        .map(|e| e.position)
        .collect();
    assert_eq!(positions, (1..=16).collect::<Vec<_>>());
}

/// Appends queued together (and so committed as one group) are each decided on their own:
/// in each round a conflict, a repeated idempotency key and multi-stream appends land beside
/// plain ones, and every answer is the one a lone append would get, with no gaps.
async fn mixed_group(store: Arc<dyn EventStore>) {
    let key = IdempotencyKey {
        actor_id: Uuid::new_v4(),
        key: "mixed".into(),
    };
    let keyed = |stream: &str| AppendRequest {
        writes: vec![write(stream, ExpectedVersion::Any, 1)],
        idempotency: Some(key.clone()),
    };
    let first = store.append(keyed("k")).await.unwrap();
    append_to_stream(&*store, "taken", ExpectedVersion::Any, vec![event(0)])
        .await
        .unwrap();
    for round in 0..5u64 {
        let requests = vec![
            keyed("k"),
            AppendRequest {
                writes: vec![write("taken", ExpectedVersion::NoStream, 1)],
                idempotency: None,
            },
            AppendRequest {
                writes: vec![
                    write(&format!("pair-a-{round}"), ExpectedVersion::NoStream, 2),
                    write(&format!("pair-b-{round}"), ExpectedVersion::NoStream, 1),
                ],
                idempotency: None,
            },
            AppendRequest {
                writes: vec![write(
                    &format!("plain-{round}"),
                    ExpectedVersion::NoStream,
                    3,
                )],
                idempotency: None,
            },
        ];
        let tasks: Vec<_> = requests
            .into_iter()
            .map(|request| {
                let store = store.clone();
                tokio::spawn(async move { store.append(request).await })
            })
            .collect();
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await.unwrap());
        }
        let duplicate = outcomes[0].as_ref().unwrap();
        assert!(duplicate.duplicate);
        assert_eq!(duplicate.events, first.events);
        assert!(
            matches!(
                outcomes[1],
                Err(StoreError::ConcurrencyConflict {
                    actual: Some(0),
                    ..
                })
            ),
            "{:?}",
            outcomes[1]
        );
        let pair = outcomes[2].as_ref().unwrap();
        let versions: Vec<(&str, u64)> = pair
            .events
            .iter()
            .map(|e| (e.stream.as_str(), e.version))
            .collect();
        let (a, b) = (format!("pair-a-{round}"), format!("pair-b-{round}"));
        assert_eq!(
            versions,
            vec![(a.as_str(), 0), (a.as_str(), 1), (b.as_str(), 0)]
        );
        assert_eq!(outcomes[3].as_ref().unwrap().events.len(), 3);
    }
    let log = store.read_all(0, 1_000, None).await.unwrap();
    let positions: Vec<u64> = log.iter().map(|e| e.position).collect();
    assert_eq!(positions, (1..=2 + 5 * 6).collect::<Vec<_>>());
    assert_eq!(store.stream_version("taken").await.unwrap(), Some(0));
}

/// 16 writers × 500 appends over random streams while 2 subscribers read.
async fn concurrent_writers(store: Arc<dyn EventStore>) {
    const WRITERS: usize = 16;
    const APPENDS: usize = 500;
    const TOTAL: u64 = (WRITERS * APPENDS) as u64;
    let subscribers: Vec<_> = (0..2)
        .map(|_| {
            let mut subscription = store.subscribe(0);
            tokio::spawn(async move {
                let mut seen = Vec::with_capacity(TOTAL as usize);
                while (seen.len() as u64) < TOTAL {
                    let event = tokio::time::timeout(Duration::from_secs(60), subscription.next())
                        .await
                        .expect("subscriber stalled")
                        .expect("subscription ended")
                        .expect("subscription failed");
                    seen.push((event.position, event.stream, event.version));
                }
                seen
            })
        })
        .collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                for _ in 0..APPENDS {
                    let stream = format!("stream-{}", rand::thread_rng().gen_range(0..20));
                    loop {
                        let expected = match store.stream_version(&stream).await.unwrap() {
                            Some(v) => ExpectedVersion::Exact(v),
                            None => ExpectedVersion::NoStream,
                        };
                        match append_to_stream(&*store, &stream, expected, vec![event(0)]).await {
                            Ok(_) => break,
                            Err(StoreError::ConcurrencyConflict { .. }) => continue,
                            Err(error) => panic!("{error}"),
                        }
                    }
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    for subscriber in subscribers {
        let seen = subscriber.await.unwrap();
        let positions: Vec<u64> = seen.iter().map(|(p, _, _)| *p).collect();
        assert_eq!(
            positions,
            (1..=TOTAL).collect::<Vec<_>>(),
            "every event once, in order, no gaps"
        );
        let mut versions: HashMap<&str, Vec<u64>> = HashMap::new();
        for (_, stream, version) in &seen {
            versions.entry(stream).or_default().push(*version);
        }
        for (stream, versions) in versions {
            assert_eq!(
                versions,
                (0..versions.len() as u64).collect::<Vec<_>>(),
                "{stream} versions contiguous"
            );
        }
    }
    assert_eq!(store.head_position().await.unwrap(), TOTAL);
}

/// Consumer checkpoints start at 0, are kept per name and never move back.
async fn consumer_checkpoints(store: Arc<dyn EventStore>) {
    assert_eq!(store.consumer_checkpoint("relay").await.unwrap(), 0);
    store.save_consumer_checkpoint("relay", 7).await.unwrap();
    store.save_consumer_checkpoint("dispatch", 3).await.unwrap();
    store.save_consumer_checkpoint("relay", 5).await.unwrap();
    assert_eq!(store.consumer_checkpoint("relay").await.unwrap(), 7);
    assert_eq!(store.consumer_checkpoint("dispatch").await.unwrap(), 3);
    store.save_consumer_checkpoint("relay", 9).await.unwrap();
    assert_eq!(store.consumer_checkpoint("relay").await.unwrap(), 9);
}

/// Web sessions are found by their id digest until they are deleted; deleting one also
/// clears every session that expired.
async fn web_sessions(store: Arc<dyn EventStore>) {
    use chrono::{Duration, Utc};
    use store::StoredSession;
    let now = Utc::now();
    let session = |holder: Option<&str>, expires_at| StoredSession {
        token_sha256: "t".repeat(64),
        holder: holder.map(str::to_owned),
        expires_at,
    };
    let live = session(Some("staff:1"), now + Duration::hours(1));
    let expired = session(None, now - Duration::hours(1));
    store.insert_session("live", &live).await.unwrap();
    store.insert_session("expired", &expired).await.unwrap();
    store.insert_session("other", &live).await.unwrap();
    assert_eq!(store.find_session("unknown").await.unwrap(), None);
    let found = store.find_session("live").await.unwrap().unwrap();
    assert_eq!(found.holder.as_deref(), Some("staff:1"));
    assert_eq!(found.expires_at.timestamp(), live.expires_at.timestamp());
    assert_eq!(
        store.find_session("expired").await.unwrap().unwrap().holder,
        None
    );
    assert!(
        store.insert_session("live", &live).await.is_err(),
        "ids are unique"
    );
    store.delete_session("live", now).await.unwrap();
    assert_eq!(store.find_session("live").await.unwrap(), None);
    assert_eq!(store.find_session("expired").await.unwrap(), None);
    assert!(store.find_session("other").await.unwrap().is_some());
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let fixture = super::Fixture::sqlite().await;
                    super::$name(fixture.store.clone()).await;
                    fixture.finish().await;
                }
            )*
        }
        mod sqlite_memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let fixture = super::Fixture::sqlite_memory().await;
                    super::$name(fixture.store.clone()).await;
                    fixture.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let fixture = super::Fixture::postgres().await;
                    super::$name(fixture.store.clone()).await;
                    fixture.finish().await;
                }
            )*
        }
    };
}

/// Every way of appending (alone, several streams at once, concurrently in groups, a repeated
/// key) records a hash chain that verifies, and answers the hashes it stored.
async fn hash_chain(store: Arc<dyn EventStore>) {
    let mut answered = HashMap::new();
    let first = append_to_stream(&*store, "a", ExpectedVersion::NoStream, vec![event(0)])
        .await
        .unwrap();
    let genesis_link = chain::link(chain::GENESIS, &first.events[0]);
    assert_eq!(first.events[0].hash, genesis_link);
    let key = IdempotencyKey {
        actor_id: Uuid::new_v4(),
        key: "k".into(),
    };
    let request = AppendRequest {
        writes: vec![
            write("b", ExpectedVersion::NoStream, 2),
            write("c", ExpectedVersion::Any, 1),
        ],
        idempotency: Some(key),
    };
    let multi = store.append(request.clone()).await.unwrap();
    let repeated = store.append(request).await.unwrap();
    assert!(repeated.duplicate);
    assert_eq!(
        repeated.events, multi.events,
        "a repeated key answers the stored hashes"
    );
    let writers: Vec<_> = (0..16)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let stream = format!("w-{}", i % 4);
                append_to_stream(
                    &*store,
                    &stream,
                    ExpectedVersion::Any,
                    vec![event(i), event(i)],
                )
                .await
                .unwrap()
            })
        })
        .collect();
    for outcome in [first, multi] {
        for event in outcome.events {
            answered.insert(event.position, event.hash);
        }
    }
    for writer in writers {
        for event in writer.await.unwrap().events {
            answered.insert(event.position, event.hash);
        }
    }
    let stored = store.read_all(0, 1000, None).await.unwrap();
    assert_eq!(stored.len(), answered.len());
    let mut verifier = chain::Verifier::from_start();
    for event in &stored {
        assert_eq!(event.hash.len(), 64);
        assert_eq!(answered[&event.position], event.hash, "answered as stored");
        verifier.check(event).unwrap();
    }
    assert_eq!(verifier.checked(), stored.len() as u64);
    let mut tampered = stored[4].clone();
    tampered.data = json!({ "n": 99 });
    let mut verifier = chain::Verifier::after(stored[3].position, stored[3].hash.clone());
    assert_eq!(
        verifier.check(&tampered),
        Err(chain::Break::Mismatch { position: 5 })
    );
    let mut verifier = chain::Verifier::after(stored[3].position, stored[3].hash.clone());
    assert_eq!(
        verifier.check(&stored[5]),
        Err(chain::Break::Missing {
            expected: 5,
            found: 6
        })
    );
}

conformance!(
    hash_chain,
    ordering_and_reads,
    mixed_group,
    expected_versions,
    atomic_multi_stream,
    idempotency,
    subscriptions,
    duplicate_event_id,
    concurrent_writers,
    consumer_checkpoints,
    web_sessions
);

/// Appends one event through the store's own `append_events` function inside `tx`, as the
/// store does, but without committing.
async fn append_in_transaction(tx: &mut sqlx::PgConnection, stream: &str) {
    let result: String = sqlx::query_scalar(
        "SELECT result FROM append_events(ARRAY[$1], ARRAY[-1]::bigint[], ARRAY[1], ARRAY[0]::bigint[], \
         ARRAY[$2]::uuid[], ARRAY['Tested'], ARRAY[1], ARRAY[now()], ARRAY[$3]::uuid[], ARRAY['admin'], \
         ARRAY['{}'::jsonb], ARRAY['{}'::jsonb], ARRAY['{\"position\":'], ARRAY[',\"version\":'], NULL, NULL)",
    )
    .bind(stream)
    .bind(Uuid::new_v4())
    .bind(Uuid::new_v4())
    .fetch_one(tx)
    .await
    .unwrap();
    assert_eq!(result, "appended");
}

/// A writer that appends and then holds its transaction open before committing: readers see
/// nothing past it meanwhile, later appends wait for it, and a subscriber sees every event
/// once, in commit order, without gaps.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_slow_committer_is_never_skipped() {
    let fixture = Fixture::postgres().await;
    let store = fixture.store.clone();
    let url = fixture.database.as_ref().unwrap().url.clone();
    append_to_stream(&*store, "warm", ExpectedVersion::Any, vec![event(0)])
        .await
        .unwrap();
    let mut subscription = store.subscribe(0);
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let mut slow = pool.begin().await.unwrap();
    append_in_transaction(&mut slow, "slow").await;
    let fast: Vec<_> = (0..5)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                append_to_stream(
                    &*store,
                    &format!("fast-{i}"),
                    ExpectedVersion::Any,
                    vec![event(i)],
                )
                .await
                .unwrap()
            })
        })
        .collect();
    // While the slow writer sleeps, nothing after position 1 is visible or delivered.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(store.head_position().await.unwrap(), 1);
    assert_eq!(store.read_all(0, 100, None).await.unwrap().len(), 1);
    let first = subscription.next().await.unwrap().unwrap();
    assert_eq!(first.position, 1);
    assert!(
        tokio::time::timeout(Duration::from_millis(200), subscription.next())
            .await
            .is_err(),
        "nothing is delivered past an uncommitted append"
    );
    assert!(fast.iter().all(|task| !task.is_finished()));
    slow.commit().await.unwrap();
    for task in fast {
        task.await.unwrap();
    }
    let mut delivered = vec![(first.position, first.stream)];
    for _ in 0..6 {
        let event = tokio::time::timeout(Duration::from_secs(10), subscription.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        delivered.push((event.position, event.stream));
    }
    assert_eq!(
        delivered.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
        (1..=7).collect::<Vec<_>>()
    );
    assert_eq!(delivered[1].1, "slow", "the slow writer keeps its place");
    pool.close().await;
    fixture.finish().await;
}

/// A writer that bypasses the append path and takes the next position and a stream's next
/// version: the store's racing append ends in a concurrency conflict (not a database error)
/// and leaves no hole.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_unique_violation_is_a_conflict() {
    let fixture = Fixture::postgres().await;
    let store = fixture.store.clone();
    let url = fixture.database.as_ref().unwrap().url.clone();
    append_to_stream(&*store, "warm", ExpectedVersion::Any, vec![event(0)])
        .await
        .unwrap();
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let mut rogue = pool.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO events (position, event_id, stream, version, event_type, schema_version, occurred_at, actor_id, actor_role, data, metadata, hash) \
         VALUES (2, $1, 'x', 0, 'Tested', 1, now(), $2, 'admin', '{}', '{}', repeat('0', 64))",
    )
    .bind(Uuid::new_v4())
    .bind(Uuid::new_v4())
    .execute(&mut *rogue)
    .await
    .unwrap();
    let racing = {
        let store = store.clone();
        tokio::spawn(async move {
            append_to_stream(&*store, "x", ExpectedVersion::NoStream, vec![event(1)]).await
        })
    };
    // Appends queued with it (perhaps committed as a group with it) either commit or, if
    // they too ran into the rogue's position, end in a conflict; never another error.
    let neighbours: Vec<_> = (0..5)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                append_to_stream(
                    &*store,
                    &format!("n-{i}"),
                    ExpectedVersion::NoStream,
                    vec![event(i)],
                )
                .await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    rogue.commit().await.unwrap();
    for neighbour in neighbours {
        match neighbour.await.unwrap() {
            Ok(_) | Err(StoreError::ConcurrencyConflict { .. }) => {}
            Err(error) => panic!("{error}"),
        }
    }
    let outcome = racing.await.unwrap();
    assert!(
        matches!(
            outcome,
            Err(StoreError::ConcurrencyConflict { ref stream, actual: Some(0), .. }) if stream == "x"
        ),
        "{outcome:?}"
    );
    let next = append_to_stream(&*store, "x", ExpectedVersion::Exact(0), vec![event(2)])
        .await
        .unwrap();
    assert_eq!(next.events[0].version, 1);
    let positions: Vec<u64> = store
        .read_all(0, 100, None)
        .await
        .unwrap()
        .iter()
        .map(|e| e.position)
        .collect();
    assert_eq!(
        positions,
        (1..=next.events[0].position).collect::<Vec<_>>(),
        "no holes"
    );
    pool.close().await;
    fixture.finish().await;
}

/// A concurrent first use of an idempotency key that commits while the store's append waits
/// on the key: the append answers the first use's events instead of an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_concurrent_idempotency_key_answers_the_original() {
    let fixture = Fixture::postgres().await;
    let store = fixture.store.clone();
    let url = fixture.database.as_ref().unwrap().url.clone();
    let original = append_to_stream(&*store, "s", ExpectedVersion::Any, vec![event(0)])
        .await
        .unwrap();
    let key = IdempotencyKey {
        actor_id: Uuid::new_v4(),
        key: "k".into(),
    };
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let mut first_use = pool.begin().await.unwrap();
    sqlx::query("INSERT INTO idempotency_keys (actor_id, key, first_position, last_position) VALUES ($1, $2, 1, 1)")
        .bind(key.actor_id)
        .bind(&key.key)
        .execute(&mut *first_use)
        .await
        .unwrap();
    let racing = {
        let store = store.clone();
        let key = key.clone();
        tokio::spawn(async move {
            store
                .append(AppendRequest {
                    writes: vec![write("t", ExpectedVersion::Any, 1)],
                    idempotency: Some(key),
                })
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    first_use.commit().await.unwrap();
    let outcome = racing.await.unwrap().unwrap();
    assert!(outcome.duplicate);
    assert_eq!(outcome.events, original.events);
    assert_eq!(store.stream_version("t").await.unwrap(), None);
    let next = append_to_stream(&*store, "t", ExpectedVersion::Any, vec![event(1)])
        .await
        .unwrap();
    assert_eq!(next.events[0].position, 2, "no hole");
    pool.close().await;
    fixture.finish().await;
}

/// A second store on the same database (another process) learns of commits through
/// `LISTEN/NOTIFY`: its head moves although it appended nothing, and its subscriber gets the event.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_other_store_is_notified() {
    let fixture = Fixture::postgres().await;
    let url = fixture.database.as_ref().unwrap().url.clone();
    let other = PgEventStore::connect_with_pool_size(&url, 2).await.unwrap();
    let mut head = other.head_watch();
    let mut subscription = other.subscribe(0);
    // Let the listener start (it reads the head once when it starts listening).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(*head.borrow_and_update(), 0);
    for n in 0..3 {
        append_to_stream(&*fixture.store, "s", ExpectedVersion::Any, vec![event(n)])
            .await
            .unwrap();
        // Only a notification moves the other store's head now.
        tokio::time::timeout(Duration::from_secs(5), head.wait_for(|p| *p == n + 1))
            .await
            .expect("notified")
            .unwrap();
        let event = tokio::time::timeout(Duration::from_secs(5), subscription.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(event.position, n + 1);
    }
    drop(subscription);
    drop(other);
    fixture.finish().await;
}

/// Two stores on one SQLite file (two processes) append concurrently: `BEGIN IMMEDIATE`
/// keeps positions gap-free and versions contiguous, without busy errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_two_stores_on_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let stores: Vec<Arc<dyn EventStore>> = vec![
        Arc::new(SqliteEventStore::open(&path).await.unwrap()),
        Arc::new(SqliteEventStore::open(&path).await.unwrap()),
    ];
    let writers: Vec<_> = (0..8)
        .map(|i| {
            let store = stores[i % 2].clone();
            tokio::spawn(async move {
                for n in 0..100 {
                    append_to_stream(
                        &*store,
                        &format!("s-{}", n % 3),
                        ExpectedVersion::Any,
                        vec![event(n)],
                    )
                    .await
                    .unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let all = stores[1].read_all(0, 1000, None).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.position).collect::<Vec<_>>(),
        (1..=800).collect::<Vec<_>>()
    );
    for stream in ["s-0", "s-1", "s-2"] {
        let versions: Vec<u64> = all
            .iter()
            .filter(|e| e.stream == stream)
            .map(|e| e.version)
            .collect();
        assert_eq!(versions, (0..versions.len() as u64).collect::<Vec<_>>());
    }
    assert_eq!(
        verified(&*stores[0]).await.len(),
        800,
        "one chain across both writers"
    );
}

/// `open_store` picks the backend from the URL.
#[tokio::test]
async fn open_store_picks_the_backend() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let sqlite = open_store(None, &path, None).await.unwrap();
    append_to_stream(&*sqlite, "s", ExpectedVersion::Any, vec![event(0)])
        .await
        .unwrap();
    drop(sqlite);
    assert!(path.exists());
    let reopened = open_store(Some(""), &path, None).await.unwrap();
    assert_eq!(reopened.head_position().await.unwrap(), 1);
    assert!(matches!(
        open_store(Some("mysql://localhost/hub"), &path, None).await,
        Err(StoreError::InvalidRequest(_))
    ));
    let database = TestDatabase::create().await.unwrap();
    let postgres = open_store(Some(&database.url), &path, None).await.unwrap();
    assert_eq!(postgres.head_position().await.unwrap(), 0);
    drop(postgres);
    database.drop_database().await.unwrap();
}

/// A migrator with the first `count` migrations of `backend`'s folder: the schema an earlier
/// version of the hub left behind.
async fn earlier_migrations(
    backend: &str,
    count: usize,
) -> (sqlx::migrate::Migrator, tempfile::TempDir) {
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let mut files: Vec<_> = std::fs::read_dir(&source)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    let dir = tempfile::tempdir().unwrap();
    for file in &files[..count] {
        std::fs::copy(file, dir.path().join(file.file_name().unwrap())).unwrap();
    }
    (sqlx::migrate::Migrator::new(dir.path()).await.unwrap(), dir)
}

/// Checks the whole stored chain and answers its events.
async fn verified(store: &dyn EventStore) -> Vec<store::RecordedEvent> {
    let mut events = Vec::new();
    loop {
        let after = events
            .last()
            .map_or(0, |e: &store::RecordedEvent| e.position);
        let page = store.read_all(after, 500, None).await.unwrap();
        if page.is_empty() {
            break;
        }
        events.extend(page);
    }
    let mut verifier = chain::Verifier::from_start();
    for event in &events {
        verifier.check(event).unwrap();
    }
    events
}

/// A PostgreSQL log written before the hash chain existed (by migration 0002's
/// `append_events`) gets its hashes once when the store first opens it, then chains on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_upgrade_hashes_the_existing_log_once() {
    let database = TestDatabase::create().await.unwrap();
    let pool = sqlx::PgPool::connect(&database.url).await.unwrap();
    let (migrator, _dir) = earlier_migrations("postgres", 5).await;
    migrator.run(&pool).await.unwrap();
    for n in 0..1200 {
        let result: String = sqlx::query_scalar(
            "SELECT result FROM append_events(ARRAY[$1], ARRAY[-1]::bigint[], ARRAY[1], ARRAY[0]::bigint[], \
             ARRAY[$2]::uuid[], ARRAY['Tested'], ARRAY[1], ARRAY[now()], ARRAY[$3]::uuid[], ARRAY['admin'], \
             ARRAY[$4::jsonb], ARRAY['{}'::jsonb], NULL, NULL)",
        )
        .bind(format!("old-{}", n % 7))
        .bind(Uuid::new_v4())
        .bind(Uuid::new_v4())
        .bind(json!({ "n": n, "text": "Grüße \"quoted\"" }))
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(result, "appended");
    }
    let store = PgEventStore::connect(&database.url).await.unwrap();
    append_to_stream(&store, "new", ExpectedVersion::NoStream, vec![event(0)])
        .await
        .unwrap();
    let events = verified(&store).await;
    assert_eq!(events.len(), 1201);
    drop(store);
    // Opening again changes nothing.
    let store = PgEventStore::connect(&database.url).await.unwrap();
    assert_eq!(verified(&store).await, events);
    drop(store);
    pool.close().await;
    database.drop_database().await.unwrap();
}

/// A SQLite data folder written before the hash chain existed gets its hashes once when the
/// store first opens it, then chains on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_upgrade_hashes_the_existing_log_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let pool = sqlx::SqlitePool::connect_with(store::sqlite::connect_options(&path))
        .await
        .unwrap();
    let (migrator, _migrations) = earlier_migrations("sqlite", 3).await;
    migrator.run(&pool).await.unwrap();
    for n in 0..1200i64 {
        sqlx::query(
            "INSERT INTO events (position, event_id, stream, version, event_type, schema_version, occurred_at, actor_id, actor_role, data, metadata) \
             VALUES (?1, ?2, ?3, ?4, 'Tested', 1, ?5, ?6, 'admin', ?7, '{}')",
        )
        .bind(n + 1)
        .bind(Uuid::new_v4().to_string())
        .bind(format!("old-{}", n % 7))
        .bind(n / 7)
        .bind(Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .bind(Uuid::new_v4().to_string())
        .bind(json!({ "n": n, "text": "Grüße \"quoted\"" }).to_string())
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;
    let store = SqliteEventStore::open(&path).await.unwrap();
    append_to_stream(&store, "new", ExpectedVersion::NoStream, vec![event(0)])
        .await
        .unwrap();
    let events = verified(&store).await;
    assert_eq!(events.len(), 1201);
    drop(store);
    let store = SqliteEventStore::open(&path).await.unwrap();
    assert_eq!(verified(&store).await, events);
}

/// Seals `text` for `subject` as the codec does: in an event whose data carries the sealed
/// value, appended through `store`.
async fn append_sealed(store: &dyn EventStore, subject: Uuid, text: &str) -> NewEvent {
    store.keyring().ensure(subject).await.unwrap();
    let mut event = event(0);
    let sealed = store
        .keyring()
        .seal(subject, event.event_id.as_bytes(), text.as_bytes())
        .unwrap();
    event.data = json!({ "sealed": sealed });
    append_to_stream(
        store,
        &format!("p-{subject}"),
        ExpectedVersion::Any,
        vec![event.clone()],
    )
    .await
    .unwrap();
    event
}

/// What the keyring of `store` opens of `event`'s sealed value.
fn unsealed(
    store: &dyn EventStore,
    event: &store::RecordedEvent,
) -> Result<String, keys::KeyError> {
    let sealed = keys::Sealed::of(&event.data).unwrap();
    store
        .keyring()
        .unseal(&sealed, event.event_id.as_bytes())
        .map(|bytes| String::from_utf8(bytes).unwrap())
}

/// A key made by one store opens in another that reads the event (the read loads it); the
/// sealed value is bound to its event; once destroyed, no store opens it and none makes a new
/// key for the subject.
async fn keys_seal_open_and_destroy(first: Arc<dyn EventStore>, second: Arc<dyn EventStore>) {
    let subject = Uuid::new_v4();
    append_sealed(&*first, subject, "Grüße, Ms. Distinctive").await;
    let read = second.read_all(0, 10, None).await.unwrap();
    assert_eq!(
        unsealed(&*second, &read[0]).unwrap(),
        "Grüße, Ms. Distinctive"
    );
    let mut moved = read[0].clone();
    moved.event_id = Uuid::new_v4();
    assert!(matches!(
        unsealed(&*second, &moved),
        Err(keys::KeyError::Corrupt(_))
    ));
    assert!(
        !read[0].data.to_string().contains("Distinctive"),
        "the log holds only ciphertext"
    );

    first.keyring().destroy(subject).await.unwrap();
    assert_eq!(
        unsealed(&*first, &read[0]),
        Err(keys::KeyError::Destroyed(subject))
    );
    assert!(matches!(
        first.keyring().ensure(subject).await,
        Err(StoreError::Key(keys::KeyError::Destroyed(_)))
    ));
    // A process that still holds the key forgets it when told (by the erasure's event).
    second.keyring().forget(subject);
    assert_eq!(
        unsealed(&*second, &read[0]),
        Err(keys::KeyError::Destroyed(subject))
    );
    assert!(second.keyring().ensure(subject).await.is_err());

    // Several subjects at once (a repeated one among them): each gets one key, which the
    // other store loads; a destroyed one among them refuses the lot.
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    first.keyring().ensure_all(&[a, b, a]).await.unwrap();
    let sealed = first.keyring().seal(b, b"aad", b"both made").unwrap();
    second.keyring().ensure_all(&[b, a]).await.unwrap();
    assert_eq!(
        second.keyring().unseal(&sealed, b"aad").unwrap(),
        b"both made"
    );
    assert!(matches!(
        first.keyring().ensure_all(&[Uuid::new_v4(), subject]).await,
        Err(StoreError::Key(keys::KeyError::Destroyed(_)))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_keys_seal_open_and_destroy() {
    let fixture = Fixture::postgres().await;
    let url = fixture.database.as_ref().unwrap().url.clone();
    let second: Arc<dyn EventStore> = Arc::new(PgEventStore::connect(&url).await.unwrap());
    keys_seal_open_and_destroy(fixture.store.clone(), second.clone()).await;
    drop(second);
    fixture.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_keys_seal_open_and_destroy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let first: Arc<dyn EventStore> = Arc::new(SqliteEventStore::open(&path).await.unwrap());
    let second: Arc<dyn EventStore> = Arc::new(SqliteEventStore::open(&path).await.unwrap());
    keys_seal_open_and_destroy(first.clone(), second).await;
    assert!(dir.path().join("master.key").exists());
    // A destroyed key's wrapped bytes leave the database files (the file and its WAL).
    let subject = Uuid::new_v4();
    first.keyring().ensure(subject).await.unwrap();
    let pool = sqlx::SqlitePool::connect_with(store::sqlite::connect_options(&path))
        .await
        .unwrap();
    let wrapped: Vec<u8> =
        sqlx::query_scalar("SELECT wrapped FROM subject_keys WHERE subject = ?1")
            .bind(subject.to_string())
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;
    first.keyring().destroy(subject).await.unwrap();
    for file in ["events.db", "events.db-wal"] {
        let bytes = std::fs::read(dir.path().join(file)).unwrap_or_default();
        assert!(
            !bytes.windows(wrapped.len()).any(|window| window == wrapped),
            "{file} still holds the destroyed key"
        );
    }
}

/// `HUB_MASTER_KEY` wraps the keys when given: a store opened with another master key cannot
/// unwrap them and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wrong_master_key_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let master = "ab".repeat(32);
    let store = open_store(None, &path, Some(&master)).await.unwrap();
    append_sealed(&*store, Uuid::new_v4(), "secret").await;
    drop(store);
    assert!(!dir.path().join("master.key").exists());
    let other = open_store(None, &path, Some(&"cd".repeat(32)))
        .await
        .unwrap();
    let error = other.read_all(0, 10, None).await.unwrap_err();
    assert!(error.to_string().contains("HUB_MASTER_KEY"), "{error}");
    assert!(matches!(
        open_store(None, &path, Some("short")).await,
        Err(StoreError::InvalidRequest(_))
    ));
}
