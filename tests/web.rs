//! The web pages in a real browser: headless Chromium driven over WebDriver (chromedriver)
//! against a real `hub serve`. Each test saves screenshots under the target folder and
//! prints their paths.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/services.sh` installs them).

mod support;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use support::{Backend, Hub, ADMIN};
use tokio::process::{Child, Command};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const WAIT: Duration = Duration::from_secs(15);

/// Browser tests share two cores with the hub: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A chromedriver process on a free port.
struct Driver {
    _child: Child,
    url: String,
    profiles: Vec<tempfile::TempDir>,
}

impl Driver {
    async fn start() -> Driver {
        assert!(
            std::path::Path::new(CHROMIUM).exists() && std::path::Path::new(CHROMEDRIVER).exists(),
            "install Debian's chromium and chromium-driver (.ci/services.sh does)"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("free port")
            .local_addr()
            .expect("address")
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromedriver");
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Driver {
            _child: child,
            url: format!("http://127.0.0.1:{port}"),
            profiles: Vec::new(),
        }
    }

    /// A new browser window of this width with a fresh profile.
    async fn browser(&mut self, width: u32) -> Client {
        let profile = tempfile::tempdir().expect("profile dir");
        let args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--no-first-run".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
            format!("--window-size={width},900"),
        ];
        self.profiles.push(profile);
        let mut options = json!({ "binary": CHROMIUM, "args": args });
        // A desktop window is at least 500 px wide: narrower ones are a phone's viewport.
        if width < 500 {
            options["mobileEmulation"] =
                json!({ "deviceMetrics": { "width": width, "height": 844, "pixelRatio": 1.0 } });
        }
        let capabilities = json!({ "browserName": "chrome", "goog:chromeOptions": options });
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        // chromedriver speaks plain HTTP on the loopback: no TLS stack needed.
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("start a Chromium session")
    }
}

/// Where screenshots go.
fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

/// Saves a screenshot of the whole page and prints its path.
async fn shot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("screenshot");
    let path = screenshot_dir().join(format!("{name}.png"));
    std::fs::write(&path, png).expect("write screenshot");
    println!("screenshot: {}", path.display());
}

async fn visit(client: &Client, hub: &Hub, path: &str) {
    client
        .goto(&format!("{}{}", hub.base, path))
        .await
        .expect("navigate");
}

/// Waits until `css` matches an element whose text contains `needle`; answers that text.
async fn wait_text(client: &Client, css: &str, needle: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(elements) = client.find_all(Locator::Css(css)).await {
            for element in elements {
                if let Ok(text) = element.text().await {
                    if text.contains(needle) {
                        return text;
                    }
                }
            }
        }
        if Instant::now() > deadline {
            let source = client.source().await.unwrap_or_default();
            panic!("no `{css}` containing {needle:?} within {WAIT:?}; page:\n{source}");
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// Waits for the browser to be at a URL whose path starts with `prefix`.
async fn wait_path(client: &Client, prefix: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let url = client.current_url().await.expect("url");
        if url.path().starts_with(prefix) {
            return url.path().to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "still at {url}, expected {prefix}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn find(client: &Client, css: &str) -> fantoccini::elements::Element {
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|error| panic!("no `{css}`: {error}"))
}

async fn type_into(client: &Client, css: &str, text: &str) {
    let element = find(client, css).await;
    element.clear().await.expect("clear");
    element.send_keys(text).await.expect("type");
}

async fn click(client: &Client, css: &str) {
    find(client, css).await.click().await.expect("click");
}

async fn js(client: &Client, script: &str) -> Value {
    client.execute(script, vec![]).await.expect("script")
}

/// Signs in on the sign-in page by keyboard: the token, then Enter.
async fn sign_in(client: &Client, hub: &Hub, token: &str) {
    visit(client, hub, "/signin").await;
    let field = find(client, "#token").await;
    field
        .send_keys(&format!("{token}\u{E007}"))
        .await
        .expect("type the token and press Enter");
    wait_text(client, "h1", "").await;
    let path = wait_path(client, "/").await;
    assert_ne!(path, "/signin", "sign-in failed");
}

/// Every visible form control has a label (or an accessible name).
async fn assert_labelled(client: &Client) {
    let unlabelled = js(
        client,
        r#"return Array.from(document.querySelectorAll('input, select, textarea, button'))
            .filter(e => e.type !== 'hidden')
            .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                && !(e.tagName === 'BUTTON' && e.textContent.trim()))
            .map(e => e.outerHTML);"#,
    )
    .await;
    assert_eq!(unlabelled, json!([]), "controls without a label");
}

/// The page does not scroll sideways at the window's width.
async fn assert_fits(client: &Client) {
    let overflow = js(
        client,
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
    )
    .await;
    assert!(
        overflow.as_i64().unwrap_or(1) <= 0,
        "the page scrolls sideways by {overflow} px"
    );
}

/// A minimal PDF file and an 8×8 PNG image.
fn picked_files() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("results.pdf"),
        b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n",
    )
    .expect("write pdf");
    let png = "89504e470d0a1a0a0000000d49484452000000080000000808020000004b6d29dc000000114944\
               4154789c63908fdf8f15310c2d0900cf8a4f4187f0f8420000000049454e44ae426082";
    std::fs::write(
        dir.path().join("rash.png"),
        (0..png.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&png[i..i + 2], 16).unwrap())
            .collect::<Vec<u8>>(),
    )
    .expect("write png");
    dir
}

/// One test's world: a hub with a receptionist and a patient, and a chromedriver.
struct Scene {
    hub: Hub,
    driver: Driver,
    reception: String,
    patient_id: String,
    patient: String,
    _serial: tokio::sync::MutexGuard<'static, ()>,
}

async fn scene() -> Scene {
    scene_with(&[]).await
}

/// A scene whose hub runs with these extra `hub serve` arguments.
async fn scene_with(args: &[&str]) -> Scene {
    let serial = SERIAL.lock().await;
    let hub = Hub::start_with(Backend::Sqlite, args).await;
    let (_, reception) = hub.staff("Rita Reception", "receptionist").await;
    let (patient_id, patient) = hub.patient("Paula Patient").await;
    Scene {
        driver: Driver::start().await,
        hub,
        reception,
        patient_id,
        patient,
        _serial: serial,
    }
}

