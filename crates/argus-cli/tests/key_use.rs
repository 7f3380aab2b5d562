//! A bot's key used elsewhere, end to end through `argus run`: the bot
//! reports its transaction to `POST /api/bots/arb/submissions` with a
//! responder token of its own, and only the transaction another process
//! sent from the same key becomes an alert (`argus.key-use.arb`, critical).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use argus_testkit::{ALICE, Anvil, BOB, Lines, hex_u64, wait_for};
use serde_json::{Value, json};

fn argus(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_argus"));
    command
        .env("ARGUS_DATA_DIR", data_dir)
        .env_remove("ARGUS_MASTER_KEY")
        .env_remove("ARGUS_LOG");
    command
}

fn token(data_dir: &Path, name: &str, role: &str) -> String {
    let out = argus(data_dir)
        .args(["tokens", "create", "--name", name, "--role", role, "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let made: Value = serde_json::from_slice(&out.stdout).unwrap();
    made["token"].as_str().unwrap().to_owned()
}

/// One request over a fresh connection: status and JSON body.
fn http(
    addr: SocketAddr,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let text = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    let json = serde_json::from_str(text.trim())
        .ok()
        .or_else(|| {
            text.lines()
                .find_map(|line| serde_json::from_str::<Value>(line.trim()).ok())
                .filter(Value::is_object)
        })
        .unwrap_or(Value::Null);
    (status, json)
}

#[test]
fn a_bot_reporting_over_the_api_is_quiet_and_a_second_sender_is_critical() {
    let anvil = Anvil::start();
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let bot_token = token(&data_dir, "arb-bot", "responder");
    let viewer = token(&data_dir, "grafana", "viewer");
    let config = json!({
        "data_dir": data_dir,
        "chains": [anvil.follow_config()],
        "server": { "listen": "127.0.0.1:0" },
        "incidents": { "bots": { "arb": {
            "kill_switch_file": "arb.stop",
            "wallets": [ALICE],
            "chain": "anvil",
            "key_use": {},
        } } },
    });
    let config_path = dir.path().join("argus.yaml");
    std::fs::write(&config_path, config.to_string()).unwrap();
    let mut child = argus(&data_dir)
        .args(["run", "--quiet", "-c"])
        .arg(&config_path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = Lines::follow(child.stderr.take().unwrap());
    let addr: SocketAddr = lines.wait_for(
        "argus run to say where the API listens",
        Duration::from_secs(60),
        |line| {
            let rest = line.split("serving the API on http://").nth(1)?;
            rest.split('/').next()?.parse().ok()
        },
    );
    anvil.mine(1);
    wait_for("/readyz to turn 200", Duration::from_secs(60), || {
        (http(addr, &viewer, "GET", "/readyz", None).0 == 200).then_some(())
    });

    // The bot signs, reports, then sends.
    let raw = anvil.rpc(
        "eth_signTransaction",
        json!([{ "from": ALICE, "to": BOB, "value": "0x1", "gas": "0x5208", "nonce": "0x0",
                 "maxFeePerGas": "0x3b9aca00", "maxPriorityFeePerGas": "0x1", "chainId": "0x7a69" }]),
    );
    let raw = raw.as_str().unwrap().to_owned();
    let hash = format!(
        "{:#x}",
        alloy_primitives::keccak256(alloy_primitives::hex::decode(&raw).unwrap())
    );
    let report = json!({ "submissions": [{ "tx_hash": hash, "from": ALICE, "nonce": 0 }] });
    let (status, answer) = http(
        addr,
        &bot_token,
        "POST",
        "/api/bots/arb/submissions",
        Some(&report),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["new"], 1);
    anvil.rpc("eth_sendRawTransaction", json!([raw]));
    let own_block = hex_u64(&anvil.receipt(&hash)["blockNumber"]);

    // Another process with the same key.
    let rogue = anvil.send(json!({ "from": ALICE, "to": BOB, "value": "0x7" }));
    let rogue_block = hex_u64(&anvil.receipt(&rogue)["blockNumber"]);
    assert!(own_block < rogue_block);

    let alerts = wait_for("the key-use alert", Duration::from_secs(60), || {
        let (status, list) = http(
            addr,
            &viewer,
            "GET",
            "/api/alerts?rule=argus.key-use.arb",
            None,
        );
        assert_eq!(status, 200, "{list}");
        let alerts = list["alerts"].as_array()?.clone();
        (!alerts.is_empty()).then_some(alerts)
    });
    assert_eq!(alerts.len(), 1, "only the rogue transaction: {alerts:?}");
    assert_eq!(alerts[0]["severity"], "critical");
    assert_eq!(
        alerts[0]["tx_hash"]
            .as_str()
            .unwrap_or_default()
            .to_lowercase(),
        rogue
    );

    // SIGTERM: a clean stop.
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}
