//! Where things are: the workspace, its `testdata/`, the tools `npm ci`
//! installs, a free port.

use std::net::TcpListener;
use std::path::{Path, PathBuf};

/// The workspace root (this crate lives in `crates/argus-testkit`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A path under the workspace's `testdata/` (the fixtures shared by every
/// crate; a crate's own fixtures stay in its own `testdata/`).
pub fn testdata(relative: impl AsRef<Path>) -> PathBuf {
    workspace_root().join("testdata").join(relative)
}

/// A tool the workspace's `package.json` pins (`anvil`, `cast`, `forge`…),
/// from `node_modules/.bin`.
///
/// # Panics
/// When it is not installed, saying how to install it.
pub fn npm_bin(name: &str) -> PathBuf {
    let path = workspace_root().join("node_modules/.bin").join(name);
    assert!(
        path.exists(),
        "{name} is not installed at {}: run `npm ci` at the workspace root",
        path.display()
    );
    path
}

/// A loopback port nobody listens on right now: bind it to serve, or use it
/// as an endpoint that refuses connections.
///
/// # Panics
/// When the system has no free port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .unwrap_or_else(|error| panic!("no free loopback port: {error}"))
}
