//! Contract section 10, `GET /metrics`: served only with `HUB_METRICS_TOKEN` and only to its
//! bearer, in the Prometheus text format, with every metric family the contract lists once the
//! hub has done some work, and no patient data (nor any id or token) in any label. (A module of
//! the `api` test binary.)

#[path = "channels/fakes.rs"]
mod fakes;

use std::collections::HashSet;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{Backend, Hub, ADMIN};
use fakes::{FakeApi, FakeSmtp, Scripted};

const METRICS_TOKEN: &str = "metrics-scrape-token-7f3a";

/// A hub with `/metrics` on and SMS, WhatsApp and e-mail sent to local fakes.
struct Metered {
    hub: Hub,
    twilio: FakeApi,
    _whatsapp: FakeApi,
    smtp: FakeSmtp,
}

impl Metered {
    async fn start(backend: Backend) -> Metered {
        let (twilio, whatsapp, smtp) = (
            FakeApi::twilio().await,
            FakeApi::whatsapp().await,
            FakeSmtp::start(),
        );
        let args = [
            "--metrics-token",
            METRICS_TOKEN,
            "--public-url",
            "https://hub.clinic.example",
            "--twilio-api-base",
            &twilio.base,
            "--twilio-account-sid",
            "AC0123456789abcdef0123456789abcdef",
            "--twilio-auth-token",
            "twilio-auth-token",
            "--twilio-from",
            "+15005550006",
            "--whatsapp-api-base",
            &whatsapp.base,
            "--whatsapp-phone-number-id",
            "1055",
            "--whatsapp-token",
            "wa-token",
            "--whatsapp-app-secret",
            "whatsapp-app-secret",
            "--smtp-url",
            &smtp.url,
            "--email-from",
            "Clinic <clinic@clinic.example>",
            "--dispatch-backoff-ms",
            "20",
            "--dispatch-attempts",
            "3",
        ];
        Metered {
            hub: Hub::start_with(backend, &args).await,
            twilio,
            _whatsapp: whatsapp,
            smtp,
        }
    }

    /// Scrapes with the right token: asserts 200 and the text format, answers the text.
    async fn scrape(&self) -> String {
        scrape(&self.hub).await
    }

    /// Polls a message (as `token`) until its delivery status is `status` (20 s at most).
    async fn delivered(&self, token: &str, message: &str, status: &str) {
        let mut last = Value::Null;
        for _ in 0..200 {
            let answer = self
                .hub
                .get(token, &format!("/v1/messages/{message}"))
                .await;
            if answer.body["delivery_status"] == status {
                return;
            }
            last = answer.body;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("message never reached `{status}`: {last}");
    }
}

/// `GET /metrics` with `token` (none when `None`): status, content type and body.
async fn get_metrics(hub: &Hub, token: Option<&str>) -> (StatusCode, String, String) {
    let mut request = reqwest::Client::new().get(format!("{}/metrics", hub.base));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("scrape");
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, response.text().await.expect("body"))
}

async fn scrape(hub: &Hub) -> String {
    let (status, content_type, text) = get_metrics(hub, Some(METRICS_TOKEN)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    text
}

/// The metric families the scrape declares (`# TYPE <name> <type>`), with their types.
fn families(text: &str) -> HashSet<(String, String)> {
    text.lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .map(|rest| {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name type");
            (name.to_owned(), kind.to_owned())
        })
        .collect()
}

/// The sum of the samples named `name` that carry every label of `labels`.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| {
            let (series, sample) = line.rsplit_once(' ')?;
            let (series_name, series_labels) = match series.split_once('{') {
                Some((n, l)) => (n, l.trim_end_matches('}')),
                None => (series, ""),
            };
            let wanted = series_name == name
                && labels
                    .iter()
                    .all(|(k, v)| series_labels.contains(&format!("{k}=\"{v}\"")));
            wanted.then(|| sample.parse::<f64>().expect("a sample value"))
        })
        .sum()
}

