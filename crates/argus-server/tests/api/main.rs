//! The HTTP API through its router, without a socket (`tower`'s
//! `oneshot`), over a real SQLite store prepared with the stages' own
//! functions: the registry imported from `testdata/foundry-project`, alerts
//! recorded through the outbox, an incident opened by intake, a silence,
//! a chain checkpoint and an audit log.
//!
//! One test binary (several modules) so the router and the stages link
//! once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod bots;
mod dashboard;
mod events;
mod fixture;
mod fuzz;
mod metrics;
mod node;
mod routes;
mod status;
mod tls;
