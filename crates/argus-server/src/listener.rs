//! The socket the API is served on: plain TCP on loopback, or TLS.
//!
//! [`ApiListener`] is an axum [`Listener`], so [`crate::serve`] hands it to
//! `axum::serve` like a `TcpListener`, keeps the graceful shutdown, and the
//! peer address reaches handlers as `ConnectInfo<SocketAddr>` (its `Addr`
//! is the client's `SocketAddr`).
//!
//! **Handshakes run beside the accept loop, never in it.** A TLS handshake
//! waits on the client: one that opens a connection and sends nothing
//! would, if handshakes ran in `accept`, stop every other client from being
//! served. So a task accepts TCP connections and starts each handshake in
//! a task of its own, bounded by [`HANDSHAKE_TIMEOUT`] and by
//! [`MAX_HANDSHAKES`] at once (a flood of silent connections costs a
//! bounded number of sockets and tasks, then waits in the kernel's
//! backlog); finished streams come to `accept` over a channel. The tasks
//! are owned by the listener: dropping it (axum does at shutdown) aborts
//! the accept loop and every handshake in flight.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::serve::Listener;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::server::TlsStream;

/// The longest a client may take to finish its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// At most this many handshakes run at once.
pub const MAX_HANDSHAKES: usize = 256;
/// Finished streams waiting for axum to take them.
const READY_QUEUE: usize = 64;

/// The API's listening socket, plain or TLS.
#[derive(Debug)]
pub struct ApiListener {
    local: SocketAddr,
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Plain(TcpListener),
    Tls {
        ready: mpsc::Receiver<(ApiStream, SocketAddr)>,
        accepting: JoinHandle<()>,
    },
}

impl ApiListener {
    /// Plain HTTP on `listener`.
    pub fn plain(listener: TcpListener) -> io::Result<Self> {
        Ok(Self {
            local: listener.local_addr()?,
            inner: Inner::Plain(listener),
        })
    }

    /// HTTPS on `listener` with `config`. Call inside a tokio runtime.
    pub fn tls(listener: TcpListener, config: Arc<ServerConfig>) -> io::Result<Self> {
        let local = listener.local_addr()?;
        let (sender, ready) = mpsc::channel(READY_QUEUE);
        let accepting = tokio::spawn(accept_loop(listener, TlsAcceptor::from(config), sender));
        Ok(Self {
            local,
            inner: Inner::Tls { ready, accepting },
        })
    }

    /// The address bound (the port chosen when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Whether connections are TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self.inner, Inner::Tls { .. })
    }

    /// `http` or `https`, for the line that says where the API is.
    pub fn scheme(&self) -> &'static str {
        if self.is_tls() { "https" } else { "http" }
    }
}

impl Drop for ApiListener {
    fn drop(&mut self) {
        if let Inner::Tls { accepting, .. } = &self.inner {
            accepting.abort();
        }
    }
}

impl Listener for ApiListener {
    type Io = ApiStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match &mut self.inner {
            Inner::Plain(listener) => {
                let (stream, peer) = accept_tcp(listener).await;
                (ApiStream::Plain(stream), peer)
            }
            Inner::Tls { ready, .. } => match ready.recv().await {
                Some(accepted) => accepted,
                // The accept loop ends only when aborted, which happens
                // when this listener is dropped: nothing more will come.
                None => std::future::pending().await,
            },
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// The next TCP connection; errors are logged and waited out, as axum does
/// for its own `TcpListener` (a full file table must not spin the loop).
async fn accept_tcp(listener: &TcpListener) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                return (stream, peer);
            }
            Err(error) if is_connection_error(&error) => {}
            Err(error) => {
                tracing::error!("cannot accept a connection: {error}; retrying in a second");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Accepts TCP connections and runs each handshake in its own task.
async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    ready: mpsc::Sender<(ApiStream, SocketAddr)>,
) {
    let slots = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    let mut handshakes = JoinSet::new();
    loop {
        // Reap finished handshakes so the set does not grow.
        while handshakes.try_join_next().is_some() {}
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let (stream, peer) = accept_tcp(&listener).await;
        let acceptor = acceptor.clone();
        let ready = ready.clone();
        handshakes.spawn(async move {
            let _slot = slot;
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    let _ = ready.send((ApiStream::Tls(Box::new(tls)), peer)).await;
                }
                Ok(Err(error)) => {
                    tracing::debug!(%peer, "TLS handshake failed: {error}");
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                }
            }
        });
    }
}

/// One accepted connection.
#[derive(Debug)]
pub enum ApiStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for ApiStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ApiStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(s) => s.is_write_vectored(),
            Self::Tls(s) => s.is_write_vectored(),
        }
    }
}