/// Every label value in the scrape.
fn label_values(text: &str) -> Vec<String> {
    let pattern = regex::Regex::new(r#"[a-z_]+="([^"]*)""#).unwrap();
    pattern
        .captures_iter(text)
        .map(|c| c[1].to_owned())
        .collect()
}

async fn metrics_need_the_token_and_cover_every_family(backend: Backend) {
    // Without a token configured, `/metrics` is an unknown path.
    let plain = Hub::start(backend).await;
    let answer = plain.call(Method::GET, "/metrics", Some(ADMIN), None).await;
    answer.err(404, "not_found");
    drop(plain);

    let world = Metered::start(backend).await;
    let hub = &world.hub;
    for token in [None, Some("not-the-metrics-token"), Some(ADMIN)] {
        let (status, _, body) = get_metrics(hub, token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token:?}");
        let body: Value = serde_json::from_str(&body).expect("an error body");
        assert_eq!(body["error"]["code"], "unauthenticated", "{token:?}");
    }
    // Not part of the API: the OpenAPI document does not list it.
    let openapi = hub.call(Method::GET, "/v1/openapi.json", None, None).await;
    assert!(!openapi.ok()["paths"]
        .as_object()
        .unwrap()
        .keys()
        .any(|path| path.contains("metrics")));

    let (_, reception) = hub.staff("Rita Reception", "receptionist").await;
    let (_, doctor) = hub.staff("Dora Doctor", "doctor").await;
    let (patient_id, patient) = hub.patient("Pat Patient").await;
    // Portal: the first message and a reply.
    let started = hub
        .post(
            &reception,
            "/v1/messages",
            json!({ "patient_id": patient_id, "channel": "portal", "body": "Welcome" }),
        )
        .await;
    let conversation = started.ok()["conversation_id"].as_str().unwrap().to_owned();
    hub.post(
        &patient,
        &format!("/v1/conversations/{conversation}/messages"),
        json!({ "channel": "portal", "body": "Thanks" }),
    )
    .await
    .ok();
    // SMS and e-mail through the fakes; one SMS the provider refuses.
    let path = format!("/v1/conversations/{conversation}/messages");
    let reply = |body: Value| hub.post(&reception, &path, body);
    let sms = reply(json!({ "channel": "sms", "body": "Reminder" })).await;
    let sms = sms.ok()["message_id"].as_str().unwrap().to_owned();
    world.delivered(&reception, &sms, "sent").await;
    let mail = reply(json!({ "channel": "email", "subject": "Results", "body": "Attached" })).await;
    let mail = mail.ok()["message_id"].as_str().unwrap().to_owned();
    world.delivered(&reception, &mail, "sent").await;
    world.smtp.wait_for(1).await;
    world.twilio.script([Scripted::Answer(
        400,
        json!({ "code": 21211, "message": "Invalid 'To' Phone Number" }),
    )]);
    let refused = reply(json!({ "channel": "sms", "body": "Second reminder" })).await;
    let refused = refused.ok()["message_id"].as_str().unwrap().to_owned();
    world.delivered(&reception, &refused, "failed").await;
    // Refusals: a free-form WhatsApp message outside the 24-hour window, and a doctor's
    // second open conversation with the same patient (409 conversation_exists).
    reply(json!({ "channel": "whatsapp", "body": "Hi" }))
        .await
        .err(422, "channel_unavailable");
    let first = json!({ "patient_id": patient_id, "channel": "portal", "body": "Dr here" });
    hub.post(&doctor, "/v1/messages", first.clone()).await.ok();
    hub.post(&doctor, "/v1/messages", first)
        .await
        .err(409, "conversation_exists");
    // A webhook call with a bad signature.
    let webhook = reqwest::Client::new()
        .post(format!("{}/v1/webhooks/twilio/sms", hub.base))
        .header("x-twilio-signature", "bm90LWEtc2lnbmF0dXJl")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("MessageSid=SM1&From=%2B4915112345678&Body=hello")
        .send()
        .await
        .unwrap();
    assert_eq!(webhook.status(), StatusCode::UNAUTHORIZED);
    hub.call(Method::GET, "/no/such/page", None, None)
        .await
        .err(404, "not_found");
    // Wait for the projector: a read at the last position answers once it is applied.
    let last = hub
        .post(
            &reception,
            &format!("/v1/conversations/{conversation}/messages"),
            json!({ "channel": "portal", "body": "Last one" }),
        )
        .await;
    let last = last.ok()["position"].as_u64().unwrap();
    hub.get(
        &reception,
        &format!("/v1/conversations/{conversation}?min_position={last}"),
    )
    .await
    .ok();

    let text = world.scrape().await;
    let declared = families(&text);
    let backend_name = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    for (name, kind) in [
        ("hub_http_requests_total", "counter"),
        ("hub_http_request_duration_seconds", "histogram"),
        ("hub_commands_total", "counter"),
        ("hub_store_append_duration_seconds", "histogram"),
        ("hub_store_append_commit_duration_seconds", "histogram"),
        ("hub_store_append_group_size", "histogram"),
        ("hub_projection_position", "gauge"),
        ("hub_projection_lag_events", "gauge"),
        ("hub_projection_lag_seconds", "gauge"),
        ("hub_dispatch_attempts_total", "counter"),
        ("hub_dispatch_outcomes_total", "counter"),
        ("hub_dispatch_send_duration_seconds", "histogram"),
        ("hub_dispatch_queue_depth", "gauge"),
        ("hub_webhook_rejections_total", "counter"),
    ] {
        assert!(
            declared.contains(&(name.to_owned(), kind.to_owned())),
            "{name} ({kind}) missing from:\n{text}"
        );
    }
    // docs/metrics.md documents exactly these families (conflict retries need two nodes: see
    // the test below).
    let documented: HashSet<String> = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/metrics.md"
    ))
    .unwrap()
    .lines()
    .filter_map(|line| line.strip_prefix("| `hub_"))
    .filter_map(|rest| rest.split('`').next())
    .map(|name| format!("hub_{name}"))
    .collect();
    let exported: HashSet<String> = declared
        .iter()
        .map(|(name, _)| name.clone())
        .chain(["hub_command_conflict_retries_total".to_owned()])
        .collect();
    assert_eq!(exported, documented);
    // Requests by route template, never by the path sent.
    let route = "/v1/conversations/{id}/messages";
    assert!(
        value(
            &text,
            "hub_http_requests_total",
            &[("route", route), ("method", "POST")]
        ) >= 5.0
    );
    assert!(
        value(
            &text,
            "hub_http_request_duration_seconds_count",
            &[("route", route)]
        ) >= 5.0
    );
    assert_eq!(
        value(
            &text,
            "hub_http_requests_total",
            &[("route", "unmatched"), ("status", "404")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            "hub_http_requests_total",
            &[("route", "/metrics"), ("status", "401")]
        ),
        3.0
    );
    // Commands by kind and outcome.
    let commands = |labels: &[(&str, &str)]| value(&text, "hub_commands_total", labels);
    assert!(commands(&[("kind", "send_message"), ("outcome", "ok")]) >= 5.0);
    assert!(commands(&[("kind", "start_conversation"), ("outcome", "ok")]) >= 2.0);
    assert_eq!(
        commands(&[
            ("kind", "start_conversation"),
            ("outcome", "refused"),
            ("code", "conversation_exists")
        ]),
        1.0
    );
    assert_eq!(
        commands(&[
            ("kind", "send_message"),
            ("outcome", "refused"),
            ("code", "channel_unavailable")
        ]),
        1.0
    );
    assert!(commands(&[("kind", "claim_dispatch"), ("outcome", "ok")]) >= 3.0);
    // Appends by backend.
    let appends = &[("backend", backend_name)];
    assert!(value(&text, "hub_store_append_duration_seconds_count", appends) >= 10.0);
    assert!(
        value(
            &text,
            "hub_store_append_commit_duration_seconds_count",
            appends
        ) >= 1.0
    );
    assert!(value(&text, "hub_store_append_group_size_sum", appends) >= 10.0);
    // Each projection caught up with the last write.
    for projection in ["inbox", "patients"] {
        let labels = &[("projection", projection)];
        assert!(
            value(&text, "hub_projection_position", labels) >= last as f64,
            "{projection}: {text}"
        );
    }
    // Dispatch by channel and outcome.
    let dispatch = |name: &str, labels: &[(&str, &str)]| value(&text, name, labels);
    assert_eq!(
        dispatch(
            "hub_dispatch_outcomes_total",
            &[("channel", "sms"), ("outcome", "sent")]
        ),
        1.0
    );
    assert_eq!(
        dispatch(
            "hub_dispatch_outcomes_total",
            &[("channel", "sms"), ("outcome", "failed")]
        ),
        1.0
    );
    assert_eq!(
        dispatch(
            "hub_dispatch_outcomes_total",
            &[("channel", "email"), ("outcome", "sent")]
        ),
        1.0
    );
    assert_eq!(
        dispatch(
            "hub_dispatch_attempts_total",
            &[("channel", "sms"), ("outcome", "rejected")]
        ),
        1.0
    );
    for channel in ["sms", "email", "whatsapp"] {
        assert!(
            text.contains(&format!(
                "hub_dispatch_queue_depth{{channel=\"{channel}\"}}"
            )),
            "{channel}: {text}"
        );
    }
    // The webhook rejection.
    assert_eq!(
        value(
            &text,
            "hub_webhook_rejections_total",
            &[("provider", "twilio"), ("reason", "bad_signature")]
        ),
        1.0
    );
}

