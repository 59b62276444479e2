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
        let memory = backend["memory"].as_array().unwrap();
        assert_eq!(
            memory.len(),
            8,
            "{name}: three phases, two in-process, two HTTP load cells and one hot cell"
        );
        for phase in memory {
            positive(&phase["peak_mib"], "peak memory");
        }
    }
}
