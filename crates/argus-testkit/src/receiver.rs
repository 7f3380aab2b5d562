//! A webhook sink: a real HTTP/1.1 server on 127.0.0.1 that records every
//! request and answers as the test tells it.
//!
//! Notifiers are tested against a real socket, never a mock of our own code:
//! what the sink sees is what Slack, PagerDuty or a user's endpoint would see
//! (path, headers, the body's exact bytes, which a signature covers). It
//! serves on its own threads, so it answers whatever the test's thread or
//! runtime is doing, and stops (closing every connection) on drop.
//!
//! What it answers: the next scripted [`Answer`] ([`Receiver::then`]), else
//! the standing status ([`Receiver::set_status`], 200 at first). A request is
//! recorded before it is answered, so once the client has its answer the
//! request is in [`Receiver::requests`].

use std::collections::VecDeque;
use std::io::{BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::http::{self, Unframed};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Request {
    /// `POST`, `GET`…
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// Header names as sent, in order; see [`Request::header`].
    pub headers: Vec<(String, String)>,
    /// The body's bytes as sent (what a webhook signature covers).
    pub body: Vec<u8>,
    /// The status it was answered with.
    pub status: u16,
    /// When it arrived (its body read, before it was answered).
    pub at: Instant,
}

impl Request {
    /// The value of header `name` (any case), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    ///
    /// # Panics
    /// When it is not JSON, showing what it is.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "the body is not JSON ({error}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Whether it was answered with a 2xx status.
    pub fn accepted(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Whether `X-Argus-Signature` is `sha256=<hex of the HMAC-SHA256 of
    /// "<X-Argus-Timestamp>.<body>" under secret>`, checked as a receiver of
    /// Argus's webhooks checks it.
    pub fn signed_with(&self, secret: &str) -> bool {
        let (Some(timestamp), Some(signature)) = (
            self.header("X-Argus-Timestamp"),
            self.header("X-Argus-Signature"),
        ) else {
            return false;
        };
        let mut signed = timestamp.as_bytes().to_vec();
        signed.push(b'.');
        signed.extend_from_slice(&self.body);
        let expected = format!(
            "sha256={}",
            hex::encode(hmac_sha256(secret.as_bytes(), &signed))
        );
        signature.eq_ignore_ascii_case(&expected)
    }
}

/// HMAC-SHA256 written out from its definition (RFC 2104) over `sha2`, so a
/// test checks a signature independently of the `hmac` crate the code under
/// test signs with.
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

/// A scripted answer: a status, headers, a text body.
///
/// ```
/// # use argus_testkit::Answer;
/// let slow_down = Answer::status(429).header("retry-after", "120").body("slow down");
/// ```
#[derive(Debug, Clone)]
pub struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    /// `status` with no body.
    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: String::new(),
        }
    }

    /// Adds a header.
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the body (sent as `text/plain` unless a header says otherwise).
    #[must_use]
    pub fn body(mut self, body: &str) -> Self {
        body.clone_into(&mut self.body);
        self
    }
}

#[derive(Debug)]
struct State {
    requests: Vec<Request>,
    script: VecDeque<Answer>,
    status: u16,
    echo_path: bool,
    /// How long each answer waits after its request is recorded.
    delay: Duration,
    /// Open connections by number, shut down when the receiver stops.
    connections: Vec<(u64, TcpStream)>,
    next_connection: u64,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    stopping: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not hide what was recorded.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A webhook sink on a loopback port; see the module docs.
#[derive(Debug)]
pub struct Receiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    /// Starts on a free loopback port.
    ///
    /// # Panics
    /// When it cannot bind.
    pub fn start() -> Receiver {
        Self::start_on(0)
    }

