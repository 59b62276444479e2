//! Attachments in an S3-compatible bucket: the hub talks S3's wire protocol to a local moto
//! server that the test starts itself.

mod support;

use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use support::{Backend, Hub};
use tokio::process::Command;

const PDF: &[u8] = b"%PDF-1.7\n% a referral letter\n%%EOF\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachments_live_in_an_s3_bucket() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _moto = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("moto_server (pip install 'moto[server]'; .ci/services.sh installs it)");
    let endpoint = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..100 {
        if http
            .put(format!("{endpoint}/clinic-files"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "the S3 server did not come up");
    // The hub reads the standard AWS settings from its environment.
    std::env::set_var("AWS_ENDPOINT", &endpoint);
    std::env::set_var("AWS_ALLOW_HTTP", "true");
    std::env::set_var("AWS_ACCESS_KEY_ID", "test");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
    std::env::set_var("AWS_REGION", "us-east-1");
    let hub = Hub::start_with(Backend::Sqlite, &["--blob-url", "s3://clinic-files/hub"]).await;
    let (_, reception) = hub.staff("Rita", "receptionist").await;
    let (patient_id, patient) = hub.patient("Pat").await;
    let upload = hub
        .upload(&reception, "application/pdf", "referral.pdf", PDF.to_vec())
        .await;
    let stored = upload.ok().clone();
    let sha256 = stored["sha256"].as_str().unwrap();
    let listing = http
        .get(format!("{endpoint}/clinic-files?list-type=2"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        listing.contains(&format!("hub/sha256/{sha256}")),
        "the object is in the bucket: {listing}"
    );
    let sent = hub
        .post(&reception, "/v1/messages", json!({ "patient_id": patient_id, "channel": "portal", "body": "Your letter", "attachment_ids": [stored["id"]] }))
        .await;
    let position = sent.ok()["position"].as_u64().unwrap();
    hub.get(
        &patient,
        &format!("/v1/conversations?min_position={position}"),
    )
    .await
    .ok();
    let (status, bytes) = hub.download(&patient, stored["id"].as_str().unwrap()).await;
    assert_eq!(status.as_u16(), 200);
    assert_eq!(bytes, PDF);
    hub.upload(&reception, "image/png", "fake.png", b"not a png".to_vec())
        .await
        .err(415, "unsupported_media_type");
}
