//! The API's tokens end to end, on real parts: `argus tokens` on a real
//! data directory, and `argus run` with a `server:` section on anvil,
//! brute-forced over a real socket — the rule `authentication_failures >
//! 3 in 1 minute` fires to a real webhook receiver and the audit log holds
//! every failure (the client, the class, never the token).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use argus_testkit::{Anvil, Receiver, free_port, testdata, wait_for};
use serde_json::{Value, json};

const MASTER: &str = "q7Vd0mJ3xR9sL2kP8wZ4tY6uB1nC5eA0fG3hI7jK9lM=";

fn argus(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_argus"));
    command
        .env("ARGUS_DATA_DIR", data_dir)
        .env("ARGUS_MASTER_KEY", MASTER)
        .env_remove("ARGUS_LOG");
    command
}

fn ok(output: Output) -> String {
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// One HTTP/1.1 request over a fresh connection; the whole answer.
fn http(addr: SocketAddr, method: &str, path: &str, token: Option<&str>) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let auth = token.map_or_else(String::new, |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// A child killed when the test ends, however it ends.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn tokens_are_made_listed_revoked_and_audited_and_never_listed_with_their_secret() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let admin = ok(argus(data)
        .args(["tokens", "create", "--name", "alice", "--role", "admin"])
        .output()
        .unwrap());
    let mut lines = admin.lines();
    let token = lines.next().unwrap();
    assert!(token.starts_with("argus_"), "{admin}");
    let uri = lines.next().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/Argus:alice?secret="),
        "{uri}"
    );

    // Without the master key an admin token cannot be made (no TOTP).
    let refused = argus(data)
        .env_remove("ARGUS_MASTER_KEY")
        .args(["tokens", "create", "--name", "bob", "--role", "admin"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("master key"));

    let viewer: Value = serde_json::from_str(&ok(argus(data)
        .args([
            "tokens",
            "create",
            "--name",
            "bob",
            "--role",
            "viewer",
            "--expires",
            "90d",
            "--json",
        ])
        .output()
        .unwrap()))
    .unwrap();
    assert_eq!(viewer["role"], "viewer");
    assert!(viewer["expires_at_ms"].as_i64().is_some());
    let bad_role = argus(data)
        .args(["tokens", "create", "--name", "eve", "--role", "root"])
        .output()
        .unwrap();
    assert!(!bad_role.status.success());

    let listed = ok(argus(data)
        .args(["tokens", "list", "--json"])
        .output()
        .unwrap());
    assert!(
        !listed.contains(token.split('_').nth(2).unwrap()),
        "no secret listed"
    );
    assert!(!listed.contains("argon2"), "no hash listed");
    let rows: Vec<Value> = listed
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r["status"] == "active"));

    ok(argus(data)
        .args(["tokens", "revoke", "bob", "--reason", "left the team"])
        .output()
        .unwrap());
    let listed = ok(argus(data)
        .args(["tokens", "list", "--json"])
        .output()
        .unwrap());
    assert!(listed.contains("\"revoked\""), "{listed}");
    let again = argus(data)
        .args(["tokens", "revoke", "bob"])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2), "nothing left to revoke");

    let audit = ok(argus(data)
        .args(["audit", "query", "--action", "token.*", "--json"])
        .output()
        .unwrap());
    let actions: Vec<String> = audit
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|e| e["action"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        actions,
        ["token.create", "token.create", "token.revoke"],
        "{audit}"
    );
    assert!(!audit.contains(token), "the token is never in the log");
}

