//! The drill's own node: an anvil process on a loopback port it picks
//! itself, killed when the drill ends.
//!
//! The port is anvil's choice (`--port 0`), read back from the line it
//! prints when it listens, so two drills (or a drill and a test) never race
//! for a port. The binary is the operator's (`--anvil`), else `anvil` on
//! PATH, else `node_modules/.bin/anvil` under the current directory: no
//! machine path is written into the project.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::DrillError;

/// How long anvil may take to listen (a fork fetches its first block).
const STARTUP: Duration = Duration::from_secs(60);

/// The anvil binary to run: `explicit` when given, else `anvil` on `PATH`,
/// else `node_modules/.bin/anvil` under `cwd`.
pub fn find_anvil(explicit: Option<&Path>, cwd: &Path) -> Result<PathBuf, DrillError> {
    if let Some(path) = explicit {
        return if path.is_file() {
            Ok(path.to_path_buf())
        } else {
            Err(DrillError::AnvilStart {
                bin: path.display().to_string(),
                detail: "no such file".to_owned(),
            })
        };
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join("anvil"))
        .find(|candidate| candidate.is_file());
    if let Some(found) = on_path {
        return Ok(found);
    }
    let local = cwd.join("node_modules").join(".bin").join("anvil");
    if local.is_file() {
        return Ok(local);
    }
    Err(DrillError::NoAnvil)
}

/// A running anvil, killed on drop.
pub struct AnvilProcess {
    child: Child,
    port: u16,
    /// The dev accounts' private keys as anvil printed them (public: the
    /// test mnemonic's).
    dev_keys: Vec<String>,
}

impl std::fmt::Debug for AnvilProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnvilProcess")
            .field("port", &self.port)
            .field("dev_keys", &self.dev_keys.len())
            .finish_non_exhaustive()
    }
}

/// A `(N) 0x<64 hex>` line of anvil's "Private Keys" list.
fn dev_key(line: &str) -> Option<String> {
    let rest = line.trim().strip_prefix('(')?;
    let (index, key) = rest.split_once(')')?;
    index.parse::<usize>().ok()?;
    let key = key.trim();
    let hex = key.strip_prefix("0x")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| key.to_owned())
}

impl AnvilProcess {
    /// Starts `bin` on a free loopback port: a fresh chain with `chain_id`,
    /// or a fork of `fork_url` (its chain id is the forked chain's).
    pub async fn start(
        bin: &Path,
        chain_id: u64,
        fork_url: Option<&str>,
    ) -> Result<AnvilProcess, DrillError> {
        let shown = bin.display().to_string();
        let mut command = Command::new(bin);
        command
            .args(["--port", "0", "--host", "127.0.0.1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        match fork_url {
            // The URL may hold a provider key: it is passed, never shown.
            Some(url) => command.args(["--fork-url", url]),
            None => command.args(["--chain-id", &chain_id.to_string()]),
        };
        let mut child = command.spawn().map_err(|error| DrillError::AnvilStart {
            bin: shown.clone(),
            detail: error.to_string(),
        })?;
        let stdout = child.stdout.take().ok_or_else(|| DrillError::AnvilStart {
            bin: shown.clone(),
            detail: "its output could not be read".to_owned(),
        })?;
        let mut lines = BufReader::new(stdout).lines();
        let mut dev_keys = Vec::new();
        let listening = async {
            while let Ok(Some(line)) = lines.next_line().await {
                // `(0) 0xac09…`: the dev accounts' keys, printed before it
                // listens (the well-known test mnemonic's, fork or not).
                if let Some(key) = dev_key(&line) {
                    dev_keys.push(key);
                    continue;
                }
                if let Some(port) = line
                    .trim()
                    .strip_prefix("Listening on ")
                    .and_then(|addr| addr.rsplit(':').next())
                    .and_then(|port| port.trim().parse::<u16>().ok())
                {
                    return Some(port);
                }
            }
            None
        };
        let port = match tokio::time::timeout(STARTUP, listening).await {
            Ok(Some(port)) => port,
            Ok(None) => {
                return Err(DrillError::AnvilStart {
                    bin: shown,
                    detail: "it exited before listening (a wrong --fork-url, or not anvil?)"
                        .to_owned(),
                });
            }
            Err(_) => {
                return Err(DrillError::AnvilStart {
                    bin: shown,
                    detail: format!("it did not listen within {} s", STARTUP.as_secs()),
                });
            }
        };
        // Keep draining its output so a chatty node never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(AnvilProcess {
            child,
            port,
            dev_keys,
        })
    }

    /// The signer of dev account `index` (anvil unlocks ten, from the
    /// public test mnemonic): what a drill signs containment with, on its
    /// own chain only.
    pub fn dev_signer(&self, index: usize) -> Option<alloy_signer_local::PrivateKeySigner> {
        self.dev_keys.get(index)?.parse().ok()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    /// Stops the node and waits for it.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
