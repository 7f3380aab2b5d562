//! Real parts for Argus's tests: one anvil harness, one webhook receiver, a
//! real browser (chromium over WebDriver), a SoftHSM token (PKCS#11) and the
//! shared fixtures, for every crate's `tests/`.
//!
//! # Why one kit
//!
//! Argus's tests start real parts instead of mocking our own code: a real
//! Ethereum node (anvil, pinned by the workspace's `package.json`), a real
//! HTTP server standing in for a notifier's sink, real files from
//! `testdata/`. Each crate used to grow its own copy of these (two anvil
//! harnesses, two receivers, three ways to find `cast`), each with its own
//! names and its own bugs. This crate holds the one copy, as alloy ships one
//! reusable `Anvil` for all of its tests.
//!
//! # Blocking on purpose, usable from async tests
//!
//! Nothing here needs an async runtime to run:
//!
//! - [`Anvil`] talks to its node with a few lines of blocking HTTP/1.1. A call
//!   to a local node takes about a millisecond, so calling it from inside a
//!   `#[tokio::test]` is harmless, and the same harness serves plain
//!   `#[test]`s that drive the `argus` binary as a process. It is also
//!   deliberately independent of the RPC client under test (`argus-chain`):
//!   a test must not use the code it checks to set up what it checks.
//! - [`Receiver`] serves on its own threads, so it keeps answering while a
//!   test blocks, and while a single-threaded runtime is busy with the code
//!   under test (a node running in-process).
//!
//! Waiting is offered both ways: [`wait_for`] blocks the thread (for tests
//! that run a process), [`wait_for_async`] and
//! [`Receiver::wait_for_requests`] yield to the runtime (for tests whose code
//! under test runs on the same runtime, where blocking would stall it).
//!
//! # A tour
//!
//! ```no_run
//! use argus_testkit::{ALICE, Answer, Anvil, Receiver, cast};
//! use serde_json::json;
//!
//! let anvil = Anvil::start(); // killed when dropped
//! anvil.deploy_sample_project();
//! let data = cast::calldata("transfer(address,uint256)", &[ALICE, "1"]);
//! let tx = anvil.send(json!({ "to": argus_testkit::TOKEN, "data": data }));
//! assert_eq!(anvil.receipt(&tx)["status"], "0x1");
//!
//! let sink = Receiver::start(); // stopped when dropped
//! sink.then(Answer::status(429).header("retry-after", "120"));
//! let url = sink.url("/hook"); // give this to the notifier under test
//! // ... after the code under test has posted twice:
//! let requests = sink.requests();
//! assert_eq!(requests[0].status, 429);
//! assert_eq!(requests[1].json()["kind"], "fire");
//! ```

mod anvil;
pub mod audit;
mod browser;
pub mod cast;
mod fixtures;
mod http;
mod noter;
pub mod openzeppelin;
mod postgres;
mod receiver;
mod softhsm;
mod wait;

pub use anvil::{ALICE, Anvil, BOB, DEPLOYER, TOKEN, hex_u64};
pub use browser::{Browser, CHROMEDRIVER, CHROMIUM, Element, test_output};
pub use fixtures::{free_port, npm_bin, testdata, workspace_root};
pub use noter::{NOTE_TOPIC, abi_string, noter_init_code};
pub use postgres::{PG_USER, Postgres, postgres_bin_dir};
pub use receiver::{Answer, Receiver, Request, hmac_sha256};
pub use softhsm::{ALLOW_NO_SOFTHSM, SOFTHSM_MODULES, SoftHsm, USER_PIN, softhsm_module};
pub use wait::{Lines, wait_for, wait_for_async};