impl Scene {
    /// Reception writes a portal message through the API; answers the API's answer.
    async fn reception_writes(&self, message: Value) -> Value {
        let mut message = message;
        message["patient_id"] = json!(self.patient_id);
        message["channel"] = json!("portal");
        self.hub
            .post(&self.reception, "/v1/messages", message)
            .await
            .ok()
            .clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receptionist_sends_filters_stars_logs_a_call_and_archives() {
    let mut scene = scene().await;
    let (hub, reception, patient_id) = (&scene.hub, &scene.reception, &scene.patient_id);
    let browser = scene.driver.browser(1280).await;

    sign_in(&browser, hub, reception).await;
    wait_text(&browser, "h1", "Communication").await;
    // Names, not roles.
    wait_text(&browser, ".who", "Rita Reception").await;
    assert_labelled(&browser).await;

    // New message: find the patient by the start of her name, send an SMS.
    // The list appears while typing, without sending the form.
    click(&browser, "a.button[href='/new']").await;
    type_into(&browser, "#find", "paula pat").await;
    wait_text(&browser, "#found ul.found a", "Paula Patient").await;
    assert_eq!(
        browser.current_url().await.unwrap().query(),
        None,
        "found as typed, not by sending the form"
    );
    click(&browser, "ul.found a").await;
    wait_text(&browser, ".selected-patient", "Paula Patient").await;
    // No SMS provider is set up in the tests: the form says the message will wait.
    wait_text(&browser, ".channel-option .warning", "queued").await;
    click(&browser, "#new-ch-sms").await;
    type_into(
        &browser,
        "#new-body",
        "Your appointment is on Monday at 9:00.",
    )
    .await;
    let counter = wait_text(&browser, "#new-segments", "segment").await;
    assert!(
        counter.contains("1 segment") && counter.contains("GSM-7"),
        "{counter}"
    );
    type_into(&browser, "#new-body", "Grüße — ünïcödé ✓").await;
    wait_text(&browser, "#new-segments", "UCS-2").await;
    assert!(
        !find(&browser, "#new-files")
            .await
            .is_enabled()
            .await
            .unwrap(),
        "the attachment picker is disabled for SMS"
    );
    assert_labelled(&browser).await;
    shot(&browser, "compose-sms-1280").await;
    type_into(
        &browser,
        "#new-body",
        "Your appointment is on Monday at 9:00.",
    )
    .await;
    click(&browser, "form.compose button[type=submit]").await;
    wait_path(&browser, "/conversations/").await;
    wait_text(&browser, "#timeline", "Your appointment is on Monday").await;
    wait_text(&browser, "#timeline .msg-foot", "queued").await;

    // Reply by e-mail with a PDF.
    click(&browser, "#reply-ch-email").await;
    assert!(find(&browser, "#reply-files")
        .await
        .is_enabled()
        .await
        .unwrap());
    type_into(&browser, "#reply-subject", "Your lab results").await;
    type_into(
        &browser,
        "#reply-body",
        "Please find your results attached.",
    )
    .await;
    let files = picked_files();
    let picked = format!(
        "{}\n{}",
        files.path().join("results.pdf").display(),
        files.path().join("rash.png").display()
    );
    find(&browser, "#reply-files")
        .await
        .send_keys(&picked)
        .await
        .expect("pick the files");
    click(&browser, "#reply-title + form button[type=submit]").await;
    wait_text(&browser, "#timeline", "Your lab results").await;
    wait_text(&browser, "#timeline a.file", "Download results.pdf").await;
    wait_text(&browser, "#timeline a.file", "Download rash.png").await;
    // The next e-mail reply starts with the thread's subject.
    let subject = find(&browser, "#reply-subject")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default();
    assert_eq!(subject, "Re: Your lab results");
    // The thumbnail loads after the page: wait for it (10 s at most).
    let mut thumbnail = Value::Null;
    for _ in 0..50 {
        thumbnail = js(
            &browser,
            "const i = document.querySelector('#timeline img.thumb'); \
             return i && i.complete && i.naturalWidth > 0 ? [i.naturalWidth, i.alt] : null;",
        )
        .await;
        if !thumbnail.is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        thumbnail,
        json!([8, "Image: rash.png"]),
        "a thumbnail of the image"
    );
    let conversation_path = wait_path(&browser, "/conversations/").await;
    let conversation_id = conversation_path
        .trim_start_matches("/conversations/")
        .to_owned();
    let href = find(&browser, "#timeline a.file")
        .await
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    let status = js(
        &browser,
        &format!(
            "return fetch('{href}').then(r => r.status + ' ' + r.headers.get('content-type'));"
        ),
    )
    .await;
    assert_eq!(status, json!("200 application/pdf"));

    // Star the e-mail and find it under Starred.
    // By keyboard: focus the toggle and press Enter.
    let star = "#timeline li.msg:last-child .star-toggle";
    find(&browser, star)
        .await
        .send_keys("\u{E007}")
        .await
        .expect("press Enter on the star");
    let pressed =
        format!("return document.querySelector('{star}').getAttribute('aria-pressed') === 'true';");
    let deadline = Instant::now() + WAIT;
    while js(&browser, &pressed).await != json!(true) {
        assert!(Instant::now() < deadline, "the star did not toggle");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_labelled(&browser).await;
    shot(&browser, "conversation-1280").await;

    // Log a call.
    type_into(&browser, "#call-minutes", "4").await;
    type_into(&browser, "#call-seconds", "30").await;
    find(&browser, "#call-direction")
        .await
        .select_by_value("outbound")
        .await
        .unwrap();
    type_into(
        &browser,
        "#call-summary",
        "Discussed the cholesterol results",
    )
    .await;
    click(&browser, "form.call button[type=submit]").await;
    wait_text(&browser, "#timeline .call-facts", "4 min 30 s").await;

    // Filters: by channel, then Starred.
    click(&browser, "nav a[href='/']").await;
    find(&browser, "#f-channel")
        .await
        .select_by_value("email")
        .await
        .unwrap();
    click(&browser, "form.filters button[type=submit]").await;
    wait_text(&browser, "#conversation-list", "Paula Patient").await;
    assert!(browser
        .current_url()
        .await
        .unwrap()
        .query()
        .unwrap()
        .contains("channel=email"));
    find(&browser, "#f-channel")
        .await
        .select_by_value("whatsapp")
        .await
        .unwrap();
    click(&browser, "form.filters button[type=submit]").await;
    wait_text(&browser, "#conversation-list", "No conversations match").await;
    click(&browser, "nav a[href='/?starred=true']").await;
    wait_text(&browser, "#conversation-list", "Paula Patient").await;
    // The starred message itself, not the conversation's latest entry (the call).
    let starred = wait_text(&browser, "#conversation-list", "Your lab results").await;
    assert!(!starred.contains("cholesterol"), "{starred}");
    let link = find(&browser, "#conversation-list a.row-link")
        .await
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert!(
        link.starts_with(&format!("/conversations/{conversation_id}")) && link.contains("#m-"),
        "{link}"
    );
    shot(&browser, "starred-1280").await;
    click(&browser, "#conversation-list a.row-link").await;
    wait_path(&browser, "/conversations/").await;
    let anchor = link.rsplit('#').next().unwrap().to_owned();
    let target = wait_text(&browser, &format!("#{anchor}"), "Your lab results").await;
    assert!(target.contains("Starred"), "{target}");

    // Archive, then find it by searching the call summary.
    visit(&browser, hub, &conversation_path).await;
    click(&browser, ".head-actions button[type=submit]").await;
    wait_text(&browser, ".page-head", "archived").await;
    wait_text(&browser, ".head-actions", "Reopen").await;
    click(&browser, "nav a[href='/']").await;
    type_into(&browser, "#f-q", "cholesterol").await;
    click(&browser, "form.filters button[type=submit]").await;
    let row = wait_text(&browser, "#conversation-list", "Paula Patient").await;
    assert!(row.contains("archived"), "{row}");
    let icons = wait_text(&browser, "#conversation-list .channels", "SMS").await;
    assert_eq!(
        icons.split_whitespace().collect::<Vec<_>>(),
        ["SMS", "E-mail", "Call"]
    );
    assert!(find(&browser, "#conversation-list a.row-link")
        .await
        .attr("href")
        .await
        .unwrap()
        .unwrap()
        .ends_with(&conversation_id));
    assert_fits(&browser).await;
    shot(&browser, "inbox-search-1280").await;

    // The API agrees: star, call, archive, and the patient filter.
    let list = hub
        .get(
            reception,
            &format!("/v1/conversations?patient_id={patient_id}&status=archived"),
        )
        .await;
    assert_eq!(list.ok()["items"][0]["id"], json!(conversation_id));

    // The layout holds at 768 px.
    browser.set_window_size(768, 1000).await.unwrap();
    assert_fits(&browser).await;
    shot(&browser, "inbox-768").await;
    visit(&browser, hub, &conversation_path).await;
    wait_text(&browser, "#timeline", "Your lab results").await;
    assert_fits(&browser).await;
    shot(&browser, "conversation-768").await;

    // Sign out.
    click(&browser, "header .who button").await;
    wait_path(&browser, "/signin").await;
    visit(&browser, hub, "/").await;
    wait_path(&browser, "/signin").await;
    browser.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_opens_a_thread_and_is_refused_a_second() {
    let mut scene = scene().await;
    let (_, doctor) = scene.hub.staff("Dr. Dora", "doctor").await;
    let browser = scene.driver.browser(1280).await;
    let (hub, patient_id) = (&scene.hub, &scene.patient_id);
    sign_in(&browser, hub, &doctor).await;

    // The first thread: find the patient by e-mail, write on the portal.
    visit(&browser, hub, "/new").await;
    type_into(&browser, "#find", "patient@example.org").await;
    click(&browser, "form[role=search] button[type=submit]").await;
    click(&browser, "ul.found a").await;
    click(&browser, "#new-ch-portal").await;
    type_into(
        &browser,
        "#new-body",
        "How are you feeling after the treatment?",
    )
    .await;
    click(&browser, "form.compose button[type=submit]").await;
    let first = wait_path(&browser, "/conversations/").await;
    wait_text(&browser, "#timeline", "How are you feeling").await;

    // A second thread is refused, with a link to the first.
    visit(&browser, hub, &format!("/new?patient_id={patient_id}")).await;
    click(&browser, "#new-ch-portal").await;
    type_into(&browser, "#new-body", "A second thread").await;
    click(&browser, "form.compose button[type=submit]").await;
    let alert = wait_text(&browser, "form.compose .alert", "conversation_exists").await;
    assert!(
        alert.contains("already have an open conversation"),
        "{alert}"
    );
    assert_eq!(
        find(&browser, "#new-body")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("A second thread"),
        "the draft is kept"
    );
    shot(&browser, "doctor-refused-1280").await;
    click(&browser, "form.compose .alert a").await;
    assert_eq!(wait_path(&browser, "/conversations/").await, first);
    wait_text(&browser, "#timeline", "How are you feeling").await;
    browser.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patient_reads_and_replies_and_staff_sees_it_without_a_reload() {
    let mut scene = scene().await;
    let upload = scene
        .hub
        .upload(
            &scene.reception,
            "application/pdf",
            "letter.pdf",
            b"%PDF-1.4\n%%EOF\n".to_vec(),
        )
        .await;
    let sent = scene
        .reception_writes(json!({
            "subject": "Referral letter",
            "body": "Your referral letter is attached.",
            "attachment_ids": [upload.ok()["id"]],
        }))
        .await;
    let conversation_id = sent["conversation_id"].as_str().unwrap().to_owned();
    let message_id = sent["message_id"].as_str().unwrap().to_owned();

    let staff = scene.driver.browser(1280).await;
    let portal = scene.driver.browser(768).await;
    let (hub, reception, patient) = (&scene.hub, &scene.reception, &scene.patient);
    sign_in(&staff, hub, reception).await;
    visit(&staff, hub, &format!("/conversations/{conversation_id}")).await;
    wait_text(&staff, "#timeline", "Your referral letter").await;

    sign_in(&portal, hub, patient).await;
    wait_text(&portal, "h1", "My messages").await;
    wait_text(&portal, "header nav a[href='/']", "My messages (1)").await;
    let row = wait_text(&portal, "#conversation-list", "Reception").await;
    assert!(row.contains("unread"), "{row}");
    assert_labelled(&portal).await;
    shot(&portal, "portal-inbox-768").await;
    click(&portal, "#conversation-list a.row-link").await;
    wait_text(&portal, "#timeline", "Your referral letter").await;
    wait_text(&portal, "#timeline .msg-foot", "read").await;
    // The header shows the conversation as read once it is opened.
    let status = wait_text(&portal, "#conv-status", "read").await;
    assert!(!status.contains("unread"), "the header still says {status}");
    // So does the navigation's unread total.
    let deadline = Instant::now() + WAIT;
    while find(&portal, "header nav a[href='/']")
        .await
        .text()
        .await
        .unwrap()
        .contains('(')
    {
        assert!(Instant::now() < deadline, "the unread total stayed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let message = hub
        .get(patient, &format!("/v1/messages/{message_id}"))
        .await;
    assert_eq!(
        message.ok()["status"],
        json!("read"),
        "opening marks it read"
    );
    let href = find(&portal, "#timeline a.file")
        .await
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    let status = js(
        &portal,
        &format!("return fetch('{href}').then(r => r.status);"),
    )
    .await;
    assert_eq!(status, json!(200), "the patient downloads its document");

    type_into(
        &portal,
        "#reply-body",
        "Thank you, I will book the appointment.",
    )
    .await;
    assert_labelled(&portal).await;
    click(&portal, "#reply-title + form button[type=submit]").await;
    wait_text(&portal, "#timeline", "I will book the appointment").await;
    assert_fits(&portal).await;
    shot(&portal, "portal-conversation-768").await;

    // The staff page shows the reply without a reload.
    let marker = js(&staff, "window.__notReloaded = true; return true;").await;
    assert_eq!(marker, json!(true));
    wait_text(&staff, "#timeline", "I will book the appointment").await;
    assert_eq!(
        js(&staff, "return window.__notReloaded === true;").await,
        json!(true),
        "the page was not reloaded"
    );
    shot(&staff, "staff-live-reply-1280").await;

    // The patient writes to reception from the portal.
    click(&portal, "nav a[href='/new']").await;
    type_into(&portal, "#new-subject", "Parking").await;
    type_into(&portal, "#new-body", "Is there parking near the clinic?").await;
    click(&portal, "form.compose button[type=submit]").await;
    wait_path(&portal, "/conversations/").await;
    wait_text(&portal, "#timeline", "Is there parking").await;
    staff.close().await.unwrap();
    portal.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_cannot_open_a_reception_conversation_by_url() {
    let mut scene = scene().await;
    let (_, doctor) = scene.hub.staff("Dr. Dora", "doctor").await;
    let sent = scene
        .reception_writes(json!({ "body": "Reception only" }))
        .await;
    let conversation_id = sent["conversation_id"].as_str().unwrap().to_owned();
    let browser = scene.driver.browser(1280).await;
    let hub = &scene.hub;
    sign_in(&browser, hub, &doctor).await;
    visit(&browser, hub, &format!("/conversations/{conversation_id}")).await;
    wait_text(&browser, "h1", "Not found").await;
    let alert = wait_text(&browser, ".alert", "not_found").await;
    assert!(!alert.contains("Reception only"));
    let source = browser.source().await.unwrap();
    assert!(!source.contains("Reception only"), "nothing of it shows");
    shot(&browser, "doctor-not-found-1280").await;
    // Nor does the list show it.
    visit(&browser, hub, "/").await;
    wait_text(&browser, "#conversation-list", "No conversations match").await;
    browser.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_without_permission_see_no_access_and_forms_need_the_csrf_token() {
    let mut scene = scene().await;
    let registered = scene
        .hub
        .post(
            ADMIN,
            "/v1/staff",
            json!({ "name": "Nina", "role": "receptionist", "permissions": [] }),
        )
        .await;
    let token = registered.ok()["token"].as_str().unwrap().to_owned();
    let browser = scene.driver.browser(1280).await;
    let (hub, reception, patient_id) = (&scene.hub, &scene.reception, &scene.patient_id);
    sign_in(&browser, hub, &token).await;
    wait_text(&browser, "h1", "No access").await;
    wait_text(&browser, ".alert", "send_messages").await;
    shot(&browser, "no-access-1280").await;

    // A wrong token is refused on the sign-in page.
    visit(&browser, hub, "/signin").await;
    type_into(&browser, "#token", "not-a-token\u{E007}").await;
    wait_text(&browser, ".alert", "not valid").await;

    // The session cookie is HttpOnly; a form posted without the CSRF token is refused.
    sign_in(&browser, hub, reception).await;
    assert_eq!(js(&browser, "return document.cookie;").await, json!(""));
    let status = js(
        &browser,
        "return fetch('/signout', {method: 'POST', headers: {'content-type': \
         'application/x-www-form-urlencoded'}, body: '_csrf=wrong'}).then(r => r.status);",
    )
    .await;
    assert_eq!(status, json!(403));
    let status = js(
        &browser,
        &format!(
            "const f = new FormData(); f.append('patient_id', '{patient_id}'); \
             f.append('channel', 'portal'); f.append('body', 'forged'); \
             return fetch('/new', {{method: 'POST', body: f}}).then(r => r.status);"
        ),
    )
    .await;
    assert_eq!(status, json!(403));
    let list = hub.get(reception, "/v1/conversations").await;
    assert_eq!(list.ok()["items"], json!([]), "nothing was sent");
    browser.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbox_pages_filters_by_patient_and_counts_unread() {
    let mut scene = scene().await;
    for n in 0..29 {
        let (id, _) = scene.hub.patient(&format!("Patient {n:02}")).await;
        let answer = scene
            .hub
            .post(
                &scene.reception,
                "/v1/messages",
                json!({ "patient_id": id, "channel": "portal", "body": format!("Note {n}") }),
            )
            .await;
        answer.ok();
    }
    // Paula writes twice to reception: two unread messages.
    for body in ["First question", "Second question"] {
        let answer = scene
            .hub
            .post(
                &scene.patient,
                "/v1/messages",
                json!({ "to": "reception", "channel": "portal", "body": body }),
            )
            .await;
        answer.ok();
    }
    let browser = scene.driver.browser(1280).await;
    let (hub, reception) = (&scene.hub, &scene.reception);
    sign_in(&browser, hub, reception).await;
    wait_text(&browser, "#conversation-list", "Paula Patient").await;
    // The navigation counts the two unread messages.
    wait_text(&browser, "header nav a[href='/']", "Inbox (2)").await;
    let rows = browser
        .find_all(Locator::Css("#conversation-list li.row"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 25, "one page");
    // "Needs reply": only the conversations whose latest entry is the patient's.
    click(&browser, "nav.tabs a[href='/?awaiting=clinic']").await;
    wait_text(&browser, "nav.tabs a[aria-current=page]", "Needs reply").await;
    let rows = browser
        .find_all(Locator::Css("#conversation-list li.row"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "Paula's two questions wait for a reply");
    for row in rows {
        assert!(row.text().await.unwrap().contains("Paula Patient"));
    }
    shot(&browser, "inbox-needs-reply-1280").await;
    click(&browser, "nav.tabs a[href='/']").await;
    wait_text(
        &browser,
        "nav.tabs a[aria-current=page]",
        "All conversations",
    )
    .await;
    let first_row = find(&browser, "#conversation-list li.row")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        first_row.contains("Paula Patient"),
        "newest activity first: {first_row}"
    );
    wait_text(&browser, "#conversation-list li.row .unread", "1").await;
    click(&browser, "nav.pager a[rel=next]").await;
    wait_text(&browser, "nav.pager", "First page").await;
    let rows = browser
        .find_all(Locator::Css("#conversation-list li.row"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 6, "the rest on the second page");
    shot(&browser, "inbox-page-2-1280").await;

    // Filter by patient: only Paula's conversations.
    find(&browser, "#f-patient")
        .await
        .select_by_label("Paula Patient")
        .await
        .unwrap();
    click(&browser, "form.filters button[type=submit]").await;
    wait_text(&browser, "#conversation-list", "Paula Patient").await;
    let rows = browser
        .find_all(Locator::Css("#conversation-list li.row"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    // Unread first, then opening one reads it.
    find(&browser, "#f-status")
        .await
        .select_by_value("unread")
        .await
        .unwrap();
    click(&browser, "form.filters button[type=submit]").await;
    wait_text(&browser, "#conversation-list", "Second question").await;
    click(&browser, "#conversation-list a.row-link").await;
    wait_text(&browser, "#timeline .msg-foot", "read").await;
    browser.back().await.unwrap();
    browser.refresh().await.unwrap();
    let list = wait_text(&browser, "#conversation-list", "First question").await;
    assert!(!list.contains("Second question"), "read now: {list}");
    wait_text(&browser, "header nav a[href='/']", "Inbox (1)").await;
    browser.close().await.unwrap();
}

/// The number of timeline entries on the page (older pages included).
async fn entries(client: &Client) -> usize {
    client
        .find_all(Locator::Css("li.msg"))
        .await
        .expect("entries")
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_threads_open_at_the_newest_and_load_older_by_keyset() {
    let mut scene = scene().await;
    let first = scene.reception_writes(json!({ "body": "Note 000" })).await;
    let conversation_id = first["conversation_id"].as_str().unwrap().to_owned();
    let replies = format!("/v1/conversations/{conversation_id}/messages");
    let hub = &scene.hub;
    for n in 1..120 {
        let body = json!({ "channel": "portal", "body": format!("Note {n:03}") });
        hub.post(&scene.reception, &replies, body).await.ok();
    }
    let question = json!({ "channel": "portal", "body": "Patient question" });
    hub.post(&scene.patient, &replies, question).await.ok();

    let browser = scene.driver.browser(1280).await;
    sign_in(&browser, hub, &scene.reception).await;
    visit(&browser, hub, &format!("/conversations/{conversation_id}")).await;
    wait_text(&browser, "#timeline", "Patient question").await;
    // The newest 50 of 121 entries, oldest first.
    assert_eq!(entries(&browser).await, 50);
    let oldest = find(&browser, "#timeline li.msg")
        .await
        .text()
        .await
        .unwrap();
    assert!(oldest.contains("Note 071"), "{oldest}");
    // The shown unread question is marked read.
    let conversation = format!("/v1/conversations/{conversation_id}");
    let deadline = Instant::now() + WAIT;
    while hub.get(&scene.reception, &conversation).await.ok()["unread_count"] != json!(0) {
        assert!(Instant::now() < deadline, "the question stayed unread");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Older pages come above, in place; the timeline keeps following new messages.
    click(&browser, "#older .load-older a").await;
    wait_text(&browser, "#older", "Note 021").await;
    assert_eq!(entries(&browser).await, 100);
    let body = json!({ "channel": "portal", "body": "Note 120" });
    hub.post(&scene.reception, &replies, body).await.ok();
    wait_text(&browser, "#timeline", "Note 120").await;
    assert_eq!(entries(&browser).await, 101, "the older page stays");
    click(&browser, "#older .load-older a").await;
    wait_text(&browser, "#older", "Note 000").await;
    assert_eq!(entries(&browser).await, 122);
    assert!(
        browser
            .find_all(Locator::Css(".load-older"))
            .await
            .unwrap()
            .is_empty(),
        "nothing older is left"
    );
    shot(&browser, "long-thread-1280").await;

    // Without scripts the link opens the conversation from the older page on.
    visit(&browser, hub, &format!("/conversations/{conversation_id}")).await;
    wait_text(&browser, "#timeline", "Note 120").await;
    let href = find(&browser, "#older .load-older a")
        .await
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    visit(&browser, hub, &href).await;
    wait_text(&browser, "#timeline", "Note 022").await;
    assert_eq!(entries(&browser).await, 100);
    let oldest = find(&browser, "#timeline li.msg")
        .await
        .text()
        .await
        .unwrap();
    assert!(oldest.contains("Note 022"), "{oldest}");
    browser.close().await.unwrap();
}

/// The token a page shows once.
async fn shown_token(client: &Client) -> String {
    wait_text(client, "#new-token", "hub_")
        .await
        .trim()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_manages_staff_and_patients_and_reception_files_the_unmatched() {
    let mut scene = scene_with(&["--inbound-email-token", "inbound-secret"]).await;
    let browser = scene.driver.browser(1280).await;
    let hub = &scene.hub;
    sign_in(&browser, hub, ADMIN).await;

    // Register a receptionist: the token is shown once and works.
    click(&browser, "header nav a[href='/admin/staff']").await;
    wait_text(&browser, "h1", "Staff").await;
    assert_labelled(&browser).await;
    type_into(&browser, "#staff-name", "Nora Front").await;
    find(&browser, "#staff-role")
        .await
        .select_by_value("receptionist")
        .await
        .unwrap();
    click(&browser, "form.register button[type=submit]").await;
    let nora = shown_token(&browser).await;
    assert_eq!(hub.get(&nora, "/v1/conversations").await.status, 200);
    let row = wait_text(&browser, "ul.records li", "Nora Front").await;
    assert!(row.contains("send_messages"), "{row}");
    shot(&browser, "admin-staff-1280").await;

    // Revoke her permission, then issue a new token, then revoke every token.
    let nora_row = "ul.records li:last-child";
    click(
        &browser,
        &format!("{nora_row} form[action$='/permissions'] button"),
    )
    .await;
    wait_text(&browser, ".notice", "Permissions changed").await;
    wait_text(&browser, nora_row, "no permissions").await;
    hub.get(&nora, "/v1/conversations")
        .await
        .err(403, "missing_permission");
    click(
        &browser,
        &format!("{nora_row} form[action$='/token'] button"),
    )
    .await;
    let renewed = shown_token(&browser).await;
    assert_ne!(renewed, nora);
    assert_eq!(hub.get(&nora, "/v1/conversations").await.status, 401);
    click(
        &browser,
        &format!("{nora_row} form[action$='/revoke'] button"),
    )
    .await;
    wait_text(&browser, ".notice", "revoked").await;
    assert_eq!(hub.get(&renewed, "/v1/conversations").await.status, 401);

    // Register a patient, then change her contact details and consent.
    click(&browser, "header nav a[href='/admin/patients']").await;
    type_into(&browser, "#new-name", "Olga Orange").await;
    type_into(&browser, "#new-phone", "+4915100000001").await;
    click(&browser, "#new-portal").await;
    click(&browser, "form.register button[type=submit]").await;
    let olga = shown_token(&browser).await;
    assert!(olga.starts_with("hub_p_"), "{olga}");
    assert_labelled(&browser).await;
    click(&browser, "a.new-record").await;
    wait_text(&browser, "h1", "Olga Orange").await;
    type_into(&browser, "#edit-email", "olga@example.org").await;
    click(&browser, "#edit-whatsapp").await;
    click(&browser, "form.register button[type=submit]").await;
    wait_text(&browser, ".notice", "Saved").await;
    let path = wait_path(&browser, "/admin/patients/").await;
    let olga_id = path.trim_start_matches("/admin/patients/").to_owned();
    let record = hub.get(ADMIN, &format!("/v1/patients/{olga_id}")).await;
    let record = record.ok();
    assert_eq!(record["email"], json!("olga@example.org"));
    assert_eq!(record["whatsapp_opt_in"], json!(true));
    assert_eq!(record["portal_enabled"], json!(true));

    // Issue Olga a new token: shown once, it signs in as her, and the old one is over.
    click(&browser, "form[action$='/token'] button").await;
    let renewed_olga = shown_token(&browser).await;
    assert!(renewed_olga.starts_with("hub_p_"), "{renewed_olga}");
    assert_ne!(renewed_olga, olga);
    assert_eq!(hub.get(&olga, "/v1/conversations").await.status, 401);
    let portal = scene.driver.browser(1280).await;
    sign_in(&portal, hub, &renewed_olga).await;
    wait_text(&portal, ".who", "Olga Orange").await;
    wait_text(&portal, "h1", "My messages").await;
    // Revoke her tokens: her session ends and the token no longer signs in.
    click(&browser, "form[action$='/revoke'] button").await;
    wait_text(&browser, ".notice", "Every token of the patient is revoked").await;
    assert_eq!(
        hub.get(&renewed_olga, "/v1/conversations").await.status,
        401
    );
    visit(&portal, hub, "/").await;
    wait_path(&portal, "/signin").await;
    type_into(&portal, "#token", &format!("{renewed_olga}\u{E007}")).await;
    wait_text(&portal, "#signin-error", "not valid").await;
    portal.close().await.unwrap();

    // A message from an unknown address waits in the queue; reception files it with Olga.
    let raw = "From: new.address@example.net\r\nTo: clinic@clinic.example\r\n\
               Subject: New address\r\nMessage-ID: <stranger-1@example.net>\r\n\r\n\
               Hello, this is Olga from a new address.\r\n";
    let filed = reqwest::Client::new()
        .post(format!("{}/v1/webhooks/email", hub.base))
        .bearer_auth("inbound-secret")
        .header("content-type", "message/rfc822")
        .body(raw)
        .send()
        .await
        .unwrap();
    assert!(filed.status().is_success(), "{}", filed.status());
    let reception = scene.driver.browser(1280).await;
    sign_in(&reception, hub, &scene.reception).await;
    // Staff pages are for admins only.
    visit(&reception, hub, "/admin/staff").await;
    wait_text(&reception, "h1", "Not allowed").await;
    click(&reception, "header nav a[href='/unmatched']").await;
    let deadline = Instant::now() + WAIT;
    loop {
        let text = find(&reception, "main").await.text().await.unwrap();
        if text.contains("new.address@example.net") {
            break;
        }
        assert!(Instant::now() < deadline, "the queue stayed empty");
        tokio::time::sleep(Duration::from_millis(300)).await;
        reception.refresh().await.unwrap();
    }
    assert_labelled(&reception).await;
    type_into(&reception, "ul.records input[type=search]", "olga").await;
    click(&reception, "ul.records form[role=search] button").await;
    click(&reception, "form.assign button").await;
    wait_path(&reception, "/conversations/").await;
    wait_text(&reception, "#timeline", "this is Olga from a new address").await;
    wait_text(&reception, "h1", "Olga Orange").await;
    visit(&reception, hub, "/unmatched").await;
    wait_text(&reception, "main", "Nothing waits to be filed").await;
    reception.close().await.unwrap();
    browser.close().await.unwrap();
}

/// The labels of the options a `select` offers (disabled ones left out).
async fn offered(client: &Client, select: &str) -> Vec<String> {
    let labels = js(
        client,
        &format!(
            "return Array.from(document.querySelectorAll({select:?} + ' option'))
                .filter(o => !o.disabled && o.value).map(o => o.textContent.trim());"
        ),
    )
    .await;
    serde_json::from_value(labels).expect("labels")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_writes_templates_and_reception_sends_from_them() {
    let mut scene = scene().await;
    let admin = scene.driver.browser(1280).await;
    let (hub, patient_id) = (&scene.hub, &scene.patient_id);
    sign_in(&admin, hub, ADMIN).await;

    // A malformed placeholder is refused inside the form, which keeps what was typed.
    click(&admin, "header nav a[href='/admin/templates']").await;
    wait_text(&admin, "h1", "Templates").await;
    assert_labelled(&admin).await;
    type_into(&admin, "#new-name", "Appointment reminder").await;
    type_into(&admin, "#new-body", "Dear {{ Name }}, see you at {{time}}.").await;
    click(&admin, "form.register button[type=submit]").await;
    wait_text(&admin, "form.register .alert", "{{ Name }}").await;
    let kept = find(&admin, "#new-name").await.prop("value").await.unwrap();
    assert_eq!(kept.as_deref(), Some("Appointment reminder"));
    type_into(
        &admin,
        "#new-body",
        "Dear {{patient_name}}, see you at {{time}}.",
    )
    .await;
    click(&admin, "form.register button[type=submit]").await;
    wait_text(&admin, ".notice", "Template created").await;
    let row = wait_text(&admin, "ul.records li", "Appointment reminder").await;
    assert!(row.contains("version 1"), "{row}");
    assert!(
        row.contains("patient_name") && row.contains("time"),
        "{row}"
    );

    // Revise it: the form is filled with version 1; saving makes version 2, approved on
    // WhatsApp.
    click(
        &admin,
        "a[href^='/admin/templates/']:not([href$='/retire'])",
    )
    .await;
    wait_text(&admin, "h1", "Appointment reminder").await;
    assert_labelled(&admin).await;
    let body = find(&admin, "#edit-body")
        .await
        .prop("value")
        .await
        .unwrap();
    assert_eq!(
        body.as_deref(),
        Some("Dear {{patient_name}}, see you at {{time}}.")
    );
    type_into(
        &admin,
        "#edit-body",
        "Dear {{patient_name}}, see you tomorrow at {{time}}.",
    )
    .await;
    type_into(&admin, "#edit-wa-name", "appointment_reminder").await;
    type_into(&admin, "#edit-wa-language", "en_US").await;
    type_into(&admin, "#edit-wa-parameters", "patient_name, time").await;
    click(&admin, "form.register button[type=submit]").await;
    wait_text(&admin, ".notice", "Saved as a new version").await;
    wait_text(&admin, "p.version", "version 2").await;
    let listed = hub.get(ADMIN, "/v1/templates").await.ok().clone();
    let reminder = &listed["items"][0];
    assert_eq!(reminder["version"], json!(2));
    assert_eq!(
        reminder["whatsapp"]["parameters"],
        json!(["patient_name", "time"])
    );
    let reminder_id = reminder["id"].as_str().unwrap().to_owned();

    // A second template, without variables.
    visit(&admin, hub, "/admin/templates").await;
    type_into(&admin, "#new-name", "Recall letter").await;
    type_into(
        &admin,
        "#new-body",
        "Time for your check-up, {{patient_name}}.",
    )
    .await;
    click(&admin, "form.register button[type=submit]").await;
    wait_text(&admin, ".notice", "Template created").await;

    // Reception writes to Paula: both are offered; outside the WhatsApp window WhatsApp takes
    // only the one approved on WhatsApp.
    let reception = scene.driver.browser(1280).await;
    sign_in(&reception, hub, &scene.reception).await;
    visit(&reception, hub, &format!("/new?patient_id={patient_id}")).await;
    wait_text(&reception, ".selected-patient", "Paula Patient").await;
    assert_labelled(&reception).await;
    assert_eq!(
        offered(&reception, "#new-template").await,
        ["Appointment reminder", "Recall letter"]
    );
    click(&reception, "#new-ch-whatsapp").await;
    assert_eq!(
        offered(&reception, "#new-template").await,
        ["Appointment reminder"]
    );
    click(&reception, "#new-ch-portal").await;
    find(&reception, "#new-template")
        .await
        .select_by_label("Recall letter")
        .await
        .unwrap();
    wait_text(
        &reception,
        "fieldset.template-vars:not([hidden]) .preview",
        "Time for your check-up, Paula Patient.",
    )
    .await;

    // The admin retires it (after a confirmation) while reception has it chosen: the send is
    // refused on the form, and it is no longer offered.
    click(&admin, "ul.records li:last-child a[href$='/retire']").await;
    wait_text(&admin, "h1", "Retire Recall letter?").await;
    click(&admin, "form.retire button[type=submit]").await;
    wait_text(&admin, ".notice", "Template retired").await;
    wait_text(&admin, "ul.records li", "retired").await;
    click(
        &reception,
        "form.compose .actions button:not([name=preview])",
    )
    .await;
    wait_text(&reception, "form.compose .alert", "not_found").await;
    assert_eq!(
        offered(&reception, "#new-template").await,
        ["Appointment reminder"]
    );

    // The reminder: a send without the time is refused naming it.
    click(&reception, "#new-ch-portal").await;
    find(&reception, "#new-template")
        .await
        .select_by_label("Appointment reminder")
        .await
        .unwrap();
    wait_text(
        &reception,
        "fieldset.template-vars:not([hidden]) .preview",
        "Dear Paula Patient, see you tomorrow at [time].",
    )
    .await;
    click(
        &reception,
        "form.compose .actions button:not([name=preview])",
    )
    .await;
    wait_text(&reception, "form.compose .alert", "missing variables: time").await;

    // The preview follows the typing, and the server renders it on "Preview".
    click(&reception, "#new-ch-portal").await;
    type_into(
        &reception,
        "fieldset.template-vars:not([hidden]) input[name=var-time]",
        "09:30",
    )
    .await;
    let rendered = "Dear Paula Patient, see you tomorrow at 09:30.";
    wait_text(
        &reception,
        "fieldset.template-vars:not([hidden]) .preview",
        rendered,
    )
    .await;
    click(&reception, "button[name=preview]").await;
    wait_text(
        &reception,
        "fieldset.template-vars:not([hidden]) .preview",
        rendered,
    )
    .await;
    let kept = find(
        &reception,
        "fieldset.template-vars:not([hidden]) input[name=var-time]",
    )
    .await
    .prop("value")
    .await
    .unwrap();
    assert_eq!(kept.as_deref(), Some("09:30"));
    shot(&reception, "compose-template-1280").await;

    // Sent: the timeline shows the rendered text, written from version 2.
    click(&reception, "#new-ch-portal").await;
    click(
        &reception,
        "form.compose .actions button:not([name=preview])",
    )
    .await;
    let path = wait_path(&reception, "/conversations/").await;
    wait_text(&reception, "#timeline", rendered).await;
    let conversation_id = path.trim_start_matches("/conversations/");
    let sent = hub
        .get(
            &scene.reception,
            &format!("/v1/messages?conversation_id={conversation_id}"),
        )
        .await
        .ok()
        .clone();
    assert_eq!(sent["items"][0]["body"], json!(rendered));
    assert_eq!(
        sent["items"][0]["template"],
        json!({ "id": reminder_id, "version": 2 })
    );

    // The reply form offers the same templates, the retired one left out.
    assert_eq!(
        offered(&reception, "#reply-template").await,
        ["Appointment reminder"]
    );
    reception.close().await.unwrap();
    admin.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbox_conversation_and_compose_fit_a_390_px_phone() {
    let mut scene = scene().await;
    let sent = scene
        .reception_writes(json!({
            "subject": "A rather long subject line about the appointment next week",
            "body": "Please bring your insurance card and the referral letter from your GP.",
        }))
        .await;
    let conversation_id = sent["conversation_id"].as_str().unwrap().to_owned();
    let browser = scene.driver.browser(390).await;
    let (hub, patient_id) = (&scene.hub, &scene.patient_id);
    sign_in(&browser, hub, &scene.reception).await;
    assert_eq!(js(&browser, "return window.innerWidth;").await, json!(390));
    wait_text(&browser, "#conversation-list", "Paula Patient").await;
    // The filters are collapsed on a phone.
    assert_eq!(
        js(
            &browser,
            "return document.querySelector('details.filter-box').open;"
        )
        .await,
        json!(false)
    );
    assert_fits(&browser).await;
    shot(&browser, "inbox-390").await;
    click(&browser, "details.filter-box summary").await;
    assert_fits(&browser).await;
    visit(&browser, hub, &format!("/conversations/{conversation_id}")).await;
    wait_text(&browser, "#timeline", "insurance card").await;
    assert_fits(&browser).await;
    shot(&browser, "conversation-390").await;
    // With a long message waiting in its Scheduled list.
    let send_at = (chrono::Utc::now() + chrono::Duration::hours(3)).to_rfc3339();
    hub.post(
        &scene.reception,
        &format!("/v1/conversations/{conversation_id}/messages"),
        json!({
            "channel": "portal",
            "subject": "Erinnerung an die Vorsorgeuntersuchungsterminvereinbarungsbestätigung",
            "body": "Please remember the appointment next week; bring the referral letter. ".repeat(4),
            "send_at": send_at,
        }),
    )
    .await
    .ok();
    visit(&browser, hub, &format!("/conversations/{conversation_id}")).await;
    wait_text(&browser, "#scheduled", "referral letter").await;
    assert_fits(&browser).await;
    js(
        &browser,
        "document.querySelector('#scheduled').scrollIntoView();",
    )
    .await;
    shot(&browser, "conversation-scheduled-390").await;
    visit(&browser, hub, &format!("/new?patient_id={patient_id}")).await;
    wait_text(&browser, ".selected-patient", "Paula Patient").await;
    assert_fits(&browser).await;
    shot(&browser, "compose-390").await;
    // A template chosen: its inputs and the preview fit too.
    hub.post(
        ADMIN,
        "/v1/templates",
        json!({
            "name": "Befundbesprechungsterminerinnerungsvorlage",
            "body": "Dear {{patient_name}}, your results_are_ready_for_discussion_on \
                     {{appointment_date_in_the_clinics_calendar}}.",
        }),
    )
    .await
    .ok();
    visit(&browser, hub, &format!("/new?patient_id={patient_id}")).await;
    find(&browser, "#new-template")
        .await
        .select_by_label("Befundbesprechungsterminerinnerungsvorlage")
        .await
        .unwrap();
    wait_text(
        &browser,
        "fieldset.template-vars:not([hidden]) .preview",
        "Dear Paula Patient",
    )
    .await;
    assert_fits(&browser).await;
    shot(&browser, "compose-template-390").await;
    browser.close().await.unwrap();
}

/// Files an e-mail from an address no patient has: it waits in the unmatched queue.
async fn unmatched_email(hub: &Hub, secret: &str, from: &str) {
    let raw = format!(
        "From: {from}\r\nTo: clinic@clinic.example\r\nSubject: New address\r\n\
         Message-ID: <stranger-{from}>\r\n\r\nHello, this is me from a new address.\r\n"
    );
    let filed = reqwest::Client::new()
        .post(format!("{}/v1/webhooks/email", hub.base))
        .bearer_auth(secret)
        .header("content-type", "message/rfc822")
        .body(raw)
        .send()
        .await
        .unwrap();
    assert!(filed.status().is_success(), "{}", filed.status());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_pages_fit_a_390_px_phone() {
    let mut scene = scene_with(&["--inbound-email-token", "inbound-secret"]).await;
    let browser = scene.driver.browser(390).await;
    let (hub, patient_id) = (&scene.hub, &scene.patient_id);
    unmatched_email(
        hub,
        "inbound-secret",
        "a.rather.long.address.of.somebody@some-long-domain.example.net",
    )
    .await;
    // Records with long unbroken words.
    hub.staff(
        "Bartholomäus Donaudampfschifffahrtsgesellschaftskapitän",
        "doctor",
    )
    .await;
    hub.post(
        ADMIN,
        "/v1/patients",
        json!({
            "name": "Maximiliane Hohenzollernbrückenbauerinnenvereinsvorsitzende",
            "email": "maximiliane.wolkenstein-hohenzollern@a-very-long-provider-name.example.org",
            "phone": "+4915100000077",
            "portal_enabled": true,
            "whatsapp_opt_in": true,
        }),
    )
    .await
    .ok();
    sign_in(&browser, hub, ADMIN).await;
    assert_eq!(js(&browser, "return window.innerWidth;").await, json!(390));

    // The staff list, and a member's new token shown once.
    visit(&browser, hub, "/admin/staff").await;
    wait_text(&browser, "ul.records", "Donaudampfschifffahrt").await;
    assert_fits(&browser).await;
    js(
        &browser,
        "document.querySelector('ul.records').scrollIntoView();",
    )
    .await;
    shot(&browser, "admin-staff-390").await;
    click(
        &browser,
        "ul.records li:last-child form[action$='/token'] button",
    )
    .await;
    shown_token(&browser).await;
    assert_fits(&browser).await;
    shot(&browser, "admin-staff-token-390").await;

    // The patient list, a patient's page, and her new token shown once.
    visit(&browser, hub, "/admin/patients").await;
    wait_text(&browser, "ul.records", "Hohenzollern").await;
    assert_fits(&browser).await;
    js(
        &browser,
        "document.querySelector('ul.records').scrollIntoView();",
    )
    .await;
    shot(&browser, "admin-patients-390").await;
    visit(&browser, hub, &format!("/admin/patients/{patient_id}")).await;
    wait_text(&browser, "h1", "Paula Patient").await;
    assert_fits(&browser).await;
    shot(&browser, "admin-patient-390").await;
    click(&browser, "form[action$='/token'] button").await;
    shown_token(&browser).await;
    assert_fits(&browser).await;
    js(
        &browser,
        "document.querySelector('#tokens-title').scrollIntoView();",
    )
    .await;
    shot(&browser, "admin-patient-token-390").await;

    // The templates, one template's revision form and its retirement's confirmation.
    let template = hub
        .post(
            ADMIN,
            "/v1/templates",
            json!({
                "name": "Terminerinnerungsbenachrichtigungsvorlagenentwurfsfassung",
                "subject": "Your appointment on {{appointment_date_in_the_clinics_calendar}}",
                "body": "Dear {{patient_name}}, see you on {{appointment_date_in_the_clinics_calendar}} \
                         at {{appointment_time_in_the_clinics_time_zone}}.",
                "whatsapp": {
                    "name": "appointment_reminder_with_a_rather_long_approved_name",
                    "language": "en_US",
                    "parameters": ["patient_name", "appointment_time_in_the_clinics_time_zone"],
                },
            }),
        )
        .await
        .ok()
        .clone();
    let template_id = template["id"].as_str().unwrap().to_owned();
    visit(&browser, hub, "/admin/templates").await;
    wait_text(&browser, "ul.records", "Terminerinnerungs").await;
    assert_fits(&browser).await;
    js(
        &browser,
        "document.querySelector('ul.records').scrollIntoView();",
    )
    .await;
    shot(&browser, "admin-templates-390").await;
    visit(&browser, hub, &format!("/admin/templates/{template_id}")).await;
    wait_text(&browser, "h1", "Terminerinnerungs").await;
    assert_fits(&browser).await;
    shot(&browser, "admin-template-390").await;
    visit(
        &browser,
        hub,
        &format!("/admin/templates/{template_id}/retire"),
    )
    .await;
    wait_text(&browser, "form.retire button", "Retire").await;
    assert_fits(&browser).await;

    // The quiet hours, set, with their form.
    hub.call(
        reqwest::Method::PUT,
        "/v1/settings/quiet-hours",
        Some(ADMIN),
        Some(json!({
            "start": "21:30",
            "end": "07:15",
            "time_zone": "America/Argentina/ComodRivadavia",
            "channels": ["sms", "email", "portal", "whatsapp"],
        })),
    )
    .await
    .ok();
    visit(&browser, hub, "/admin/quiet-hours").await;
    wait_text(&browser, "#quiet-hours-now", "From 21:30").await;
    assert_fits(&browser).await;
    shot(&browser, "admin-quiet-hours-390").await;

    // The reports, with figures and charts.
    let (_, reported) = hub.patient("Rhea Reported").await;
    a_reported_exchange(hub, &reported, &scene.reception).await;
    visit(&browser, hub, "/admin/reports").await;
    wait_text(&browser, "#channel-totals", "Portal").await;
    find(&browser, "svg#chart-daily rect.bar-portal").await;
    assert_fits(&browser).await;
    shot(&browser, "admin-reports-390").await;
    js(
        &browser,
        "document.querySelector('#failures-title').scrollIntoView();",
    )
    .await;
    shot(&browser, "admin-reports-failures-390").await;

    // The unmatched queue with an entry, and the patients found for it.
    visit(&browser, hub, "/unmatched").await;
    let deadline = Instant::now() + WAIT;
    while !find(&browser, "main")
        .await
        .text()
        .await
        .unwrap()
        .contains("some-long-domain")
    {
        assert!(Instant::now() < deadline, "the queue stayed empty");
        tokio::time::sleep(Duration::from_millis(300)).await;
        browser.refresh().await.unwrap();
    }
    assert_fits(&browser).await;
    type_into(&browser, "ul.records input[type=search]", "paula").await;
    click(&browser, "ul.records form[role=search] button").await;
    wait_text(&browser, "form.assign button", "Assign to Paula Patient").await;
    assert_fits(&browser).await;
    shot(&browser, "unmatched-390").await;
    browser.close().await.unwrap();
}

/// An RFC 3339 time as New York's clock shows it, with the zone's abbreviation.
fn in_new_york(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap_or_else(|_| panic!("not an RFC 3339 time: {rfc3339:?}"))
        .with_timezone(&chrono_tz::America::New_York)
        .format("%Y-%m-%d %H:%M %Z")
        .to_string()
}

/// The `datetime`, `title` and text of the first `<time>` under `css`.
async fn time_of(client: &Client, css: &str) -> (String, String, String) {
    let time = find(client, &format!("{css} time")).await;
    let attribute = |name: &'static str| {
        let time = time.clone();
        async move { time.attr(name).await.unwrap().unwrap_or_default() }
    };
    (
        attribute("datetime").await,
        attribute("title").await,
        time.text().await.unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn times_show_in_the_clinics_zone_and_lists_say_how_long_ago() {
    let mut scene = scene_with(&["--time-zone", "America/New_York"]).await;
    let sent = scene
        .reception_writes(json!({ "body": "Your test results are in." }))
        .await;
    let conversation_id = sent["conversation_id"].as_str().unwrap().to_owned();
    let browser = scene.driver.browser(1280).await;
    let hub = &scene.hub;
    sign_in(&browser, hub, &scene.reception).await;

    // The inbox row says how long ago, with New York's time as its title.
    wait_text(&browser, "#conversation-list", "Paula Patient").await;
    let (datetime, title, shown) = time_of(&browser, "#conversation-list .row .when").await;
    let relative = regex::Regex::new(r"^(just now|\d+ min ago)$").unwrap();
    assert!(relative.is_match(&shown), "{shown:?}");
    assert_eq!(title, in_new_york(&datetime));
    assert!(
        title.ends_with(" EST") || title.ends_with(" EDT"),
        "{title}"
    );

    // The timeline shows New York's time itself.
    visit(&browser, hub, &format!("/conversations/{conversation_id}")).await;
    wait_text(&browser, "#timeline", "Your test results are in.").await;
    let (datetime, _, shown) = time_of(&browser, "#timeline .msg .when").await;
    assert_eq!(shown, in_new_york(&datetime));

    // Calls are logged in New York's time: one in the hour the clocks skipped is refused,
    // naming the field; one in the hour that happened twice is the earlier.
    wait_text(&browser, "label[for=call-time]", "Time (America/New_York)").await;
    let log_call = |date: &'static str, time: &'static str| {
        let browser = browser.clone();
        async move {
            js(
                &browser,
                &format!(
                    "document.querySelector('#call-date').value = '{date}'; \
                     document.querySelector('#call-time').value = '{time}';"
                ),
            )
            .await;
            type_into(&browser, "#call-summary", &format!("Called at {time}")).await;
            click(&browser, "form.call button[type=submit]").await;
        }
    };
    log_call("2025-03-09", "02:30").await;
    let refusal = wait_text(&browser, "form.call .alert", "does not exist").await;
    assert!(
        refusal.contains("Time (America/New_York): 02:30 on 2025-03-09"),
        "{refusal}"
    );
    log_call("2025-11-02", "01:30").await;
    wait_text(&browser, "#timeline .call-facts", "2025-11-02 01:30 EDT").await;
    let timeline = hub
        .get(
            &scene.reception,
            &format!("/v1/conversations/{conversation_id}/messages"),
        )
        .await;
    let calls: Vec<&Value> = timeline.ok()["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["channel"] == "call")
        .collect();
    assert_eq!(
        calls.len(),
        1,
        "only the call at an existing time is logged"
    );
    assert_eq!(
        calls[0]["call"]["occurred_at"],
        json!("2025-11-02T05:30:00Z")
    );
    browser.close().await.unwrap();
}

/// The clinic's date and time (New York) of the instant `at`, as a form's date and time
/// inputs take them.
fn new_york_form(at: chrono::DateTime<chrono::Utc>) -> (String, String) {
    let local = at.with_timezone(&chrono_tz::America::New_York);
    (
        local.format("%Y-%m-%d").to_string(),
        local.format("%H:%M").to_string(),
    )
}

/// Fills the "Send later" date and time of the form whose ids start with `prefix` (by script:
/// how a time input takes typing depends on the browser's locale).
async fn send_later(client: &Client, prefix: &str, date: &str, time: &str) {
    js(
        client,
        &format!(
            "document.querySelector('#{prefix}-send-date').value = '{date}'; \
             document.querySelector('#{prefix}-send-time').value = '{time}';"
        ),
    )
    .await;
}

/// Waits until no `css` element's text contains `needle`.
async fn wait_gone(client: &Client, css: &str, needle: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let mut present = false;
        for element in client.find_all(Locator::Css(css)).await.unwrap_or_default() {
            present |= element.text().await.unwrap_or_default().contains(needle);
        }
        if !present {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "`{css}` still shows {needle:?} after {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// The pending scheduled messages of a conversation, as the API lists them to `token`.
async fn pending_bodies(hub: &Hub, token: &str, conversation_id: &str) -> Vec<String> {
    let listed = hub
        .get(
            token,
            &format!("/v1/scheduled?conversation_id={conversation_id}&status=pending"),
        )
        .await;
    listed.ok()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["body"].as_str().unwrap_or("").to_owned())
        .collect()
}

const SEND: &str = "form.compose .actions button:not([name=preview])";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reception_sends_later_in_the_clinics_zone_cancels_and_sees_it_released() {
    let mut scene = scene_with(&["--time-zone", "America/New_York"]).await;
    let sent = scene
        .reception_writes(json!({ "body": "Your test results are in." }))
        .await;
    let conversation_id = sent["conversation_id"].as_str().unwrap().to_owned();
    let browser = scene.driver.browser(1280).await;
    let (hub, patient_id, reception) = (&scene.hub, &scene.patient_id, &scene.reception);
    sign_in(&browser, hub, reception).await;

    // A new message sent later: a time the clocks skipped is refused naming the field, one in
    // the past by the API; the form keeps what was typed.
    visit(&browser, hub, &format!("/new?patient_id={patient_id}")).await;
    wait_text(&browser, ".selected-patient", "Paula Patient").await;
    wait_text(
        &browser,
        "label[for=new-send-time]",
        "Time (America/New_York)",
    )
    .await;
    assert_labelled(&browser).await;
    click(&browser, "#new-ch-portal").await;
    type_into(&browser, "#new-body", "See you next week.").await;
    send_later(&browser, "new", "2025-03-09", "02:30").await;
    click(&browser, SEND).await;
    let refusal = wait_text(&browser, "form.compose .alert", "does not exist").await;
    assert!(
        refusal.contains("Send later time (America/New_York): 02:30 on 2025-03-09"),
        "{refusal}"
    );
    let value = |css: &'static str| {
        let browser = browser.clone();
        async move { find(&browser, css).await.prop("value").await.unwrap() }
    };
    assert_eq!(
        value("#new-body").await.as_deref(),
        Some("See you next week.")
    );
    assert_eq!(value("#new-send-date").await.as_deref(), Some("2025-03-09"));
    send_later(&browser, "new", "2025-03-10", "09:00").await;
    click(&browser, SEND).await;
    wait_text(
        &browser,
        "form.compose .alert",
        "send_at must be later than now",
    )
    .await;
    assert_eq!(value("#new-send-time").await.as_deref(), Some("09:00"));

    // Two hours ahead: the conversation it will start lists it, due at the time typed in New
    // York; nothing is in any timeline yet.
    let (date, time) = new_york_form(chrono::Utc::now() + chrono::Duration::hours(2));
    send_later(&browser, "new", &date, &time).await;
    click(&browser, SEND).await;
    let path = wait_path(&browser, "/conversations/").await;
    let first = path.trim_start_matches("/conversations/").to_owned();
    wait_text(&browser, "#scheduled .notice", "Message scheduled").await;
    wait_text(&browser, "main", "Not started yet").await;
    wait_text(&browser, "#scheduled .scheduled-item", "See you next week.").await;
    let (datetime, _, shown) = time_of(&browser, "#scheduled .scheduled-item .due").await;
    assert_eq!(shown, in_new_york(&datetime));
    assert!(shown.starts_with(&format!("{date} {time} ")), "{shown}");
    assert_eq!(
        pending_bodies(hub, reception, &first).await,
        ["See you next week."]
    );
    assert_labelled(&browser).await;
    shot(&browser, "scheduled-first-message-1280").await;

    // Two replies sent later in the open conversation: listed soonest first, not in the
    // timeline.
    visit(&browser, hub, &format!("/conversations/{conversation_id}")).await;
    wait_text(&browser, "#timeline", "Your test results are in.").await;
    for (body, ahead) in [
        (
            "Please bring your insurance card.",
            chrono::Duration::hours(1),
        ),
        ("Nothing to eat from midnight.", chrono::Duration::days(1)),
    ] {
        click(&browser, "#reply-ch-portal").await;
        type_into(&browser, "#reply-body", body).await;
        let (date, time) = new_york_form(chrono::Utc::now() + ahead);
        send_later(&browser, "reply", &date, &time).await;
        click(&browser, SEND).await;
        wait_text(&browser, "#scheduled .notice", "Message scheduled").await;
        wait_text(&browser, "#scheduled", body).await;
    }
    let items = browser
        .find_all(Locator::Css("#scheduled .scheduled-item"))
        .await
        .unwrap();
    assert_eq!(items.len(), 2);
    assert!(items[0].text().await.unwrap().contains("insurance card"));
    let timeline = find(&browser, "#timeline").await.text().await.unwrap();
    assert!(!timeline.contains("insurance card"), "{timeline}");
    assert_labelled(&browser).await;
    shot(&browser, "scheduled-replies-1280").await;

    // Cancel the first: gone from the list, and from the API's.
    click(
        &browser,
        "#scheduled .scheduled-item:first-child form.cancel-scheduled button",
    )
    .await;
    wait_text(&browser, "#scheduled .notice", "cancelled").await;
    wait_gone(&browser, "#scheduled", "insurance card").await;
    assert_eq!(
        pending_bodies(hub, reception, &conversation_id).await,
        ["Nothing to eat from midnight."]
    );

    // Cancelled elsewhere meanwhile: the Cancel button says it no longer waits.
    let other = hub
        .get(
            reception,
            &format!("/v1/scheduled?conversation_id={conversation_id}&status=pending"),
        )
        .await;
    let other = other.ok()["items"][0]["message_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let gone = hub
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/scheduled/{other}"),
            Some(reception),
            None,
        )
        .await;
    gone.ok();
    click(&browser, "#scheduled form.cancel-scheduled button").await;
    wait_text(&browser, "#scheduled .alert", "no longer waiting").await;
    wait_text(&browser, "#scheduled .alert", "not_pending").await;
    wait_gone(&browser, "#scheduled .scheduled-list", "midnight").await;

    // Released by the scheduler at the next whole minute at least 8 s away (the time input
    // takes minutes), written just before: a reply here, and in a second window a new message,
    // whose page becomes the conversation once it starts.
    let second = scene.driver.browser(1280).await;
    sign_in(&second, hub, reception).await;
    visit(&second, hub, &format!("/new?patient_id={patient_id}")).await;
    wait_text(&second, ".selected-patient", "Paula Patient").await;
    use chrono::DurationRound;
    let soonest = chrono::Utc::now() + chrono::Duration::seconds(8);
    let due = soonest
        .duration_trunc(chrono::Duration::minutes(1))
        .unwrap()
        + chrono::Duration::minutes(1);
    if let Ok(wait) = (due - chrono::Duration::seconds(8) - chrono::Utc::now()).to_std() {
        tokio::time::sleep(wait).await;
    }
    let (date, time) = new_york_form(due);
    click(&browser, "#reply-ch-portal").await;
    type_into(&browser, "#reply-body", "See you at the front desk.").await;
    send_later(&browser, "reply", &date, &time).await;
    click(&browser, SEND).await;
    wait_text(
        &browser,
        "#scheduled .scheduled-item",
        "See you at the front desk.",
    )
    .await;
    click(&second, "#new-ch-portal").await;
    type_into(&second, "#new-body", "Welcome to the practice.").await;
    send_later(&second, "new", &date, &time).await;
    click(&second, SEND).await;
    wait_text(&second, "main", "Not started yet").await;
    wait_text(&browser, "#timeline", "See you at the front desk.").await;
    wait_gone(&browser, "#scheduled", "front desk").await;
    assert!(pending_bodies(hub, reception, &conversation_id)
        .await
        .is_empty());
    wait_text(&second, "#timeline", "Welcome to the practice.").await;
    wait_gone(&second, "main", "Not started yet").await;
    second.close().await.unwrap();
    shot(&browser, "scheduled-released-1280").await;
    browser.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_sets_quiet_hours_on_their_page() {
    let mut scene = scene().await;
    let browser = scene.driver.browser(1280).await;
    let hub = &scene.hub;
    sign_in(&browser, hub, ADMIN).await;
    click(&browser, "header nav a[href='/admin/quiet-hours']").await;
    wait_text(&browser, "h1", "Quiet hours").await;
    wait_text(&browser, "#quiet-hours-now", "Off").await;
    assert_labelled(&browser).await;

    // An unknown time zone is refused beside its field; the form keeps what was typed.
    js(
        &browser,
        "document.querySelector('#qh-start').value = '22:00'; \
         document.querySelector('#qh-end').value = '07:00';",
    )
    .await;
    type_into(&browser, "#qh-time_zone", "Mars/Olympus").await;
    click(&browser, "#qh-channel-sms").await;
    click(&browser, "#qh-channel-whatsapp").await;
    click(&browser, "form.quiet-hours button[type=submit]").await;
    wait_text(&browser, "#qh-time_zone-error", "time_zone must be an IANA").await;
    let start = find(&browser, "#qh-start")
        .await
        .prop("value")
        .await
        .unwrap();
    assert_eq!(start.as_deref(), Some("22:00"));
    let sms = find(&browser, "#qh-channel-sms")
        .await
        .prop("checked")
        .await
        .unwrap();
    assert_eq!(sms.as_deref(), Some("true"));
    assert_labelled(&browser).await;
    shot(&browser, "quiet-hours-refused-1280").await;

    // Set: the page and the API say so.
    type_into(&browser, "#qh-time_zone", "Europe/Berlin").await;
    click(&browser, "form.quiet-hours button[type=submit]").await;
    wait_text(&browser, ".notice", "Quiet hours saved").await;
    wait_text(
        &browser,
        "#quiet-hours-now",
        "From 22:00 to 07:00 (Europe/Berlin",
    )
    .await;
    let set = hub
        .get(&scene.reception, "/v1/settings/quiet-hours")
        .await
        .ok()
        .clone();
    assert_eq!(set["start"], "22:00");
    assert_eq!(set["end"], "07:00");
    assert_eq!(set["time_zone"], "Europe/Berlin");
    assert_eq!(set["channels"], json!(["sms", "whatsapp"]));

    // No channel ticked is refused beside the channels.
    click(&browser, "#qh-channel-sms").await;
    click(&browser, "#qh-channel-whatsapp").await;
    click(&browser, "form.quiet-hours button[type=submit]").await;
    wait_text(&browser, "#qh-channels-error", "at least one channel").await;

    // Turned off: a window of no length.
    visit(&browser, hub, "/admin/quiet-hours").await;
    click(&browser, "form.quiet-hours-off button").await;
    wait_text(&browser, ".notice", "turned off").await;
    wait_text(&browser, "#quiet-hours-now", "Off").await;
    let off = hub
        .get(&scene.reception, "/v1/settings/quiet-hours")
        .await
        .ok()
        .clone();
    assert_eq!(off["start"], off["end"]);
    assert_eq!(off["time_zone"], "Europe/Berlin");
    browser.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_erases_a_patient_after_confirming() {
    let mut scene = scene().await;
    let sent = scene
        .reception_writes(json!({ "body": "Your gooseberry results are in" }))
        .await;
    let conversation_id = sent["conversation_id"].as_str().unwrap().to_owned();
    let browser = scene.driver.browser(1280).await;
    let hub = &scene.hub;
    sign_in(&browser, hub, ADMIN).await;
    visit(
        &browser,
        hub,
        &format!("/admin/patients/{}", scene.patient_id),
    )
    .await;
    wait_text(&browser, "h1", "Paula Patient").await;
    click(&browser, "a.danger").await;
    wait_text(&browser, "h1", "Erase Paula Patient?").await;
    assert_labelled(&browser).await;

    // Submitting without the tick (the browser's own check bypassed) is refused and erases nothing.
    js(
        &browser,
        "document.querySelector('#erase-confirm').removeAttribute('required');",
    )
    .await;
    click(&browser, "form.erase button[type=submit]").await;
    wait_text(&browser, ".alert", "Tick the box").await;
    let still = hub
        .get(ADMIN, &format!("/v1/patients/{}", scene.patient_id))
        .await;
    assert_eq!(still.ok()["erased"], false);
    shot(&browser, "erase-confirm-1280").await;

    click(&browser, "#erase-confirm").await;
    click(&browser, "form.erase button[type=submit]").await;
    wait_text(
        &browser,
        ".notice",
        "None of their personal data is readable",
    )
    .await;
    wait_text(&browser, "h1", "Erased patient").await;
    shot(&browser, "erased-patient-1280").await;
    let erased = hub
        .get(ADMIN, &format!("/v1/patients/{}", scene.patient_id))
        .await;
    assert_eq!(erased.ok()["erased"], true);
    assert_eq!(erased.ok()["name"], "erased");

    // The conversation page names the patient `erased` and shows none of the text.
    visit(&browser, hub, &format!("/conversations/{conversation_id}")).await;
    let page = wait_text(&browser, "main", "erased").await;
    assert!(!page.contains("gooseberry"), "{page}");
    browser.close().await.unwrap();
}

/// Patient and reception write through the API; answers the position of the last write. The
/// patient writes twice, reception answers both with one portal reply and sends an SMS (no
/// provider: it stays queued), and the patient writes once more, left unanswered.
async fn a_reported_exchange(hub: &Hub, patient: &str, reception: &str) -> u64 {
    let first = hub
        .post(
            patient,
            "/v1/messages",
            json!({ "to": "reception", "channel": "portal", "body": "Can I come earlier?" }),
        )
        .await
        .ok()
        .clone();
    let path = format!(
        "/v1/conversations/{}/messages",
        first["conversation_id"].as_str().unwrap()
    );
    let mut position = 0;
    for (token, channel, body) in [
        (patient, "portal", "Any time after nine works."),
        (reception, "portal", "Come at 9:30."),
        (reception, "sms", "Reminder: 9:30 today."),
        (patient, "portal", "Thanks, see you."),
    ] {
        position = hub
            .post(token, &path, json!({ "channel": channel, "body": body }))
            .await
            .ok()["position"]
            .as_u64()
            .unwrap();
    }
    // The reports are current once the API answers at that position.
    hub.get(
        ADMIN,
        &format!("/v1/reports/summary?min_position={position}"),
    )
    .await
    .ok();
    position
}

/// The text of one cell of the channel totals.
async fn total(client: &Client, channel: &str, column: &str) -> String {
    find(
        client,
        &format!("#channel-totals tr[data-channel={channel}] td.{column}"),
    )
    .await
    .text()
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_reads_the_reports_with_their_charts() {
    let mut scene = scene().await;
    let browser = scene.driver.browser(1280).await;
    let hub = &scene.hub;
    a_reported_exchange(hub, &scene.patient, &scene.reception).await;
    sign_in(&browser, hub, ADMIN).await;
    click(&browser, "header nav a[href='/admin/reports']").await;
    wait_text(&browser, "h1", "Reports").await;
    wait_text(&browser, "#report-period", "The last 30 days").await;

    // The figures: three messages from the patient, one answer for the first two, one waiting.
    assert_eq!(total(&browser, "portal", "inbound").await, "3");
    assert_eq!(total(&browser, "portal", "outbound").await, "1");
    assert_eq!(total(&browser, "sms", "outbound").await, "1");
    assert_eq!(total(&browser, "email", "inbound").await, "0");
    wait_text(&browser, "#first-response-answered", "2").await;
    wait_text(&browser, "#first-response-unanswered", "1").await;
    let median = find(&browser, "#first-response-median")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        median.ends_with(" s") || median.ends_with(" min"),
        "{median}"
    );
    wait_text(&browser, "#backlog-conversations", "1").await;
    wait_text(&browser, "#backlog-messages", "1").await;
    wait_text(&browser, "#backlog-oldest", "since").await;

    // The charts: today's column stacks the portal and SMS entries; the failures chart has a
    // bar per sendable channel.
    let chart = find(&browser, "svg#chart-daily").await;
    assert_eq!(chart.attr("role").await.unwrap().as_deref(), Some("img"));
    let today = chrono::Utc::now().date_naive().to_string();
    let portal = find(&browser, "svg#chart-daily rect.bar-portal title").await;
    assert_eq!(
        portal.prop("textContent").await.unwrap().as_deref(),
        Some(format!("{today}: 4 Portal").as_str())
    );
    let sms = find(&browser, "svg#chart-daily rect.bar-sms title").await;
    assert_eq!(
        sms.prop("textContent").await.unwrap().as_deref(),
        Some(format!("{today}: 1 SMS").as_str())
    );
    let bars = js(
        &browser,
        "return document.querySelectorAll('svg#chart-failures rect').length;",
    )
    .await;
    assert_eq!(bars, json!(4));
    wait_text(&browser, "svg#chart-failures", "0 of 1 failed").await;
    assert_labelled(&browser).await;
    shot(&browser, "reports-1280").await;
    js(
        &browser,
        "document.querySelector('#messages-title').scrollIntoView();",
    )
    .await;
    shot(&browser, "reports-charts-1280").await;

    // Another period.
    let select = find(&browser, "#days").await;
    select.select_by_value("7").await.unwrap();
    click(&browser, "form.report-period button").await;
    wait_text(&browser, "#report-period", "The last 7 days").await;
    assert_eq!(total(&browser, "portal", "inbound").await, "3");

    // Reception may not.
    let reception = scene.driver.browser(1280).await;
    sign_in(&reception, hub, &scene.reception).await;
    let links = js(
        &reception,
        "return document.querySelectorAll(\"a[href='/admin/reports']\").length;",
    )
    .await;
    assert_eq!(links, json!(0));
    visit(&reception, hub, "/admin/reports").await;
    wait_text(&reception, "h1", "Not allowed").await;
    reception.close().await.unwrap();
    browser.close().await.unwrap();
}

#[tokio::test]
async fn hub_serve_refuses_an_unknown_time_zone() {
    let out = Command::new(env!("CARGO_BIN_EXE_hub"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--time-zone",
            "Europe/Atlantis",
        ])
        .arg("--data-dir")
        .arg(tempfile::tempdir().unwrap().path())
        .output()
        .await
        .expect("run hub serve");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--time-zone") && stderr.contains("Europe/Atlantis"),
        "{stderr}"
    );
}

/// A browser's side of the pages over plain HTTP: cookies by hand, no redirects followed.
struct Visitor {
    http: reqwest::Client,
    base: String,
    session: Option<String>,
}

/// The value of cookie `name` set by a response, with its attributes.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// The value before the first `;` after `name=`.
fn cookie_value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .and_then(|pair| pair.split_once('='))
        .map(|(_, value)| value.to_owned())
        .unwrap_or_default()
}

/// The page's first `_csrf` field value.
fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"_csrf\" value=\"").expect("a CSRF field") + 20;
    page[at..].split('"').next().unwrap().to_owned()
}

impl Visitor {
    fn new(base: &str) -> Visitor {
        Visitor {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: base.to_owned(),
            session: None,
        }
    }

    /// Signs in with `token`; answers the session cookie as set (with its attributes).
    async fn sign_in(&mut self, token: &str) -> String {
        let form = self
            .http
            .get(format!("{}/signin", self.base))
            .send()
            .await
            .unwrap();
        let nonce = cookie_value(&set_cookie(&form, "hub_signin").expect("a sign-in cookie"));
        let signed_in = self
            .http
            .post(format!("{}/signin", self.base))
            .header("cookie", format!("hub_signin={nonce}"))
            .header("origin", &self.base)
            .header("sec-fetch-site", "same-origin")
            .form(&[("_csrf", nonce.as_str()), ("token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(signed_in.status(), 303, "signed in");
        let cookie = set_cookie(&signed_in, "hub_session").expect("a session cookie");
        self.session = Some(cookie_value(&cookie));
        cookie
    }

    fn with_session(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.session {
            Some(id) => request.header("cookie", format!("hub_session={id}")),
            None => request,
        }
    }

    /// `GET path`: status and page.
    async fn get(&self, path: &str) -> (u16, String) {
        let response = self
            .with_session(self.http.get(format!("{}{path}", self.base)))
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// Posts a form from `origin` (`None`: no `Origin` header); answers the status.
    async fn post(&self, path: &str, origin: Option<&str>, form: &[(&str, &str)]) -> u16 {
        let mut request = self
            .with_session(self.http.post(format!("{}{path}", self.base)))
            .form(form);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send().await.unwrap().status().as_u16()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_sessions_are_random_ids_that_sign_out_and_revocation_end_on_every_node() {
    let hub = Hub::start(Backend::Postgres).await;
    let node_b = hub.second_node().await;
    let (reception_id, reception) = hub.staff("Rita Reception", "receptionist").await;

    // The cookie is a random id: not the token, HttpOnly, SameSite=Strict, not Secure on http.
    let mut first = Visitor::new(&hub.base);
    let cookie = first.sign_in(&reception).await;
    let id = cookie_value(&cookie);
    assert!(!cookie.contains(&reception), "the cookie carries the token");
    assert!(
        !cookie.contains(&hex::encode(&reception)),
        "the cookie carries the token"
    );
    assert_eq!(id.len(), 43, "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "{cookie}");
    let (status, page) = first.get("/").await;
    assert_eq!(status, 200);
    assert!(page.contains("Rita Reception"), "signed in as Rita");

    // A second session of the same token has its own CSRF token; neither works in the other.
    let mut second = Visitor::new(&hub.base);
    second.sign_in(&reception).await;
    let (_, second_page) = second.get("/").await;
    let (first_csrf, second_csrf) = (csrf_of(&page), csrf_of(&second_page));
    assert_ne!(first_csrf, second_csrf);
    let own = Some(hub.base.as_str());
    assert_eq!(
        first
            .post("/signout", own, &[("_csrf", &second_csrf)])
            .await,
        403
    );

    // Form posts from another site are refused, whatever they carry.
    let forged = [("_csrf", first_csrf.as_str())];
    assert_eq!(
        first
            .post("/signout", Some("http://evil.example"), &forged)
            .await,
        403
    );
    let cross_site = first
        .with_session(first.http.post(format!("{}/signout", hub.base)))
        .header("sec-fetch-site", "cross-site")
        .form(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), 403);
    assert_eq!(
        first.get("/").await.0,
        200,
        "the session survived the forgeries"
    );

    // Sign-out ends the session: the same cookie replayed, here or on the other node, signs no
    // one in.
    assert_eq!(first.post("/signout", own, &forged).await, 303);
    assert_eq!(
        first.get("/").await.0,
        303,
        "the replayed cookie is refused"
    );
    let mut replayed = Visitor::new(&node_b.base);
    replayed.session = first.session.clone();
    assert_eq!(
        replayed.get("/").await.0,
        303,
        "refused on the other node too"
    );

    // Revoking the token ends its other sessions on every node.
    let mut on_b = Visitor::new(&node_b.base);
    on_b.session = second.session.clone();
    assert_eq!(on_b.get("/").await.0, 200);
    let revoked = hub
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/staff/{reception_id}/token"),
            Some(ADMIN),
            None,
        )
        .await;
    revoked.ok();
    assert_eq!(
        second.get("/").await.0,
        303,
        "revocation ends the session here"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while on_b.get("/").await.0 != 303 {
        assert!(
            Instant::now() < deadline,
            "the other node still signs it in"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookies_are_secure_behind_https_and_opening_a_conversation_changes_nothing() {
    let hub = Hub::start_with(Backend::Sqlite, &["--public-url", "https://clinic.example"]).await;
    let (_, reception) = hub.staff("Rita Reception", "receptionist").await;
    let (patient_id, patient) = hub.patient("Paula Patient").await;
    let sent = hub
        .post(
            &reception,
            "/v1/messages",
            json!({ "patient_id": patient_id, "channel": "portal", "body": "Your results" }),
        )
        .await;
    let (conversation, message) = (
        sent.ok()["conversation_id"].as_str().unwrap().to_owned(),
        sent.ok()["message_id"].as_str().unwrap().to_owned(),
    );

    let mut portal = Visitor::new(&hub.base);
    let cookie = portal.sign_in(&patient).await;
    assert!(cookie.contains("; Secure"), "{cookie}");

    // Opening the conversation by GET marks nothing read; the page offers the read form.
    let path = format!("/conversations/{conversation}");
    let (status, page) = portal
        .get(&format!("{path}?after={}", sent.ok()["position"]))
        .await;
    assert_eq!(status, 200);
    assert!(
        page.contains(&format!("{path}/read")),
        "the page posts its read"
    );
    let read_status = |answer: &support::Answer| answer.ok()["status"].clone();
    let seen = hub.get(&patient, &format!("/v1/messages/{message}")).await;
    assert_eq!(read_status(&seen), json!("unread"), "a GET changed nothing");

    // The page's POST marks it read; the public URL's origin is the hub's own.
    let csrf = csrf_of(&page);
    let form = [("_csrf", csrf.as_str()), ("messages", message.as_str())];
    assert_eq!(
        portal
            .post(
                &format!("{path}/read"),
                Some("https://clinic.example"),
                &form
            )
            .await,
        303
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let seen = hub.get(&patient, &format!("/v1/messages/{message}")).await;
        if read_status(&seen) == json!("read") {
            break;
        }
        assert!(Instant::now() < deadline, "the POST did not mark it read");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The hub process's peak resident memory so far, in MiB (`VmHWM`).
fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("process status");
    let line = status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .expect("VmHWM");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("a number");
    kib / 1024
}

/// A multipart form: text fields, then one file.
fn multipart_form(fields: &[(&str, &str)], file: (&str, &str, &[u8])) -> (String, Vec<u8>) {
    let boundary = "----hubtestboundary7d3f";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    let (name, media_type, bytes) = file;
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; \
             filename=\"{name}\"\r\nContent-Type: {media_type}\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Web-form uploads stream into the attachment store: eight concurrent 40 MiB uploads leave
/// the hub's peak memory far below what holding them would take, and each arrives whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_uploads_stream_instead_of_filling_memory() {
    let hub = Hub::start(Backend::Sqlite).await;
    let (_, reception) = hub.staff("Rita Reception", "receptionist").await;
    let (patient_id, patient) = hub.patient("Paula Patient").await;
    let started = hub
        .post(
            &reception,
            "/v1/messages",
            json!({ "patient_id": patient_id, "channel": "portal", "body": "Please send the scans" }),
        )
        .await;
    let conversation = started.ok()["conversation_id"].as_str().unwrap().to_owned();
    let mut visitor = Visitor::new(&hub.base);
    visitor.sign_in(&reception).await;
    let (_, page) = visitor.get(&format!("/conversations/{conversation}")).await;
    let csrf = csrf_of(&page);
    let pid = hub.pid().expect("the hub runs");
    let before = peak_rss_mib(pid);

    let mut pdf = b"%PDF-1.4\n".to_vec();
    pdf.resize(40 * 1024 * 1024, b'x');
    let uploads = (0..8).map(|n| {
        let body_text = format!("Scan {n}");
        let (content_type, body) = multipart_form(
            &[
                ("_csrf", &csrf),
                ("channel", "portal"),
                ("body", &body_text),
            ],
            ("scan.pdf", "application/pdf", &pdf),
        );
        let request = visitor
            .with_session(
                visitor
                    .http
                    .post(format!("{}/conversations/{conversation}/reply", hub.base)),
            )
            .header("content-type", content_type)
            .header("origin", &hub.base)
            .body(body);
        async move { request.send().await.unwrap().status().as_u16() }
    });
    let statuses = futures::future::join_all(uploads).await;
    let grown = peak_rss_mib(pid).saturating_sub(before);
    println!("the hub's peak memory grew by {grown} MiB over 8 concurrent 40 MiB uploads");
    assert!(
        statuses.iter().all(|s| *s == 303),
        "every form was sent: {statuses:?}"
    );
    // Holding them would take 8 × 40 MiB at least, twice over when copied.
    assert!(grown < 160, "the hub's peak memory grew by {grown} MiB");

    // Each message carries its whole file.
    let deadline = Instant::now() + Duration::from_secs(10);
    let items = loop {
        let list = hub.get(&patient, "/v1/messages?limit=50").await;
        let items: Vec<Value> = list.ok()["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|item| item["body"].as_str().unwrap_or("").starts_with("Scan "))
            .cloned()
            .collect();
        if items.len() == 8 || Instant::now() > deadline {
            break items;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(items.len(), 8);
    for item in items {
        assert_eq!(item["attachments"][0]["size"], json!(40 * 1024 * 1024));
    }
}
