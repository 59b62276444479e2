//! The monitoring files under `deploy/`: the Prometheus scrape configuration and alert rules,
//! the Grafana dashboard and provisioning. They parse, they name the metrics the hub exports
//! (the table of `docs/metrics.md`, which `tests/metrics.rs` checks against a real scrape), and
//! they hold the alerts the operations guide promises. No YAML parser is among the workspace's
//! dependencies, so the YAML files get a structural check; `promtool` checks them too where it
//! is installed. (A module of the `deploy` test binary.)

use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;

use serde_json::Value;

fn repo_file(path: &str) -> String {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// The metric names in the first column of `docs/metrics.md`'s table.
fn documented_metrics() -> BTreeSet<String> {
    let names: BTreeSet<String> = repo_file("docs/metrics.md")
        .lines()
        .filter_map(|line| line.strip_prefix("| `hub_"))
        .filter_map(|rest| rest.split('`').next())
        .map(|name| format!("hub_{name}"))
        .collect();
    assert!(names.len() >= 10, "{names:?}");
    names
}

/// The hub metrics an expression reads (histogram series by their family's name).
fn metrics_in(expression: &str) -> BTreeSet<String> {
    let pattern = regex::Regex::new(r"\bhub_[a-z_]+").unwrap();
    pattern
        .find_iter(expression)
        .map(|m| {
            let name = m.as_str();
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .unwrap_or(name)
                .to_owned()
        })
        .collect()
}

/// Parentheses, brackets and braces of a PromQL expression balance.
fn balanced(expression: &str) -> bool {
    let mut open = Vec::new();
    for c in expression.chars() {
        match c {
            '(' | '[' | '{' => open.push(c),
            ')' | ']' | '}' => {
                let expected = match c {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                if open.pop() != Some(expected) {
                    return false;
                }
            }
            _ => {}
        }
    }
    open.is_empty()
}

/// A structural check of block-style YAML as the deploy files write it: spaces only, even
/// indentation that deepens only under a key that opens a block or a list item, every line a
/// `key: value`, a `key:`, a list item or the text of a `|` block, and well-formed quoted and
/// flow-sequence values.
fn check_yaml(text: &str) -> Result<(), String> {
    let key = regex::Regex::new(r"^[A-Za-z_][A-Za-z0-9_.\-]*$").unwrap();
    let mut text_block_under: Option<usize> = None;
    let (mut previous_indent, mut previous_opens) = (0, true);
    for (index, line) in text.lines().enumerate() {
        let at = |why: &str| format!("line {}: {why}: {line:?}", index + 1);
        if line.contains('\t') {
            return Err(at("a tab"));
        }
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if let Some(under) = text_block_under {
            if trimmed.is_empty() || indent > under {
                continue;
            }
            text_block_under = None;
        }
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if indent % 2 != 0 {
            return Err(at("odd indentation"));
        }
        if indent > previous_indent && !previous_opens {
            return Err(at("indented under a line that opens no block"));
        }
        let item = trimmed.strip_prefix("- ");
        let entry = item.unwrap_or(trimmed);
        let opens = match entry.split_once(':') {
            Some((name, value))
                if key.is_match(name) && (value.is_empty() || value.starts_with(' ')) =>
            {
                let value = value.trim();
                if value == "|" || value == ">" {
                    text_block_under = Some(indent + if item.is_some() { 2 } else { 0 });
                    false
                } else {
                    check_scalar(value).map_err(|why| at(&why))?;
                    value.is_empty() || item.is_some()
                }
            }
            _ if item.is_some() => {
                check_scalar(entry).map_err(|why| at(&why))?;
                false
            }
            _ => return Err(at("neither `key: value` nor a list item")),
        };
        (previous_indent, previous_opens) = (indent, opens);
    }
    Ok(())
}

fn check_scalar(value: &str) -> Result<(), String> {
    let value = match value.split_once(" #") {
        Some((value, _)) if !value.starts_with('"') => value.trim(),
        _ => value,
    };
    if value.starts_with('"') && (value.len() < 2 || !value.ends_with('"')) {
        return Err("an unterminated quoted string".into());
    }
    if value.starts_with('[') && serde_json::from_str::<Vec<Value>>(value).is_err() {
        return Err("a flow sequence that does not parse".into());
    }
    if value.starts_with('{') {
        return Err("a value that YAML would read as a flow mapping: quote it".into());
    }
    Ok(())
}

#[test]
fn the_yaml_check_finds_broken_files() {
    assert!(check_yaml("a:\n  b: 1\n  c:\n    - \"x\"\n    - y: [\"1\"]\n      z: 2\n").is_ok());
    for broken in [
        "a:\n\tb: 1\n",
        "a:\n   b: 1\n",
        "a: 1\n  b: 2\n",
        "a: \"open\n",
        "a: [\"x\", \n",
        "summary: {{ $labels.x }}\n",
        "just words\n",
    ] {
        assert!(check_yaml(broken).is_err(), "{broken:?}");
    }
}

#[test]
fn the_prometheus_configuration_scrapes_every_process_with_the_token_file() {
    let config = repo_file("deploy/prometheus/prometheus.yml");
    check_yaml(&config).unwrap_or_else(|why| panic!("prometheus.yml: {why}"));
    for top in ["global:", "rule_files:", "scrape_configs:"] {
        assert!(config.lines().any(|l| l == top), "{top}");
    }
    assert!(config.contains("  - alerts.yml\n"));
    assert!(config.contains("- job_name: hub\n"));
    assert!(config.contains("metrics_path: /metrics\n"));
    assert!(config.contains("type: Bearer\n"));
    assert!(config.contains("credentials_file: /etc/prometheus/metrics-token\n"));
    assert!(
        !config.contains("credentials:"),
        "the token comes from a file, never from the configuration"
    );
    let mut roles = HashSet::new();
    let lines: Vec<&str> = config.lines().collect();
    for (index, line) in lines.iter().enumerate() {
        let Some(targets) = line.trim_start().strip_prefix("- targets: ") else {
            continue;
        };
        let targets: Vec<String> = serde_json::from_str(targets).expect("a target list");
        assert!(!targets.is_empty());
        for target in &targets {
            let (_, port) = target.rsplit_once(':').expect("host:port");
            port.parse::<u16>().expect("a port");
        }
        let role = lines[index + 2]
            .trim()
            .strip_prefix("role: ")
            .expect("a role");
        roles.insert(role.to_owned());
    }
    assert_eq!(
        roles,
        HashSet::from(["api", "projector", "dispatcher"].map(str::to_owned))
    );
}

#[test]
fn the_alerts_cover_a_down_hub_projection_lag_and_dispatch_failures() {
    let rules = repo_file("deploy/prometheus/alerts.yml");
    check_yaml(&rules).unwrap_or_else(|why| panic!("alerts.yml: {why}"));
    assert!(rules.lines().any(|l| l == "groups:"));
    let documented = documented_metrics();
    // Each alert's expression: the `expr:` line, or the `|` block under it.
    let mut alerts = Vec::new();
    let lines: Vec<&str> = rules.lines().collect();
    for (index, line) in lines.iter().enumerate() {
        let Some(name) = line.trim_start().strip_prefix("- alert: ") else {
            continue;
        };
        let expr_line = lines[index..]
            .iter()
            .position(|l| l.trim_start().starts_with("expr:"))
            .map(|offset| index + offset)
            .expect("an expr");
        let inline = lines[expr_line].trim_start()["expr:".len()..].trim();
        let expression = if inline == "|" {
            let indent = lines[expr_line].len() - lines[expr_line].trim_start().len();
            lines[expr_line + 1..]
                .iter()
                .take_while(|l| l.len() - l.trim_start().len() > indent)
                .map(|l| l.trim())
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            inline.to_owned()
        };
        assert!(balanced(&expression), "{name}: {expression}");
        for metric in metrics_in(&expression) {
            assert!(documented.contains(&metric), "{name} reads {metric}");
        }
        alerts.push((name.to_owned(), expression));
    }
    let find = |name: &str| {
        alerts
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, e)| e.as_str())
            .unwrap_or_else(|| panic!("alert {name} missing: {alerts:?}"))
    };
    assert_eq!(find("HubDown"), "up{job=\"hub\"} == 0");
    let lag = find("HubProjectionLagging");
    assert!(
        lag.contains("hub_projection_lag_seconds") && lag.ends_with("> 5"),
        "{lag}"
    );
    let failures = find("HubDispatchFailures");
    for part in [
        "hub_dispatch_outcomes_total{outcome=\"failed\"}[15m]",
        "hub_dispatch_outcomes_total[15m]",
        "> 0.05",
    ] {
        assert!(failures.contains(part), "{failures}");
    }
}

