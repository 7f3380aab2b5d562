//! The deployments registry: every contract Argus watches or knows the
//! interface of, with its chain, address, label, tags, proxy link and every
//! ABI ever imported for it.

pub mod artifact;
mod model;

pub use artifact::{ImportError, ImportErrors, ImportHints, ImportProblem, load_path, load_paths};
pub use model::{
    Contract, ContractKind, Deployment, Source, SourceFormat, abi_hash, canonical_abi_json,
};
