//! Serving the router on a socket, apart from [`crate::app`] so tests need
//! none.
//!
//! [`bind`] applies the one listen policy (`argus_node::config::check_listen`:
//! loopback in plain HTTP, any other address over TLS, unless the operator
//! forces plain HTTP with `insecure_remote`, which is logged as a warning at
//! every start) and loads the certificate before it opens the port, so
//! `argus run` and `argus serve` refuse the same addresses and a bad key
//! stops the start. [`serve`] runs until the given future completes, then
//! stops gracefully: it ends the open event streams (they would otherwise
//! hold the shutdown open forever), lets requests in flight finish and
//! returns. Handlers can read the client's address (`ConnectInfo<SocketAddr>`).

use std::future::Future;
use std::net::SocketAddr;

use argus_node::config::TlsFiles;
use axum::serve::ListenerExt as _;
use tokio::net::TcpListener;

use crate::error::ServerError;
use crate::listener::ApiListener;
use crate::state::AppState;

/// Opens `listen` if the policy allows it, over TLS when `tls` names a
/// certificate and key. Port 0 picks a free port
/// ([`ApiListener::local_addr`] tells which).
pub async fn bind(
    listen: SocketAddr,
    tls: Option<&TlsFiles>,
    insecure_remote: bool,
) -> Result<ApiListener, ServerError> {
    argus_node::config::check_listen(listen, tls.is_some(), insecure_remote)
        .map_err(|why| ServerError::Refused { listen, why })?;
    let config = tls
        .map(|files| argus_core::tls::server_config(&files.cert, &files.key))
        .transpose()
        .map_err(|source| ServerError::Tls { source })?;
    if let Some(warning) =
        argus_node::config::remote_warning(listen, tls.is_some(), insecure_remote)
    {
        tracing::warn!("{warning}");
    }
    let socket = TcpListener::bind(listen)
        .await
        .map_err(|source| ServerError::Bind { listen, source })?;
    let bound = match config {
        Some(config) => ApiListener::tls(socket, config),
        None => ApiListener::plain(socket),
    };
    bound.map_err(|source| ServerError::Bind { listen, source })
}

/// Serves [`crate::app`] over `state` on `listener` until `shutdown`
/// completes, then stops gracefully.
pub async fn serve(
    listener: ApiListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let router = crate::app(state.clone());
    // The peer's address goes into each request (`ConnectInfo`): the rate
    // limits and the failure gate count per client. `tap_io` adds nothing;
    // it is how axum gives a listener of our own the `ConnectInfo<SocketAddr>`
    // that its `TcpListener` has.
    axum::serve(
        listener.tap_io(|_| {}),
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        state.stop_streams();
    })
    .await
    .map_err(|source| ServerError::Serve { source })
}
