//! The monitor itself: `/api/rules` (what is watched), `/api/chains` (how
//! far each chain is followed, and each endpoint's figures inside the
//! daemon), `/api/outbox` (what each notifier delivered, holds or gave up
//! on) and `/api/audit`, `/api/audit/head` (the audit log, read from its
//! files exactly as `argus audit query|head` read them: no lock taken,
//! nothing created).

use argus_alerting::{DeliveryStatus, stats};
use argus_audit::{AuditPaths, CheckpointKey, CheckpointVerifier, Query, read_log};
use axum::Json;
use axum::extract::{RawQuery, State};
use serde_json::{Value, json};

use crate::error::AppError;
use crate::health::chain_lags;
use crate::params::{Params, shorten};
use crate::routes::rfc3339;
use crate::state::AppState;

/// The most audit entries one request returns.
const MAX_AUDIT: usize = 1000;

/// `GET /api/rules`: each rule's id, kind, severity and description, from
/// the loaded config.
pub(crate) async fn rules(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, AppError> {
    Params::parse(query.as_deref(), &[])?;
    let rules = state.rules().ok_or_else(|| {
        AppError::not_found(
            "this server has no config, so no rules to show; start it with `argus serve -c \
             argus.yaml`, or use the daemon's server (`server:` in argus.yaml)",
        )
    })?;
    Ok(Json(json!({ "rules": rules })))
}

/// `GET /api/chains`: each chain's newest finished block and its lag; inside
/// the daemon also each endpoint's figures.
pub(crate) async fn chains(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, AppError> {
    Params::parse(query.as_deref(), &[])?;
    let lags = chain_lags(&state).await?;
    let endpoints = state.node().map(argus_node::NodeView::endpoint_stats);
    let chains: Vec<Value> = lags
        .into_iter()
        .map(|lag| {
            let mut value = json!(lag);
            value["endpoints"] = match &endpoints {
                Some(all) => json!(all.get(&argus_core::ChainId(lag.chain_id))),
                None => Value::Null,
            };
            value
        })
        .collect();
    Ok(Json(json!({
        "live": state.node().is_some(),
        "ready_max_lag_ms": u64::try_from(state.ready_max_lag().as_millis()).unwrap_or(u64::MAX),
        "chains": chains,
    })))
}

/// `GET /api/outbox`: deliveries per notifier, the oldest still pending,
/// alerts of the last day by state.
pub(crate) async fn outbox(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, AppError> {
    Params::parse(query.as_deref(), &[])?;
    let now_ms = state.now_ms();
    let document = state
        .read(move |conn| {
            let notifiers: Vec<Value> = stats::deliveries_by_notifier(conn)?
                .into_iter()
                .map(|n| {
                    json!({
                        "notifier": n.notifier,
                        "pending": n.counts.of(DeliveryStatus::Pending),
                        "delivered": n.counts.of(DeliveryStatus::Delivered),
                        "cancelled": n.counts.of(DeliveryStatus::Cancelled),
                        "failed": n.counts.of(DeliveryStatus::Failed),
                        "digested": n.counts.of(DeliveryStatus::Digested),
                        "last_delivered_at_ms": n.last_delivered_at_ms,
                        "last_error": n.last_error,
                    })
                })
                .collect();
            let oldest = stats::oldest_pending_at_ms(conn)?;
            let day = stats::alerts_since(conn, now_ms.saturating_sub(86_400_000))?;
            let last_alert_ms = stats::newest_alert_at_ms(conn)?;
            Ok(json!({
                "notifiers": notifiers,
                "oldest_pending_at_ms": oldest,
                "oldest_pending_age_ms": oldest.map(|at| now_ms.saturating_sub(at).max(0)),
                "alerts_24h": {
                    "firing": day.firing,
                    "suppressed": day.suppressed,
                    "silenced": day.silenced,
                    "retracted": day.retracted,
                },
                "last_alert_at": last_alert_ms.and_then(rfc3339),
            }))
        })
        .await?;
    Ok(Json(document))
}

/// `GET /api/audit?actor=&action=&since=&until=&limit=`: the newest
/// matching entries, oldest first (`action` may end in `*`).
pub(crate) async fn audit(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, AppError> {
    let params = Params::parse(
        query.as_deref(),
        &["actor", "action", "since", "until", "limit"],
    )?;
    let now_ms = state.now_ms();
    let instant = |name: &str| -> Result<Option<jiff::Timestamp>, AppError> {
        params
            .since(name, now_ms)?
            .map(|ms| {
                jiff::Timestamp::from_millisecond(ms)
                    .map_err(|_| AppError::bad(name, "out of the range of times"))
            })
            .transpose()
    };
    let query = Query {
        since: instant("since")?,
        until: instant("until")?,
        actor: params.text("actor").map(str::to_owned),
        action: params.text("action").map(str::to_owned),
    };
    let limit = params.limit(100, MAX_AUDIT)?;
    let paths = AuditPaths::new(state.data_dir());
    let entries = state
        .blocking(move || {
            require_log(&paths)?;
            let log = read_log(&paths)?;
            let mut newest: Vec<Value> = log
                .entries()
                .rev()
                .filter(|e| query.matches(e))
                .take(limit)
                .map(|e| json!(e))
                .collect();
            newest.reverse();
            Ok(newest)
        })
        .await?;
    Ok(Json(json!({ "entries": entries })))
}

/// `GET /api/audit/head`: the last signed checkpoint and the public key
/// that verifies it, the document `argus audit head --json` prints (to
/// publish as a witness).
pub(crate) async fn audit_head(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, AppError> {
    Params::parse(query.as_deref(), &[])?;
    let paths = AuditPaths::new(state.data_dir());
    let document = state
        .blocking(move || {
            require_log(&paths)?;
            let log = read_log(&paths)?;
            let verifier = if paths.public_key.exists() {
                CheckpointVerifier::load(&paths.public_key)?
            } else if paths.key.exists() {
                CheckpointKey::load(&paths.key)?.verifier()
            } else {
                return Err(AppError::not_found(format!(
                    "the audit log in {} has no public key beside it (checkpoint.pub)",
                    shorten(&paths.dir.display().to_string())
                )));
            };
            let checkpoint = log
                .last_checkpoint()
                .ok_or_else(|| AppError::not_found("the audit log has no checkpoint yet"))?;
            Ok(json!({ "checkpoint": checkpoint, "public_key": verifier.to_hex() }))
        })
        .await?;
    Ok(Json(document))
}

fn require_log(paths: &AuditPaths) -> Result<(), AppError> {
    if paths.exists() {
        Ok(())
    } else {
        Err(AppError::not_found(
            "there is no audit log in this data directory yet; it is created by the first \
             recorded event",
        ))
    }
}
