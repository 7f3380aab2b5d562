//! The chain tests' own parts (anvil itself comes from `argus-testkit`): a
//! contract that emits logs, a pool tuned for tests, and a small HTTP proxy
//! that misbehaves on purpose in front of anvil.
#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argus_chain::{EndpointConfig, PoolConfig, RpcPool};
use argus_core::ChainId;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Creation code: emits LOG1(topic 0xbb) in the constructor and deploys a
/// runtime that emits LOG1(topic 0xaa) on every call.
pub const EMITTER_INIT: &str = "0x60bb60006000a16008601360003960086000f360aa60006000a100";

pub fn topic(byte: u8) -> alloy_primitives::B256 {
    let mut out = [0u8; 32];
    out[31] = byte;
    alloy_primitives::B256::from(out)
}

/// Forwards one JSON-RPC request to `upstream` over a plain HTTP/1.1
/// connection (independent of the crate under test); the answer's body.
async fn http_post(port: u16, body: &str) -> Result<Vec<u8>, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let request = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .await
        .map_err(|e| e.to_string())?;
    let split = find(&answer, b"\r\n\r\n").ok_or("no header end")?;
    let head = String::from_utf8_lossy(&answer[..split]).to_ascii_lowercase();
    let mut body = answer[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    Ok(body)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = find(data, b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&data[..line_end]).trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = line_end + 2;
        out.extend_from_slice(&data[start..start + size]);
        data = &data[start + size + 2..];
    }
    out
}

pub fn fast_pool_config() -> PoolConfig {
    PoolConfig {
        backoff: Duration::from_millis(5),
        backoff_max: Duration::from_millis(20),
        poll_interval: Duration::from_millis(50),
        ..PoolConfig::default()
    }
}

pub fn pool(endpoints: Vec<EndpointConfig>) -> RpcPool {
    RpcPool::new(ChainId::LOCAL, endpoints, fast_pool_config()).expect("pool")
}

/// How the proxy misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward everything.
    None,
    Status500,
    /// Never answer.
    Hang,
    MalformedJson,
    /// Forward, but change the `hash` of any block in the answer.
    WrongHash,
    /// Refuse `eth_getLogs` ranges wider than this many blocks, as Alchemy does.
    LogRangeLimit(u64),
    /// Refuse `eth_getBlockReceipts` as unknown.
    NoBlockReceipts,
    /// Answer the first `eth_getBlockReceipts` asked by block number with
    /// receipts that name another block of that height, as a node that
    /// switched branches between two requests does; then forward.
    ForeignReceiptsOnce,
}

/// Whether [`Fault::ForeignReceiptsOnce`] has played already (one test
/// uses it).
pub static FOREIGN_RECEIPTS_SENT: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

pub struct Proxy {
    pub port: u16,
    pub requests: Arc<AtomicU64>,
    /// Every call forwarded, in order: its method and its first parameter.
    pub calls: Arc<Mutex<Vec<(String, Value)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// A minimal HTTP/1.1 JSON-RPC proxy in front of `upstream`.
pub async fn proxy(upstream: u16, fault: Fault) -> Proxy {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let requests = Arc::new(AtomicU64::new(0));
    let calls = Arc::new(Mutex::new(Vec::new()));
    let (counter, log) = (requests.clone(), calls.clone());
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (counter, log) = (counter.clone(), log.clone());
            tokio::spawn(async move {
                let _ = serve(stream, upstream, fault, counter, log).await;
            });
        }
    });
    Proxy {
        port,
        requests,
        calls,
        task,
    }
}

