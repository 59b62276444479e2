//! `hub bench` at a tiny scale: it runs every phase on both backends and writes every figure.
//! Only the report's shape is checked, never a speed.

use std::process::Command;

use serde_json::Value;

fn positive(value: &Value, what: &str) {
    let figure = value
        .as_f64()
        .unwrap_or_else(|| panic!("{what} is missing"));
    assert!(figure > 0.0, "{what} is {figure}");
}

#[test]
fn bench_reports_every_figure_on_both_backends() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let server = std::env::var("HUB_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/postgres".into());
    let output = Command::new(env!("CARGO_BIN_EXE_hub"))
        .args([
            "bench",
            "--messages",
            "100",
            "--seconds",
            "0.3",
            "--queries",
            "3",
        ])
        .args(["--clients", "1,4", "--hot-writers", "4"])
        .args(["--database-url", &server, "--json"])
        .arg(&json)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "hub bench failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(table.contains("| SQLite "), "{table}");
    assert!(table.contains("| PostgreSQL "), "{table}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    positive(&report["cores"], "cores");
    assert_eq!(report["scale"]["messages"], 100);
    positive(&report["scale"]["events"], "events");
    assert!(report.get("commit").is_some());
    let backends = report["backends"].as_array().unwrap();
    assert_eq!(backends.len(), 2);
    for backend in backends {
        let name = backend["backend"].as_str().unwrap();
        positive(&backend["generate_events_per_sec"], "generate rate");
        for field in ["events", "events_per_sec", "raw_rows_per_sec", "ratio"] {
            positive(
                &backend["rebuild"][field],
                &format!("{name} rebuild {field}"),
            );
        }
        let queries = backend["queries"].as_array().unwrap();
        assert_eq!(queries.len(), 11, "{name}: every query shape");
        for query in queries {
            positive(&query["p50_ms"], "p50");
            positive(&query["p99_ms"], "p99");
        }
        let cells = backend["commands"].as_array().unwrap();
        assert_eq!(cells.len(), 2, "{name}: one cell per client count");
        for cell in cells {
            for field in [
                "commands_per_sec",
                "in_process_per_sec",
                "raw_inserts_per_sec",
                "ratio",
                "raw_per_client_per_sec",
                "ratio_per_client",
                "in_process_ratio_per_client",
            ] {
                positive(&cell[field], &format!("{name} {field}"));
            }
            positive(&cell["lag_p99_ms"], "lag p99");
            assert_eq!(cell["failed"], 0, "{name}: no send failed");
        }
        let hot = backend["hot_conversation"].as_array().unwrap();
        assert_eq!(hot.len(), 1, "{name}: one hot-conversation cell");
        assert_eq!(hot[0]["writers"], 4);
        positive(&hot[0]["commands_per_sec"], "hot conversation commands/s");
        positive(
            &hot[0]["independent_per_sec"],
            "independent conversations/s",
        );
        assert_eq!(
            hot[0]["failed"], 0,
            "{name}: no send into the hot conversation failed"
        );
        for field in [
            "events",
            "verify_events_per_sec",
            "read_events_per_sec",
            "ratio",
        ] {
            positive(&backend["audit"][field], &format!("{name} audit {field}"));
        }
        assert_eq!(backend["release"]["messages"], 10);
        for field in ["p50_ms", "p99_ms", "max_ms"] {
            positive(
                &backend["release"][field],
                &format!("{name} release {field}"),
            );
        }
        let memory = backend["memory"].as_array().unwrap();
        assert_eq!(
            memory.len(),
            9,
            "{name}: four phases, two in-process, two HTTP load cells and one hot cell"
        );
        for phase in memory {
            positive(&phase["peak_mib"], "peak memory");
        }
    }
}

/// `--keep DIR` keeps what a run generated and `--reuse DIR` measures it again without
/// generating it: here only the rebuild, then only the queries.
#[test]
fn bench_keeps_its_data_and_measures_it_again() {
    let dir = tempfile::tempdir().unwrap();
    let kept = dir.path().join("kept");
    let json = dir.path().join("bench.json");
    let server = std::env::var("HUB_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/postgres".into());
    let bench = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_hub"))
            .args(["bench", "--messages", "100", "--queries", "2"])
            .args(["--database-url", &server])
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "hub bench {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let kept_arg = kept.to_str().unwrap();
    bench(&["--keep", kept_arg, "--phases", "rebuild"]);
    let database = std::fs::read_to_string(kept.join("postgres/database")).unwrap();
    let database = database.trim().to_owned();
    assert!(database.starts_with("hub_bench_"), "{database}");
    assert!(kept.join("sqlite/events.db").exists());

    let table = bench(&[
        "--reuse",
        kept_arg,
        "--phases",
        "queries",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(table.contains("| query shape "), "{table}");
    assert!(!table.contains("| clients "), "no command cells: {table}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let backends = report["backends"].as_array().unwrap();
    assert_eq!(backends.len(), 2);
    for backend in backends {
        let name = backend["backend"].as_str().unwrap();
        positive(&backend["generate_events_per_sec"], "kept generate rate");
        assert!(backend["rebuild"].is_null(), "{name}: no rebuild");
        assert_eq!(backend["queries"].as_array().unwrap().len(), 11, "{name}");
        assert_eq!(backend["commands"].as_array().unwrap().len(), 0, "{name}");
    }

    // Another scale than the kept one is refused.
    let output = Command::new(env!("CARGO_BIN_EXE_hub"))
        .args(["bench", "--messages", "200", "--backends", "sqlite"])
        .args(["--reuse", kept_arg, "--phases", "queries"])
        .output()
        .unwrap();
    assert!(!output.status.success());

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        use sqlx::Connection as _;
        let mut connection = sqlx::PgConnection::connect(&server).await.unwrap();
        sqlx::query(&format!("DROP DATABASE {database} WITH (FORCE)"))
            .execute(&mut connection)
            .await
            .unwrap();
    });
}
