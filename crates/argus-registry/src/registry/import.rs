//! Importing contracts into the registry: [`Registry::import`] files a batch
//! in one transaction (all or none; a dry run rolls back). A contract not yet
//! filed becomes an entry (under a free label: `name`, `name_2`, …); the same
//! ABI again is a no-op; a changed ABI becomes a new numbered version; a
//! removed entry is revived. Every change lands in the change feed.
//!
//! Kept apart from the other writes (`edit`) because it is the one that
//! reconciles a file with what the registry already holds.

use std::fmt;

use alloy_primitives::{Address, B256};
use argus_core::ChainId;
use serde::Serialize;
use serde_json::json;

use super::{ChangeKind, Registry, now};
use crate::db;
use crate::error::RegistryError;
use crate::model::{Contract, ContractKind, Source, abi_hash, canonical_abi_json};

/// How to import.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportOptions {
    /// Work out the summary, then roll everything back.
    pub dry_run: bool,
}

/// What happened to one imported contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportStatus {
    /// A new entry.
    Added,
    /// An existing entry got a new ABI version.
    NewVersion,
    /// The same ABI as the latest version: nothing changed.
    Unchanged,
    /// A removed entry was brought back (its ABI may also be new).
    Revived,
}

impl fmt::Display for ImportStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Added => "added",
            Self::NewVersion => "new version",
            Self::Unchanged => "unchanged",
            Self::Revived => "revived",
        })
    }
}

/// One line of an import summary.
#[derive(Debug, Clone, Serialize)]
pub struct ImportOutcome {
    /// The entry's id (meaningless after a dry run).
    pub entry_id: i64,
    /// The label it is filed under (may differ from the file's name).
    pub label: String,
    /// Deployment or artifact.
    pub kind: ContractKind,
    /// For a deployment.
    pub chain: Option<ChainId>,
    /// For a deployment.
    pub address: Option<Address>,
    /// What happened.
    pub status: ImportStatus,
    /// The entry's ABI version after the import.
    pub abi_version: u32,
    /// The file.
    pub source: Source,
}

/// The result of [`Registry::import`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportSummary {
    /// One per imported contract, in input order.
    pub outcomes: Vec<ImportOutcome>,
    /// Things the user should know (a label taken, so `Name_2` was used).
    pub notices: Vec<String>,
    /// Whether it was rolled back.
    pub dry_run: bool,
}

impl ImportSummary {
    fn count(&self, status: ImportStatus) -> usize {
        self.outcomes.iter().filter(|o| o.status == status).count()
    }
    /// New entries.
    pub fn added(&self) -> usize {
        self.count(ImportStatus::Added)
    }
    /// New ABI versions of existing entries.
    pub fn new_versions(&self) -> usize {
        self.count(ImportStatus::NewVersion)
    }
    /// Nothing changed.
    pub fn unchanged(&self) -> usize {
        self.count(ImportStatus::Unchanged)
    }
    /// Removed entries brought back.
    pub fn revived(&self) -> usize {
        self.count(ImportStatus::Revived)
    }
}
impl Registry {
    /// Files `contracts` in one transaction: all of them or, on any error, none.
    pub fn import(
        &mut self,
        contracts: &[Contract],
        options: ImportOptions,
    ) -> Result<ImportSummary, RegistryError> {
        crate::model::check_storable(contracts)?;
        let tx = self.conn.transaction()?;
        let now = now();
        let mut summary = ImportSummary {
            dry_run: options.dry_run,
            ..ImportSummary::default()
        };
        for contract in contracts {
            let outcome = import_one(tx.sqlite(), contract, &now, &mut summary.notices)?;
            summary.outcomes.push(outcome);
        }
        if !options.dry_run {
            tx.commit()?;
        }
        Ok(summary)
    }
}

/// A free label on `chain` starting from `base`: `base`, `base_2`, `base_3`…
fn free_label(
    conn: &rusqlite::Connection,
    chain: ChainId,
    base: &str,
    except: Option<i64>,
) -> Result<String, RegistryError> {
    let mut candidate = base.to_owned();
    let mut n = 1u32;
    loop {
        match db::label_holder(conn, chain, &candidate)? {
            None => return Ok(candidate),
            Some(holder) if Some(holder) == except => return Ok(candidate),
            Some(_) => {
                n += 1;
                candidate = format!("{base}_{n}");
            }
        }
    }
}

