//! Fills a data directory with the benchmarks' store (100,000 alerts, see
//! `benches/support/fill.rs`), for measuring `argus serve` over a socket:
//!
//! ```text
//! cargo run --release -p argus-server --example fill_store -- DIR
//! argus serve --listen 127.0.0.1:8080 --data-dir DIR   # then wrk; see scripts/bench-api
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::PathBuf;
use std::process::ExitCode;

use argus_store::Store;

#[path = "../benches/support/fill.rs"]
mod fill;

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: fill_store DIR (an empty or missing directory)");
        return ExitCode::from(2);
    };
    if dir.join("argus.db").exists() {
        eprintln!(
            "{} already holds a store; give an empty directory",
            dir.display()
        );
        return ExitCode::from(2);
    }
    std::fs::create_dir_all(&dir).expect("create the directory");
    let store = Store::open_in_dir(&dir).expect("open the store");
    fill::fill(&store);
    eprintln!("{}: {} alerts stored", dir.display(), fill::ALERTS);
    ExitCode::SUCCESS
}
