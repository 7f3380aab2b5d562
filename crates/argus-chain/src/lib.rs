//! Talking to nodes: an RPC pool with failover, and the reorg-safe block
//! follower.
//!
//! * [`RpcPool`] puts several endpoints of one chain behind typed calls
//!   (headers, blocks, receipts, logs) with timeouts, retries, failover,
//!   benching of failing endpoints and per-endpoint figures. Every answer is
//!   validated by [`parse`] before anyone sees it.
//! * [`BlockFollower`] turns the moving head into [`ChainEvent`]s —
//!   `Committed` blocks and `Reverted` ones after a reorg — the model of
//!   reth's execution-extension notifications. It never stores its own
//!   position: the caller stores each event with [`db::apply`] in the
//!   transaction that stores the event's alerts, which makes delivery
//!   exactly-once (see the [`follower`] module).
//! * [`range`] reads a historical range for replays.
//!
//! Why not poll on a timer and move a cursor before handing blocks out, as
//! the usual monitors do: a crash between the two loses blocks, and without a
//! reorg model an orphaned block's alerts are never retracted.

mod calls;
mod config;
pub mod db;
mod error;
mod fetch;
pub mod follower;
mod heads;
pub mod parse;
mod pool;
mod range;
mod setup;
mod state;
mod stats;
mod transport;

pub use calls::{CallRequest, LogFilter, TransactionOutcome};
pub use config::{EndpointConfig, PoolConfig, redacted_url};
pub use error::{DbError, ErrorKind, FollowError, RpcError};
pub use fetch::FetchMode;
pub use follower::{BlockFollower, ChainEvent, Confirmations, Cursor, FollowerConfig, Start};
pub use heads::{Head, HeadSource};
pub use pool::{BlockId, PoolError, RpcPool};
pub use range::{BlockRange, RangeProgress, range};
pub use setup::ChainSetup;
pub use state::StateValue;
pub use stats::{EndpointStats, ErrorCounts};
