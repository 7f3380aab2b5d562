//! `POST /api/bots/{bot}/submissions`: a bot reports the transactions it
//! submitted, so the daemon's key-use check (`argus-node`'s `keyuse`)
//! knows them. The same reports as a bot's JSON-lines file, over HTTP.
//!
//! Needs a responder token (a bot's own token is made with
//! `argus tokens create --role responder`). The bot must be one of the
//! config's `incidents.bots`, and each report's `from` one of its
//! `wallets`: a token cannot whitelist transactions of another address.
//! Reports are filed by hash in `bot_submissions` (a hash reported twice
//! keeps its first row) in one transaction; all are refused when one is
//! wrong, the error naming it (`submissions[2].tx_hash`). Not written to the
//! audit log: a bot reports every transaction it sends.

use argus_sources::db::SubmissionVia;
use argus_sources::submissions::submission_from_json;
use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::{Caller, Role};
use crate::body::JsonBody;
use crate::error::AppError;
use crate::params::{Params, shorten};
use crate::state::AppState;

/// The most reports in one request.
const MAX_REPORTS: usize = 100;

/// `{"submissions": [{"tx_hash": "0x…", "from": "0x…", "nonce": 7, "chain": "mainnet"}, …]}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubmissionsBody {
    submissions: Vec<Value>,
}

/// `POST /api/bots/{bot}/submissions` (responder): `{"bot", "received",
/// "new"}`.
pub(crate) async fn submissions(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
    JsonBody(body): JsonBody<SubmissionsBody>,
) -> Result<Json<Value>, AppError> {
    Params::parse(query.as_deref(), &[])?;
    caller.require(Role::Responder)?;
    let bot = super::segment(path, "bot")?;
    let Some(wallets) = state.bot_wallets(&bot) else {
        return Err(AppError::not_found(format!(
            "no bot `{}` in the config's incidents.bots",
            shorten(&bot)
        )));
    };
    if body.submissions.is_empty() {
        return Err(AppError::bad(
            "submissions",
            "is empty; send at least one report",
        ));
    }
    if body.submissions.len() > MAX_REPORTS {
        return Err(AppError::bad(
            "submissions",
            format!(
                "holds {} reports; send at most {MAX_REPORTS} per request",
                body.submissions.len()
            ),
        ));
    }
    let mut reports = Vec::with_capacity(body.submissions.len());
    for (at, value) in body.submissions.into_iter().enumerate() {
        let report = submission_from_json(value)
            .map_err(|why| AppError::bad(&format!("submissions[{at}]"), why))?;
        if !wallets.is_empty() && !wallets.contains(&report.from) {
            return Err(AppError::bad(
                &format!("submissions[{at}].from"),
                format!(
                    "{} is not a wallet of bot `{}` (incidents.bots.{}.wallets)",
                    report.from.to_checksum(None),
                    shorten(&bot),
                    shorten(&bot)
                ),
            ));
        }
        reports.push(report);
    }
    let received = reports.len();
    let now_ms = state.now_ms();
    let name = bot.clone();
    let new = state
        .write(move |conn| {
            Ok(argus_sources::db::record_submissions(
                conn,
                &name,
                SubmissionVia::Api,
                &reports,
                now_ms,
            )?)
        })
        .await?;
    Ok(Json(
        json!({ "bot": bot, "received": received, "new": new }),
    ))
}
