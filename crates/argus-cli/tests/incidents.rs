//! Incident response end to end: the policy checked by `argus validate`,
//! and the daemon on a real anvil going from an exploit-like transaction to
//! a paused OpenZeppelin token and a stopped bot without a person, with the
//! operators' commands and the audit log around it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

fn argus(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_argus"));
    command
        .env("ARGUS_DATA_DIR", data_dir)
        .env_remove("ARGUS_LOG")
        .env_remove("ARGUS_MASTER_KEY");
    command
}

const RULES: &str = "
rules:
  - id: drain
    severity: critical
    match:
      event:
        contract: any
        signature: Transfer(address,address,uint256)
";

#[test]
fn validate_refuses_a_bad_policy_naming_each_place() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yaml"), RULES).unwrap();
    let config = dir.path().join("argus.yaml");
    std::fs::write(
        &config,
        "chains:
  - { chain: anvil, rpc: [http://127.0.0.1:1] }
rules: [rules.yaml]
alerting:
  notifiers:
    ops: { type: webhook, url: \"http://127.0.0.1:1/hook\", secret: { env: ARGUS_TEST_HOOK_SECRET } }
incidents:
  severities:
    P0: { respond_within: 5m, escalation: [ops, nobody] }
  kinds:
    - { name: drain, rules: [drain, missing-rule], severity: P0, playbook: contain }
    - { name: other, severity: P7 }
  playbooks:
    contain:
      - { id: pause, pause: { chain: mainnet, contracts: affected, key: guardian } }
      - { id: stop, stop_bot: { bot: ghost }, after: [later] }
      - { id: later, run: { command: [] } }
  bots:
    arb: { signal: TERM }
",
    )
    .unwrap();
    let out = argus(&dir.path().join("data"))
        .env("ARGUS_TEST_HOOK_SECRET", "whsec-0123456789abcdef")
        .args(["validate", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = config.display().to_string();
    for (line, needle) in [
        (9, "no notifier `nobody`"),
        (11, "`missing-rule` matches no rule"),
        (12, "P7"),
        (15, "chain `mainnet` is not one of the `chains:` followed"),
        (16, "no bot `ghost`"),
        (16, "`later` is not a step before this one"),
        (17, "command is empty"),
        (19, "say how to stop it"),
    ] {
        let located = stderr
            .lines()
            .any(|l| l.contains(&format!("{file}:{line}:")) && l.contains(needle));
        assert!(located, "no `{needle}` at line {line} in:\n{stderr}");
    }

    // Fixed, the same policy is valid and counted.
    let fixed = std::fs::read_to_string(&config)
        .unwrap()
        .replace(", nobody]", "]")
        .replace(", missing-rule", "")
        .replace("    - { name: other, severity: P7 }\n", "")
        .replace("chain: mainnet", "chain: anvil")
        .replace("bot: ghost }, after: [later]", "bot: arb }")
        .replace("command: []", "command: [\"true\"]")
        .replace(
            "{ signal: TERM }",
            "{ kill_switch_file: /tmp/argus-test-stop }",
        );
    std::fs::write(&config, fixed).unwrap();
    let out = argus(&dir.path().join("data"))
        .env("ARGUS_TEST_HOOK_SECRET", "whsec-0123456789abcdef")
        .args(["validate", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("1 incident kind(s), 1 playbook(s)"),
        "{stdout}"
    );
}

// ------------------------------------------------------------ end to end

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::Duration;

use argus_testkit::{ALICE, Anvil, DEPLOYER, cast, testdata, wait_for};
use serde_json::{Value, json};

const MASTER_KEY: &str = "kR9vX2mQ7tL4wZ8pN3bY6cJ1hF5dS0aE";
const ATTACKER: &str = "0x90F79bf6EB2c4f870365E785982E1f101E93b906";

/// OpenZeppelin's compiled `ERC20PresetMinterPauser` (4.9.6), deployed by
/// DEPLOYER (who holds every role), with 1,000,000 tokens minted to ALICE.
fn deploy_oz_token(anvil: &Anvil) -> String {
    let artifact: Value = serde_json::from_str(
        &std::fs::read_to_string(testdata("abi/openzeppelin/ERC20PresetMinterPauser.json"))
            .unwrap(),
    )
    .unwrap();
    let bytecode = artifact["bytecode"].as_str().unwrap();
    let args = cast::calldata("constructor(string,string)", &["Guarded", "GRD"]);
    // `cast calldata` prefixes a selector; the constructor takes the rest.
    let init = format!("{bytecode}{}", &args[10..]);
    let token = format!("{:#x}", anvil.deploy(&init));
    let mint = cast::calldata(
        "mint(address,uint256)",
        &[ALICE, "1000000000000000000000000"],
    );
    anvil.receipt(&anvil.send(json!({ "to": token, "data": mint })));
    token
}

fn call(anvil: &Anvil, to: &str, signature: &str, args: &[&str]) -> String {
    anvil
        .rpc(
            "eth_call",
            json!([{ "to": to, "data": cast::calldata(signature, args) }, "latest"]),
        )
        .as_str()
        .unwrap()
        .to_owned()
}

fn paused(anvil: &Anvil, token: &str) -> bool {
    call(anvil, token, "paused()", &[]).ends_with('1')
}

struct Scene {
    _dir: tempfile::TempDir,
    root: PathBuf,
    data: PathBuf,
    config: PathBuf,
    token: String,
    bot: Child,
}

impl Drop for Scene {
    fn drop(&mut self) {
        let _ = self.bot.kill();
        let _ = self.bot.wait();
    }
}

/// A data directory with the token registered, a guardian key in the vault
/// holding PAUSER_ROLE, a "bot" (a real process with a pid file), and a
/// config whose policy makes a large transfer a P0 incident contained by
/// pausing the token and stopping the bot. `gate`: a first step that waits
/// for a file, so a test can act between detection and containment.
fn scene(anvil: &Anvil, gate: bool) -> Scene {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let data = root.join("data");
    let token = deploy_oz_token(anvil);
    let out = argus(&data)
        .args([
            "registry",
            "import",
            "--chain",
            "anvil",
            "--address",
            &token,
            "--label",
            "Guarded",
        ])
        .arg(testdata("abi/openzeppelin/ERC20PresetMinterPauser.json"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let out = argus(&data)
        .env("ARGUS_MASTER_KEY", MASTER_KEY)
        .args([
            "keys",
            "create",
            "--label",
            "guardian",
            "--allow",
            "sign-containment",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let out = argus(&data)
        .env("ARGUS_MASTER_KEY", MASTER_KEY)
        .args(["keys", "list", "--json"])
        .output()
        .unwrap();
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let guardian = listed["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|k| k["label"] == "guardian")
        .and_then(|k| k["address"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("no guardian in {listed}"));
    anvil.rpc("anvil_setBalance", json!([guardian, "0x56BC75E2D63100000"]));
    let role = call(anvil, &token, "PAUSER_ROLE()", &[]);
    let grant = cast::calldata("grantRole(bytes32,address)", &[&role, &guardian]);
    anvil.receipt(&anvil.send(json!({ "to": token, "data": grant })));

    let bot = Command::new("sleep").arg("600").spawn().unwrap();
    std::fs::write(root.join("bot.pid"), format!("{}\n", bot.id())).unwrap();

    std::fs::write(
        root.join("rules.yaml"),
        "rules:
  - id: drain
    severity: critical
    match:
      event:
        contract: Guarded
        signature: Transfer(address,address,uint256)
    condition: args.value >= uint256(\"100000000000000000000000\")
    title: 'Guarded: {{ args.value }} moved to {{ args.to }}'
",
    )
    .unwrap();
    let gate_step = if gate {
        format!(
            "      - id: gate\n        run: {{ command: [sh, -c, \"while [ ! -f {} ]; do sleep 0.05; done\"], timeout: 2m }}\n",
            root.join("gate").display()
        )
    } else {
        String::new()
    };
    let pause_after = if gate { "[gate]" } else { "[]" };
    let config = root.join("argus.yaml");
    std::fs::write(
        &config,
        format!(
            "data_dir: {data}
chains:
  - chain: anvil
    rpc: [{rpc}]
    confirmations: 0
    fetch: full
    start: {start}
    poll_interval: 200ms
rules: [rules.yaml]
incidents:
  kinds:
    - {{ name: funds-drained, rules: [drain], severity: P0, playbook: contain }}
  playbooks:
    contain:
{gate_step}      - id: pause
        pause: {{ chain: anvil, contracts: affected, key: guardian }}
        after: {pause_after}
      - id: stop-bot
        stop_bot: {{ bot: arb }}
        after: {pause_after}
  bots:
    arb: {{ pid_file: {pid}, kill_switch_file: {switch} }}
",
            data = data.display(),
            rpc = anvil.http_url(),
            start = anvil.block_number() + 1,
            pid = root.join("bot.pid").display(),
            switch = root.join("STOP").display(),
        ),
    )
    .unwrap();
    Scene {
        _dir: dir,
        root,
        data,
        config,
        token,
        bot,
    }
}

fn start_daemon(scene: &Scene) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(scene.root.join("daemon.log"))
        .unwrap();
    argus(&scene.data)
        .env("ARGUS_MASTER_KEY", MASTER_KEY)
        .args(["run", "--json", "-c"])
        .arg(&scene.config)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

fn stop_daemon(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = wait_for("the daemon to stop", Duration::from_secs(20), || {
        child.try_wait().ok().flatten()
    });
    assert!(
        status.success(),
        "the daemon did not stop cleanly: {status:?}"
    );
}

/// The exploit-like transaction: ALICE's tokens moved to an attacker.
fn drain(anvil: &Anvil, token: &str) {
    let transfer = cast::calldata(
        "transfer(address,uint256)",
        &[ATTACKER, "900000000000000000000000"],
    );
    anvil.receipt(&anvil.send(json!({ "from": ALICE, "to": token, "data": transfer })));
}

fn incidents_json(scene: &Scene) -> Vec<Value> {
    let out = argus(&scene.data)
        .args(["incidents", "list", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn show(scene: &Scene, id: i64) -> Value {
    let out = argus(&scene.data)
        .args(["incidents", "show", &id.to_string(), "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn daemon_log(scene: &Scene) -> String {
    std::fs::read_to_string(scene.root.join("daemon.log")).unwrap_or_default()
}

fn audit_actions(scene: &Scene) -> Vec<(String, String)> {
    let out = argus(&scene.data)
        .args(["audit", "tail", "-n", "200", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|e| {
            let payload = if e["payload"].is_object() {
                &e["payload"]
            } else {
                &e
            };
            (
                payload["action"].as_str().unwrap_or_default().to_owned(),
                payload["actor"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[test]
fn an_exploit_is_contained_without_a_person_and_unpaused_by_two() {
    let anvil = Anvil::start();
    let scene = scene(&anvil, false);
    let daemon = start_daemon(&scene);
    drain(&anvil, &scene.token);

    wait_for(
        "the token to be paused by the guardian",
        Duration::from_secs(60),
        || paused(&anvil, &scene.token).then_some(()),
    );
    let bot = scene.bot.id();
    wait_for("the bot to be stopped", Duration::from_secs(20), || {
        (!std::path::Path::new(&format!("/proc/{bot}")).exists()
            || std::fs::read_to_string(format!("/proc/{bot}/stat"))
                .is_ok_and(|s| s.contains(") Z ")))
        .then_some(())
    });
    assert!(
        scene.root.join("STOP").exists(),
        "the kill switch was written"
    );
    let incident = wait_for(
        "the incident to be contained",
        Duration::from_secs(20),
        || {
            incidents_json(&scene)
                .into_iter()
                .find(|i| i["state"] == "contained")
        },
    );
    let id = incident["id"].as_i64().unwrap();
    assert_eq!(incident["severity"], "P0");
    assert_eq!(incident["kind"], "funds-drained");
    assert!(
        incident["acknowledged_ms"].is_null(),
        "nobody acknowledged it: {incident}"
    );
    let detail = show(&scene, id);
    let steps: Vec<(&str, &str)> = detail["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["step_id"].as_str().unwrap(), s["state"].as_str().unwrap()))
        .collect();
    assert!(
        steps.contains(&("pause", "succeeded")),
        "{steps:?}\n{}",
        daemon_log(&scene)
    );
    assert!(steps.contains(&("stop-bot", "succeeded")), "{steps:?}");
    let txs = detail["transactions"].as_array().unwrap();
    assert_eq!(txs.len(), 1, "one pause transaction: {txs:?}");
    assert_eq!(txs[0]["status"], "confirmed");
    let contained = incident["contained_ms"].as_i64().unwrap();
    let opened = incident["opened_ms"].as_i64().unwrap();
    assert!(
        contained - opened < 5 * 60_000,
        "contained within the P0 response time"
    );

    // The evidence captured at detection verifies; the report holds the
    // figures a security lead hands on.
    let id_text = id.to_string();
    let evidence = wait_for("the evidence bundle", Duration::from_secs(30), || {
        show(&scene, id)["incident"]["evidence_root"]
            .as_str()
            .map(str::to_owned)
    });
    let out = argus(&scene.data)
        .args(["incidents", "evidence", "verify", &id_text])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let out = argus(&scene.data)
        .args(["incidents", "report", &id_text, "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["evidence"]["root"], evidence.as_str(), "{report}");
    let detect = report["figures"]["time_to_detect"]["ms"].as_i64().unwrap();
    let contain = report["figures"]["time_to_contain"]["ms"].as_i64().unwrap();
    assert!((0..60_000).contains(&detect), "time to detect {detect} ms");
    assert!(
        (0..5 * 60_000).contains(&contain),
        "time to contain {contain} ms"
    );
    assert!(
        report["figures"]["time_to_resolve"]["ms"].is_null(),
        "not resolved yet"
    );
    let out = argus(&scene.data)
        .args(["incidents", "report", &id_text])
        .output()
        .unwrap();
    let markdown = String::from_utf8_lossy(&out.stdout);
    assert!(
        markdown.contains("funds-drained") && markdown.contains(&evidence),
        "{markdown}"
    );

    // Unpausing is never one person's call.
    let as_user = |user: &str, args: &[&str]| {
        argus(&scene.data)
            .env("USER", user)
            .env("ARGUS_MASTER_KEY", MASTER_KEY)
            .args(args)
            .output()
            .unwrap()
    };
    let id_text = id.to_string();
    let out = as_user(
        "alice",
        &[
            "incidents",
            "unpause",
            &id_text,
            "--chain",
            "anvil",
            "--contract",
            "Guarded",
            "--key",
            "guardian",
            "--reason",
            "root cause fixed",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let step = show(&scene, id)["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["action"] == "unpause")
        .map(|s| s["step_id"].as_str().unwrap().to_owned())
        .unwrap();
    let out = as_user("alice", &["incidents", "approve", &id_text, &step]);
    assert!(out.status.success(), "{out:?}");
    let out = as_user("alice", &["incidents", "approve", &id_text, &step]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "the same operator twice is refused: {out:?}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("another operator must approve"));
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        paused(&anvil, &scene.token),
        "one approval unpauses nothing"
    );
    let out = as_user("bob", &["incidents", "approve", &id_text, &step]);
    assert!(out.status.success(), "{out:?}");
    wait_for(
        "the token to be unpaused after two approvals",
        Duration::from_secs(60),
        || (!paused(&anvil, &scene.token)).then_some(()),
    );

    let out = as_user(
        "carol",
        &[
            "incidents",
            "ack",
            &id_text,
            "--reason",
            "late, but here",
            "--json",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        doc["incident"]["state"], "contained",
        "acknowledging keeps the state it reached"
    );
    assert!(doc["incident"]["acknowledged_ms"].is_i64(), "{doc}");
    let last = doc["timeline"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["action"].as_str(), last["actor"].as_str()),
        (Some("incident.acknowledge"), Some("carol"))
    );

    stop_daemon(daemon);
    let actions = audit_actions(&scene);
    for (action, actor) in [
        ("incident.open", "argus"),
        ("incident.step.succeeded", "argus"),
        ("incident.contain", "argus"),
        ("incident.step.add", "alice"),
        ("incident.step.approve", "alice"),
        ("incident.step.approve", "bob"),
        ("incident.acknowledge", "carol"),
    ] {
        assert!(
            actions.iter().any(|(a, who)| a == action && who == actor),
            "no {action} by {actor} in the audit log: {actions:?}"
        );
    }
    let out = argus(&scene.data)
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn a_kill_9_between_detection_and_containment_still_contains_exactly_once() {
    let anvil = Anvil::start();
    let scene = scene(&anvil, true);
    let mut daemon = start_daemon(&scene);
    drain(&anvil, &scene.token);
    // Detected: the incident is open, its containment waits at the gate.
    wait_for("the incident to open", Duration::from_secs(60), || {
        incidents_json(&scene)
            .into_iter()
            .find(|i| i["state"] == "open")
    });
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    assert!(!paused(&anvil, &scene.token));
    std::fs::write(scene.root.join("gate"), "").unwrap();
    let daemon = start_daemon(&scene);
    wait_for(
        "the token to be paused after the restart",
        Duration::from_secs(60),
        || paused(&anvil, &scene.token).then_some(()),
    );
    let incident = wait_for(
        "the incident to be contained",
        Duration::from_secs(30),
        || {
            incidents_json(&scene)
                .into_iter()
                .find(|i| i["state"] == "contained")
        },
    );
    stop_daemon(daemon);
    assert_eq!(
        incidents_json(&scene).len(),
        1,
        "one incident, not a second one after the restart"
    );
    let detail = show(&scene, incident["id"].as_i64().unwrap());
    assert_eq!(
        detail["transactions"].as_array().unwrap().len(),
        1,
        "{detail}"
    );
    // On chain: exactly one Paused event.
    let logs = anvil.rpc(
        "eth_getLogs",
        json!([{ "address": scene.token, "fromBlock": "0x0", "toBlock": "latest",
                  "topics": ["0x62e78cea01bee320cd4e420270b5ea74000d11b0c9f74754ebdbfc544b05a258"] }]),
    );
    assert_eq!(
        logs.as_array().unwrap().len(),
        1,
        "one Paused(address) event: {logs}"
    );
    let _ = DEPLOYER;
}

#[test]
fn a_failing_responder_is_retried_with_backoff_then_escalated_to_the_pager() {
    let anvil = Anvil::start();
    let scene = scene(&anvil, false);
    let receiver = argus_testkit::Receiver::start();
    let attempts = scene.root.join("attempts");
    let config = std::fs::read_to_string(&scene.config).unwrap();
    let (head, _) = config.split_once("incidents:").unwrap();
    std::fs::write(
        &scene.config,
        format!(
            "{head}alerting:
  dedup_window: 0s
  retry: {{ initial: 50ms, max: 500ms }}
  notifiers:
    pager: {{ type: webhook, url: \"{url}\", secret: {{ env: ARGUS_TEST_HOOK_SECRET }} }}
incidents:
  severities:
    P0: {{ escalation: [pager] }}
  kinds:
    - {{ name: funds-drained, rules: [drain], severity: P0, playbook: contain }}
  playbooks:
    contain:
      - id: flaky
        run: {{ command: [sh, -c, \"echo attempt >> {attempts}; exit 3\"] }}
        retry: {{ attempts: 3, backoff: 100ms, max_backoff: 200ms }}
",
            url = receiver.url("/pager"),
            attempts = attempts.display(),
        ),
    )
    .unwrap();
    let log = std::fs::File::create(scene.root.join("daemon.log")).unwrap();
    let daemon = argus(&scene.data)
        .env("ARGUS_MASTER_KEY", MASTER_KEY)
        .env("ARGUS_TEST_HOOK_SECRET", "whsec-0123456789abcdef")
        .args(["run", "-c"])
        .arg(&scene.config)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    drain(&anvil, &scene.token);
    let escalation = wait_for(
        "the escalation at the pager",
        Duration::from_secs(60),
        || {
            receiver.requests().into_iter().find_map(|r| {
                let body: Value = serde_json::from_slice(&r.body).ok()?;
                body.to_string()
                    .contains("argus.incident.escalation")
                    .then_some(body)
            })
        },
    );
    stop_daemon(daemon);
    let text = escalation.to_string();
    assert!(
        text.contains("step flaky failed after 3 attempt(s)"),
        "{escalation:#}\n{}",
        daemon_log(&scene)
    );
    let tried = std::fs::read_to_string(&attempts).unwrap();
    assert_eq!(tried.lines().count(), 3, "three attempts: {tried:?}");
    let incident = &incidents_json(&scene)[0];
    assert_eq!(incident["escalation_level"], 1, "{incident}");
    assert_eq!(
        incident["state"], "open",
        "nothing contained it: {incident}"
    );
    let timeline = show(&scene, incident["id"].as_i64().unwrap())["timeline"].clone();
    let retries = timeline
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "step.retry")
        .count();
    assert_eq!(retries, 2, "{timeline:#}");
}
