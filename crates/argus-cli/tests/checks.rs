//! `argus checks`, `argus config approve` and `argus preflight` end to end:
//! the real binary on a real data directory (SQLite store, vault, audit
//! log), and for preflight a real daemon following a real anvil.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use argus_testkit::{Anvil, wait_for};
use serde_json::Value;

const MASTER: &str = "q7Vd0mJ3xR9sL2kP8wZ4tY6uB1nC5eA0fG3hI7jK9lM=";

struct Project {
    _dir: tempfile::TempDir,
    root: PathBuf,
    data: PathBuf,
    config: PathBuf,
}

fn project(rpc: &str, extra: &str) -> Project {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    std::fs::write(root.join("rules.yaml"), "rules: []\n").unwrap();
    let config = root.join("argus.yaml");
    std::fs::write(
        &config,
        format!(
            "data_dir: data\nchains:\n  - {{ chain: anvil, rpc: [\"{rpc}\"], confirmations: 0, start: 1, poll_interval: 100ms }}\nrules: [rules.yaml]\n{extra}"
        ),
    )
    .unwrap();
    Project {
        data: root.join("data"),
        root,
        config,
        _dir: dir,
    }
}

fn argus(p: &Project, master: bool) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_argus"));
    command
        .current_dir(&p.root)
        .env_remove("ARGUS_DATA_DIR")
        .env_remove("ARGUS_LOG")
        .env_remove("ARGUS_MASTER_KEY");
    if master {
        command.env("ARGUS_MASTER_KEY", MASTER);
    }
    command
}

