//! The shared vocabulary of Argus.
//!
//! Every stage of the pipeline speaks in these types: which chain a thing lives
//! on, which address it has, how severe a finding is. The crate does no I/O and
//! depends on nothing of ours, so every other crate can use it.

mod address;
mod chain;
mod severity;

pub use address::{AddressError, parse_address};
pub use chain::{ChainError, ChainId};
pub use severity::Severity;