    /// Starts on `port` (e.g. one a client was refused on so far, from
    /// [`crate::free_port`]: the sink "comes back").
    ///
    /// # Panics
    /// When it cannot bind.
    pub fn start_on(port: u16) -> Receiver {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .unwrap_or_else(|error| panic!("cannot bind 127.0.0.1:{port}: {error}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|error| panic!("no local address: {error}"));
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                requests: Vec::new(),
                script: VecDeque::new(),
                status: 200,
                echo_path: false,
                delay: Duration::ZERO,
                connections: Vec::new(),
                next_connection: 0,
            }),
            stopping: AtomicBool::new(false),
        });
        let accepting = shared.clone();
        let acceptor = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accepting.stopping.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let Ok(clone) = stream.try_clone() else {
                    continue;
                };
                let id = {
                    let mut state = accepting.lock();
                    state.next_connection += 1;
                    let id = state.next_connection;
                    state.connections.push((id, clone));
                    id
                };
                let serving = accepting.clone();
                std::thread::spawn(move || {
                    serve(stream, &serving);
                    serving.lock().connections.retain(|(c, _)| *c != id);
                });
            }
        });
        Receiver {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// Its address, `127.0.0.1:<port>`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port><path>`
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Answers the next request not yet scripted with `answer` (answers are
    /// used up in order; then the standing status applies).
    pub fn then(&self, answer: Answer) {
        self.shared.lock().script.push_back(answer);
    }

    /// Answers every later unscripted request with `status` (503 plays a sink
    /// outage; 200 ends it).
    pub fn set_status(&self, status: u16) {
        self.shared.lock().status = status;
    }

    /// Appends ` you asked for <path>` to every answer's body, as services
    /// that echo the request in their errors do (a secret in the path then
    /// comes back in the error).
    pub fn echo_path(&self) {
        self.shared.lock().echo_path = true;
    }

    /// Answers every later request `delay` after recording it, as a slow
    /// sink does: a client killed meanwhile never learns that the sink took
    /// the request in (what a test of exactly-once across a kill needs).
    pub fn set_delay(&self, delay: Duration) {
        self.shared.lock().delay = delay;
    }

    /// Every request so far, in order of arrival, whatever it was answered.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.lock().requests.clone()
    }

    /// The requests answered with a 2xx status so far: what a sink took in.
    pub fn accepted(&self) -> Vec<Request> {
        let state = self.shared.lock();
        state
            .requests
            .iter()
            .filter(|r| r.accepted())
            .cloned()
            .collect()
    }

    /// How many requests were answered with a status other than 2xx.
    pub fn refused(&self) -> usize {
        let state = self.shared.lock();
        state.requests.iter().filter(|r| !r.accepted()).count()
    }

    /// Waits, yielding to the runtime, until `count` requests arrived or
    /// `timeout` passed; every request so far (the caller asserts on how
    /// many).
    pub async fn wait_for_requests(&self, count: usize, timeout: Duration) -> Vec<Request> {
        let start = Instant::now();
        loop {
            let requests = self.requests();
            if requests.len() >= count || start.elapsed() > timeout {
                return requests;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        for (_, connection) in self.shared.lock().connections.drain(..) {
            let _ = connection.shutdown(Shutdown::Both);
        }
        // Wake the accepting thread so it sees `stopping`, and wait until it
        // has closed the port.
        if TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).is_ok()
            && let Some(acceptor) = self.acceptor.take()
        {
            let _ = acceptor.join();
        }
    }
}

/// Serves one connection, request after request (clients keep connections
/// alive), until it closes or the receiver stops.
fn serve(stream: TcpStream, shared: &Shared) {
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut stream = stream;
    while !shared.stopping.load(Ordering::SeqCst) {
        let Ok(Some(message)) = http::read_message(&mut reader, Unframed::Empty) else {
            return;
        };
        let at = Instant::now();
        let mut words = message.start_line.split(' ');
        let method = words.next().unwrap_or_default().to_owned();
        let target = words.next().unwrap_or("/");
        let path = target.split('?').next().unwrap_or("/").to_owned();
        let close = message
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let (answer, delay) = {
            let mut state = shared.lock();
            let mut answer = state
                .script
                .pop_front()
                .unwrap_or_else(|| Answer::status(state.status));
            if state.echo_path {
                answer.body = format!("{} you asked for {path}", answer.body);
            }
            state.requests.push(Request {
                method,
                path,
                headers: message.headers,
                body: message.body,
                status: answer.status,
                at,
            });
            (answer, state.delay)
        };
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        if write_answer(&mut stream, &answer).is_err() || close {
            return;
        }
    }
}

fn write_answer(stream: &mut TcpStream, answer: &Answer) -> std::io::Result<()> {
    let reason = match answer.status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let mut head = format!("HTTP/1.1 {} {reason}\r\n", answer.status);
    let typed = answer
        .headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
    if !typed && !answer.body.is_empty() {
        head.push_str("Content-Type: text/plain; charset=utf-8\r\n");
    }
    for (name, value) in &answer.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", answer.body.len()));
    stream.write_all(head.as_bytes())?;
    stream.write_all(answer.body.as_bytes())?;
    stream.flush()
}