/// Two API nodes writing one conversation at once clash on its version; the executor decides
/// again and counts each retry (PostgreSQL only: SQLite is one process's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflict_retries_are_counted_across_nodes() {
    let args = ["--metrics-token", METRICS_TOKEN];
    let first = Hub::start_with(Backend::Postgres, &args).await;
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let second = first.second_node_with(&args).await;
    let (_, reception) = first.staff("Rita", "receptionist").await;
    let (patient_id, _) = first.patient("Pat").await;
    let started = first
        .post(
            &reception,
            "/v1/messages",
            json!({ "patient_id": patient_id, "channel": "portal", "body": "opening" }),
        )
        .await;
    let conversation = started.ok()["conversation_id"].as_str().unwrap().to_owned();
    let path = format!("/v1/conversations/{conversation}/messages");
    let retries = |text: &str| value(text, "hub_command_conflict_retries_total", &[]);
    for round in 0..20 {
        let writes = (0..16).map(|i| {
            let node = if i % 2 == 0 { &first } else { &second };
            node.post(
                &reception,
                &path,
                json!({ "channel": "portal", "body": format!("round {round} writer {i}") }),
            )
        });
        for answer in futures::future::join_all(writes).await {
            answer.ok();
        }
        let (one, two) = (scrape(&first).await, scrape(&second).await);
        if retries(&one) + retries(&two) > 0.0 {
            for text in [one, two] {
                if retries(&text) > 0.0 {
                    assert!(
                        value(
                            &text,
                            "hub_command_conflict_retries_total",
                            &[("kind", "send_message")]
                        ) > 0.0,
                        "{text}"
                    );
                }
            }
            return;
        }
    }
    panic!("twenty rounds of sixteen writers on two nodes never clashed");
}