#[test]
fn brute_force_over_a_socket_fires_the_rule_and_is_audited() {
    let anvil = Anvil::start();
    anvil.deploy_sample_project();
    let receiver = Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    ok(argus(&data)
        .args(["registry", "import"])
        .arg(testdata("foundry-project"))
        .output()
        .unwrap());
    let viewer = ok(argus(&data)
        .args(["tokens", "create", "--name", "victor", "--role", "viewer"])
        .output()
        .unwrap());
    let viewer = viewer.trim().to_owned();
    std::fs::write(
        dir.path().join("rules.yaml"),
        "thresholds:\n  authentication_failures: \">3 in 1 minute\"\n",
    )
    .unwrap();
    let port = free_port();
    let config = json!({
        "data_dir": data,
        "chains": [{
            "chain": "anvil",
            "rpc": [anvil.http_url()],
            "confirmations": 0,
            "start": anvil.block_number() + 1,
            "poll_interval": "200ms",
        }],
        "rules": ["rules.yaml"],
        "alerting": {
            "dedup_window": "0s",
            "notifiers": { "hook": { "type": "webhook", "url": receiver.url("/hook"), "secret": { "env": "ARGUS_TEST_HOOK_SECRET" } } },
            "retry": { "initial": "50ms", "max": "500ms" },
        },
        "server": { "listen": format!("127.0.0.1:{port}") },
    });
    let config_path = dir.path().join("argus.yaml");
    std::fs::write(&config_path, config.to_string()).unwrap();
    let log = std::fs::File::create(dir.path().join("daemon.log")).unwrap();
    let mut daemon = Killed(
        argus(&data)
            .args(["run", "-c"])
            .arg(&config_path)
            .env("ARGUS_TEST_HOOK_SECRET", "whsec-test-0123456789abcdef")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let daemon_log = || std::fs::read_to_string(dir.path().join("daemon.log")).unwrap_or_default();
    wait_for("the API to answer", Duration::from_secs(60), || {
        if let Some(status) = daemon.0.try_wait().unwrap() {
            panic!("argus run stopped ({status}): {}", daemon_log());
        }
        TcpStream::connect(addr)
            .ok()
            .map(|_| http(addr, "GET", "/healthz", None))
            .filter(|a| a.starts_with("HTTP/1.1 200"))
    });

    let session = http(addr, "GET", "/api/session", Some(&viewer));
    assert!(session.starts_with("HTTP/1.1 200"), "{session}");
    assert!(session.contains("\"name\":\"victor\""), "{session}");
    let write = http(addr, "POST", "/api/silences/1/end", Some(&viewer));
    assert!(write.starts_with("HTTP/1.1 403"), "{write}");

    // Four guesses: over the rule's threshold, under the failure gate.
    let guess = format!("argus_{}_{}", &viewer[6..18], "0".repeat(64));
    for _ in 0..4 {
        let answer = http(addr, "GET", "/api/alerts", Some(&guess));
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    }
    let fired = wait_for("the brute-force alert", Duration::from_secs(30), || {
        receiver.accepted().into_iter().map(|r| r.json()).find(|j| {
            j["kind"] == "fire" && j["alert"]["rule_id"] == "seed-authentication-failures"
        })
    });
    assert!(
        fired["alert"]["title"]
            .as_str()
            .unwrap()
            .contains("4 in the last 60 s"),
        "{fired}; {}",
        daemon_log()
    );
    // The fifth fails too, and the sixth (a good token) waits out the gate.
    assert!(http(addr, "GET", "/api/alerts", Some(&guess)).starts_with("HTTP/1.1 401"));
    let gated = http(addr, "GET", "/api/alerts", Some(&viewer));
    assert!(gated.starts_with("HTTP/1.1 429"), "{gated}");
    assert!(
        gated.to_ascii_lowercase().contains("retry-after:"),
        "{gated}"
    );

    let audit = wait_for(
        "five failures in the audit log",
        Duration::from_secs(30),
        || {
            let out = argus(&data)
                .args(["audit", "query", "--action", "auth.failure", "--json"])
                .output()
                .unwrap();
            let text = String::from_utf8(out.stdout).unwrap();
            (text.lines().count() == 5).then_some(text)
        },
    );
    for line in audit.lines() {
        let entry: Value = serde_json::from_str(line).unwrap();
        assert_eq!(entry["actor"], "client:127.0.0.1", "{entry}");
        assert_eq!(entry["reason"], "wrong_secret", "{entry}");
    }
    assert!(!audit.contains(&guess), "never the presented token");

    let metrics = http(addr, "GET", "/metrics", None);
    assert!(metrics.starts_with("HTTP/1.1 401") || metrics.starts_with("HTTP/1.1 429"));

    let _ = Command::new("kill")
        .args(["-TERM", &daemon.0.id().to_string()])
        .status();
    let status = wait_for("the daemon to stop", Duration::from_secs(30), || {
        daemon.0.try_wait().unwrap()
    });
    assert!(status.success(), "{}", daemon_log());
}
