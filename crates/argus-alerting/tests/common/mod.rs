//! Real parts for the alerting tests: an HTTP receiver on 127.0.0.1 that
//! records every request and answers from a script, SQLite files in a temp
//! directory, findings.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy_primitives::B256;
use argus_core::{BlockRef, ChainId, ChainOrigin, Finding, Severity, finding_id};
use argus_store::{Connection, Store};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// One request the receiver saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
    /// When the request arrived.
    pub at: Instant,
}

impl Seen {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
            .unwrap_or("")
    }
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Answer {
    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: String::new(),
        }
    }
}

#[derive(Default)]
struct Inner {
    seen: Vec<Seen>,
    script: VecDeque<Answer>,
    echo_path: bool,
}

/// An HTTP receiver: answers from its script, then 200.
#[derive(Clone, Default)]
pub struct Receiver {
    inner: Arc<Mutex<Inner>>,
    pub addr: Option<SocketAddr>,
}

async fn handle(
    State(receiver): State<Receiver>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut inner = receiver.inner.lock().unwrap();
    inner.seen.push(Seen {
        method: method.to_string(),
        path: uri.path().to_owned(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body: body.to_vec(),
        at: Instant::now(),
    });
    let answer = inner.script.pop_front().unwrap_or(Answer::status(200));
    let mut body = answer.body;
    if inner.echo_path {
        body = format!("{body} you asked for {}", uri.path());
    }
    let mut response = (StatusCode::from_u16(answer.status).unwrap(), body).into_response();
    for (name, value) in answer.headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

impl Receiver {
    /// Starts on a free loopback port.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener)
    }

    /// Starts on a given port (after it was refused for a while).
    pub async fn start_at(addr: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        Self::serve(listener)
    }

    fn serve(listener: tokio::net::TcpListener) -> Self {
        let receiver = Receiver {
            addr: Some(listener.local_addr().unwrap()),
            ..Receiver::default()
        };
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(receiver.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        receiver
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr.unwrap())
    }

    pub fn then(&self, answer: Answer) {
        self.inner.lock().unwrap().script.push_back(answer);
    }

    pub fn echo_path(&self) {
        self.inner.lock().unwrap().echo_path = true;
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.inner.lock().unwrap().seen.clone()
    }

    /// Waits (with a deadline) until `count` requests arrived.
    pub async fn wait_for(&self, count: usize, deadline: Duration) -> Vec<Seen> {
        let start = Instant::now();
        loop {
            let seen = self.seen();
            if seen.len() >= count || start.elapsed() > deadline {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// A free loopback port with nothing listening on it.
pub fn refused_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// A database file in a temp dir; open it as often as needed.
pub struct Db {
    pub dir: tempfile::TempDir,
}

impl Db {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("argus.db")
    }
    /// The store handle, opened (and migrated) now.
    pub fn store(&self) -> Store {
        Store::open(&self.path()).unwrap()
    }
    /// A connection of its own to the database.
    pub fn open(&self) -> Connection {
        self.store().connect().unwrap()
    }
}

pub const T0: i64 = 1_800_000_000_000;

/// A chain finding of `rule` in block `block_byte` (its hash is that byte
/// repeated), log `log`.
pub fn finding(rule: &str, block_byte: u8, log: u64) -> Finding {
    let origin = ChainOrigin {
        chain: ChainId::LOCAL,
        block: BlockRef {
            number: u64::from(block_byte),
            hash: B256::repeat_byte(block_byte),
            parent_hash: B256::repeat_byte(block_byte.wrapping_sub(1)),
            timestamp: (T0 / 1000) as u64,
        },
        tx_hash: Some(B256::repeat_byte(0xee)),
        log_index: Some(log),
    };
    let id = finding_id(rule, Some(&origin), &[]);
    Finding {
        id,
        rule_id: rule.to_owned(),
        severity: Severity::High,
        title: format!("{rule} fired"),
        dedup_key: format!("{id:#x}"),
        origin: Some(origin),
        at_ms: T0,
        fields: serde_json::json!({"address": "0x00000000000000000000000000000000000000aa", "amount": "5000000"}),
    }
}

/// Records findings in one committed transaction, like the daemon does.
pub fn record_all(
    store: &mut Connection,
    findings: &[Finding],
    routing: &argus_alerting::Routing,
    now: i64,
) -> Vec<argus_alerting::Recorded> {
    let tx = store.transaction().unwrap();
    let out = findings
        .iter()
        .map(|f| argus_alerting::record(&tx, f, routing, now).unwrap())
        .collect();
    tx.commit().unwrap();
    out
}

/// HMAC-SHA256 written out from its definition (RFC 2104) over `sha2`, to
/// check the notifier's signature independently of the `hmac` crate.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let ipad: Vec<u8> = block.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = block.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new()
        .chain_update(&ipad)
        .chain_update(message)
        .finalize();
    let outer = Sha256::new()
        .chain_update(&opad)
        .chain_update(inner)
        .finalize();
    outer.into()
}

/// Parses an `alerting:` section written in YAML.
pub fn config(yaml: &str) -> argus_alerting::AlertingConfig {
    serde_saphyr::from_str(yaml).unwrap()
}

/// A dispatcher over a fresh connection to `db`, secrets from `env`.
pub fn dispatcher(
    db: &Db,
    config: &argus_alerting::AlertingConfig,
    env: &[(&str, &str)],
    clock: &argus_alerting::Clock,
) -> argus_alerting::Dispatcher {
    let env: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let notifiers = argus_alerting::build_notifiers_with(
        config,
        &argus_alerting::Secrets {
            env: &|name| env.get(name).cloned(),
            vault: None,
        },
    )
    .unwrap();
    argus_alerting::Dispatcher::new(&db.store(), notifiers, config, clock.clone()).unwrap()
}

/// Records one finding, runs one pass, returns the stored deliveries.
pub async fn deliver_one(
    cfg: &argus_alerting::AlertingConfig,
    env: &[(&str, &str)],
    retract_after: bool,
) -> (Db, Vec<argus_alerting::Delivery>) {
    let db = Db::new();
    let mut store = db.open();
    let clock = argus_alerting::Clock::manual_ms(T0);
    let dispatcher = dispatcher(&db, cfg, env, &clock);
    let routing = argus_alerting::Routing::from_config(cfg).unwrap();
    let mut f = finding("token.big_transfer", 3, 0);
    f.dedup_key = "big-transfer:0xaa".to_owned();
    record_all(&mut store, &[f], &routing, T0);
    dispatcher.run_once().await.unwrap();
    if retract_after {
        let tx = store.transaction().unwrap();
        argus_alerting::outbox::retract_block(
            &tx,
            argus_core::ChainId::LOCAL,
            alloy_primitives::B256::repeat_byte(3),
            T0,
        )
        .unwrap();
        tx.commit().unwrap();
        dispatcher.run_once().await.unwrap();
    }
    let deliveries = argus_alerting::outbox::list_deliveries(&store, None).unwrap();
    (db, deliveries)
}
