//! The registry over the store: import, look up, relabel, tag, link, remove.
//!
//! Every write runs in one transaction and leaves a row in the change feed
//! (`registry_changes`), which the monitor reads to watch a new deployment at
//! once. `remove` is a soft delete: the entry disappears from `list`,
//! `export` and `abi_sources` but stays in the database with its versions and
//! history; importing it again revives it.
//!
//! Split by job: this module holds the registry's model (an [`Entry`], its
//! [`AbiVersion`]s, the change feed's [`Change`], [`Scope`], [`ListFilter`])
//! and the [`Registry`] handle with its reads (`list`, `find`, `versions`,
//! `changes_since`); `import` files contracts (new entries, new ABI
//! versions, revivals, free labels); `edit` holds the other writes (relabel,
//! tag, link, remove) and the label and tag rules.

mod edit;
mod import;

use std::collections::BTreeSet;
use std::path::Path;
use std::str::FromStr;

use alloy_json_abi::JsonAbi;
use alloy_primitives::{Address, B256};
use argus_core::{ChainId, parse_address};
use argus_store::{Connection, Store};
use serde::Serialize;

use crate::db;
use crate::error::RegistryError;
use crate::model::{Contract, ContractKind, Source};

pub(crate) use edit::label_rule_broken;
pub use edit::validate_label;
pub(crate) use import::import_in;
pub use import::{ImportOptions, ImportOutcome, ImportStatus, ImportSummary};

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
            label_given: false,
            runtime_code_hash: None,
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
    pub(crate) conn: Connection,
}

/// Now, as RFC 3339 in UTC (`Z`), the fraction's trailing zeros dropped
/// (`2026-11-05T09:00:00.1234Z`; none when it is zero).
pub(crate) fn now() -> String {
    jiff::Timestamp::now().to_string()
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

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
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

    /// The entry with this id, removed or not (the change feed names
    /// entries by id).
    pub fn entry(&self, id: i64) -> Result<Entry, RegistryError> {
        db::entry_by_id(self.conn(), id)
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

    /// Change-feed rows with an id greater than `after` (0 for all), oldest first.
    pub fn changes_since(&self, after: i64) -> Result<Vec<Change>, RegistryError> {
        db::changes_since(self.conn(), after)
    }
}
