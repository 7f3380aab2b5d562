//! What can be wrong with a file, and the list of every bad file.

use std::fmt;
use std::path::PathBuf;

use argus_core::{AddressError, ChainError};

/// One bad file.
#[derive(Debug, thiserror::Error)]
#[error("{}: {problem}", path.display())]
pub struct ImportError {
    /// The file (or directory) at fault.
    pub path: PathBuf,
    /// What is wrong with it.
    pub problem: ImportProblem,
}

/// What is wrong with a file.
#[derive(Debug, thiserror::Error)]
pub enum ImportProblem {
    /// The file could not be read.
    #[error("cannot read: {message}")]
    Io { message: String },
    /// The file is larger than the importer accepts.
    #[error(
        "file is {size} bytes, larger than the {limit}-byte limit; point at the artifact or deployment files themselves"
    )]
    TooLarge { size: u64, limit: u64 },
    /// Not JSON.
    #[error("broken JSON at line {line}, column {column}: {message}")]
    Json {
        line: usize,
        column: usize,
        message: String,
    },
    /// JSON, but not any format the importer knows.
    #[error(
        "not a Foundry broadcast or artifact, a Hardhat artifact, a hardhat-deploy deployment \
         or an ABI; pass --format to say which it is"
    )]
    UnknownFormat,
    /// JSON of the right format but the wrong shape.
    #[error("{message}")]
    Shape { message: String },
    /// A required field is missing.
    #[error(
        "missing `{field}`; the file cannot be imported without it: restore it or leave the file out"
    )]
    MissingField { field: String },
    /// A broadcast transaction that creates a contract forge could not name.
    #[error(
        "`{field}` is missing: the transaction creates a contract{} but names none, so its ABI \
         cannot be found; add the contract's name there, or leave this broadcast out and import \
         that contract's ABI with --chain, --address and --label",
        address.as_ref().map(|a| format!(" at {a}")).unwrap_or_default()
    )]
    UnnamedCreation {
        field: String,
        address: Option<String>,
    },
    /// A broadcast transaction of no kind forge writes.
    #[error(
        "`{field}` is {}: expected CREATE or CREATE2 (a deployment) or CALL (skipped); fix the \
         broadcast or leave it out",
        found.as_ref().map(|f| format!("`{}`", crate::error::shown(f))).unwrap_or_else(|| "missing or not a string".to_owned())
    )]
    UnknownTransactionType {
        field: String,
        found: Option<String>,
    },
    /// The ABI does not parse as an ABI.
    #[error("the ABI is not a valid Solidity ABI: {message}")]
    NotAnAbi { message: String },
    /// An address field is malformed or has a bad checksum.
    #[error("`{field}`: {source}")]
    BadAddress { field: String, source: AddressError },
    /// The chain is not one Argus knows.
    #[error("{source} (--allow-unknown-chain)")]
    BadChain { source: ChainError },
    /// Nothing says which chain the file belongs to.
    #[error("{what}: no chain is known; {remedy}")]
    MissingChain { what: String, remedy: String },
    /// Two sources disagree on the chain.
    #[error("`.chainId` says chain {file} but --chain says {hint}; drop --chain or fix `.chainId`")]
    ChainMismatch { file: u64, hint: u64 },
    /// A broadcast deployment whose ABI is nowhere in the build output.
    #[error(
        "no ABI for `{contract}`: looked for {}; run `forge build`, or pass --artifacts <dir>",
        looked_in.display()
    )]
    AbiNotFound {
        contract: String,
        looked_in: PathBuf,
    },
    /// Several different ABIs carry the contract's name.
    #[error("`{contract}` has several different ABIs in the build output ({}); pass --artifacts to choose", candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    AmbiguousAbi {
        contract: String,
        candidates: Vec<PathBuf>,
    },
    /// The build artifact holding a broadcast contract's ABI is unreadable.
    #[error("the ABI of `{contract}` is in {}, which is unusable: {message}", artifact.display())]
    ArtifactUnreadable {
        contract: String,
        artifact: PathBuf,
        message: String,
    },
    /// `--address`/`--label`/`--implementation` name one contract, but not one was read.
    #[error(
        "--address, --label and --implementation describe one contract, but {found} artifacts or \
         ABIs were read; import that one file alone"
    )]
    HintsNeedOneContract { found: usize },
    /// `--address` without `--chain`.
    #[error("--address needs --chain: an address means nothing without its chain")]
    AddressWithoutChain,
    /// `--implementation` without `--address`.
    #[error("--implementation needs --address and --chain (the proxy's)")]
    ImplementationWithoutAddress,
}

/// Every bad file found in one import. Nothing is imported when this is returned.
#[derive(Debug)]
pub struct ImportErrors {
    /// One entry per problem, in the order the files were read.
    pub errors: Vec<ImportError>,
}

impl fmt::Display for ImportErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.errors.len();
        write!(
            f,
            "{count} file{} could not be imported; nothing was imported",
            if count == 1 { "" } else { "s" }
        )?;
        for error in &self.errors {
            write!(f, "\n  {error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ImportErrors {}
