//! Thousands of random and malformed requests: every answer is a success or a contract error
//! with its documented status, the server keeps serving, and failures append nothing.

mod support;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use reqwest::Method;
use serde_json::{json, Value};
use support::{Backend, Hub, ADMIN};

/// Every error code of the contract with its HTTP status.
const CONTRACT_ERRORS: [(u16, &str); 16] = [
    (400, "invalid_request"),
    (401, "unauthenticated"),
    (403, "missing_permission"),
    (403, "conversation_rule"),
    (403, "forbidden"),
    (404, "not_found"),
    (409, "conversation_exists"),
    (409, "concurrency_conflict"),
    (409, "not_pending"),
    (413, "attachment_too_large"),
    (413, "payload_too_large"),
    (415, "unsupported_media_type"),
    (422, "channel_unavailable"),
    (422, "attachments_not_allowed"),
    (503, "not_caught_up"),
    (503, "unavailable"),
];

const PATHS: [&str; 14] = [
    "/v1/staff",
    "/v1/staff/{id}/permissions",
    "/v1/patients",
    "/v1/patients/{id}",
    "/v1/attachments",
    "/v1/attachments/{id}",
    "/v1/messages",
    "/v1/messages/{id}/read",
    "/v1/messages/{id}/star",
    "/v1/conversations",
    "/v1/conversations/{id}",
    "/v1/conversations/{id}/messages",
    "/v1/conversations/{id}/calls",
    "/v1/events",
];

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::GET),
        Just(Method::POST),
        Just(Method::PUT),
        Just(Method::PATCH),
        Just(Method::DELETE),
    ]
}

/// Ids that exist, ids that do not, and things that are not ids at all.
fn id(known: Vec<String>) -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(known),
        Just("00000000-0000-0000-0000-000000000000".to_owned()),
        "[a-z0-9%'\";-]{0,40}",
        Just("1 OR 1=1".to_owned()),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,30}".prop_map(Value::from),
        prop_oneof![
            Just("sms"),
            Just("email"),
            Just("portal"),
            Just("whatsapp"),
            Just("call"),
            Just("reception"),
            Just("doctor"),
            Just("admin"),
            Just("send_messages"),
            Just("+4915112345678"),
            Just("2026-01-01T00:00:00Z"),
            Just("'; DROP TABLE events; --"),
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("name".to_owned()),
                    Just("role".to_owned()),
                    Just("permissions".to_owned()),
                    Just("channel".to_owned()),
                    Just("body".to_owned()),
                    Just("subject".to_owned()),
                    Just("patient_id".to_owned()),
                    Just("to".to_owned()),
                    Just("attachment_ids".to_owned()),
                    Just("duration_seconds".to_owned()),
                    Just("occurred_at".to_owned()),
                    Just("direction".to_owned()),
                    Just("summary".to_owned()),
                    Just("phone".to_owned()),
                    Just("email".to_owned()),
                    Just("grant".to_owned()),
                    Just("revoke".to_owned()),
                    "[a-z_]{1,12}",
                ],
                inner,
                0..6,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[derive(Debug, Clone)]
enum Body {
    None,
    Json(Value),
    Raw(String, Vec<u8>),
    Huge,
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        Just(Body::None),
        json_value().prop_map(Body::Json),
        (
            prop_oneof![
                Just("application/json"),
                Just("text/plain"),
                Just("application/pdf"),
                Just("image/png"),
                Just("application/x-evil")
            ],
            prop::collection::vec(any::<u8>(), 0..200),
        )
            .prop_map(|(t, b)| Body::Raw(t.to_owned(), b)),
        Just(Body::Huge),
    ]
}

fn query() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            prop_oneof![
                Just("limit"),
                Just("cursor"),
                Just("status"),
                Just("channel"),
                Just("direction"),
                Just("starred"),
                Just("q"),
                Just("patient_id"),
                Just("after"),
                Just("min_position"),
                Just("stream"),
                Just("filename"),
            ],
            prop_oneof![
                Just("-1".to_owned()),
                Just("0".to_owned()),
                Just("201".to_owned()),
                Just("50".to_owned()),
                "[a-zA-Z0-9*\"' ]{0,12}"
            ],
        ),
        0..3,
    )
    .prop_map(|pairs| {
        let encoded = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        if encoded.is_empty() {
            String::new()
        } else {
            format!("?{encoded}")
        }
    })
}

