//! `/healthz`, `/readyz`, and each chain's lag, which readiness, the chain
//! route and the public status page all judge the same way.
//!
//! - `/healthz` answers when the process can answer: nothing is read.
//! - `/readyz` reads the store (a connection and its schema version); inside
//!   the daemon it also asks that every followed chain has a tip and that
//!   its lag is under `server.ready_max_lag`. 503 with the failing checks
//!   otherwise, so a load balancer or supervisor can act on it.
//!
//! **Lag** is the age of the newest block the monitor finished (its
//! timestamp against the clock), not the distance to a node's head: the
//! server asks no node, so a health check never waits on an RPC endpoint,
//! and a monitor whose nodes all stall shows as lagging too, which is what
//! the operator needs to know. A chain that makes no blocks for longer than
//! the threshold (a quiet test network) reads as lagging; the threshold is
//! the operator's.

use std::collections::BTreeMap;

use argus_core::{BlockRef, ChainId};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{Value, json};

use crate::error::AppError;
use crate::state::AppState;

/// One chain's newest finished block and how old it is.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ChainLag {
    pub chain_id: u64,
    pub chain: String,
    /// The newest block finished (`None` before the first).
    pub tip: Option<BlockRef>,
    /// Milliseconds between the tip's timestamp and now.
    pub lag_ms: Option<i64>,
    /// A tip younger than the threshold.
    pub ok: bool,
}

/// Each chain's lag: the node's live tips inside the daemon, else the
/// checkpoints in the store.
pub(crate) async fn chain_lags(state: &AppState) -> Result<Vec<ChainLag>, AppError> {
    let tips: BTreeMap<ChainId, Option<BlockRef>> = match state.node() {
        Some(node) => node.tips(),
        None => {
            state
                .read(|conn| {
                    let mut tips = BTreeMap::new();
                    for chain in argus_chain::db::checkpointed_chains(conn)? {
                        let cursor = argus_chain::db::load_cursor(conn, chain)?;
                        tips.insert(chain, cursor.tip().copied());
                    }
                    Ok(tips)
                })
                .await?
        }
    };
    let now_ms = state.now_ms();
    let max_ms = i64::try_from(state.ready_max_lag().as_millis()).unwrap_or(i64::MAX);
    Ok(tips
        .into_iter()
        .map(|(chain, tip)| {
            let lag_ms = tip.map(|t| t.age_ms(now_ms));
            ChainLag {
                chain_id: chain.0,
                chain: chain.name(),
                tip,
                lag_ms,
                ok: lag_ms.is_some_and(|lag| lag <= max_ms),
            }
        })
        .collect())
}

/// `GET /healthz`: the process is up.
pub(crate) async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: the store reads, and inside the daemon every chain is
/// followed closely enough.
pub(crate) async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let mut checks = Vec::new();
    let store = state.read(|conn| Ok(conn.schema_version()?)).await;
    checks.push(match &store {
        Ok(version) => json!({ "check": "store", "ok": true, "schema_version": version }),
        Err(error) => json!({ "check": "store", "ok": false, "detail": error.to_string() }),
    });
    let mut ready = store.is_ok();
    if state.node().is_some() {
        match chain_lags(&state).await {
            Ok(lags) => {
                if lags.is_empty() {
                    ready = false;
                    checks.push(json!({
                        "check": "chains",
                        "ok": false,
                        "detail": "the node follows no chain yet",
                    }));
                }
                for lag in lags {
                    ready &= lag.ok;
                    let detail = match lag.lag_ms {
                        None => "no block finished yet".to_owned(),
                        Some(ms) if lag.ok => format!("newest block {ms} ms old"),
                        Some(ms) => format!(
                            "newest block {ms} ms old, more than the {} s allowed (server.ready_max_lag)",
                            state.ready_max_lag().as_secs()
                        ),
                    };
                    checks.push(json!({
                        "check": format!("chain {}", lag.chain),
                        "ok": lag.ok,
                        "lag_ms": lag.lag_ms,
                        "detail": detail,
                    }));
                }
            }
            Err(error) => {
                ready = false;
                checks.push(json!({ "check": "chains", "ok": false, "detail": error.to_string() }));
            }
        }
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if ready { "ready" } else { "not_ready" },
            "node": state.node().is_some(),
            "checks": checks,
        })),
    )
}
