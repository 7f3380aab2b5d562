//! The registry over the store: import, look up, relabel, tag, link, remove.
//!
//! Every write runs in one transaction and leaves a row in the change feed
//! (`registry_changes`), which the monitor reads to watch a new deployment at
//! once. `remove` is a soft delete: the entry disappears from `list`,
//! `export` and `abi_sources` but stays in the database with its versions and
//! history; importing it again revives it.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use alloy_json_abi::JsonAbi;
use alloy_primitives::{Address, B256};
use argus_core::{ChainId, parse_address};
use argus_store::{Connection, Store};
use serde::Serialize;
use serde_json::json;

use crate::db;
use crate::error::RegistryError;
use crate::model::{Contract, ContractKind, Source, abi_hash, canonical_abi_json};

/// One contract as the registry keeps it, with its latest ABI.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// The database id (stable; the change feed refers to it).
    pub id: i64,
    /// `Some` for a deployment.
    pub chain: Option<ChainId>,
    /// `Some` for a deployment.
    pub address: Option<Address>,
    /// Unique per chain among live deployments; unique among artifacts.
    pub label: String,
    /// Deployment or artifact.
    pub kind: ContractKind,
    /// Where the latest ABI came from.
    pub source: Source,
    /// Free-form tags.
    pub tags: BTreeSet<String>,
    /// For a proxy: its implementation on the same chain.
    pub implementation: Option<Address>,
    /// The latest ABI version number (from 1).
    pub abi_version: u32,
    /// keccak256 of the latest ABI's canonical JSON.
    pub abi_hash: B256,
    /// The latest ABI.
    pub abi: JsonAbi,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// RFC 3339; `Some` once removed.
    pub removed_at: Option<String>,
}

impl Entry {
    /// How messages name this entry: `Token on mainnet (0x…)` or `artifact Token`.
    pub fn describe(&self) -> String {
        match (self.chain, self.address) {
            (Some(chain), Some(address)) => {
                format!(
                    "{} on {} ({})",
                    self.label,
                    chain.name(),
                    address.to_checksum(None)
                )
            }
            _ => format!("artifact {}", self.label),
        }
    }
}

impl Entry {
    /// The entry as a [`Contract`] with its latest ABI.
    pub fn into_contract(self) -> Contract {
        let deployment = match (self.chain, self.address) {
            (Some(chain), Some(address)) => Some(crate::Deployment { chain, address }),
            _ => None,
        };
        Contract {
            deployment,
            label: self.label,
            abi: self.abi,
            source: self.source,
            tags: self.tags,
            implementation: self.implementation,
        }
    }
}

/// One ABI ever imported for an entry.
#[derive(Debug, Clone, Serialize)]
pub struct AbiVersion {
    /// 1, 2, ...
    pub version: u32,
    /// keccak256 of the canonical JSON.
    pub abi_hash: B256,
    /// The ABI.
    pub abi: JsonAbi,
    /// The file it came from.
    pub source: Source,
    /// RFC 3339.
    pub imported_at: String,
}

/// What a change-feed row records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// A new entry.
    Added,
    /// A new ABI version of an existing entry.
    NewVersion,
    /// A removed entry imported again.
    Revived,
    /// A new label.
    Relabeled,
    /// Tags added.
    Tagged,
    /// Tags removed.
    Untagged,
    /// A proxy linked to (or unlinked from) an implementation.
    Linked,
    /// Soft-deleted.
    Removed,
}

impl ChangeKind {
    const ALL: [ChangeKind; 8] = [
        Self::Added,
        Self::NewVersion,
        Self::Revived,
        Self::Relabeled,
        Self::Tagged,
        Self::Untagged,
        Self::Linked,
        Self::Removed,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "added",
            Self::NewVersion => "new_version",
            Self::Revived => "revived",
            Self::Relabeled => "relabeled",
            Self::Tagged => "tagged",
            Self::Untagged => "untagged",
            Self::Linked => "linked",
            Self::Removed => "removed",
        }
    }
}

impl FromStr for ChangeKind {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| format!("unknown change kind `{text}`"))
    }
}

