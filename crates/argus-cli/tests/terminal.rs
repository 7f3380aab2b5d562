//! What a chain says cannot take over the operator's terminal: an event
//! string holding `ESC[2J` (clear the screen), `\r` and `\n` and a fake
//! alert line, used in a rule's title, reaches `argus run`'s stdout escaped.
//!
//! Real parts: anvil, a contract deployed on it that logs its calldata as
//! `Note(string)`, and `argus run` as a process.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use argus_testkit::{Anvil, DEPLOYER, abi_string, noter_init_code};
use serde_json::json;

/// The message a hostile contract emits.
const HOSTILE: &str = "hello\x1b[2J\x1b[H\rCRITICAL ALL CLEAR\nLOW      fired     fake\u{202e}";

fn argus(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_argus"));
    command
        .env("ARGUS_DATA_DIR", data_dir)
        .env_remove("ARGUS_LOG")
        .env_remove("ARGUS_MASTER_KEY");
    command
}

#[test]
fn an_event_string_from_the_chain_reaches_the_terminal_escaped() {
    let anvil = Anvil::start();
    let noter = anvil.deploy(&noter_init_code());
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let abi = dir.path().join("Noter.json");
    std::fs::write(
        &abi,
        json!([{
            "type": "event", "name": "Note", "anonymous": false,
            "inputs": [{ "name": "message", "type": "string", "indexed": false }],
        }])
        .to_string(),
    )
    .unwrap();
    let out = argus(&data_dir)
        .args(["registry", "import"])
        .arg(&abi)
        .args(["--chain", "anvil", "--label", "Noter", "--address"])
        .arg(format!("{noter:#x}"))
        .output()
        .unwrap();
    assert!(out.status.success(), "import: {out:?}");
    std::fs::write(
        dir.path().join("rules.yaml"),
        r#"
rules:
  - id: note
    severity: low
    match: { event: { contract: Noter, signature: Note } }
    title: "note: {{args.message}}"
"#,
    )
    .unwrap();
    let config = json!({
        "data_dir": data_dir,
        "chains": [{
            "chain": "anvil",
            "rpc": [anvil.http_url()],
            "confirmations": 0,
            "start": anvil.block_number() + 1,
            "poll_interval": "100ms",
        }],
        "rules": ["rules.yaml"],
    });
    let config_path = dir.path().join("argus.yaml");
    std::fs::write(&config_path, config.to_string()).unwrap();

    let mut child = argus(&data_dir)
        .args(["run", "-c"])
        .arg(&config_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        // Raw bytes, split on the newline only: a raw `\r` or ESC must show.
        for line in BufReader::new(stdout).split(b'\n') {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    // Give the daemon a moment to start following, then make the event.
    std::thread::sleep(Duration::from_millis(500));
    anvil.send(json!({ "from": DEPLOYER, "to": format!("{noter:#x}"), "data": abi_string(HOSTILE), "gas": "0x100000" }));

    let line = received
        .recv_timeout(Duration::from_secs(30))
        .expect("argus run printed the alert");
    let _ = child.kill();
    let _ = child.wait();
    let mut all = vec![line];
    all.extend(received.try_iter());
    let text = String::from_utf8(all.join(&b'\n')).unwrap();
    assert!(
        !text
            .chars()
            .any(|c| c.is_control() && c != '\n' || c == '\u{202e}'),
        "a raw control or bidi character reached stdout: {text:?}"
    );
    assert_eq!(text.lines().count(), 1, "one alert, one line: {text:?}");
    let line = text.lines().next().unwrap();
    assert!(
        line.starts_with("LOW      stored    note: note: hello"),
        "{line}"
    );
    assert!(line.contains("\\u{1b}[2J"), "ESC is shown escaped: {line}");
    assert!(line.contains("\\r") && line.contains("\\n"), "{line}");
}