fn import_one(
    conn: &rusqlite::Connection,
    contract: &Contract,
    now: &str,
    notices: &mut Vec<String>,
) -> Result<ImportOutcome, RegistryError> {
    let hash = abi_hash(&contract.abi);
    let json = canonical_abi_json(&contract.abi);
    let base_label = if contract.label.trim().is_empty() {
        "contract".to_owned()
    } else {
        contract.label.trim().to_owned()
    };
    let existing = match contract.deployment {
        Some(d) => db::id_by_deployment(conn, d.chain, d.address)?,
        None => db::id_by_artifact_label(conn, &base_label)?,
    };
    let outcome = |entry_id, label: String, status, abi_version| ImportOutcome {
        entry_id,
        label,
        kind: contract.kind(),
        chain: contract.chain(),
        address: contract.address(),
        status,
        abi_version,
        source: contract.source.clone(),
    };
    let Some(id) = existing else {
        let label = match contract.deployment {
            Some(d) => {
                let label = free_label(conn, d.chain, &base_label, None)?;
                if label != base_label {
                    notices.push(format!(
                        "`{base_label}` is already a label on {}; {} is filed as `{label}`",
                        d.chain.name(),
                        d.address.to_checksum(None)
                    ));
                }
                label
            }
            None => base_label,
        };
        let id = db::insert_entry(
            conn,
            &db::NewEntry {
                chain: contract.chain(),
                address: contract.address(),
                label: &label,
                kind: contract.kind(),
                source: &contract.source,
                implementation: contract.implementation,
                now,
            },
        )?;
        db::insert_version(conn, id, 1, hash, &json, &contract.source, now)?;
        db::add_tags(conn, id, &contract.tags)?;
        db::record_change(
            conn,
            now,
            ChangeKind::Added,
            id,
            &json!({
                "label": label,
                "kind": contract.kind(),
                "chain_id": contract.chain().map(|c| c.0),
                "address": contract.address().map(|a| a.to_checksum(None)),
                "implementation": contract.implementation.map(|a| a.to_checksum(None)),
                "abi_version": 1,
                "abi_hash": hash,
                "source": contract.source,
            }),
        )?;
        return Ok(outcome(id, label, ImportStatus::Added, 1));
    };

    let entry = db::entry_by_id(conn, id)?;
    let mut status = ImportStatus::Unchanged;
    let mut label = entry.label.clone();
    if entry.removed_at.is_some() {
        status = ImportStatus::Revived;
        if let Some(chain) = entry.chain {
            let free = free_label(conn, chain, &entry.label, Some(id))?;
            if free != entry.label {
                notices.push(format!(
                    "`{}` was taken on {} while {} was removed; it comes back as `{free}`",
                    entry.label,
                    chain.name(),
                    entry.describe()
                ));
                db::set_label(conn, id, &free, now)?;
                label = free;
            }
        }
        db::set_removed(conn, id, None, now)?;
        db::record_change(
            conn,
            now,
            ChangeKind::Revived,
            id,
            &json!({ "label": label }),
        )?;
    }
    let (latest, latest_hash) = db::latest_version(conn, id)?.unwrap_or((0, B256::ZERO));
    let mut version = latest;
    if latest_hash != hash {
        version = latest + 1;
        db::insert_version(conn, id, version, hash, &json, &contract.source, now)?;
        db::set_source(conn, id, &contract.source, now)?;
        db::record_change(
            conn,
            now,
            ChangeKind::NewVersion,
            id,
            &json!({
                "label": label,
                "abi_version": version,
                "abi_hash": hash,
                "previous_hash": latest_hash,
                "source": contract.source,
            }),
        )?;
        if status == ImportStatus::Unchanged {
            status = ImportStatus::NewVersion;
        }
    }
    let added = db::add_tags(conn, id, &contract.tags)?;
    if !added.is_empty() {
        db::record_change(conn, now, ChangeKind::Tagged, id, &json!({ "tags": added }))?;
    }
    if let Some(implementation) = contract.implementation
        && entry.implementation != Some(implementation)
    {
        db::set_implementation(conn, id, Some(implementation), now)?;
        db::record_change(
            conn,
            now,
            ChangeKind::Linked,
            id,
            &json!({
                "chain_id": entry.chain.map(|c| c.0),
                "implementation": implementation.to_checksum(None),
                "previous": entry.implementation.map(|a| a.to_checksum(None)),
            }),
        )?;
    }
    Ok(outcome(id, label, status, version))
}