/// One row of the change feed.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    /// Increasing; pass the last one seen to [`Registry::changes_since`].
    pub id: i64,
    /// RFC 3339.
    pub time: String,
    /// What happened.
    pub kind: ChangeKind,
    /// The entry it happened to.
    pub entry_id: i64,
    /// Kind-specific details (label, chain, address, version, tags...).
    pub details: serde_json::Value,
}

/// Which entries a label or address may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scope {
    /// Deployments on any chain; artifacts when no deployment matches a label.
    #[default]
    Any,
    /// Deployments on one chain.
    Chain(ChainId),
    /// Artifacts only.
    Artifacts,
}

impl Scope {
    fn chain(self) -> Option<ChainId> {
        match self {
            Self::Chain(chain) => Some(chain),
            _ => None,
        }
    }

    fn describe(self) -> String {
        match self {
            Self::Any => String::new(),
            Self::Chain(chain) => format!("on {}", chain.name()),
            Self::Artifacts => "among artifacts".to_owned(),
        }
    }
}

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

/// Which entries [`Registry::list`] returns.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Deployments on this chain only.
    pub chain: Option<ChainId>,
    /// Entries carrying this tag only.
    pub tag: Option<String>,
    /// Removed entries too.
    pub include_removed: bool,
}

/// The deployments registry.
#[derive(Debug)]
pub struct Registry {
    store: Store,
    conn: Connection,
}

/// Now, as RFC 3339 in UTC (`Z`), the fraction's trailing zeros dropped
/// (`2026-11-05T09:00:00.1234Z`; none when it is zero).
pub(crate) fn now() -> String {
    jiff::Timestamp::now().to_string()
}

/// Labels are names people type: no blanks, nothing that reads as an address.
pub fn validate_label(label: &str) -> Result<(), RegistryError> {
    let invalid = |reason: &str| RegistryError::InvalidLabel {
        label: label.chars().take(80).collect(),
        reason: reason.to_owned(),
    };
    if label.is_empty() {
        return Err(invalid("it is empty"));
    }
    if label.chars().count() > 128 {
        return Err(invalid("it is longer than 128 characters"));
    }
    if label.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("it contains blanks or control characters"));
    }
    if parse_address(label).is_ok() || label.starts_with("0x") {
        return Err(invalid("it looks like an address"));
    }
    Ok(())
}

impl Registry {
    /// The registry over the process's store, on a connection of its own.
    pub fn open(store: &Store) -> Result<Self, RegistryError> {
        Ok(Self {
            store: store.clone(),
            conn: store.connect()?,
        })
    }

    /// Opens (creating if needed) the store in a data directory and the
    /// registry over it: for a command that needs nothing else of the
    /// store. A process that does opens the [`Store`] once and uses
    /// [`Registry::open`].
    pub fn open_in_dir(data_dir: &Path) -> Result<Self, RegistryError> {
        Self::open(&Store::open_in_dir(data_dir)?)
    }

    /// The registry of a data directory for reading only (`list`, `show`,
    /// `export`, lint): nothing is created or migrated, and a write fails.
    /// A missing database is an error naming the directory.
    pub fn open_read_only_in_dir(data_dir: &Path) -> Result<Self, RegistryError> {
        Self::open(&Store::open_read_only_in_dir(data_dir)?)
    }

    /// A registry in memory (tests, file-only linting).
    pub fn open_in_memory() -> Result<Self, RegistryError> {
        Self::open(&Store::open_in_memory()?)
    }

    /// The store underneath.
    pub fn store(&self) -> &Store {
        &self.store
    }

    fn conn(&self) -> &rusqlite::Connection {
        self.conn.sqlite()
    }

