//! Serving the router on a socket, apart from [`crate::app`] so tests need
//! none.
//!
//! [`bind`] applies the one listen policy (`argus_node::config::check_listen`:
//! loopback only until tokens and TLS exist, unless the operator forces it,
//! which is logged as a warning at every start) before it opens the port, so
//! `argus run` and `argus serve` refuse the same addresses. [`serve`] runs
//! until the given future completes, then stops gracefully: it ends the
//! open event streams (they would otherwise hold the shutdown open forever),
//! lets requests in flight finish and returns.

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::TcpListener;

use crate::error::ServerError;
use crate::state::AppState;

/// Opens `listen` if the policy allows it. Port 0 picks a free port
/// (`local_addr` tells which).
pub async fn bind(
    listen: SocketAddr,
    allow_unauthenticated_remote: bool,
) -> Result<TcpListener, ServerError> {
    argus_node::config::check_listen(listen, allow_unauthenticated_remote)
        .map_err(|why| ServerError::Refused { listen, why })?;
    if !listen.ip().is_loopback() {
        tracing::warn!(
            %listen,
            "serving the API without authentication on a non-loopback address \
             (allow_unauthenticated_remote); anyone who reaches the port can read alerts, \
             incidents and the registry"
        );
    }
    TcpListener::bind(listen)
        .await
        .map_err(|source| ServerError::Bind { listen, source })
}

/// Serves [`crate::app`] over `state` on `listener` until `shutdown`
/// completes, then stops gracefully.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let router = crate::app(state.clone());
    // The peer's address goes into each request (`ConnectInfo`): the rate
    // limits and the failure gate count per client.
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        state.stop_streams();
    })
    .await
    .map_err(|source| ServerError::Serve { source })
}
