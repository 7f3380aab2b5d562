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
