//! `/api/incidents` and `/api/metrics/response`: incidents as `argus
//! incidents list|show --json` print them (the same document, built by
//! `argus_incident::document`), their reports in JSON or Markdown, and the
//! response metrics of `argus metrics`.

use std::str::FromStr;

use argus_incident::db::{self, IncidentFilter};
use argus_incident::{IncidentSeverity, IncidentState};
use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::error::AppError;
use crate::params::{Params, shorten};
use crate::state::AppState;

/// The most incidents one request returns.
const MAX_INCIDENTS: usize = 500;

/// `GET /api/incidents?state=&open=&severity=&since=&limit=`: newest first.
pub(crate) async fn list(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, AppError> {
    let params = Params::parse(
        query.as_deref(),
        &["state", "open", "severity", "since", "limit"],
    )?;
    let incident_state = params.get("state", |text| {
        IncidentState::from_str(&text.to_ascii_lowercase()).map_err(|why| shorten(&why))
    })?;
    let open_only = params.flag("open")?;
    if open_only && incident_state.is_some() {
        return Err(AppError::bad("open", "give open=true or a state, not both"));
    }
    let filter = IncidentFilter {
        state: incident_state,
        open_only,
        severity: params.get("severity", |text| {
            IncidentSeverity::from_str(&text.to_ascii_uppercase()).map_err(|_| {
                format!(
                    "`{}` is not an incident severity; use P0, P1, P2 or P3",
                    shorten(text)
                )
            })
        })?,
        since_ms: params.since("since", state.now_ms())?,
        limit: Some(params.limit(20, MAX_INCIDENTS)?),
    };
    let incidents = state
        .read(move |conn| Ok(db::list_incidents(conn, &filter)?))
        .await?;
    Ok(Json(json!({ "incidents": incidents })))
}

/// `GET /api/incidents/{id}`: the incident with its alerts, steps,
/// approvals, transactions, evidence and timeline.
pub(crate) async fn show(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, AppError> {
    Params::parse(query.as_deref(), &[])?;
    let id = super::segment(id, "id")?;
    let id = incident_id(&id)?;
    let document = state
        .read(move |conn| Ok(argus_incident::document::incident_document(conn, id)?))
        .await?;
    Ok(Json(document))
}

/// `GET /api/incidents/{id}/report?format=json|markdown`.
pub(crate) async fn report(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response, AppError> {
    let id = super::segment(id, "id")?;
    let params = Params::parse(query.as_deref(), &["format"])?;
    let markdown = match params.text("format") {
        None | Some("json") => false,
        Some("markdown" | "md") => true,
        Some(other) => {
            return Err(AppError::bad(
                "format",
                format!("`{}` is not a format; use json or markdown", shorten(other)),
            ));
        }
    };
    let id = incident_id(&id)?;
    let report = state
        .read(move |conn| Ok(argus_incident::report::report(conn, id)?))
        .await?;
    Ok(if markdown {
        (
            [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
            report.markdown(),
        )
            .into_response()
    } else {
        Json(report).into_response()
    })
}

/// `GET /api/metrics/response?since=&until=`: mean and median times to
/// detect, acknowledge, contain and resolve, and the false-positive rates.
pub(crate) async fn metrics(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<argus_incident::metrics::ResponseMetrics>, AppError> {
    let params = Params::parse(query.as_deref(), &["since", "until"])?;
    let now_ms = state.now_ms();
    let since_ms = params.since("since", now_ms)?;
    let until_ms = params.since("until", now_ms)?;
    if let (Some(since), Some(until)) = (since_ms, until_ms)
        && until <= since
    {
        return Err(AppError::bad("until", "must be after since"));
    }
    let metrics = state
        .read(move |conn| Ok(argus_incident::metrics::metrics(conn, since_ms, until_ms)?))
        .await?;
    Ok(Json(metrics))
}

/// An incident number: a positive whole number.
fn incident_id(text: &str) -> Result<i64, AppError> {
    match text.trim().parse::<i64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(AppError::bad(
            "id",
            format!(
                "`{}` is not an incident number; /api/incidents lists them",
                shorten(text)
            ),
        )),
    }
}

/// `GET /killswitch/{bot}`: what a bot configured with `http_kill_switch`
/// polls. `stop` is true while an unresolved incident holds a succeeded
/// stop of the bot (its playbook's `stop_bot` step). Public (a bot has no
/// token): it tells only whether that bot must stop, and since when.
pub(crate) async fn kill_switch(
    State(state): State<AppState>,
    bot: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, AppError> {
    let bot = super::segment(bot, "bot")?;
    if bot.is_empty() || bot.len() > 64 {
        return Err(AppError::bad(
            "bot",
            "give the bot's name as the policy's `bots:` writes it",
        ));
    }
    let orders = state
        .read(move |conn| Ok(db::kill_switch_orders(conn)?))
        .await?;
    Ok(Json(match orders.iter().find(|o| o.bot == bot) {
        Some(order) => json!({
            "bot": bot,
            "stop": true,
            "incident": order.incident_id,
            "since_ms": order.since_ms,
        }),
        None => json!({ "bot": bot, "stop": false }),
    }))
}
