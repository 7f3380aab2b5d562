//! `argus serve` as a real process: it listens on a port it picks (port
//! 0), answers `/healthz` and `/api/registry` over a real socket, and stops
//! cleanly on SIGTERM; an address other than loopback is refused without
//! TLS unless forced, and a key that does not fit its certificate stops
//! the start.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use argus_testkit::{Lines, testdata, wait_for};

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_argus"))
}

fn argus(data_dir: &Path) -> Command {
    let mut command = Command::new(bin());
    command
        .env("ARGUS_DATA_DIR", data_dir)
        .env_remove("ARGUS_MASTER_KEY")
        .env_remove("ARGUS_LOG");
    command
}

/// One HTTP/1.1 GET over a fresh connection; the whole answer.
fn http_get(addr: SocketAddr, path: &str) -> String {
    http_get_as(addr, path, None)
}

/// The same with a bearer token.
fn http_get_as(addr: SocketAddr, path: &str, token: Option<&str>) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let auth = token.map_or_else(String::new, |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn argus_serve_answers_over_a_socket_and_stops_on_sigterm() {
    let data = tempfile::tempdir().unwrap();
    let import = argus(data.path())
        .args(["registry", "import"])
        .arg(testdata("foundry-project"))
        .output()
        .unwrap();
    assert!(import.status.success(), "{import:?}");
    let made = argus(data.path())
        .args(["tokens", "create", "--name", "victor", "--role", "viewer"])
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let token = String::from_utf8(made.stdout).unwrap().trim().to_owned();

    let db_modified = std::fs::metadata(data.path().join("argus.db"))
        .unwrap()
        .modified()
        .unwrap();
    let mut child = argus(data.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The address it bound is on stderr; read it on a thread so a silent
    // failure cannot hang the test.
    let mut lines = Lines::follow(child.stderr.take().unwrap());
    let addr: SocketAddr = lines.wait_for(
        "argus serve to say where it listens",
        Duration::from_secs(30),
        |line| {
            let rest = line.split("http://").nth(1)?;
            rest.split('/').next()?.parse().ok()
        },
    );
    assert!(addr.ip().is_loopback());
    assert_ne!(addr.port(), 0);

    let health = http_get(addr, "/healthz");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(health.contains("\"status\":\"ok\""), "{health}");
    let anonymous = http_get(addr, "/api/registry?chain=anvil");
    assert!(anonymous.starts_with("HTTP/1.1 401"), "{anonymous}");
    let registry = http_get_as(addr, "/api/registry?chain=anvil", Some(&token));
    assert!(registry.starts_with("HTTP/1.1 200"), "{registry}");
    assert!(registry.contains("\"label\":\"Token\""), "{registry}");
    let bad = http_get_as(addr, "/api/alerts?limit=0", Some(&token));
    assert!(bad.starts_with("HTTP/1.1 400"), "{bad}");

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = wait_for("argus serve to stop", Duration::from_secs(30), || {
        child.try_wait().unwrap()
    });
    let all = lines.all();
    assert!(status.success(), "{status:?}; stderr: {all:?}");
    assert!(
        all.iter().any(|l| l.contains("stopping (SIGTERM)")),
        "{all:?}"
    );
    // Read-only: the database was not written.
    assert_eq!(
        std::fs::metadata(data.path().join("argus.db"))
            .unwrap()
            .modified()
            .unwrap(),
        db_modified
    );
}

#[test]
fn argus_serve_refuses_a_remote_address_without_tls_and_a_mismatched_key() {
    let data = tempfile::tempdir().unwrap();
    let import = argus(data.path())
        .args(["registry", "import"])
        .arg(testdata("foundry-project"))
        .output()
        .unwrap();
    assert!(import.status.success(), "{import:?}");
    let refused = argus(data.path())
        .args(["serve", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("--insecure-remote"), "{stderr}");
    assert!(stderr.contains("--tls-cert"), "{stderr}");

    let tls = testdata("tls");
    let mismatch = argus(data.path())
        .args(["serve", "--listen", "0.0.0.0:0", "--tls-cert"])
        .arg(tls.join("cert.pem"))
        .arg("--tls-key")
        .arg(tls.join("other-key.pem"))
        .output()
        .unwrap();
    assert!(!mismatch.status.success(), "{mismatch:?}");
    let stderr = String::from_utf8_lossy(&mismatch.stderr);
    assert!(stderr.contains("does not fit the certificate"), "{stderr}");
    assert!(stderr.contains("other-key.pem"), "{stderr}");
}
