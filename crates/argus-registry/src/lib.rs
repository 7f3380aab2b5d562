//! The deployments registry: every contract Argus watches or knows the
//! interface of, with its chain, address, label, tags, proxy link and every
//! ABI ever imported for it.
//!
//! - [`artifact`] reads Foundry, Hardhat, hardhat-deploy and plain ABI files
//!   into [`Contract`]s. It is pure (no database), so the linter uses it too.
//! - [`Registry`] files contracts in the store: a re-import of the same ABI is
//!   a no-op, a changed ABI becomes a new numbered version (old ones are kept),
//!   labels stay unique per chain, and every change lands in a change feed.
//! - `remove` is a soft delete: the entry is hidden from `list`, `export` and
//!   `abi_sources` but kept with its history; importing it again revives it.

pub mod artifact;
mod db;
pub mod derive;
mod error;
mod export;
mod model;
pub mod onchain;
mod registry;

pub use artifact::ast::load_compilations;
pub use artifact::{ImportError, ImportErrors, ImportHints, ImportProblem, load_path, load_paths};
pub use error::RegistryError;
pub use export::{
    AbiSource, AbiSources, EXPORT_FORMAT, ExportContract, ExportDocument, ExportVersion, ProxyLink,
};
pub use model::{
    Contract, ContractKind, Deployment, Source, SourceFormat, abi_hash, canonical_abi_json,
};
pub use registry::{
    AbiVersion, Change, ChangeKind, Entry, ImportOptions, ImportOutcome, ImportStatus,
    ImportSummary, ListFilter, Registry, Scope, validate_label,
};