async fn no_patient_data_in_any_label(backend: Backend) {
    let world = Metered::start(backend).await;
    let hub = &world.hub;
    let staff_name = "Quintessa Vandermolen";
    let patient_name = "Bartholomew Zyskowski";
    let phone = "+4917612398745";
    let email = "bartholomew.zyskowski@patient-mail.example";
    let words = ["Xylophonic", "Quokkaberry", "Tachycardiaz"];
    let (staff_id, reception) = hub.staff(staff_name, "receptionist").await;
    let registered = hub
        .post(
            ADMIN,
            "/v1/patients",
            json!({
                "name": patient_name,
                "phone": phone,
                "email": email,
                "portal_enabled": true,
                "whatsapp_opt_in": true
            }),
        )
        .await;
    let patient_id = registered.ok()["id"].as_str().unwrap().to_owned();
    let patient = registered.body["token"].as_str().unwrap().to_owned();
    let started = hub
        .post(
            &reception,
            "/v1/messages",
            json!({ "patient_id": patient_id, "channel": "portal", "body": words[0] }),
        )
        .await;
    let conversation = started.ok()["conversation_id"].as_str().unwrap().to_owned();
    let messages = format!("/v1/conversations/{conversation}/messages");
    let sms = hub
        .post(
            &reception,
            &messages,
            json!({ "channel": "sms", "body": words[1] }),
        )
        .await;
    let sms = sms.ok()["message_id"].as_str().unwrap().to_owned();
    let mail = hub
        .post(
            &reception,
            &messages,
            json!({ "channel": "email", "subject": words[2], "body": words[2] }),
        )
        .await;
    let mail = mail.ok()["message_id"].as_str().unwrap().to_owned();
    world.delivered(&reception, &sms, "sent").await;
    world.delivered(&reception, &mail, "sent").await;
    hub.post(
        &patient,
        &messages,
        json!({ "channel": "portal", "body": words[0] }),
    )
    .await
    .ok();
    // Values where a careless label would pick them up: paths, queries, methods, webhooks.
    for path in [
        format!("/v1/patients?q={}", patient_name.replace(' ', "%20")),
        format!("/v1/patients?q={}", email),
        format!("/v1/staff/{staff_id}"),
        format!("/v1/messages?q={}", words[1]),
        format!("/v1/conversations/{}", words[0]),
        format!("/{}", patient_name.replace(' ', "-")),
        format!("/conversations/{conversation}"),
    ] {
        hub.call(Method::GET, &path, Some(&reception), None).await;
    }
    let custom = Method::from_bytes(b"QUOKKABERRY").unwrap();
    hub.call(custom, "/v1/conversations", Some(&reception), None)
        .await;
    reqwest::Client::new()
        .post(format!("{}/v1/webhooks/twilio/sms", hub.base))
        .header("x-twilio-signature", "bm90LWEtc2lnbmF0dXJl")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "MessageSid=SM1&From={}&Body={}",
            phone.replace('+', "%2B"),
            words[1]
        ))
        .send()
        .await
        .unwrap();
    for token in [patient.as_str(), "Bartholomew"] {
        get_metrics(hub, Some(token)).await;
    }

    let text = world.scrape().await;
    assert!(text.contains("hub_http_requests_total"), "{text}");
    let lower = text.to_lowercase();
    let digits = phone.trim_start_matches('+');
    let mut forbidden = vec![
        staff_name,
        patient_name,
        "bartholomew",
        "zyskowski",
        "quintessa",
        "vandermolen",
        phone,
        digits,
        email,
        "patient-mail.example",
        &reception,
        &patient,
        ADMIN,
        METRICS_TOKEN,
        &patient_id,
        &staff_id,
        &conversation,
        &sms,
        &mail,
    ];
    forbidden.extend(words);
    for needle in forbidden {
        assert!(
            !lower.contains(&needle.to_lowercase()),
            "the scrape carries `{needle}`:\n{text}"
        );
    }
    let uuid =
        regex::Regex::new(r"(?i)[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}")
            .unwrap();
    assert!(!uuid.is_match(&text), "the scrape carries an id:\n{text}");
    // Every label value is a route template, a number or a word of a small fixed set.
    let word = regex::Regex::new(r"^([A-Za-z_]+|/[A-Za-z0-9_/{}.\-]*|[0-9.+Inf]+)$").unwrap();
    for label in label_values(&text) {
        assert!(word.is_match(&label), "unexpected label value `{label}`");
    }
    let methods: HashSet<String> = regex::Regex::new(r#"method="([^"]*)""#)
        .unwrap()
        .captures_iter(&text)
        .map(|c| c[1].to_owned())
        .collect();
    assert!(methods.contains("other"), "{methods:?}");
}

