//! Moving request bodies to nodes and answers back: HTTP and WebSocket.
//!
//! Nothing here interprets an answer; the pool does that with [`crate::parse`].
//! TLS is Argus's one client setup, [`argus_core::tls`] (rustls with the ring
//! provider, the operating system's roots through rustls-platform-verifier);
//! the pool builds it once and hands it to reqwest and tungstenite, so no
//! process-wide provider has to be installed.
//!
//! A WebSocket endpoint runs one task per connection: it writes requests,
//! routes answers to their waiting caller by id, and publishes new heads from
//! its `newHeads` subscription. When the socket drops, waiting callers get a
//! connection error at once (the pool fails over) and the task reconnects
//! with a growing pause.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use argus_core::tls::ClientConfig;
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::heads::{Head, HeadSource, publish_head};
use crate::parse;

/// The request id used for the `newHeads` subscription on a socket.
const SUBSCRIBE_ID: u64 = 0;
/// Longest pause between two reconnection attempts.
const MAX_RECONNECT_PAUSE: Duration = Duration::from_secs(30);

/// A failure below JSON-RPC.
#[derive(Debug, Clone)]
pub(crate) enum TransportError {
    Connection(String),
    Status(u16, Vec<u8>),
    TooLarge(usize),
}

pub(crate) fn tls_config() -> Result<Arc<ClientConfig>, String> {
    argus_core::tls::client_config()
        .map_err(|e| e.cause().map_or_else(|| e.to_string(), ToString::to_string))
}

pub(crate) fn http_client(tls: &ClientConfig) -> Result<reqwest::Client, String> {
    argus_core::tls::http_client_builder(tls)
        .connect_timeout(Duration::from_secs(10))
        .pool_idle_timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| describe(&e.without_url()))
}

/// An error and its sources on one line (reqwest's URL removed by the caller).
pub(crate) fn describe(error: &dyn StdError) -> String {
    argus_core::error_chain(error)
}

/// POSTs `body`, reading at most `max_bytes` of the answer.
pub(crate) async fn http_post(
    client: &reqwest::Client,
    url: &str,
    body: String,
    max_bytes: usize,
) -> Result<Vec<u8>, TransportError> {
    let connection = |e: reqwest::Error| TransportError::Connection(describe(&e.without_url()));
    let mut response = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .map_err(connection)?;
    let status = response.status().as_u16();
    // Sized from the announced length (within the limit) when there is one:
    // a full block or its receipts are a megabyte each, and a buffer grown
    // by doubling holds up to twice that, copied at every step.
    let announced = response
        .content_length()
        .and_then(|length| usize::try_from(length).ok())
        .unwrap_or(0);
    let mut bytes = Vec::with_capacity(announced.min(max_bytes));
    while let Some(chunk) = response.chunk().await.map_err(connection)? {
        if bytes.len() + chunk.len() > max_bytes {
            return Err(TransportError::TooLarge(max_bytes));
        }
        bytes.extend_from_slice(&chunk);
    }
    if !(200..300).contains(&status) {
        return Err(TransportError::Status(status, bytes));
    }
    Ok(bytes)
}

struct WsRequest {
    id: u64,
    body: String,
    reply: oneshot::Sender<Result<Vec<u8>, TransportError>>,
}

/// The handle of one WebSocket connection task.
#[derive(Debug)]
pub(crate) struct WsLink {
    requests: mpsc::UnboundedSender<WsRequest>,
    connected: Arc<AtomicBool>,
}

impl std::fmt::Debug for WsRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsRequest").field("id", &self.id).finish()
    }
}

impl WsLink {
    /// Starts the connection task (inside the current tokio runtime).
    pub(crate) fn spawn(
        name: String,
        url: String,
        tls: Arc<ClientConfig>,
        max_bytes: usize,
        heads: watch::Sender<Head>,
    ) -> Self {
        let (requests, receiver) = mpsc::unbounded_channel();
        let connected = Arc::new(AtomicBool::new(false));
        let task = WsTask {
            name,
            url,
            tls,
            max_bytes,
            heads,
            connected: connected.clone(),
        };
        tokio::spawn(task.run(receiver));
        Self {
            requests,
            connected,
        }
    }

    /// Whether the socket is up (and so new heads arrive through it).
    pub(crate) fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    pub(crate) async fn request(&self, id: u64, body: String) -> Result<Vec<u8>, TransportError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(WsRequest { id, body, reply })
            .map_err(|_| TransportError::Connection("the websocket task has stopped".into()))?;
        answer
            .await
            .map_err(|_| TransportError::Connection("the websocket closed".into()))?
    }
}