async fn serve(
    mut stream: TcpStream,
    upstream: u16,
    fault: Fault,
    counter: Arc<AtomicU64>,
    log: Arc<Mutex<Vec<(String, Value)>>>,
) -> Result<(), String> {
    loop {
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 8192];
        let header_end = loop {
            if let Some(end) = find(&buffer, b"\r\n\r\n") {
                break end;
            }
            let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Ok(());
            }
            buffer.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buffer[..header_end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let mut body = buffer[header_end + 4..].to_vec();
        while body.len() < length {
            let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Ok(());
            }
            body.extend_from_slice(&chunk[..n]);
        }
        counter.fetch_add(1, Ordering::Relaxed);
        if let Ok(request) = serde_json::from_slice::<Value>(&body) {
            let one = |call: &Value| {
                (
                    call["method"].as_str().unwrap_or_default().to_owned(),
                    call["params"][0].clone(),
                )
            };
            let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
            match request.as_array() {
                Some(batch) => log.extend(batch.iter().map(one)),
                None => log.push(one(&request)),
            }
        }
        let (status, answer) = respond(&body, upstream, fault).await?;
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            answer.len()
        );
        stream
            .write_all(response.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        stream.write_all(&answer).await.map_err(|e| e.to_string())?;
    }
}

async fn respond(
    body: &[u8],
    upstream: u16,
    fault: Fault,
) -> Result<(&'static str, Vec<u8>), String> {
    let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    match fault {
        Fault::Status500 => return Ok(("500 Internal Server Error", b"oops".to_vec())),
        Fault::Hang => {
            std::future::pending::<()>().await;
        }
        Fault::MalformedJson => return Ok(("200 OK", b"{\"jsonrpc\":\"2.0\",\"id\":".to_vec())),
        Fault::LogRangeLimit(limit) => {
            if request["method"] == "eth_getLogs" {
                let filter = &request["params"][0];
                let number = |v: &Value| {
                    u64::from_str_radix(v.as_str().unwrap_or("0x0").trim_start_matches("0x"), 16)
                        .unwrap_or(0)
                };
                if filter.get("fromBlock").is_some() {
                    let span = number(&filter["toBlock"]) - number(&filter["fromBlock"]) + 1;
                    if span > limit {
                        let answer = json!({"jsonrpc": "2.0", "id": request["id"], "error": {"code": -32602, "message": "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range and no limit on the response size, or you can request any block range with a cap of 10K logs in the response."}});
                        return Ok(("400 Bad Request", answer.to_string().into_bytes()));
                    }
                }
            }
        }
        Fault::NoBlockReceipts => {
            if request["method"] == "eth_getBlockReceipts" {
                let answer = json!({"jsonrpc": "2.0", "id": request["id"], "error": {"code": -32601, "message": "the method eth_getBlockReceipts does not exist/is not available"}});
                return Ok(("200 OK", answer.to_string().into_bytes()));
            }
        }
        Fault::None | Fault::WrongHash | Fault::ForeignReceiptsOnce => {}
    }
    let answer = http_post(upstream, &String::from_utf8_lossy(body)).await?;
    if fault == Fault::WrongHash {
        let mut value: Value = serde_json::from_slice(&answer).map_err(|e| e.to_string())?;
        let forge = |item: &mut Value| {
            if let Some(result) = item.get_mut("result")
                && result.get("hash").is_some()
                && result.get("parentHash").is_some()
            {
                result["hash"] = json!(format!("0x{}", "11".repeat(32)));
            }
        };
        match value.as_array_mut() {
            Some(items) => items.iter_mut().for_each(forge),
            None => forge(&mut value),
        }
        return Ok(("200 OK", value.to_string().into_bytes()));
    }
    let by_number = request["method"] == "eth_getBlockReceipts"
        && request["params"][0].as_str().is_some_and(|p| p.len() < 66);
    if fault == Fault::ForeignReceiptsOnce
        && by_number
        && !FOREIGN_RECEIPTS_SENT.swap(true, Ordering::SeqCst)
    {
        let mut value: Value = serde_json::from_slice(&answer).map_err(|e| e.to_string())?;
        let other = json!(format!("0x{}", "22".repeat(32)));
        for receipt in value["result"].as_array_mut().into_iter().flatten() {
            receipt["blockHash"] = other.clone();
            for log in receipt["logs"].as_array_mut().into_iter().flatten() {
                log["blockHash"] = other.clone();
            }
        }
        return Ok(("200 OK", value.to_string().into_bytes()));
    }
    Ok(("200 OK", answer))
}