    /// Files `contracts` in one transaction: all of them or, on any error, none.
    pub fn import(
        &mut self,
        contracts: &[Contract],
        options: ImportOptions,
    ) -> Result<ImportSummary, RegistryError> {
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

    /// Entries, sorted: deployments by chain and label, then artifacts.
    pub fn list(&self, filter: &ListFilter) -> Result<Vec<Entry>, RegistryError> {
        let mut entries = db::list_entries(self.conn(), filter.include_removed)?;
        entries.retain(|entry| {
            filter.chain.is_none_or(|chain| entry.chain == Some(chain))
                && filter
                    .tag
                    .as_ref()
                    .is_none_or(|tag| entry.tags.contains(tag))
        });
        Ok(entries)
    }

    /// Every live entry as a [`Contract`] (latest ABI, tags, proxy link), the
    /// same shape [`crate::load_path`] returns, so file and registry inputs
    /// are handled alike.
    pub fn contracts(&self) -> Result<Vec<Contract>, RegistryError> {
        Ok(self
            .list(&ListFilter::default())?
            .into_iter()
            .map(Entry::into_contract)
            .collect())
    }

    /// The one live entry a label or address names.
    pub fn find(&self, target: &str, scope: Scope) -> Result<Entry, RegistryError> {
        let target = target.trim();
        let conn = self.conn();
        let mut found = match parse_address(target) {
            Ok(address) if scope != Scope::Artifacts => {
                db::live_by_address(conn, address, scope.chain())?
            }
            _ => {
                let deployments = if scope == Scope::Artifacts {
                    Vec::new()
                } else {
                    db::live_deployments_by_label(conn, target, scope.chain())?
                };
                if deployments.is_empty() && scope.chain().is_none() {
                    db::live_artifacts_by_label(conn, target)?
                } else {
                    deployments
                }
            }
        };
        match found.len() {
            0 => Err(RegistryError::NotFound {
                target: target.chars().take(80).collect(),
                scope: scope.describe(),
            }),
            1 => Ok(found.remove(0)),
            _ => Err(RegistryError::Ambiguous {
                target: target.to_owned(),
                candidates: found.iter().map(Entry::describe).collect(),
            }),
        }
    }

    /// Every ABI version of an entry, oldest first.
    pub fn versions(&self, entry: &Entry) -> Result<Vec<AbiVersion>, RegistryError> {
        db::versions(self.conn(), entry.id)
    }

    /// Addresses of live entries whose implementation is this entry.
    pub fn proxies_of(&self, entry: &Entry) -> Result<Vec<Address>, RegistryError> {
        match (entry.chain, entry.address) {
            (Some(chain), Some(address)) => db::proxies_of(self.conn(), chain, address),
            _ => Ok(Vec::new()),
        }
    }

    /// Renames an entry. Labels stay unique per chain (and among artifacts).
    pub fn set_label(
        &mut self,
        target: &str,
        scope: Scope,
        label: &str,
    ) -> Result<Entry, RegistryError> {
        validate_label(label)?;
        let entry = self.find(target, scope)?;
        if entry.label == label {
            return Ok(entry);
        }
        let tx = self.conn.transaction()?;
        let holder = match entry.chain {
            Some(chain) => db::label_holder(tx.sqlite(), chain, label)?,
            None => db::id_by_artifact_label(tx.sqlite(), label)?,
        };
        if let Some(holder) = holder {
            let holder = db::entry_by_id(tx.sqlite(), holder)?;
            return Err(RegistryError::LabelTaken {
                label: label.to_owned(),
                holder: holder.describe(),
            });
        }
        let now = now();
        db::set_label(tx.sqlite(), entry.id, label, &now)?;
        db::record_change(
            tx.sqlite(),
            &now,
            ChangeKind::Relabeled,
            entry.id,
            &json!({
                "from": entry.label, "to": label,
            }),
        )?;
        let updated = db::entry_by_id(tx.sqlite(), entry.id)?;
        tx.commit()?;
        Ok(updated)
    }

    /// Adds tags to an entry.
    pub fn add_tags(
        &mut self,
        target: &str,
        scope: Scope,
        tags: &[String],
    ) -> Result<Entry, RegistryError> {
        self.change_tags(target, scope, tags, true)
    }

    /// Removes tags from an entry.
    pub fn remove_tags(
        &mut self,
        target: &str,
        scope: Scope,
        tags: &[String],
    ) -> Result<Entry, RegistryError> {
        self.change_tags(target, scope, tags, false)
    }

    fn change_tags(
        &mut self,
        target: &str,
        scope: Scope,
        tags: &[String],
        add: bool,
    ) -> Result<Entry, RegistryError> {
        for tag in tags {
            validate_tag(tag)?;
        }
        let entry = self.find(target, scope)?;
        let tx = self.conn.transaction()?;
        let now = now();
        let (changed, kind) = if add {
            (
                db::add_tags(tx.sqlite(), entry.id, tags)?,
                ChangeKind::Tagged,
            )
        } else {
            (
                db::remove_tags(tx.sqlite(), entry.id, tags)?,
                ChangeKind::Untagged,
            )
        };
        if !changed.is_empty() {
            db::record_change(
                tx.sqlite(),
                &now,
                kind,
                entry.id,
                &json!({ "tags": changed }),
            )?;
        }
        let updated = db::entry_by_id(tx.sqlite(), entry.id)?;
        tx.commit()?;
        Ok(updated)
    }

    /// Links a proxy to its implementation on the same chain. The
    /// implementation may be an entry (label or address) or any address.
    pub fn link_implementation(
        &mut self,
        proxy: &str,
        implementation: &str,
        scope: Scope,
    ) -> Result<Entry, RegistryError> {
        let proxy = self.find(proxy, scope)?;
        let bad = |reason: &str| RegistryError::BadLink {
            proxy: proxy.describe(),
            implementation: implementation.to_owned(),
            reason: reason.to_owned(),
        };
        let Some(chain) = proxy.chain else {
            return Err(bad(
                "the proxy is an artifact; only deployments have implementations",
            ));
        };
        let address = match parse_address(implementation.trim()) {
            Ok(address) => address,
            Err(_) => {
                let target = self.find(implementation, Scope::Chain(chain))?;
                target
                    .address
                    .ok_or_else(|| bad("the implementation has no address"))?
            }
        };
        if Some(address) == proxy.address {
            return Err(bad("a proxy cannot be its own implementation"));
        }
        if proxy.implementation == Some(address) {
            return Ok(proxy);
        }
        let tx = self.conn.transaction()?;
        let now = now();
        db::set_implementation(tx.sqlite(), proxy.id, Some(address), &now)?;
        db::record_change(
            tx.sqlite(),
            &now,
            ChangeKind::Linked,
            proxy.id,
            &json!({
                "chain_id": chain.0,
                "implementation": address.to_checksum(None),
                "previous": proxy.implementation.map(|a| a.to_checksum(None)),
            }),
        )?;
        let updated = db::entry_by_id(tx.sqlite(), proxy.id)?;
        tx.commit()?;
        Ok(updated)
    }

    /// Soft-deletes an entry: hidden from list, export and lint, kept in the
    /// database with its versions; importing it again revives it.
    pub fn remove(&mut self, target: &str, scope: Scope) -> Result<Entry, RegistryError> {
        let entry = self.find(target, scope)?;
        let tx = self.conn.transaction()?;
        let now = now();
        db::set_removed(tx.sqlite(), entry.id, Some(&now), &now)?;
        db::record_change(
            tx.sqlite(),
            &now,
            ChangeKind::Removed,
            entry.id,
            &json!({
                "label": entry.label,
                "chain_id": entry.chain.map(|c| c.0),
                "address": entry.address.map(|a| a.to_checksum(None)),
            }),
        )?;
        let updated = db::entry_by_id(tx.sqlite(), entry.id)?;
        tx.commit()?;
        Ok(updated)
    }

    /// Change-feed rows with an id greater than `after` (0 for all), oldest first.
    pub fn changes_since(&self, after: i64) -> Result<Vec<Change>, RegistryError> {
        db::changes_since(self.conn(), after)
    }
}

fn validate_tag(tag: &str) -> Result<(), RegistryError> {
    if tag.is_empty()
        || tag.chars().count() > 64
        || tag
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ',')
    {
        return Err(RegistryError::InvalidLabel {
            label: tag.chars().take(80).collect(),
            reason: "a tag must be 1 to 64 characters without blanks or commas".to_owned(),
        });
    }
    Ok(())
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
