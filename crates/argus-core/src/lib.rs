//! The shared vocabulary of Argus.
//!
//! Every stage of the pipeline speaks in these types: which chain a thing lives
//! on, which address it has, how severe a finding is, what a block, a signal
//! and a finding look like. The crate does no I/O and depends on nothing of
//! ours, so every other crate can use it; two features add the only I/O
//! everyone must do the same way: `tls` (the one TLS client setup) and `fs`
//! (the one capped reader of user-named files, `file`).

mod address;
mod block;
mod chain;
mod clock;
pub mod diagnostic;
pub mod duration;
#[cfg(feature = "fs")]
pub mod file;
mod finding;
mod severity;
mod signal;
mod state;
#[cfg(feature = "tls")]
pub mod tls;

pub use address::{AddressError, parse_address};
pub use block::{Block, BlockRef, Log, Receipt, Transaction};
pub use chain::{ChainError, ChainId};
pub use clock::Clock;
pub use diagnostic::{Diagnostic, error_chain};
pub use duration::{DurationError, HumanDuration, parse_duration, parse_window, parse_window_ms};
pub use finding::{ChainOrigin, Fields, Finding, finding_id};
pub use severity::Severity;
pub use signal::Signal;
pub use state::StateQuery;
