//! The write routes: acknowledge, note, approve, add and end silences —
//! what a responder does in an incident, over HTTP.
//!
//! Each handler checks the caller's role ([`Caller::require`]; approvals
//! also a TOTP code), parses its strict JSON body ([`JsonBody`]), then
//! calls the stage's own function (`argus_incident::state`,
//! `argus_alerting::silence`) in one transaction with the token's owner as
//! the actor (the name the CLI would take from `$USER`, so one person's
//! approvals count once however they came): the incident timeline names
//! the owner, and the
//! daemon copies the timeline into the audit log as it does the CLI's acts.
//! Silences are not in a timeline, so their handlers write the audit entry
//! themselves through the server's [`crate::auth::AuditSink`]. Under
//! `argus serve` (a read-only store) every write answers 503 `read_only`.

use std::str::FromStr;

use alloy_primitives::Address;
use argus_alerting::silence::{self, NewSilence, SilenceMatcher};
use argus_core::{ChainId, Severity, parse_address};
use argus_incident::state::{self, Act};
use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::{AuditRecord, Caller, Role};
use crate::body::JsonBody;
use crate::error::AppError;
use crate::params::{Params, shorten};
use crate::state::AppState;

/// The longest reason or note kept.
const MAX_TEXT: usize = 4000;

/// `{"reason": "…"}`, all optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReasonBody {
    reason: Option<String>,
}

/// `{"text": "…"}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoteBody {
    text: String,
}

/// `POST /api/silences`: what `argus alerts silence add` takes.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SilenceBody {
    /// An exact rule id, or a prefix ending in `*`.
    rule: Option<String>,
    max_severity: Option<String>,
    /// A chain name or id.
    chain: Option<Value>,
    /// A contract address.
    contract: Option<String>,
    /// How long: `90m`, `2h`, `1d`.
    #[serde(rename = "for")]
    for_: Option<String>,
    reason: Option<String>,
}

/// A reason or note: trimmed, capped, `None` when empty.
fn text(field: &str, value: Option<&str>) -> Result<Option<String>, AppError> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if value.chars().count() > MAX_TEXT {
        return Err(AppError::bad(
            field,
            format!("is longer than {MAX_TEXT} characters"),
        ));
    }
    Ok(Some(value.to_owned()))
}

fn incident_id(first: &str) -> Result<i64, AppError> {
    match first.trim().parse::<i64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(AppError::bad(
            "id",
            format!(
                "`{}` is not an incident number; /api/incidents lists them",
                shorten(first)
            ),
        )),
    }
}

async fn document(state: &AppState, id: i64) -> Result<Value, AppError> {
    state
        .read(move |conn| Ok(argus_incident::document::incident_document(conn, id)?))
        .await
}

/// `POST /api/incidents/{id}/ack` (responder): the incident document.
pub(crate) async fn acknowledge(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
    JsonBody(body): JsonBody<ReasonBody>,
) -> Result<Json<Value>, AppError> {
    Params::parse(query.as_deref(), &[])?;
    caller.require(Role::Responder)?;
    let id = incident_id(&super::segment(path, "id")?)?;
    let reason = text("reason", body.reason.as_deref())?;
    let actor = caller.actor();
    let now_ms = state.now_ms();
    state
        .write(move |conn| {
            let act = Act {
                actor: &actor,
                reason: reason.as_deref(),
                now_ms,
            };
            Ok(state::acknowledge(conn, id, act)?)
        })
        .await?;
    Ok(Json(document(&state, id).await?))
}

/// `POST /api/incidents/{id}/notes` (responder): the incident document.
pub(crate) async fn note(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
    JsonBody(body): JsonBody<NoteBody>,
) -> Result<Json<Value>, AppError> {
    Params::parse(query.as_deref(), &[])?;
    caller.require(Role::Responder)?;
    let id = incident_id(&super::segment(path, "id")?)?;
    let Some(note) = text("text", Some(&body.text))? else {
        return Err(AppError::bad("text", "the note is empty"));
    };
    let actor = caller.actor();
    let now_ms = state.now_ms();
    state
        .write(move |conn| {
            let act = Act {
                actor: &actor,
                reason: None,
                now_ms,
            };
            Ok(state::note(conn, id, &note, act)?)
        })
        .await?;
    Ok(Json(document(&state, id).await?))
}

/// `POST /api/incidents/{id}/steps/{step}/approve` (admin, TOTP): the
/// incident document with `approval: {approvals, needed, released}`.
pub(crate) async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<(String, String)>, PathRejection>,
    RawQuery(query): RawQuery,
    JsonBody(body): JsonBody<ReasonBody>,
) -> Result<Json<Value>, AppError> {
    Params::parse(query.as_deref(), &[])?;
    caller.require(Role::Admin)?;
    caller.require_totp()?;
    let Path((id, step)) =
        path.map_err(|_| AppError::bad("step", "does not decode as UTF-8 text"))?;
    let id = incident_id(&id)?;
    if step.is_empty() || step.len() > 128 {
        return Err(AppError::bad(
            "step",
            "give the step's id as the incident shows it",
        ));
    }
    let reason = text("reason", body.reason.as_deref())?;
    let actor = caller.actor();
    let now_ms = state.now_ms();
    let approved = state
        .write(move |conn| {
            let act = Act {
                actor: &actor,
                reason: reason.as_deref(),
                now_ms,
            };
            Ok(state::approve(conn, id, &step, act)?)
        })
        .await?;
    let mut doc = document(&state, id).await?;
    doc["approval"] = json!({
        "approvals": approved.approvals,
        "needed": approved.needed,
        "released": approved.released,
    });
    Ok(Json(doc))
}

