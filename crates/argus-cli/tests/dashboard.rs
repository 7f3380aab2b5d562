//! The dashboard in a real browser (Debian's chromium through
//! chromedriver), served by a real `argus run` that follows a real anvil:
//! a responder logs in with a token, sees an alert that fires after the
//! page loaded appear without a reload, opens the incident it belongs to
//! and acknowledges it, and silences the rule (the store then says who
//! did both, by the token's owner); the public status page shows none of
//! the configuration.
//! Screenshots (desktop and a phone-sized window) are kept under
//! `$CARGO_TARGET_DIR/test-output/dashboard/` for a person to review.
//!
//! Without chromium the test fails saying how to install it, unless
//! `ARGUS_SKIP_BROWSER=1` is set (then it prints that it skipped).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use argus_testkit::{
    ALICE, Anvil, BOB, Browser, DEPLOYER, TOKEN, cast, test_output, testdata, wait_for,
};
use serde_json::{Value, json};

fn argus(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_argus"));
    command
        .env("ARGUS_DATA_DIR", data_dir)
        .env_remove("ARGUS_LOG")
        .env_remove("ARGUS_MASTER_KEY");
    command
}

const RULE: &str = "drain-token";

/// A large transfer of the sample token to BOB; the alert's title names
/// the amount, so each transfer's alert is told apart on the page.
fn drain(anvil: &Anvil, amount: u128) -> String {
    let data = cast::calldata("transfer(address,uint256)", &[BOB, &amount.to_string()]);
    let hash = anvil.send(json!({ "from": DEPLOYER, "to": TOKEN, "data": data, "gas": "0x30000" }));
    anvil.receipt(&hash);
    hash
}

struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The API's base URL, from the line `argus run` prints when it binds.
    fn base_url(&self) -> String {
        wait_for(
            "argus run to serve its API",
            Duration::from_secs(60),
            || {
                let log = self.log();
                let line = log
                    .lines()
                    .find(|l| l.contains("serving the API on http://"))?;
                let rest = line.split("http://").nth(1)?;
                Some(format!("http://{}", rest.trim().trim_end_matches('/')))
            },
        )
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let stopped = wait_for("the daemon to stop", Duration::from_secs(20), || {
            self.child.try_wait().ok().flatten()
        });
        if !stopped.success() && !std::thread::panicking() {
            panic!(
                "the daemon did not stop cleanly: {stopped:?}\n{}",
                self.log()
            );
        }
    }
}

/// `argus incidents show <id> --json`, once the incident exists.
fn incident(data: &Path, id: i64) -> Option<Value> {
    let out = argus(data)
        .args(["incidents", "show", &id.to_string(), "--json"])
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).unwrap())
}

fn shot(browser: &Browser, name: &str) -> PathBuf {
    let path = test_output("dashboard").join(format!("{name}.png"));
    browser.screenshot(&path);
    eprintln!("screenshot: {}", path.display());
    path
}

