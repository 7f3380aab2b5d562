//! The API over TLS on a real socket: a client that trusts the test
//! certificate (`testdata/tls`, self-signed for localhost) gets `/healthz`;
//! plain HTTP to the TLS port gets no HTTP answer; a client that opens a
//! connection and never handshakes does not stop others from being served;
//! the listen policy refuses plain HTTP on a non-loopback address, naming
//! the option that forces it; the server stops gracefully; a handler sees
//! the client's address (`ConnectInfo<SocketAddr>`) through the listener.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use argus_server::{ServerError, TlsFiles, bind, serve};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use crate::fixture::{prepare, viewer_token};

fn tls_files() -> TlsFiles {
    let dir = argus_testkit::testdata("tls");
    TlsFiles {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    }
}

/// A client that trusts the test certificate and nothing else.
fn connector() -> TlsConnector {
    let mut roots = RootCertStore::empty();
    let cert = CertificateDer::from_pem_file(tls_files().cert).unwrap();
    roots.add(cert).unwrap();
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

/// `GET path` over TLS; the whole answer.
async fn https_get(addr: SocketAddr, path: &str) -> String {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = connector().connect(name, tcp).await.unwrap();
    tls.write_all(
        format!(
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
            viewer_token().0
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut answer = Vec::new();
    // A server may close without TLS's close_notify after `Connection:
    // close`; what was read is the answer.
    let _ = tls.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_over_tls_answers_a_trusting_client_and_not_plain_http() {
    let fx = prepare();
    let listener = bind("127.0.0.1:0".parse().unwrap(), Some(&tls_files()), false)
        .await
        .unwrap();
    assert!(listener.is_tls());
    assert_eq!(listener.scheme(), "https");
    let addr = listener.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, fx.state.clone(), async move {
        let _ = stopped.await;
    }));

    // A client that connects and never says hello.
    let mut silent = TcpStream::connect(addr).await.unwrap();

    let health = https_get(addr, "/healthz").await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(health.contains("\"status\":\"ok\""), "{health}");
    let alerts = https_get(addr, "/api/alerts?limit=2").await;
    assert!(alerts.starts_with("HTTP/1.1 200"), "{alerts}");

    // The silent client's handshake is still waiting (it was not what
    // held the others up, nor was it closed to serve them).
    let mut byte = [0u8; 1];
    let still_open = tokio::time::timeout(Duration::from_millis(200), silent.read(&mut byte)).await;
    assert!(
        still_open.is_err(),
        "the silent connection was answered or closed: {still_open:?}"
    );

    // Plain HTTP to the TLS port: no HTTP answer, the connection ends.
    let mut plain = TcpStream::connect(addr).await.unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), plain.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the plain connection was not closed");
    assert!(
        !String::from_utf8_lossy(&answer).contains("HTTP/1.1"),
        "{answer:?}"
    );

    stop.send(()).unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .expect("the server stops")
        .unwrap();
    assert!(outcome.is_ok(), "{outcome:?}");
    drop(silent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listen_policy_wants_tls_off_loopback_unless_forced() {
    let refused = bind("0.0.0.0:0".parse().unwrap(), None, false)
        .await
        .unwrap_err();
    let text = refused.to_string();
    assert!(matches!(refused, ServerError::Refused { .. }), "{text}");
    assert!(text.contains("insecure_remote"), "{text}");
    assert!(text.contains("--tls-cert"), "{text}");

    let with_tls = bind("0.0.0.0:0".parse().unwrap(), Some(&tls_files()), false)
        .await
        .unwrap();
    assert!(with_tls.is_tls());
    drop(with_tls);
    let forced = bind("0.0.0.0:0".parse().unwrap(), None, true)
        .await
        .unwrap();
    assert!(!forced.is_tls());
    assert_eq!(forced.scheme(), "http");
    drop(forced);

    let mut wrong = tls_files();
    wrong.key = argus_testkit::testdata("tls").join("other-key.pem");
    let error = bind("127.0.0.1:0".parse().unwrap(), Some(&wrong), false)
        .await
        .unwrap_err();
    assert!(matches!(error, ServerError::Tls { .. }), "{error}");
    assert!(error.to_string().contains("does not fit"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_sees_the_tls_clients_address() {
    use axum::extract::ConnectInfo;
    use axum::serve::ListenerExt as _;

    let listener = bind("127.0.0.1:0".parse().unwrap(), Some(&tls_files()), false)
        .await
        .unwrap();
    let addr = listener.local_addr();
    let router = axum::Router::new().route(
        "/peer",
        axum::routing::get(
            |ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() },
        ),
    );
    let server = tokio::spawn(async move {
        axum::serve(
            listener.tap_io(|_| {}),
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    let tcp = TcpStream::connect(addr).await.unwrap();
    let client = tcp.local_addr().unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = connector().connect(name, tcp).await.unwrap();
    tls.write_all(b"GET /peer HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.ends_with(&client.to_string()),
        "{answer} (client {client})"
    );
    server.abort();
}