fn run(p: &Project, master: bool, args: &[&str]) -> Output {
    let out = argus(p, master).args(args).output().unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn result<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["results"]
        .as_array()
        .or_else(|| doc["items"].as_array())
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {doc:#}"))
}

#[test]
fn an_approved_config_that_changes_fails_the_weekly_check_and_the_report_shows_the_follow_up() {
    let p = project("http://127.0.0.1:9", "");
    let config = p.config.to_str().unwrap();
    // Never approved: the weekly checklist fails (exit 1) on it.
    let never = run(
        &p,
        false,
        &["checks", "run", "weekly", "--json", "-c", config],
    );
    assert_eq!(never.status.code(), Some(1));
    assert_eq!(result(&json(&never), "config-audit")["status"], "fail");

    let approve = argus(&p, true)
        .args([
            "config",
            "approve",
            "--reason",
            "CR-7 reviewed",
            "-c",
            config,
        ])
        .output()
        .unwrap();
    assert!(
        approve.status.success(),
        "{}",
        String::from_utf8_lossy(&approve.stderr)
    );
    let approved = run(
        &p,
        false,
        &["checks", "run", "config-audit", "--json", "-c", config],
    );
    assert_eq!(approved.status.code(), Some(0));
    assert_eq!(result(&json(&approved), "config-audit")["status"], "ok");

    // A rule file changes after the approval.
    std::fs::write(p.root.join("rules.yaml"), "rules: []\n# changed\n").unwrap();
    let changed = run(
        &p,
        false,
        &["checks", "run", "weekly", "--json", "-c", config],
    );
    assert_eq!(changed.status.code(), Some(1));
    let audit = result(&json(&changed), "config-audit").clone();
    assert_eq!(audit["status"], "fail");
    assert_eq!(audit["severity"], "high");
    assert!(
        audit["details"]
            .to_string()
            .contains("rules.yaml changed since the approval"),
        "{audit:#}"
    );

    // The report covers the three runs; the first failure was followed by
    // a passing run, the last one was not.
    let report = argus(&p, false)
        .args([
            "--data-dir",
            p.data.to_str().unwrap(),
            "checks",
            "report",
            "--since",
            "1d",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    let report = json(&report);
    let selections: Vec<&str> = report["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["selection"].as_str().unwrap())
        .collect();
    assert_eq!(selections, ["weekly", "config-audit", "weekly"]);
    let failures = report["failures"].as_array().unwrap();
    let config_failures: Vec<&Value> = failures
        .iter()
        .filter(|f| f["check"] == "config-audit")
        .collect();
    assert_eq!(config_failures.len(), 2, "{failures:#?}");
    assert_eq!(
        config_failures[0]["resolved_by_run"],
        report["runs"][1]["id"]
    );
    assert!(config_failures[1]["resolved_by_run"].is_null());
    assert_eq!(config_failures[1]["alert_ids"].as_array().unwrap().len(), 1);
    let markdown = argus(&p, false)
        .args([
            "--data-dir",
            p.data.to_str().unwrap(),
            "checks",
            "report",
            "--since",
            "1d",
        ])
        .output()
        .unwrap();
    let markdown = String::from_utf8(markdown.stdout).unwrap();
    assert!(markdown.contains("| config-audit | high |"), "{markdown}");
    assert!(markdown.contains("**not resolved**"), "{markdown}");

    // The approval is in the audit log, with its actor and reason.
    let log = argus_audit::read_log(&argus_audit::AuditPaths::new(&p.data)).unwrap();
    let approvals: Vec<_> = log
        .entries()
        .filter_map(|e| e.payload.as_ref())
        .filter(|p| p.action == "config.approve")
        .collect();
    assert_eq!(approvals.len(), 1);
    assert_eq!(approvals[0].reason, "CR-7 reviewed");
}

#[test]
fn a_flipped_byte_in_the_audit_log_fails_the_daily_check() {
    let p = project("http://127.0.0.1:9", "");
    let config = p.config.to_str().unwrap();
    let created = argus(&p, true)
        .args([
            "--data-dir",
            p.data.to_str().unwrap(),
            "keys",
            "create",
            "--label",
            "guardian",
        ])
        .output()
        .unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );

    let daily = run(
        &p,
        true,
        &["checks", "run", "daily", "--json", "-c", config],
    );
    let doc = json(&daily);
    assert_eq!(result(&doc, "audit-log")["status"], "ok", "{doc:#}");
    assert_eq!(result(&doc, "keys-decrypt")["status"], "ok");
    // No master key: the vault's check is skipped, never passed.
    let blind = run(
        &p,
        false,
        &["checks", "run", "keys-decrypt", "--json", "-c", config],
    );
    assert_eq!(result(&json(&blind), "keys-decrypt")["status"], "skipped");

    // One byte of an entry's payload changes.
    let log_path = p.data.join("audit").join("audit.log");
    let mut bytes = std::fs::read(&log_path).unwrap();
    let at = bytes
        .windows(8)
        .position(|w| w == b"guardian")
        .expect("the key's label in the log");
    bytes[at] ^= 0x01;
    std::fs::write(&log_path, bytes).unwrap();
    let tampered = run(
        &p,
        false,
        &["checks", "run", "audit-log", "--json", "-c", config],
    );
    assert_eq!(tampered.status.code(), Some(1));
    let check = result(&json(&tampered), "audit-log").clone();
    assert_eq!(check["status"], "fail");
    assert_eq!(check["severity"], "critical");
}

fn chain_blocks(data: &Path) -> i64 {
    let db = data.join("argus.db");
    if !db.exists() {
        return 0;
    }
    rusqlite::Connection::open(db)
        .and_then(|c| c.query_row("SELECT COUNT(*) FROM chain_blocks", [], |r| r.get(0)))
        .unwrap_or(0)
}

#[test]
fn preflight_fails_on_a_failed_item_and_passes_when_all_pass() {
    let anvil = Anvil::start();
    anvil.mine(2);
    let abi = argus_testkit::testdata("abi/openzeppelin/ERC20.json");
    let p = project(
        &anvil.http_url(),
        &format!(
            "preflight:\n  test_command: [\"test\", \"-f\", \"tests-passed\"]\n  lint_paths: [\"{}\"]\n",
            abi.display()
        ),
    );
    let config = p.config.to_str().unwrap();

    // Nothing runs yet, no approval, the tests fail: exit 1.
    let before = argus(&p, false)
        .args(["preflight", "--json", "-c", config])
        .output()
        .unwrap();
    assert_eq!(
        before.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&before.stderr)
    );
    let doc = json(&before);
    assert_eq!(doc["passed"], false);
    assert_eq!(result(&doc, "tests")["status"], "fail");
    assert_eq!(result(&doc, "monitoring")["status"], "fail");
    assert_eq!(result(&doc, "config-audit")["status"], "fail");
    assert_eq!(result(&doc, "lint")["status"], "ok", "{doc:#}");
    assert_eq!(result(&doc, "coverage")["status"], "skipped");

    // The daemon follows the chain for a while.
    let mut daemon = argus(&p, false)
        .args(["run", "-q", "-c", config])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(
        "the daemon to record blocks",
        Duration::from_secs(60),
        || (chain_blocks(&p.data) > 0).then_some(()),
    );
    let _ = Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status();
    wait_for("the daemon to stop", Duration::from_secs(20), || {
        daemon.try_wait().ok().flatten()
    });

    let approve = argus(&p, true)
        .args(["config", "approve", "--reason", "release 1.2", "-c", config])
        .output()
        .unwrap();
    assert!(
        approve.status.success(),
        "{}",
        String::from_utf8_lossy(&approve.stderr)
    );
    std::fs::write(p.root.join("tests-passed"), "").unwrap();

    let after = argus(&p, false)
        .args(["preflight", "--json", "-c", config])
        .output()
        .unwrap();
    let doc = json(&after);
    assert_eq!(after.status.code(), Some(0), "{doc:#}");
    assert_eq!(doc["passed"], true);
    for name in ["tests", "lint", "monitoring", "config-audit"] {
        assert_eq!(result(&doc, name)["status"], "ok", "{name}: {doc:#}");
    }
    // Both preflights are kept as runs, without alerts.
    let report = argus(&p, false)
        .args(["checks", "report", "--since", "1h", "--json", "-c", config])
        .output()
        .unwrap();
    let report = json(&report);
    let triggers: Vec<&str> = report["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["trigger"].as_str().unwrap())
        .collect();
    assert_eq!(triggers, ["preflight", "preflight"]);
    assert_eq!(report["runs"][1]["id"], doc["run"]);
    let failures = report["failures"].as_array().unwrap();
    assert!(!failures.is_empty());
    assert!(
        failures
            .iter()
            .all(|f| f["alert_ids"].as_array().unwrap().is_empty())
    );
}

#[test]
fn a_key_used_outside_its_window_fails_the_unusual_access_check() {
    let p = project("http://127.0.0.1:9", "");
    let config = p.config.to_str().unwrap();
    let data = p.data.to_str().unwrap();
    // A window that does not hold the current hour.
    let hour = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .hour();
    let start = (hour + 2) % 24;
    let hours = format!("{start}-{}", start + 1);
    let created = argus(&p, true)
        .args([
            "--data-dir",
            data,
            "keys",
            "create",
            "--label",
            "ops",
            "--allow",
            "sign-any",
        ])
        .args([
            "--hours",
            &hours,
            "--time-zone",
            "UTC",
            "--outside",
            "allow-with-critical-signal",
        ])
        .output()
        .unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let quiet = run(
        &p,
        true,
        &["checks", "run", "unusual-access", "--json", "-c", config],
    );
    assert_eq!(result(&json(&quiet), "unusual-access")["status"], "ok");

    let signed = argus(&p, true)
        .args([
            "--data-dir",
            data,
            "keys",
            "sign",
            "ops",
            "--action",
            "sign-any",
            "--message",
            "hello",
        ])
        .output()
        .unwrap();
    assert!(
        signed.status.success(),
        "{}",
        String::from_utf8_lossy(&signed.stderr)
    );
    let flagged = run(
        &p,
        true,
        &["checks", "run", "unusual-access", "--json", "-c", config],
    );
    assert_eq!(flagged.status.code(), Some(1));
    let check = result(&json(&flagged), "unusual-access").clone();
    assert_eq!(check["status"], "fail");
    assert!(
        check["details"]
            .to_string()
            .contains("key ops used outside its policy window"),
        "{check:#}"
    );
    // Each run with the master key is in the audit log, with its results.
    let log = argus_audit::read_log(&argus_audit::AuditPaths::new(&p.data)).unwrap();
    let runs: Vec<_> = log
        .entries()
        .filter_map(|e| e.payload.as_ref())
        .filter(|p| p.action == "check.run")
        .collect();
    assert_eq!(runs.len(), 2);
    let last = runs[1].details.as_ref().unwrap();
    assert_eq!(last["selection"], "unusual-access");
    assert_eq!(last["results"][0]["status"], "fail");
}

/// Preflight's coverage item gates on `preflight.min_coverage`, and its
/// planned-addresses item fails for a plan on a chain nobody follows.
#[test]
fn preflight_gates_on_coverage_and_on_planned_addresses_nobody_watches() {
    let abi = argus_testkit::testdata("abi/openzeppelin/ERC20.json");
    let write = |p: &Project, min: f64| {
        std::fs::write(
            &p.config,
            format!(
                "data_dir: data\nchains:\n  - {{ chain: anvil, rpc: [\"http://127.0.0.1:9\"], confirmations: 0, start: 1 }}\nrules: [rules.yaml]\npreflight:\n  min_coverage: {min}\n"
            ),
        )
        .unwrap();
    };
    let p = project("http://127.0.0.1:9", "");
    std::fs::write(
        p.root.join("rules.yaml"),
        "rules:\n  - id: transfers\n    severity: info\n    match:\n      event: { contract: Token, signature: \"Transfer(address,address,uint256)\" }\n",
    )
    .unwrap();
    let config = p.config.to_str().unwrap();
    let data = p.data.to_str().unwrap();
    let preflight = |p: &Project| json(&run(p, false, &["preflight", "--json", "-c", config]));

    // Nothing registered: nothing to cover, nothing planned.
    write(&p, 1.0);
    let doc = preflight(&p);
    assert_eq!(result(&doc, "coverage")["status"], "skipped", "{doc:#}");
    assert_eq!(result(&doc, "planned-addresses")["status"], "skipped");

    let import = [
        "--data-dir",
        data,
        "registry",
        "import",
        abi.to_str().unwrap(),
        "--format",
        "abi",
        "--chain",
        "anvil",
        "--address",
        "0x5FbDB2315678afecb367f032d93F642f64180aa3",
        "--label",
        "Token",
    ];
    run(&p, false, &import);
    // One event of ERC-20's eight items is watched: over 1 %, under 99 %.
    let doc = preflight(&p);
    let coverage = result(&doc, "coverage");
    assert_eq!(coverage["status"], "ok", "{doc:#}");
    let figure = coverage["evidence"]["figure_bp"].as_u64().unwrap();
    assert!(figure > 100 && figure < 9_900, "{figure}");
    write(&p, 99.0);
    let doc = preflight(&p);
    assert_eq!(result(&doc, "coverage")["status"], "fail", "{doc:#}");

    // A plan on the followed chain is watched; one on mainnet is not.
    let plan = |chain: &str, label: &str| {
        run(
            &p,
            false,
            &[
                "--data-dir",
                data,
                "registry",
                "plan",
                "--chain",
                chain,
                "--label",
                label,
                "--deployer",
                "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
                "--nonce",
                "7",
                "--code-hash",
                &format!("0x{}", "ab".repeat(32)),
            ],
        )
    };
    plan("anvil", "Next");
    let doc = preflight(&p);
    assert_eq!(result(&doc, "planned-addresses")["status"], "ok", "{doc:#}");
    plan("mainnet", "Elsewhere");
    let doc = preflight(&p);
    let planned = result(&doc, "planned-addresses");
    assert_eq!(planned["status"], "fail", "{doc:#}");
    assert!(
        planned["details"][0]
            .as_str()
            .unwrap()
            .contains("Elsewhere"),
        "{planned:#}"
    );
}