struct WsTask {
    name: String,
    url: String,
    tls: Arc<ClientConfig>,
    max_bytes: usize,
    heads: watch::Sender<Head>,
    connected: Arc<AtomicBool>,
}

impl WsTask {
    async fn run(self, mut requests: mpsc::UnboundedReceiver<WsRequest>) {
        let mut pause = Duration::from_millis(250);
        loop {
            let outcome = self.session(&mut requests).await;
            self.connected.store(false, Ordering::Release);
            match outcome {
                Session::HandleDropped => return,
                Session::Lost(reason) => {
                    tracing::warn!(endpoint = %self.name, %reason, "websocket lost; heads fall back to polling while it reconnects");
                }
            }
            // While disconnected, callers fail over at once instead of waiting.
            let sleep = tokio::time::sleep(pause);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    () = &mut sleep => break,
                    request = requests.recv() => match request {
                        None => return,
                        Some(request) => {
                            let _ = request.reply.send(Err(TransportError::Connection(
                                "the websocket is reconnecting".into(),
                            )));
                        }
                    },
                }
            }
            pause = (pause * 2).min(MAX_RECONNECT_PAUSE);
        }
    }

    async fn session(&self, requests: &mut mpsc::UnboundedReceiver<WsRequest>) -> Session {
        let mut config = WebSocketConfig::default();
        config.max_message_size = Some(self.max_bytes);
        config.max_frame_size = Some(self.max_bytes);
        let connector = tokio_tungstenite::Connector::Rustls(self.tls.clone());
        let connect = tokio_tungstenite::connect_async_tls_with_config(
            self.url.as_str(),
            Some(config),
            true,
            Some(connector),
        );
        let mut socket = match tokio::time::timeout(Duration::from_secs(10), connect).await {
            Ok(Ok((socket, _response))) => socket,
            Ok(Err(error)) => return Session::Lost(describe(&error)),
            Err(_) => return Session::Lost("connection timed out".into()),
        };
        let subscribe = format!(
            r#"{{"jsonrpc":"2.0","id":{SUBSCRIBE_ID},"method":"eth_subscribe","params":["newHeads"]}}"#
        );
        if let Err(error) = socket.send(Message::text(subscribe)).await {
            return Session::Lost(describe(&error));
        }
        self.connected.store(true, Ordering::Release);
        let mut pending: HashMap<u64, oneshot::Sender<Result<Vec<u8>, TransportError>>> =
            HashMap::new();
        let reason = loop {
            tokio::select! {
                request = requests.recv() => {
                    let Some(request) = request else { return Session::HandleDropped };
                    if let Err(error) = socket.send(Message::text(request.body)).await {
                        let _ = request.reply.send(Err(TransportError::Connection(describe(&error))));
                        break describe(&error);
                    }
                    pending.insert(request.id, request.reply);
                }
                message = socket.next() => {
                    let bytes = match message {
                        Some(Ok(Message::Text(text))) => text.as_bytes().to_vec(),
                        Some(Ok(Message::Binary(data))) => data.to_vec(),
                        Some(Ok(Message::Close(_))) | None => break "closed by the node".to_owned(),
                        Some(Err(error)) => break describe(&error),
                        Some(Ok(_)) => continue,
                    };
                    self.route(bytes, &mut pending);
                }
            }
        };
        for (_, reply) in pending.drain() {
            let _ = reply.send(Err(TransportError::Connection(reason.clone())));
        }
        Session::Lost(reason)
    }

    fn route(
        &self,
        bytes: Vec<u8>,
        pending: &mut HashMap<u64, oneshot::Sender<Result<Vec<u8>, TransportError>>>,
    ) {
        if let Ok(Some((_subscription, number, hash))) = parse::head_notification(&bytes) {
            publish_head(
                &self.heads,
                Head {
                    number,
                    hash: Some(hash),
                    source: HeadSource::WebSocket,
                },
            );
            return;
        }
        match parse::message_id(&bytes) {
            Some(id) if id != SUBSCRIBE_ID => {
                if let Some(reply) = pending.remove(&id) {
                    let _ = reply.send(Ok(bytes));
                }
            }
            // The subscription's confirmation, or noise: nothing waits for it.
            _ => {}
        }
    }
}

enum Session {
    HandleDropped,
    Lost(String),
}
