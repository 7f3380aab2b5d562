//! Importing contracts into the registry: [`Registry::import`] files a batch
//! in one transaction (all or none; a dry run rolls back). A contract not yet
//! filed becomes an entry (under a free label: `name`, `name_2`, …); the same
//! ABI again is a no-op; a changed ABI becomes a new numbered version; a
//! removed entry is revived. Every change lands in the change feed.
//!
//! A changed ABI is a new version only when it comes from *the same source*
//! as the entry's latest one: the same file (an artifact rebuilt, a
//! deployment file rewritten by its tool), or a file the user filed under
//! the entry's label with `--label`. A different ABI from another file at
//! the same address (or under the same artifact label) is another contract,
//! not a version: filing it as one made two projects alternate on every
//! import, and a rule on `Token` decoded with the other contract's ABI. Such
//! a batch is refused whole, naming both files and labels and what to do;
//! so is a batch holding two different ABIs for one address. The same ABI
//! from another file changes nothing, so importing the same inputs twice
//! leaves the change feed as it was.
//!
//! Kept apart from the other writes (`edit`) because it is the one that
//! reconciles a file with what the registry already holds.

use std::collections::HashMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};

use alloy_primitives::{Address, B256};
use argus_core::ChainId;
use serde::Serialize;
use serde_json::json;

use super::{ChangeKind, Registry, now};
use crate::db;
use crate::error::{RegistryError, shown};
use crate::model::{Contract, ContractKind, Source, abi_hash, canonical_abi_json, effective_label};

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
    ///
    /// Refused whole ([`RegistryError::SourceConflict`], every conflict
    /// named) when a contract would become a "new version" of an entry that
    /// came from another source, or when two contracts of the batch give one
    /// address (or one artifact label) different ABIs.
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
        let mut batch: HashMap<Key, Filed> = HashMap::new();
        let mut conflicts = Vec::new();
        for contract in contracts {
            let key = Key::of(contract);
            let filed = Filed::of(contract);
            if let Some(earlier) = batch.get(&key)
                && earlier.hash != filed.hash
            {
                conflicts.push(batch_conflict(&key, earlier, &filed));
                continue;
            }
            match import_one(&tx, contract, &now, &mut summary.notices)? {
                Step::Filed(outcome) => summary.outcomes.push(outcome),
                Step::Conflict(conflict) => conflicts.push(conflict),
            }
            batch.entry(key).or_insert(filed);
        }
        if !conflicts.is_empty() {
            return Err(RegistryError::SourceConflict { conflicts });
        }
        if !options.dry_run {
            tx.commit()?;
        }
        Ok(summary)
    }
}

/// What identifies an entry: an address on a chain, or an artifact's label.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Deployment(ChainId, Address),
    Artifact(String),
}

impl Key {
    fn of(contract: &Contract) -> Self {
        match contract.deployment {
            Some(d) => Self::Deployment(d.chain, d.address),
            None => Self::Artifact(effective_label(&contract.label).to_owned()),
        }
    }
}

/// What one contract of the batch filed under its key.
#[derive(Debug)]
struct Filed {
    label: String,
    path: PathBuf,
    hash: B256,
}

impl Filed {
    fn of(contract: &Contract) -> Self {
        Self {
            label: effective_label(&contract.label).to_owned(),
            path: contract.source.path.clone(),
            hash: abi_hash(&contract.abi),
        }
    }
}

/// What [`import_one`] did.
enum Step {
    Filed(ImportOutcome),
    /// Refused: the contract is not a version of the entry at its key.
    Conflict(String),
}

/// Whether two paths name one file: the same path once `./` parts are
/// dropped, or the same file once both are resolved. A path kept in the
/// registry is as the importer was given it, so a relative one is resolved
/// against the current directory.
fn same_file(a: &Path, b: &Path) -> bool {
    let plain = |path: &Path| -> PathBuf {
        path.components()
            .filter(|c| !matches!(c, Component::CurDir))
            .collect()
    };
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => plain(a) == plain(b),
    }
}

fn where_text(key: &Key) -> String {
    match key {
        Key::Deployment(chain, address) => {
            format!("{} on {}", address.to_checksum(None), chain.name())
        }
        Key::Artifact(label) => format!("artifact `{}`", shown(label)),
    }
}

fn path_text(path: &Path) -> String {
    shown(&path.display().to_string())
}

