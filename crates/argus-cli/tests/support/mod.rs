//! Real parts for the daemon's end-to-end tests: an anvil node, the sample
//! project deployed on it, an HTTP receiver that records what it is sent, and
//! the `argus` binary run as a real process (so it can be killed with -9).
//!
//! The JSON-RPC and HTTP code here is deliberately minimal (blocking, one
//! request per connection): it is test scaffolding talking to a local node and
//! to our own daemon, not a client anyone relies on.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The workspace root.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// Polls `check` until it returns `Some` or `deadline` passes.
pub fn wait_for<T>(what: &str, deadline: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            start.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A POST of `body` to `http://127.0.0.1:port/path`, returning the status and
/// body.
pub fn http_post(port: u16, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// A running anvil, killed on drop.
pub struct Anvil {
    child: Child,
    pub port: u16,
}

impl Anvil {
    /// Starts anvil on a free loopback port with `extra` arguments and waits
    /// until it answers.
    pub fn start(extra: &[&str]) -> Anvil {
        let port = free_port();
        let bin = workspace().join("node_modules/.bin/anvil");
        assert!(
            bin.exists(),
            "anvil is not installed; run `npm ci` in the workspace"
        );
        let child = Command::new(bin)
            .args([
                "--port",
                &port.to_string(),
                "--host",
                "127.0.0.1",
                "--silent",
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start anvil");
        let anvil = Anvil { child, port };
        wait_for("anvil to answer", Duration::from_secs(20), || {
            anvil.try_rpc("eth_chainId", json!([])).ok()
        });
        anvil
    }

    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    /// One JSON-RPC call; the `result`, or the error as text.
    pub fn try_rpc(&self, method: &str, params: Value) -> Result<Value, String> {
        let request = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let (status, body) =
            http_post(self.port, "/", &request.to_string()).map_err(|e| e.to_string())?;
        if status != 200 {
            return Err(format!("HTTP {status}: {body}"));
        }
        let response: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
        match response.get("error") {
            Some(error) => Err(error.to_string()),
            None => Ok(response.get("result").cloned().unwrap_or(Value::Null)),
        }
    }

    /// One JSON-RPC call that must succeed.
    pub fn rpc(&self, method: &str, params: Value) -> Value {
        self.try_rpc(method, params)
            .unwrap_or_else(|e| panic!("{method} failed: {e}"))
    }

    pub fn block_number(&self) -> u64 {
        hex_u64(&self.rpc("eth_blockNumber", json!([])))
    }

    pub fn mine(&self, blocks: u64) {
        self.rpc("anvil_mine", json!([format!("{blocks:#x}")]));
    }

    /// Sends a transaction from an unlocked account and returns its hash.
    pub fn send(&self, tx: Value) -> String {
        self.rpc("eth_sendTransaction", json!([tx]))
            .as_str()
            .expect("tx hash")
            .to_owned()
    }

    /// The receipt of `hash`, once the node has it.
    pub fn receipt(&self, hash: &str) -> Value {
        wait_for("a receipt", Duration::from_secs(20), || {
            let receipt = self.rpc("eth_getTransactionReceipt", json!([hash]));
            (!receipt.is_null()).then_some(receipt)
        })
    }

    /// The canonical hash of block `number`.
    pub fn block_hash(&self, number: u64) -> String {
        self.rpc(
            "eth_getBlockByNumber",
            json!([format!("{number:#x}"), false]),
        )["hash"]
            .as_str()
            .expect("block hash")
            .to_owned()
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn hex_u64(value: &Value) -> u64 {
    let text = value.as_str().expect("hex quantity");
    u64::from_str_radix(text.trim_start_matches("0x"), 16).expect("hex quantity")
}

/// The first account anvil unlocks (the deployer of the sample project).
pub const DEPLOYER: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
/// The second and third default accounts.
pub const ALICE: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
pub const BOB: &str = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";
/// Where the sample project's Token lands on a fresh anvil.
pub const TOKEN: &str = "0x5FbDB2315678afecb367f032d93F642f64180aa3";

/// Deploys the sample Foundry project on `anvil` by replaying its broadcast,
/// transaction by transaction (the same addresses as the recorded run).
pub fn deploy_sample_project(anvil: &Anvil) {
    let path =
        workspace().join("testdata/foundry-project/broadcast/Deploy.s.sol/31337/run-latest.json");
    let broadcast: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("broadcast")).expect("json");
    for entry in broadcast["transactions"].as_array().expect("transactions") {
        let tx = &entry["transaction"];
        let mut send = json!({"from": tx["from"], "data": tx["input"], "gas": "0x1c9c380"});
        if let Some(to) = tx.get("to").filter(|to| !to.is_null()) {
            send["to"] = to.clone();
        }
        let hash = anvil.send(send);
        let receipt = anvil.receipt(&hash);
        assert_eq!(receipt["status"], "0x1", "replaying {entry}");
    }
}

/// ABI-encodes a call with `cast calldata`.
pub fn calldata(signature: &str, args: &[&str]) -> String {
    let out = Command::new(workspace().join("node_modules/.bin/cast"))
        .arg("calldata")
        .arg(signature)
        .args(args)
        .output()
        .expect("run cast");
    assert!(out.status.success(), "cast calldata: {out:?}");
    String::from_utf8(out.stdout)
        .expect("utf8")
        .trim()
        .to_owned()
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Value,
    /// The body's bytes as sent (what a webhook signature covers).
    pub raw: Vec<u8>,
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether `X-Argus-Signature` is the HMAC-SHA256 of
    /// `"<X-Argus-Timestamp>.<body>"` under `secret`, as a receiver checks it.
    pub fn signed_with(&self, secret: &str) -> bool {
        use hmac::{KeyInit as _, Mac as _};
        let (Some(timestamp), Some(signature)) = (
            self.header("X-Argus-Timestamp"),
            self.header("X-Argus-Signature"),
        ) else {
            return false;
        };
        let Some(hex) = signature.strip_prefix("sha256=") else {
            return false;
        };
        let Ok(expected) = alloy_primitives::hex::decode(hex) else {
            return false;
        };
        let mut mac =
            hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(&self.raw);
        mac.verify_slice(&expected).is_ok()
    }
}

/// A real HTTP server on a loopback port that records every request and
/// answers with the status it is told to (200 by default; 503 while "down").
pub struct Receiver {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<Received>>>,
    status: Arc<AtomicU16>,
    refused: Arc<AtomicU64>,
}

impl Receiver {
    pub fn start() -> Receiver {
        Self::start_on(0)
    }

    pub fn start_on(port: u16) -> Receiver {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind receiver");
        let port = listener.local_addr().expect("addr").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(AtomicU16::new(200));
        let refused = Arc::new(AtomicU64::new(0));
        let (reqs, st, rf) = (requests.clone(), status.clone(), refused.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (reqs, st, rf) = (reqs.clone(), st.clone(), rf.clone());
                std::thread::spawn(move || serve(stream, &reqs, &st, &rf));
            }
        });
        Receiver {
            port,
            requests,
            status,
            refused,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Answers every later request with `status` (503 plays a sink outage).
    pub fn set_status(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    /// How many requests were answered with a non-2xx status.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::SeqCst)
    }

    /// The requests answered with 2xx so far.
    pub fn accepted(&self) -> Vec<Received> {
        self.requests.lock().expect("lock").clone()
    }
}

fn serve(
    stream: TcpStream,
    requests: &Mutex<Vec<Received>>,
    status: &AtomicU16,
    refused: &AtomicU64,
) {
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut stream = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split(' ').nth(1).unwrap_or("/").to_owned();
        let mut headers = Vec::new();
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let (name, value) = (name.trim().to_owned(), value.trim().to_owned());
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.parse().unwrap_or(0);
                }
                headers.push((name, value));
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let code = status.load(Ordering::SeqCst);
        if (200..300).contains(&code) {
            let raw = body;
            let body = serde_json::from_slice(&raw)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&raw).into_owned()));
            requests.lock().expect("lock").push(Received {
                path,
                headers,
                body,
                raw,
                at: Instant::now(),
            });
        } else {
            refused.fetch_add(1, Ordering::SeqCst);
        }
        let reason = if code == 200 { "OK" } else { "Status" };
        if write!(
            stream,
            "HTTP/1.1 {code} {reason}\r\nContent-Length: 0\r\n\r\n"
        )
        .is_err()
        {
            return;
        }
    }
}

/// The `argus` binary under test.
pub fn argus_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_argus"))
}

/// `argus` with the data directory set.
pub fn argus(data_dir: &Path) -> Command {
    let mut command = Command::new(argus_bin());
    command
        .env("ARGUS_DATA_DIR", data_dir)
        .env_remove("ARGUS_LOG");
    command
}