/// A responder's token for `name`: `argus tokens create --role responder`.
fn responder_token(data: &Path, name: &str) -> String {
    let out = argus(data)
        .args([
            "tokens",
            "create",
            "--name",
            name,
            "--role",
            "responder",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let made: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(made["role"], "responder", "{made}");
    made["token"].as_str().unwrap().to_owned()
}

#[test]
fn a_responder_sees_an_alert_live_acknowledges_its_incident_and_silences_its_rule_in_a_browser() {
    let Some(browser) = Browser::start_or_skip("dashboard") else {
        return;
    };
    let anvil = Anvil::start();
    anvil.deploy_sample_project();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = argus(&data)
        .args(["registry", "import"])
        .arg(testdata("foundry-project"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    std::fs::write(
        dir.path().join("rules.yaml"),
        format!(
            "rules:
  - id: {RULE}
    description: Tokens leave the treasury
    severity: critical
    match:
      event:
        contract: Token
        signature: Transfer(address,address,uint256)
    condition: args.value >= uint256(\"1000000\")
    title: 'Token drained: {{{{ args.value }}}} moved'
"
        ),
    )
    .unwrap();
    let config = dir.path().join("argus.yaml");
    let config_doc = json!({
        "data_dir": data,
        "chains": [anvil.follow_config()],
        "rules": ["rules.yaml"],
        "incidents": {
            "kinds": [{ "name": "treasury-drained", "rules": [RULE], "severity": "P0" }],
        },
        "server": {
            "listen": "127.0.0.1:0",
            "public": {
                "title": "Sample status",
                "systems": [{ "name": "Sample token", "chains": ["anvil"] }],
            },
        },
    });
    std::fs::write(&config, config_doc.to_string()).unwrap();
    let token = responder_token(&data, "alice-oncall");

    let log = dir.path().join("daemon.log");
    let child = argus(&data)
        .args(["run", "-c"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let daemon = Daemon { child, log };
    let base = daemon.base_url();

    // The first drain opens incident 1 before anyone looks.
    drain(&anvil, 5_000_000);
    let opened = wait_for("incident 1 to open", Duration::from_secs(60), || {
        incident(&data, 1).filter(|doc| doc["incident"]["state"] == "open")
    });
    assert_eq!(opened["incident"]["severity"], "P0", "{opened}");

    // Log in.
    browser.set_window_size(1280, 900);
    browser.goto(&format!("{base}/"));
    let field = browser.wait_for_element("#token", Duration::from_secs(20));
    // A wrong token is refused on the login box, with what to do.
    browser.send_keys(&field, "argus_0000000000000000_ffffffffffffffff");
    browser.click_on("#login-button", Duration::from_secs(10));
    browser.wait_for_text("#login-message", "refused", Duration::from_secs(20));
    let field = browser.find("#token").unwrap();
    browser.clear(&field);
    browser.send_keys(&field, &token);
    browser.click_on("#login-button", Duration::from_secs(10));
    let recent = browser.wait_for_text("#recent-alerts", "5000000 moved", Duration::from_secs(20));
    assert!(
        recent.contains("Critical"),
        "severity shown in words: {recent}"
    );
    browser.wait_for_text("#live", "live", Duration::from_secs(20));
    browser.wait_for_text("#open-incidents", "#1", Duration::from_secs(20));
    shot(&browser, "overview-desktop");

    // An alert fired after the page loaded arrives without a reload: the
    // marker set on this document survives.
    browser.execute("window.argusTestMarker = 'same page'; return true;", &[]);
    drain(&anvil, 7_000_000);
    browser.wait_for_text("#recent-alerts", "7000000 moved", Duration::from_secs(60));
    let marker = browser.execute("return window.argusTestMarker || null;", &[]);
    assert_eq!(marker, "same page", "the page was reloaded");
    let chart = browser.execute(
        "return document.querySelectorAll('#alerts-chart rect.bar-critical').length;",
        &[],
    );
    assert!(
        chart.as_u64().unwrap_or(0) >= 1,
        "no critical bar in the chart"
    );

    // Open the incident and acknowledge it.
    browser.click_on("#open-incidents a", Duration::from_secs(10));
    browser.wait_for_text("#incident-state", "open", Duration::from_secs(20));
    browser.wait_for_text("#timeline", "incident.open", Duration::from_secs(20));
    shot(&browser, "incident-desktop");
    browser.click_on("#ack", Duration::from_secs(10));
    browser.wait_for_text("#incident-state", "acknowledged", Duration::from_secs(20));
    let acked = incident(&data, 1).unwrap();
    assert_eq!(acked["incident"]["state"], "acknowledged", "{acked}");
    let by = acked["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["action"].as_str().is_some_and(|a| a.contains("ack")))
        .unwrap_or_else(|| panic!("no acknowledgement in the timeline: {acked}"));
    assert_eq!(by["actor"], "alice-oncall", "{by}");

    // Silence the rule from the alerts page; the store says who did.
    browser.goto(&format!("{base}/dashboard/#/alerts"));
    browser.wait_for_text("#alerts", "7000000 moved", Duration::from_secs(20));
    browser.click_on("#alerts tbody tr button", Duration::from_secs(10));
    let reason = browser.wait_for_element("#alerts input[name=reason]", Duration::from_secs(10));
    browser.send_keys(&reason, "known drill");
    browser.click_on("#alerts button.danger", Duration::from_secs(10));
    browser.wait_for_text("#silences", RULE, Duration::from_secs(20));
    let out = argus(&data)
        .args(["alerts", "silence", "list", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.contains("alice-oncall"), "{listed}");
    assert!(listed.contains("known drill"), "{listed}");
    shot(&browser, "alerts-desktop");

    // A phone at 3 a.m.: one column, the same page.
    browser.set_window_size(390, 844);
    shot(&browser, "incident-phone");
    browser.goto(&format!("{base}/dashboard/#/overview"));
    browser.wait_for_text("#recent-alerts", "7000000 moved", Duration::from_secs(20));
    let columns = browser.execute(
        "return getComputedStyle(document.querySelector('.grid')).gridTemplateColumns.split(' ').length;",
        &[],
    );
    assert_eq!(columns, 1, "one column on a phone");
    shot(&browser, "overview-phone");

    // The public page hides the configuration.
    browser.goto(&format!("{base}/status"));
    let text = browser
        .execute("return document.body.innerText;", &[])
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(text.contains("Sample token"), "{text}");
    assert!(text.contains("An incident is open"), "{text}");
    let rpc = anvil.http_url();
    let hidden = [
        RULE,
        "Token drained",
        rpc.as_str(),
        rpc.trim_start_matches("http://"),
        TOKEN,
        BOB,
        ALICE,
        DEPLOYER,
    ];
    for secret in hidden {
        assert!(
            !text.to_lowercase().contains(&secret.to_lowercase()),
            "the public page shows `{secret}`:\n{text}"
        );
    }
    shot(&browser, "status-phone");
    drop(daemon);
}
