//! `/api/registry`: the deployments registry, as `argus registry
//! list|show|export|changes --json` print it, so other tools can retrieve
//! it without a copy of the database.

use alloy_primitives::Address;
use argus_core::ChainId;
use argus_registry::{Entry, ListFilter, Registry, Scope};
use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use serde_json::{Value, json};

use crate::error::AppError;
use crate::params::Params;
use crate::state::AppState;

/// The most change-feed rows one request returns.
const MAX_CHANGES: usize = 1000;

/// `GET /api/registry?chain=&tag=&all=`: the entries, deployments by chain
/// and label, then artifacts.
pub(crate) async fn list(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, AppError> {
    let params = Params::parse(query.as_deref(), &["chain", "tag", "all"])?;
    let filter = ListFilter {
        chain: params.chain("chain")?,
        tag: params.text("tag").map(str::to_owned),
        include_removed: params.flag("all")?,
    };
    let store = state.store().clone();
    let entries = state
        .blocking(move || Ok(Registry::open(&store)?.list(&filter)?))
        .await?;
    let contracts: Vec<Value> = entries.iter().map(entry_json).collect();
    Ok(Json(json!({ "contracts": contracts })))
}

/// `GET /api/registry/{target}?chain=&artifact=`: one entry by label or
/// address, with its versions, proxies, functions, events, errors and ABI.
pub(crate) async fn show(
    State(state): State<AppState>,
    target: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, AppError> {
    let target = super::segment(target, "target")?;
    let params = Params::parse(query.as_deref(), &["chain", "artifact"])?;
    let scope = match (params.chain("chain")?, params.flag("artifact")?) {
        (Some(_), true) => {
            return Err(AppError::bad(
                "artifact",
                "an artifact has no chain; give chain or artifact, not both",
            ));
        }
        (Some(chain), false) => Scope::Chain(chain),
        (None, true) => Scope::Artifacts,
        (None, false) => Scope::Any,
    };
    if target.trim().is_empty() || target.chars().count() > crate::params::MAX_VALUE {
        return Err(AppError::bad("target", "give a label or an address"));
    }
    let store = state.store().clone();
    let document = state
        .blocking(move || {
            let registry = Registry::open(&store)?;
            let entry = registry.find(&target, scope)?;
            let versions = registry.versions(&entry)?;
            let proxies = registry.proxies_of(&entry)?;
            Ok(show_json(&entry, &versions, &proxies))
        })
        .await?;
    Ok(Json(document))
}

/// `GET /api/registry/export?all_versions=`: the export document of
/// `argus registry export`.
pub(crate) async fn export(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<argus_registry::ExportDocument>, AppError> {
    let params = Params::parse(query.as_deref(), &["all_versions"])?;
    let all_versions = params.flag("all_versions")?;
    let store = state.store().clone();
    let document = state
        .blocking(move || Ok(Registry::open(&store)?.export(all_versions)?))
        .await?;
    Ok(Json(document))
}

/// `GET /api/registry/changes?after=N&limit=`: the change feed after row
/// `N`, oldest first; `next_after` is the cursor for the next call.
pub(crate) async fn changes(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, AppError> {
    let params = Params::parse(query.as_deref(), &["after", "limit"])?;
    let after = params
        .get("after", |text| match text.parse::<i64>() {
            Ok(n) if n >= 0 => Ok(n),
            _ => Err(format!(
                "`{}` is not a change id (0 or more)",
                crate::params::shorten(text)
            )),
        })?
        .unwrap_or(0);
    let limit = params.limit(MAX_CHANGES, MAX_CHANGES)?;
    let store = state.store().clone();
    let mut changes = state
        .blocking(move || Ok(Registry::open(&store)?.changes_since(after)?))
        .await?;
    changes.truncate(limit);
    let next_after = changes.last().map_or(after, |c| c.id);
    Ok(Json(
        json!({ "changes": changes, "next_after": next_after }),
    ))
}

fn checksum(address: Option<Address>) -> Option<String> {
    address.map(|a| a.to_checksum(None))
}

/// An entry as `argus registry list --json` prints it.
fn entry_json(entry: &Entry) -> Value {
    json!({
        "id": entry.id,
        "chain_id": entry.chain.map(|c| c.0),
        "chain": entry.chain.map(ChainId::name),
        "address": checksum(entry.address),
        "label": entry.label,
        "kind": entry.kind,
        "abi_version": entry.abi_version,
        "abi_hash": entry.abi_hash,
        "source": entry.source,
        "tags": entry.tags,
        "implementation": checksum(entry.implementation),
        "removed": entry.removed_at.is_some(),
        "created_at": entry.created_at,
        "updated_at": entry.updated_at,
    })
}

/// An entry in full, as `argus registry show --json` prints it.
fn show_json(entry: &Entry, versions: &[argus_registry::AbiVersion], proxies: &[Address]) -> Value {
    let mut value = entry_json(entry);
    value["proxies"] = json!(
        proxies
            .iter()
            .map(|a| a.to_checksum(None))
            .collect::<Vec<_>>()
    );
    value["versions"] = versions
        .iter()
        .map(|v| {
            json!({
                "version": v.version,
                "abi_hash": v.abi_hash,
                "source": v.source,
                "imported_at": v.imported_at,
            })
        })
        .collect();
    value["functions"] = entry
        .abi
        .functions()
        .map(|f| {
            json!({
                "selector": f.selector().to_string(),
                "signature": f.signature(),
                "state_mutability": f.state_mutability.as_json_str(),
            })
        })
        .collect();
    value["events"] = entry
        .abi
        .events()
        .map(|e| {
            json!({
                "topic0": e.selector().to_string(),
                "signature": e.signature(),
                "anonymous": e.anonymous,
            })
        })
        .collect();
    value["errors"] = entry
        .abi
        .errors()
        .map(|e| json!({ "selector": e.selector().to_string(), "signature": e.signature() }))
        .collect();
    value["abi"] = json!(entry.abi);
    value
}
