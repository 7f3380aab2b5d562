//! `/api/alerts` and `/api/silences`: the alerts Argus recorded with their
//! deliveries, and the silences, as `argus alerts list|show` and `argus
//! alerts silence list` show them.

use argus_alerting::outbox::{self, AlertFilter};
use argus_alerting::{AlertState, silence};
use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use serde_json::{Value, json};

use crate::error::AppError;
use crate::params::{Params, shorten};
use crate::state::AppState;

/// The most alerts one request returns.
pub(crate) const MAX_ALERTS: usize = 1000;

/// `GET /api/alerts?state=&rule=&min_severity=&since=&limit=`: newest first.
pub(crate) async fn list(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, AppError> {
    let params = Params::parse(
        query.as_deref(),
        &["state", "rule", "min_severity", "since", "limit"],
    )?;
    let filter = AlertFilter {
        state: params.get("state", parse_state)?,
        rule_id: params.text("rule").map(str::to_owned),
        min_severity: params.severity("min_severity")?,
        since_ms: params.since("since", state.now_ms())?,
        limit: Some(params.limit(20, MAX_ALERTS)?),
    };
    let alerts = state
        .read(move |conn| Ok(outbox::list_alerts(conn, &filter)?))
        .await?;
    Ok(Json(json!({ "alerts": alerts })))
}

/// `GET /api/alerts/{id}`: one alert (its full `0x…` id) with its
/// deliveries.
pub(crate) async fn show(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, AppError> {
    Params::parse(query.as_deref(), &[])?;
    let id = super::segment(id, "id")?;
    let id = alert_id(&id)?;
    let document = state
        .read(move |conn| {
            let alert = outbox::get_alert(conn, &id)?.ok_or_else(|| {
                AppError::not_found(format!(
                    "no alert has the id {id}; /api/alerts lists the recent ones"
                ))
            })?;
            let deliveries = outbox::deliveries_of(conn, &alert.id)?;
            Ok(json!({ "alert": alert, "deliveries": deliveries }))
        })
        .await?;
    Ok(Json(document))
}

/// `GET /api/silences?active=`: newest first; only those in force now with
/// `active=true`.
pub(crate) async fn silences(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, AppError> {
    let params = Params::parse(query.as_deref(), &["active"])?;
    let active_at = params.flag("active")?.then(|| state.now_ms());
    let now_ms = state.now_ms();
    let silences = state
        .read(move |conn| Ok(silence::list_silences(conn, active_at)?))
        .await?;
    let items: Vec<Value> = silences
        .iter()
        .map(|s| {
            let mut value = json!(s);
            value["active"] = json!(s.is_active(now_ms));
            value
        })
        .collect();
    Ok(Json(json!({ "silences": items })))
}

/// An alert id: `0x` and 64 hex digits, lowercased as stored.
pub(crate) fn alert_id(text: &str) -> Result<String, AppError> {
    let digits = text
        .trim()
        .strip_prefix("0x")
        .or_else(|| text.trim().strip_prefix("0X"))
        .unwrap_or("");
    if digits.len() != 64 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AppError::bad(
            "id",
            format!(
                "`{}` is not an alert id; give the full 0x… id (64 hex digits) that /api/alerts shows",
                shorten(text)
            ),
        ));
    }
    Ok(format!("0x{}", digits.to_ascii_lowercase()))
}

fn parse_state(text: &str) -> Result<AlertState, String> {
    [
        AlertState::Firing,
        AlertState::Suppressed,
        AlertState::Silenced,
        AlertState::Retracted,
    ]
    .into_iter()
    .find(|state| state.as_str().eq_ignore_ascii_case(text))
    .ok_or_else(|| {
        format!(
            "`{}` is not an alert state; use firing, suppressed, silenced or retracted",
            shorten(text)
        )
    })
}
