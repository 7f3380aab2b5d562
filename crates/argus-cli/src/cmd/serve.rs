//! `argus serve`: the HTTP API over a data directory, read-only, without a
//! daemon (`argus run` serves the same API beside its node when the config
//! has a `server:` section).
//!
//! The store is opened read-only (`Store::open_read_only_in_dir`): nothing
//! is created or migrated, so it serves a copy of a data directory or one
//! the user may only read. With `-c argus.yaml` it also knows the rules
//! (`/api/rules`), the public allow-list (`/status`) and the readiness
//! threshold; the data directory is the config's. The event stream polls
//! the store every second. Every `/api/*` route needs a token (`argus
//! tokens create`); writes answer 503 `read_only` (they happen inside `argus
//! run`), and failed authentications are logged and counted in `/metrics`
//! only (no node to signal, no audit writer). It serves HTTPS with
//! `--tls-cert` and `--tls-key` (or the config's `server.tls`); an address
//! other than loopback needs them, unless `--insecure-remote` (or the
//! config's `insecure_remote`) forces plain HTTP, warned about at every start.
//! SIGINT, SIGTERM or SIGHUP stop it gracefully.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use argus_server::AppState;

use crate::GlobalArgs;
use crate::cmd::run::StopSignal;
use crate::config;

/// Where `argus serve` listens when neither `--listen` nor the config says.
const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);

#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// Where to listen (default: the config's `server.listen`, else
    /// 127.0.0.1:8080). Port 0 picks a free port, printed on stderr.
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
    /// The daemon's config: its data directory, its rules (for
    /// `/api/rules`) and its `server:` section (the public status page).
    #[arg(short, long)]
    config: Option<PathBuf>,
    /// Serve HTTPS with this certificate chain (PEM, the server's
    /// certificate first); needs `--tls-key`. Overrides the config's
    /// `server.tls`.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of `--tls-cert` (PEM, unencrypted, mode 0600).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve plain HTTP on an address other than loopback: everything the
    /// API shows crosses the network in clear. Warned about at every start.
    #[arg(long, alias = "allow-unauthenticated-remote")]
    insecure_remote: bool,
}

pub(crate) fn run(global: &GlobalArgs, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let (loaded, data_dir) = match &args.config {
        Some(path) => match config::load_for_reading(path, global) {
            Some((loaded, data_dir)) => (Some(loaded), data_dir),
            None => return Ok(ExitCode::from(2)),
        },
        None => (None, global.data_dir.clone()),
    };
    let store = crate::stores::open_read_only(&data_dir)?;
    let server = loaded.as_ref().and_then(|l| l.server.clone());
    let listen = args
        .listen
        .or(server.as_ref().map(|s| s.listen))
        .unwrap_or(DEFAULT_LISTEN);
    let insecure_remote =
        args.insecure_remote || server.as_ref().is_some_and(|s| s.insecure_remote);
    let tls = match (args.tls_cert, args.tls_key) {
        (Some(cert), Some(key)) => Some(argus_server::TlsFiles { cert, key }),
        _ => server.as_ref().and_then(|s| s.tls.clone()),
    };
    if let Some(server) = &server {
        // The plain-HTTP warning is the server's own, logged at bind.
        for warning in server.deprecations() {
            sh_eprintln!("warning: {warning}");
        }
    }
    let mut state = AppState::new(store, data_dir.clone());
    if let Some(loaded) = &loaded {
        state = state.with_rules(&loaded.rules);
    }
    if let Some(server) = server {
        state = state
            .with_auth(argus_server::AuthConfig {
                rate_limit: server.rate_limit.into(),
                ..argus_server::AuthConfig::default()
            })
            .with_public(server.public)
            .with_ready_max_lag(server.ready_max_lag);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let stop = StopSignal::listen().context("cannot listen for SIGINT, SIGTERM and SIGHUP")?;
        let listener = argus_server::bind(listen, tls.as_ref(), insecure_remote).await?;
        sh_eprintln!(
            "argus: serving the API on {}://{}/ (read-only over {}); /openapi.json lists the routes",
            listener.scheme(),
            listener.local_addr(),
            data_dir.display()
        );
        argus_server::serve(listener, state, async move {
            let name = stop.wait().await;
            sh_eprintln!("argus: stopping ({name})");
        })
        .await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