/// Two contracts of one batch with different ABIs under one key.
fn batch_conflict(key: &Key, earlier: &Filed, later: &Filed) -> String {
    format!(
        "{}: `{}` from {} and `{}` from {} have different ABIs in one import, and {}; \
         import only one of the two files",
        where_text(key),
        shown(&earlier.label),
        path_text(&earlier.path),
        shown(&later.label),
        path_text(&later.path),
        match key {
            Key::Deployment(..) => "one address holds one contract",
            Key::Artifact(_) => "one artifact label names one interface",
        }
    )
}

/// A contract whose ABI differs from the entry's latest, from another source.
fn registry_conflict(key: &Key, entry: &super::Entry, incoming: &Filed) -> String {
    let existing = shown(&entry.label);
    let remedy = match key {
        Key::Deployment(chain, address) => format!(
            "if {} is a new build of `{existing}`, import that file alone with --label \
             {existing}; to replace `{existing}` by it, remove it first (`argus registry remove \
             {} --chain {}`); otherwise leave the file out",
            path_text(&incoming.path),
            address.to_checksum(None),
            chain.name()
        ),
        Key::Artifact(_) => format!(
            "if it is a new build of `{existing}`, import that file alone with --label \
             {existing}; if it is another interface, import it alone with --label <another \
             name>, or relabel the one filed first (`argus registry label {existing} <new \
             label> --artifact`)"
        ),
    };
    format!(
        "{}: `{}` from {} has another ABI than `{existing}`, filed from {}; a file other than \
         the entry's own is another contract, not a new version of it. {remedy}",
        where_text(key),
        shown(&incoming.label),
        path_text(&incoming.path),
        path_text(&entry.source.path),
    )
}

/// A free label on `chain` starting from `base`: `base`, `base_2`, `base_3`…
fn free_label(
    conn: &argus_store::Connection,
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

/// Files one contract inside the caller's transaction (the daemon's
/// enrolment, a plan): what [`Registry::import`] does for each contract of
/// its batch, a conflict refused the same way.
pub(crate) fn import_in(
    conn: &argus_store::Connection,
    contract: &Contract,
    now: &str,
) -> Result<ImportOutcome, RegistryError> {
    crate::model::check_storable(std::slice::from_ref(contract))?;
    match import_one(conn, contract, now, &mut Vec::new())? {
        Step::Filed(outcome) => Ok(outcome),
        Step::Conflict(conflict) => Err(RegistryError::SourceConflict {
            conflicts: vec![conflict],
        }),
    }
}

fn import_one(
    conn: &argus_store::Connection,
    contract: &Contract,
    now: &str,
    notices: &mut Vec<String>,
) -> Result<Step, RegistryError> {
    let hash = abi_hash(&contract.abi);
    let json = canonical_abi_json(&contract.abi);
    let base_label = effective_label(&contract.label).to_owned();
    let existing = match contract.deployment {
        Some(d) => db::id_by_deployment(conn, d.chain, d.address)?,
        None => db::id_by_artifact_label(conn, &base_label)?,
    };
    let outcome = |entry_id, label: String, status, abi_version| {
        Step::Filed(ImportOutcome {
            entry_id,
            label,
            kind: contract.kind(),
            chain: contract.chain(),
            address: contract.address(),
            status,
            abi_version,
            source: contract.source.clone(),
        })
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
        if let Some(code_hash) = contract.runtime_code_hash {
            db::set_code_hash(conn, id, code_hash)?;
        }
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
    let (latest, latest_hash) = db::latest_version(conn, id)?.unwrap_or((0, B256::ZERO));
    let same_source = same_file(&contract.source.path, &entry.source.path)
        || (contract.label_given && base_label == entry.label);
    let another_contract = latest_hash != hash && !same_source;
    if another_contract && entry.removed_at.is_none() {
        let key = Key::of(contract);
        return Ok(Step::Conflict(registry_conflict(
            &key,
            &entry,
            &Filed::of(contract),
        )));
    }
    let mut status = ImportStatus::Unchanged;
    let mut label = entry.label.clone();
    if entry.removed_at.is_some() {
        status = ImportStatus::Revived;
        if let Some(chain) = entry.chain {
            // A removed entry brought back by another contract's file takes
            // that contract's name: removing it was how the user said the
            // address now holds the other one.
            let wanted = if another_contract {
                &base_label
            } else {
                &entry.label
            };
            let free = free_label(conn, chain, wanted, Some(id))?;
            if free != *wanted {
                notices.push(format!(
                    "`{wanted}` was taken on {} while {} was removed; it comes back as `{free}`",
                    chain.name(),
                    entry.describe()
                ));
            }
            if free != entry.label {
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
    if let Some(code_hash) = contract.runtime_code_hash {
        db::set_code_hash(conn, id, code_hash)?;
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