#[test]
fn the_dashboard_has_a_panel_for_every_metric() {
    let dashboard: Value =
        serde_json::from_str(&repo_file("deploy/grafana/hub-dashboard.json")).expect("JSON");
    assert!(dashboard["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(dashboard["uid"].as_str().is_some_and(|u| !u.is_empty()));
    let panels = dashboard["panels"].as_array().expect("panels");
    let mut ids = HashSet::new();
    let mut used = BTreeSet::new();
    let mut reads_up = false;
    for panel in panels {
        let title = panel["title"].as_str().expect("a title");
        assert!(ids.insert(panel["id"].as_u64().expect("an id")), "{title}");
        for field in ["x", "y", "w", "h"] {
            assert!(panel["gridPos"][field].is_u64(), "{title}: gridPos.{field}");
        }
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(panel["datasource"]["type"], "prometheus", "{title}");
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}");
        for target in targets {
            let expression = target["expr"].as_str().expect("an expr");
            assert!(balanced(expression), "{title}: {expression}");
            reads_up |= expression.starts_with("up{");
            used.extend(metrics_in(expression));
        }
    }
    assert!(reads_up, "a panel shows which processes are up");
    let documented = documented_metrics();
    assert_eq!(
        used, documented,
        "the dashboard reads exactly the documented metrics"
    );
}

#[test]
fn the_grafana_provisioning_files_are_well_formed() {
    for path in [
        "deploy/grafana/provisioning/datasources/prometheus.yml",
        "deploy/grafana/provisioning/dashboards/hub.yml",
    ] {
        check_yaml(&repo_file(path)).unwrap_or_else(|why| panic!("{path}: {why}"));
    }
}

/// Runs `promtool` with `args`: `None` when it is not installed, else whether it succeeded
/// (with its output).
fn promtool(args: &[&std::ffi::OsStr]) -> Option<(bool, String)> {
    let output = std::process::Command::new("promtool")
        .args(args)
        .output()
        .ok()?;
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Some((output.status.success(), printed))
}

/// `promtool` (Prometheus's own checker) accepts the configuration, the rules and every
/// dashboard expression (as recording rules), where it is installed; without it there is
/// nothing more to check.
#[test]
fn promtool_accepts_the_configuration_where_installed() {
    let work = tempfile::tempdir().unwrap();
    let token = work.path().join("metrics-token");
    std::fs::write(&token, "token\n").unwrap();
    let config = repo_file("deploy/prometheus/prometheus.yml")
        .replace("/etc/prometheus/metrics-token", token.to_str().unwrap());
    std::fs::write(work.path().join("prometheus.yml"), config).unwrap();
    std::fs::write(
        work.path().join("alerts.yml"),
        repo_file("deploy/prometheus/alerts.yml"),
    )
    .unwrap();
    let dashboard: Value =
        serde_json::from_str(&repo_file("deploy/grafana/hub-dashboard.json")).unwrap();
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    let expressions = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|panel| panel["targets"].as_array().cloned().unwrap_or_default());
    for (index, target) in expressions.enumerate() {
        rules.push_str(&format!(
            "      - record: dashboard_expression_{index}\n        expr: {}\n",
            target["expr"]
        ));
    }
    std::fs::write(work.path().join("dashboard.yml"), rules).unwrap();
    let check = |what: &str, file: &str| {
        let path = work.path().join(file);
        promtool(&["check".as_ref(), what.as_ref(), path.as_os_str()])
    };
    for (what, file) in [
        ("config", "prometheus.yml"),
        ("rules", "alerts.yml"),
        ("rules", "dashboard.yml"),
    ] {
        match check(what, file) {
            None => {
                eprintln!("promtool is not installed: skipped");
                return;
            }
            Some((ok, printed)) => assert!(ok, "promtool check {what} {file}: {printed}"),
        }
    }
}
