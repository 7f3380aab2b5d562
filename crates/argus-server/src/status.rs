//! The public status page: `/status` (HTML) and `/status.json`.
//!
//! The community watches it, so it shows only what the operator marked
//! public in `server.public` and what an incident's responders wrote for
//! the public:
//!
//! - each named system, its chains and the contract addresses listed
//!   with it, and its health (every chain's lag under the readiness
//!   threshold: `ok`, else `degraded`);
//! - each open incident's severity, opening time and its `public_status`
//!   line (set by `argus incidents status` or a playbook notice with
//!   `audience: public`), or a neutral line when none was written.
//!
//! It is built from that allow-list and those three incident columns
//! alone: no rule, title, alert, endpoint, notifier or unlisted address is
//! read, so none can leak. The HTML is rendered here, small and without
//! scripts, every value escaped; it refreshes itself every minute.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use argus_incident::db::{self, IncidentFilter};
use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::AppError;
use crate::health::chain_lags;
use crate::params::Params;
use crate::routes::rfc3339;
use crate::state::AppState;

/// The most open incidents the page lists.
const MAX_INCIDENTS: usize = 50;

/// What the public sees when responders wrote no line yet.
const NO_PUBLIC_LINE: &str = "We are investigating.";

#[derive(Debug, Serialize)]
struct PublicStatus {
    title: String,
    /// `operational`, `degraded` (a system's chain lags) or `incident`.
    status: &'static str,
    updated_at: Option<String>,
    systems: Vec<PublicSystemStatus>,
    incidents: Vec<PublicIncident>,
}

#[derive(Debug, Serialize)]
struct PublicSystemStatus {
    name: String,
    health: &'static str,
    chains: Vec<PublicChain>,
    contracts: Vec<PublicContractView>,
}

#[derive(Debug, Serialize)]
struct PublicChain {
    chain: String,
    health: &'static str,
}

#[derive(Debug, Serialize)]
struct PublicContractView {
    chain: String,
    address: String,
    label: Option<String>,
}

#[derive(Debug, Serialize)]
struct PublicIncident {
    severity: String,
    opened_at: Option<String>,
    state: &'static str,
    status: String,
}

async fn build(state: &AppState) -> Result<PublicStatus, AppError> {
    let public = state.public().clone();
    let lags: BTreeMap<u64, bool> = chain_lags(state)
        .await?
        .into_iter()
        .map(|lag| (lag.chain_id, lag.ok))
        .collect();
    let health = |ok: bool| if ok { "ok" } else { "degraded" };
    let systems: Vec<PublicSystemStatus> = public
        .systems
        .iter()
        .map(|system| {
            let chains: Vec<PublicChain> = system
                .chains
                .iter()
                .map(|chain| PublicChain {
                    chain: chain.name(),
                    health: health(lags.get(&chain.0).copied().unwrap_or(false)),
                })
                .collect();
            PublicSystemStatus {
                name: system.name.clone(),
                health: health(chains.iter().all(|c| c.health == "ok")),
                chains,
                contracts: system
                    .contracts
                    .iter()
                    .map(|c| PublicContractView {
                        chain: c.chain.name(),
                        address: c.address.to_checksum(None),
                        label: c.label.clone(),
                    })
                    .collect(),
            }
        })
        .collect();
    let open = state
        .read(|conn| {
            Ok(db::list_incidents(
                conn,
                &IncidentFilter {
                    open_only: true,
                    limit: Some(MAX_INCIDENTS),
                    ..IncidentFilter::default()
                },
            )?)
        })
        .await?;
    let incidents: Vec<PublicIncident> = open
        .into_iter()
        .map(|incident| PublicIncident {
            severity: incident.severity.to_string(),
            opened_at: rfc3339(incident.opened_ms),
            state: incident.state.as_str(),
            status: incident
                .public_status
                .filter(|line| !line.trim().is_empty())
                .unwrap_or_else(|| NO_PUBLIC_LINE.to_owned()),
        })
        .collect();
    let status = if !incidents.is_empty() {
        "incident"
    } else if systems.iter().any(|s| s.health != "ok") {
        "degraded"
    } else {
        "operational"
    };
    Ok(PublicStatus {
        title: public.title,
        status,
        updated_at: rfc3339(state.now_ms()),
        systems,
        incidents,
    })
}

/// `GET /status.json`.
pub(crate) async fn json(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<impl Serialize>, AppError> {
    Params::parse(query.as_deref(), &[])?;
    Ok(Json(build(&state).await?))
}

/// `GET /status`.
pub(crate) async fn page(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, AppError> {
    Params::parse(query.as_deref(), &[])?;
    let status = build(&state).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'",
            ),
        ],
        html(&status),
    )
        .into_response())
}

fn html(status: &PublicStatus) -> String {
    let mut out = String::with_capacity(4096);
    let title = escape(&status.title);
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta http-equiv=\"refresh\" content=\"60\"><title>{title}</title><style>\
         body{{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#222}}\
         .ok{{color:#176f2c}}.degraded,.incident{{color:#a0301a}}.operational{{color:#176f2c}}\
         li{{margin:.4rem 0}}code{{font-size:.85em;word-break:break-all}}small{{color:#666}}\
         </style></head><body>\n<h1>{title}</h1>\n<p class=\"{class}\"><strong>{summary}</strong></p>\n",
        class = status.status,
        summary = match status.status {
            "operational" => "All systems operational",
            "degraded" => "Some systems are degraded",
            _ => "An incident is open",
        },
    );
    if !status.incidents.is_empty() {
        out.push_str("<h2>Open incidents</h2>\n<ul>\n");
        for incident in &status.incidents {
            let _ = writeln!(
                out,
                "<li><strong>{}</strong> {} <small>opened {} ({})</small></li>",
                escape(&incident.severity),
                escape(&incident.status),
                escape(incident.opened_at.as_deref().unwrap_or("-")),
                escape(incident.state),
            );
        }
        out.push_str("</ul>\n");
    }
    if !status.systems.is_empty() {
        out.push_str("<h2>Systems</h2>\n<ul>\n");
        for system in &status.systems {
            let _ = write!(
                out,
                "<li><strong>{}</strong> <span class=\"{}\">{}</span>",
                escape(&system.name),
                system.health,
                system.health,
            );
            let chains: Vec<String> = system
                .chains
                .iter()
                .map(|c| format!("{} ({})", escape(&c.chain), c.health))
                .collect();
            let _ = write!(out, "<br><small>chains: {}</small>", chains.join(", "));
            for contract in &system.contracts {
                let _ = write!(
                    out,
                    "<br><small>{} on {}: <code>{}</code></small>",
                    escape(contract.label.as_deref().unwrap_or("contract")),
                    escape(&contract.chain),
                    escape(&contract.address),
                );
            }
            out.push_str("</li>\n");
        }
        out.push_str("</ul>\n");
    }
    let _ = writeln!(
        out,
        "<p><small>Updated {}</small></p>\n</body></html>",
        escape(status.updated_at.as_deref().unwrap_or("-"))
    );
    out
}

/// Text as HTML: the five characters that can end an element or an
/// attribute become entities.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_a_status_line_is_escaped() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }
}
