//! `argus run` with a `server:` section, end to end on real parts: anvil
//! with the sample project, the real binary, the API on a port it picks
//! (port 0, said on stderr). A transfer that fires the rule is seen over
//! HTTP in `/api/alerts`, in the `/api/events` stream opened before it,
//! and in `/metrics`; `/readyz` turns 200 once the chain has a fresh tip;
//! SIGTERM stops the server (the stream ends) and the node, exit 0.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argus_testkit::{ALICE, Anvil, DEPLOYER, Lines, TOKEN, cast, testdata, wait_for};
use serde_json::{Value, json};

const RULES: &str = r#"
rules:
  - id: large-transfer
    severity: high
    match:
      event:
        contract: Token
        signature: Transfer(address,address,uint256)
    condition: args.value >= uint256("1000000000000000000")
"#;

fn argus(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_argus"));
    command
        .env("ARGUS_DATA_DIR", data_dir)
        .env_remove("ARGUS_MASTER_KEY")
        .env_remove("ARGUS_LOG");
    command
}

/// The one place requests are written, each with a viewer's token (the
/// probes and the status page ignore it).
fn request(addr: SocketAddr, token: &str, path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
}

/// A viewer's token: `argus tokens create --role viewer`.
fn viewer_token(data_dir: &Path) -> String {
    let out = argus(data_dir)
        .args([
            "tokens", "create", "--name", "grafana", "--role", "viewer", "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let made: Value = serde_json::from_slice(&out.stdout).unwrap();
    made["token"].as_str().unwrap().to_owned()
}

/// One GET over a fresh connection: status and body.
fn http_get(addr: SocketAddr, token: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(request(addr, token, path).as_bytes())
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// A JSON body (chunked or not: the JSON is the one line that parses).
fn json_body(body: &str) -> Value {
    serde_json::from_str(body.trim())
        .ok()
        .or_else(|| {
            body.lines()
                .find_map(|line| serde_json::from_str::<Value>(line.trim()).ok())
                .filter(Value::is_object)
        })
        .unwrap_or(Value::Null)
}

#[test]
fn argus_run_serves_its_alerts_over_http_and_stops_cleanly_on_sigterm() {
    let anvil = Anvil::start();
    anvil.deploy_sample_project();
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let import = argus(&data_dir)
        .args(["registry", "import"])
        .arg(testdata("foundry-project"))
        .output()
        .unwrap();
    assert!(import.status.success(), "{import:?}");
    let token = viewer_token(&data_dir);
    std::fs::write(dir.path().join("rules.yaml"), RULES).unwrap();
    let config = json!({
        "data_dir": data_dir,
        "chains": [anvil.follow_config()],
        "rules": ["rules.yaml"],
        "server": { "listen": "127.0.0.1:0" },
    });
    let config_path = dir.path().join("argus.yaml");
    std::fs::write(&config_path, serde_json::to_string_pretty(&config).unwrap()).unwrap();

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
    assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}");

    // Ready once the follower recorded a block stamped recently.
    anvil.mine(1);
    wait_for("/readyz to turn 200", Duration::from_secs(60), || {
        (http_get(addr, &token, "/readyz").0 == 200).then_some(())
    });

    // The event stream, opened before the transfer; read on a thread.
    let streamed = Arc::new(Mutex::new(String::new()));
    let mut events = TcpStream::connect(addr).unwrap();
    events
        .write_all(request(addr, &token, "/api/events").as_bytes())
        .unwrap();
    // Bounded, so a stream that never ends fails the test rather than
    // hanging it.
    events
        .set_read_timeout(Some(Duration::from_secs(90)))
        .unwrap();
    let reader = {
        let streamed = Arc::clone(&streamed);
        let mut events = events.try_clone().unwrap();
        // Whether the stream ended (EOF), rather than erred or timed out.
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match events.read(&mut buf) {
                    Ok(0) => return true,
                    Ok(n) => streamed
                        .lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n])),
                    Err(_) => return false,
                }
            }
        })
    };
    wait_for("the stream to open", Duration::from_secs(30), || {
        streamed
            .lock()
            .unwrap()
            .starts_with("HTTP/1.1 200")
            .then_some(())
    });

    let data = cast::calldata("transfer(address,uint256)", &[ALICE, "2000000000000000000"]);
    let tx = anvil
        .send(json!({ "from": DEPLOYER, "to": TOKEN, "data": data, "gas": "0x30000" }))
        .to_lowercase();

    let alert = wait_for("the alert in /api/alerts", Duration::from_secs(60), || {
        let (status, body) = http_get(addr, &token, "/api/alerts?rule=large-transfer");
        assert_eq!(status, 200, "{body}");
        let list = json_body(&body);
        list["alerts"].as_array()?.first().cloned()
    });
    assert_eq!(alert["rule_id"], "large-transfer", "{alert}");
    assert_eq!(alert["severity"], "high", "{alert}");
    assert_eq!(
        alert["tx_hash"].as_str().unwrap_or_default().to_lowercase(),
        tx,
        "{alert}"
    );

    wait_for("the alert in /api/events", Duration::from_secs(30), || {
        let text = streamed.lock().unwrap().clone();
        (text.contains("event: alert") && text.to_lowercase().contains(&tx)).then_some(())
    });

    let (status, metrics) = http_get(addr, &token, "/metrics");
    assert_eq!(status, 200, "{metrics}");
    assert!(
        metrics.contains(
            "argus_alerts_total{rule=\"large-transfer\",severity=\"high\",state=\"firing\"} 1"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("argus_blocks_processed_total{chain=\"anvil\"}"),
        "{metrics}"
    );
    assert_eq!(http_get(addr, &token, "/readyz").0, 200);

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = wait_for("argus run to stop", Duration::from_secs(30), || {
        child.try_wait().unwrap()
    });
    let all = lines.all();
    assert!(status.success(), "{status:?}; stderr: {all:?}");
    assert!(
        all.iter().any(|l| l.contains("stopping (SIGTERM)")),
        "{all:?}"
    );
    // The server ended the stream when it stopped, and answers no more.
    assert!(
        reader.join().unwrap(),
        "the event stream did not end at the stop"
    );
    drop(events);
    assert!(http_get_fails(addr), "the API still answers after the stop");
}

/// Whether a request to a stopped server fails (the port may be reused
/// by nobody, or refuse).
fn http_get_fails(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return true;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.write_all(request(addr, "", "/healthz").as_bytes());
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    !answer.starts_with("HTTP/1.1 200")
}
