//! `argus registry show`: one entry with its versions, proxies and ABI.

use std::process::ExitCode;

use serde_json::json;

use super::registry::{ScopeArgs, entry_json, open_read_only, out};
use crate::{GlobalArgs, output};

#[derive(Debug, clap::Args)]
pub(crate) struct ShowArgs {
    /// A label or an address.
    pub(crate) target: String,
    #[command(flatten)]
    pub(crate) scope: ScopeArgs,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) fn show(global: &GlobalArgs, args: ShowArgs) -> anyhow::Result<ExitCode> {
    let registry = open_read_only(global)?;
    let entry = registry.find(&args.target, args.scope.scope()?)?;
    let versions = registry.versions(&entry)?;
    let proxies: Vec<String> = registry
        .proxies_of(&entry)?
        .into_iter()
        .map(|a| a.to_checksum(None))
        .collect();
    let functions: Vec<(String, String, String)> = entry
        .abi
        .functions()
        .map(|f| {
            (
                f.selector().to_string(),
                f.signature(),
                f.state_mutability.as_json_str().to_owned(),
            )
        })
        .collect();
    let events: Vec<(String, String, bool)> = entry
        .abi
        .events()
        .map(|e| (e.selector().to_string(), e.signature(), e.anonymous))
        .collect();
    let errors: Vec<(String, String)> = entry
        .abi
        .errors()
        .map(|e| (e.selector().to_string(), e.signature()))
        .collect();
    if args.json {
        let mut value = entry_json(&entry);
        value["proxies"] = json!(proxies);
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
        value["functions"] = functions
            .iter()
            .map(|(selector, signature, mutability)| {
                json!({ "selector": selector, "signature": signature, "state_mutability": mutability })
            })
            .collect();
        value["events"] = events
            .iter()
            .map(|(topic0, signature, anonymous)| {
                json!({ "topic0": topic0, "signature": signature, "anonymous": anonymous })
            })
            .collect();
        value["errors"] = errors
            .iter()
            .map(|(selector, signature)| json!({ "selector": selector, "signature": signature }))
            .collect();
        value["abi"] = json!(entry.abi);
        output::json_pretty(&value)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut text = format!("{} ({})\n", output::escaped(&entry.label), entry.kind);
    let mut field = |name: &str, value: String| {
        if !value.is_empty() {
            text.push_str(&format!("  {name:<15} {}\n", output::escaped(value)));
        }
    };
    field(
        "chain",
        entry
            .chain
            .map(|c| format!("{} ({})", c.name(), c.0))
            .unwrap_or_default(),
    );
    field(
        "address",
        entry
            .address
            .map(|a| a.to_checksum(None))
            .unwrap_or_default(),
    );
    field(
        "source",
        format!("{} {}", entry.source.format, entry.source.path.display()),
    );
    field(
        "tags",
        entry.tags.iter().cloned().collect::<Vec<_>>().join(", "),
    );
    field(
        "implementation",
        entry
            .implementation
            .map(|a| a.to_checksum(None))
            .unwrap_or_default(),
    );
    field("proxies", proxies.join(", "));
    field(
        "abi version",
        format!("{} ({})", entry.abi_version, entry.abi_hash),
    );
    field("removed", entry.removed_at.clone().unwrap_or_default());
    text.push_str("versions:\n");
    for v in &versions {
        text.push_str(&format!(
            "  v{:<3} {}  {}  {} {}\n",
            v.version,
            v.abi_hash,
            v.imported_at,
            v.source.format,
            output::escaped(v.source.path.display())
        ));
    }
    let mut section = |title: &str, rows: Vec<(String, String)>| {
        if !rows.is_empty() {
            text.push_str(&format!("{title}:\n"));
            for (hash, signature) in rows {
                text.push_str(&format!("  {hash}  {}\n", output::escaped(signature)));
            }
        }
    };
    section(
        "functions",
        functions
            .into_iter()
            .map(|(s, sig, m)| (s, format!("{sig} {m}")))
            .collect(),
    );
    section(
        "events",
        events
            .into_iter()
            .map(|(t, sig, anonymous)| {
                (
                    t,
                    if anonymous {
                        format!("{sig} anonymous")
                    } else {
                        sig
                    },
                )
            })
            .collect(),
    );
    section("errors", errors);
    out(&text)?;
    Ok(ExitCode::SUCCESS)
}