async fn head(hub: &Hub) -> u64 {
    let events = hub.get(ADMIN, "/v1/events?limit=200&after=0").await;
    let mut after = 0;
    let mut items = events.ok()["items"].as_array().unwrap().clone();
    while let Some(last) = items.last() {
        after = last["position"].as_u64().unwrap();
        if items.len() < 200 {
            break;
        }
        items = hub
            .get(ADMIN, &format!("/v1/events?limit=200&after={after}"))
            .await
            .ok()["items"]
            .as_array()
            .unwrap()
            .clone();
    }
    after
}

async fn random_requests(backend: Backend, cases: u32) {
    let hub = Hub::start(backend).await;
    let (staff_id, receptionist) = hub.staff("Rae", "receptionist").await;
    let (patient_id, patient) = hub.patient("Pia").await;
    let started = hub
        .post(
            &patient,
            "/v1/messages",
            json!({ "to": "reception", "channel": "portal", "body": "hello" }),
        )
        .await;
    let conversation = started.ok()["conversation_id"].as_str().unwrap().to_owned();
    let message = started.body["message_id"].as_str().unwrap().to_owned();
    let known = vec![staff_id, patient_id, conversation, message];
    let tokens = vec![
        Some(ADMIN.to_owned()),
        Some(receptionist),
        Some(patient),
        Some("forged".to_owned()),
        None,
    ];

    let strategy = (
        method(),
        proptest::sample::select(PATHS.to_vec()),
        id(known),
        query(),
        body(),
        proptest::sample::select(tokens),
    );
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let runtime = tokio::runtime::Handle::current();
    let http = reqwest::Client::new();
    let before = std::cell::Cell::new(head(&hub).await);
    let result = tokio::task::block_in_place(|| {
        runner
            .run(&strategy, |(method, path, id, query, body, token)| {
                runtime.block_on(async {
                    let url = format!("{}{}{}", hub.base, path.replace("{id}", &id), query);
                    let mut request = http.request(method.clone(), url);
                    if let Some(token) = &token {
                        request = request.bearer_auth(token);
                    }
                    request = match &body {
                        Body::None => request,
                        Body::Json(value) => request.json(value),
                        Body::Raw(media, bytes) => request
                            .header("content-type", media.as_str())
                            .body(bytes.clone()),
                        Body::Huge => request
                            .header("content-type", "application/json")
                            .body(vec![b' '; 2 * 1024 * 1024]),
                    };
                    let response = match request.send().await {
                        Ok(response) => response,
                        // A server may answer an oversized body early and close the connection
                        // before the client finished sending; it must keep serving others.
                        Err(_) if matches!(body, Body::Huge) => {
                            hub.get(ADMIN, "/v1/health").await.ok();
                            return Ok(());
                        }
                        Err(error) => panic!("the server stopped serving: {error}"),
                    };
                    let status = response.status().as_u16();
                    let bytes = response.bytes().await.expect("body");
                    if status >= 400 {
                        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                        let code = body["error"]["code"].as_str().unwrap_or("");
                        prop_assert!(
                            CONTRACT_ERRORS.contains(&(status, code)),
                            "{method} {path} answered {status} {body}"
                        );
                        let after = head(&hub).await;
                        prop_assert_eq!(
                            after,
                            before.get(),
                            "a failed {} {} appended events",
                            method,
                            path
                        );
                    } else {
                        prop_assert!(status < 300, "{method} {path} answered {status}");
                        before.set(head(&hub).await);
                    }
                    Ok(())
                })
            })
            .map_err(|error| error.to_string())
    });
    if let Err(error) = result {
        panic!("{error}");
    }
    hub.get(ADMIN, "/v1/health").await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_requests_on_sqlite() {
    random_requests(Backend::Sqlite, 2_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_requests_on_postgres() {
    random_requests(Backend::Postgres, 1_000).await;
}