/// `POST /api/silences` (responder): 201 with the silence.
pub(crate) async fn add_silence(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
    JsonBody(body): JsonBody<SilenceBody>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    Params::parse(query.as_deref(), &[])?;
    caller.require(Role::Responder)?;
    let matcher = SilenceMatcher {
        rule_id: body.rule.as_deref().map(rule_pattern).transpose()?,
        max_severity: body
            .max_severity
            .as_deref()
            .map(|s| {
                Severity::from_str(&s.to_ascii_lowercase()).map_err(|_| {
                    AppError::bad("max_severity", "use critical, high, medium, low or info")
                })
            })
            .transpose()?,
        chain: body.chain.as_ref().map(chain).transpose()?,
        address: body.contract.as_deref().map(contract).transpose()?,
    };
    if matcher == SilenceMatcher::default() || matcher.matches_everything() {
        return Err(AppError::bad(
            "body",
            "the silence would mute every alert; narrow it with rule, a milder max_severity \
             than critical, chain or contract",
        ));
    }
    let Some(reason) = text("reason", body.reason.as_deref())? else {
        return Err(AppError::bad(
            "reason",
            "say why these alerts are muted (it is kept in the audit log)",
        ));
    };
    let for_ms = body
        .for_
        .as_deref()
        .ok_or_else(|| AppError::bad("for", "say how long the silence lasts, e.g. \"2h\""))
        .and_then(|text| {
            argus_core::parse_window_ms(text).map_err(|e| AppError::bad("for", e.to_string()))
        })?;
    let now_ms = state.now_ms();
    let ends_at_ms = i64::try_from(for_ms)
        .ok()
        .and_then(|ms| now_ms.checked_add(ms))
        .filter(|&ms| jiff::Timestamp::from_millisecond(ms).is_ok())
        .ok_or_else(|| AppError::bad("for", "is too long a duration"))?;
    let new = NewSilence {
        matcher,
        starts_at_ms: now_ms,
        ends_at_ms,
        created_by: caller.actor(),
        reason,
    };
    let stored = new.clone();
    let id = state
        .write(move |conn| Ok(silence::add_silence(conn, &stored, now_ms)?))
        .await?;
    let doc = json!({
        "id": id,
        "matcher": new.matcher,
        "starts_at_ms": new.starts_at_ms,
        "ends_at_ms": new.ends_at_ms,
        "created_by": new.created_by,
        "reason": new.reason,
        "created_at_ms": now_ms,
        "active": true,
    });
    audit(
        &state,
        &caller,
        "silence.add",
        &new.reason,
        json!({ "silence_id": id, "matcher": new.matcher, "ends_at_ms": ends_at_ms }),
    )
    .await;
    Ok((StatusCode::CREATED, Json(doc)))
}

/// `POST /api/silences/{id}/end` (responder): the silence as it is now.
pub(crate) async fn end_silence(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
    JsonBody(body): JsonBody<ReasonBody>,
) -> Result<Json<Value>, AppError> {
    Params::parse(query.as_deref(), &[])?;
    caller.require(Role::Responder)?;
    let id = super::segment(id, "id")?;
    let id = match id.trim().parse::<i64>() {
        Ok(id) if id > 0 => id,
        _ => {
            return Err(AppError::bad(
                "id",
                format!(
                    "`{}` is not a silence id; /api/silences lists them",
                    shorten(&id)
                ),
            ));
        }
    };
    let reason = text("reason", body.reason.as_deref())?.unwrap_or_default();
    let now_ms = state.now_ms();
    let after = state
        .write(move |conn| {
            if !silence::end_silence(conn, id, now_ms)? {
                return Err(AppError::not_found(format!(
                    "there is no silence {id}; /api/silences lists them"
                )));
            }
            Ok(silence::list_silences(conn, None)?
                .into_iter()
                .find(|s| s.id == id))
        })
        .await?
        .ok_or_else(|| AppError::not_found(format!("there is no silence {id}")))?;
    audit(
        &state,
        &caller,
        "silence.end",
        &reason,
        json!({ "silence_id": id, "ends_at_ms": after.ends_at_ms }),
    )
    .await;
    let mut doc = json!(after);
    doc["active"] = json!(after.is_active(now_ms));
    Ok(Json(doc))
}

/// Records a write in the audit log when the server has a sink; a write
/// that happened is not undone when the log cannot take it, but the log
/// says so loudly.
async fn audit(state: &AppState, caller: &Caller, action: &str, reason: &str, details: Value) {
    let Some(sink) = state.auth().audit().cloned() else {
        return;
    };
    let record = AuditRecord {
        actor: caller.actor(),
        action: action.to_owned(),
        reason: reason.to_owned(),
        details,
    };
    let done = state.blocking(move || Ok(sink.record(&record))).await;
    match done {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::error!("{action} happened but is not in the audit log: {error}"),
        Err(error) => tracing::error!("{action} happened but is not in the audit log: {error}"),
    }
}

fn rule_pattern(text: &str) -> Result<String, AppError> {
    let rule = text.trim();
    if rule.is_empty()
        || rule.len() > 200
        || rule.chars().any(|c| c.is_whitespace() || c.is_control())
        || rule.find('*').is_some_and(|at| at + 1 != rule.len())
    {
        return Err(AppError::bad(
            "rule",
            "give a rule id, or a prefix ending in `*` as in `bot.*`",
        ));
    }
    Ok(rule.to_owned())
}

fn chain(value: &Value) -> Result<ChainId, AppError> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return Err(AppError::bad("chain", "give a chain name or id")),
    };
    ChainId::parse(&text, true).map_err(|e| AppError::bad("chain", shorten(&e.to_string())))
}

fn contract(text: &str) -> Result<Address, AppError> {
    parse_address(text).map_err(|e| AppError::bad("contract", shorten(&e.to_string())))
}