crate::on_both_backends!(
    metrics_need_the_token_and_cover_every_family,
    no_patient_data_in_any_label
);

/// `hub project`, which serves no API, serves `/metrics` alone on `--metrics-listen`, behind
/// the same token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_projector_serves_metrics_on_its_own_address() {
    use tokio::io::AsyncBufReadExt;

    let hub = Hub::start_with(Backend::Postgres, &["--api-only"]).await;
    let (_, reception) = hub.staff("Rita", "receptionist").await;
    let mut projector = tokio::process::Command::new(env!("CARGO_BIN_EXE_hub"))
        .args(["project", "--metrics-listen", "127.0.0.1:0"])
        .arg("--database-url")
        .arg(hub.database_url().unwrap())
        .arg("--data-dir")
        .arg(hub.data_dir())
        .env("HUB_METRICS_TOKEN", METRICS_TOKEN)
        .env("HUB_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start hub project");
    let mut lines = tokio::io::BufReader::new(projector.stdout.take().unwrap()).lines();
    let address = loop {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the projector says where its metrics are")
            .unwrap()
            .expect("the projector exited");
        if let Some(rest) = line.strip_prefix("metrics at ") {
            break rest.to_owned();
        }
    };
    // The API node sees the projector's work once it is applied.
    let (patient_id, _) = hub.patient("Pat").await;
    let sent = hub
        .post(
            &reception,
            "/v1/messages",
            json!({ "patient_id": patient_id, "channel": "portal", "body": "hello" }),
        )
        .await;
    let position = sent.ok()["position"].as_u64().unwrap();
    hub.get(
        &reception,
        &format!("/v1/conversations?min_position={position}"),
    )
    .await
    .ok();
    let http = reqwest::Client::new();
    let refused = http.get(&address).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let text = http
        .get(&address)
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for projection in ["inbox", "patients"] {
        let position_now = value(
            &text,
            "hub_projection_position",
            &[("projection", projection)],
        );
        assert!(position_now >= position as f64, "{projection}: {text}");
    }
    let other = address.replace("/metrics", "/v1/health");
    assert_eq!(
        http.get(&other).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    projector.kill().await.unwrap();
}
