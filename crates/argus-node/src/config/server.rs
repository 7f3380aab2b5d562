//! The `server:` section: where `argus run` serves its HTTP API, and what
//! its public status page may show.
//!
//! ```yaml
//! server:
//!   listen: 127.0.0.1:8080
//!   ready_max_lag: 5m            # /readyz: a chain whose newest block is older is not ready
//!   public:
//!     title: Acme status
//!     systems:
//!       - name: ACME token
//!         chains: [mainnet]
//!         contracts:
//!           - { chain: mainnet, address: "0x…", label: ACME }
//! ```
//!
//! The types live here, beside the one loader, rather than in
//! `argus-server`: the server depends on the node (for its live view), so
//! the node cannot depend on the server, and one loader reads the whole
//! file. The public part is an allow-list: the status page shows the
//! systems, chains and contract addresses named here and nothing else, so
//! forgetting to mark something public hides it, never the reverse.
//!
//! No authentication exists yet, so [`check_listen`] refuses an address
//! other than loopback unless the operator says
//! `allow_unauthenticated_remote: true`; `argus serve` applies the same
//! check to `--listen`.

use std::net::SocketAddr;
use std::time::Duration;

use alloy_primitives::Address;
use argus_core::{ChainId, parse_address};
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::Collector;

/// The typed `server:` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Where the API listens.
    pub listen: SocketAddr,
    /// Serve on a non-loopback address without authentication (warned
    /// about at every start).
    pub allow_unauthenticated_remote: bool,
    /// `/readyz` fails when a chain's newest block is older than this.
    pub ready_max_lag: Duration,
    /// Requests per client address (`rate_limit: {per_second, burst}`).
    pub rate_limit: RateLimitConfig,
    /// What the public status page shows.
    pub public: PublicConfig,
}

/// The default of `server.ready_max_lag`.
/// The API's request budget per client address: `per_second` sustained,
/// `burst` at once. Failed authentications have their own, stricter gate
/// (five a minute), which this does not change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    pub per_second: u32,
    pub burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            per_second: 20,
            burst: 60,
        }
    }
}

pub const DEFAULT_READY_MAX_LAG: Duration = Duration::from_secs(300);

/// What the public status page (`/status`) may show: an allow-list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublicConfig {
    /// The page's heading.
    pub title: String,
    /// The systems shown, in order.
    pub systems: Vec<PublicSystem>,
}

/// One monitored system as the public sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicSystem {
    /// Its name on the page.
    pub name: String,
    /// The chains it runs on (its contracts' chains included).
    pub chains: Vec<ChainId>,
    /// The contracts whose addresses may be shown.
    pub contracts: Vec<PublicContract>,
}

/// A contract address marked public.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicContract {
    pub chain: ChainId,
    pub address: Address,
    /// Its name on the page (none: the address alone).
    pub label: Option<String>,
}

/// Why a listen address is refused.
pub fn check_listen(listen: SocketAddr, allow_unauthenticated_remote: bool) -> Result<(), String> {
    if listen.ip().is_loopback() || allow_unauthenticated_remote {
        return Ok(());
    }
    Err(format!(
        "{listen} is not a loopback address, and the API has no authentication yet (tokens and \
         TLS come next): listen on 127.0.0.1 or [::1] and put an authenticating proxy in front, \
         or set `allow_unauthenticated_remote: true` to serve it to the network anyway"
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerSection {
    listen: String,
    #[serde(default)]
    allow_unauthenticated_remote: bool,
    #[serde(default, deserialize_with = "argus_core::duration::deserialize_option")]
    ready_max_lag: Option<Duration>,
    #[serde(default)]
    public: PublicSection,
    #[serde(default)]
    rate_limit: RateLimitConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PublicSection {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    systems: Vec<SystemSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SystemSection {
    name: String,
    #[serde(default)]
    chains: Vec<serde_json::Value>,
    #[serde(default)]
    contracts: Vec<ContractSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContractSection {
    chain: serde_json::Value,
    address: String,
    #[serde(default)]
    label: Option<String>,
}

/// The longest name or label shown on the public page.
const MAX_PUBLIC_TEXT: usize = 200;

/// Types and checks the `server:` section; every problem is recorded at
/// the section's position with its key path. `chains` are the config's
/// chains: a public system names only chains Argus follows.
pub(super) fn server_config(
    out: &mut Collector,
    raw: &Spanned<serde_json::Value>,
    chains: &[ChainId],
) -> Option<ServerConfig> {
    let section: ServerSection = out.item("server", raw)?;
    let mut ok = true;
    let mut problem = |out: &mut Collector, message: String| {
        out.at(raw, message);
        ok = false;
    };
    let listen = match section.listen.trim().parse::<SocketAddr>() {
        Ok(listen) => Some(listen),
        Err(_) => {
            problem(
                out,
                format!(
                    "server.listen: `{}` is not an address and port; write e.g. 127.0.0.1:8080",
                    section.listen.chars().take(80).collect::<String>()
                ),
            );
            None
        }
    };
    if let Some(listen) = listen
        && let Err(why) = check_listen(listen, section.allow_unauthenticated_remote)
    {
        problem(out, format!("server.listen: {why}"));
    }
    if section.rate_limit.per_second == 0 || section.rate_limit.burst == 0 {
        problem(
            out,
            "server.rate_limit: per_second and burst must be at least 1 (the defaults are 20 and \
             60)"
            .to_owned(),
        );
    }
    if section.ready_max_lag == Some(Duration::ZERO) {
        problem(
            out,
            "server.ready_max_lag: 0 would make every chain unready; give a duration such as 5m"
                .to_owned(),
        );
    }
    let title = section
        .public
        .title
        .unwrap_or_else(|| "Service status".to_owned());
    if title.chars().count() > MAX_PUBLIC_TEXT {
        problem(
            out,
            format!("server.public.title is longer than {MAX_PUBLIC_TEXT} characters"),
        );
    }
    let mut systems = Vec::new();
    for (i, system) in section.public.systems.into_iter().enumerate() {
        let at = format!("server.public.systems[{i}]");
        let name = system.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > MAX_PUBLIC_TEXT {
            problem(
                out,
                format!("{at}.name: give a name of 1 to {MAX_PUBLIC_TEXT} characters"),
            );
        }
        if systems.iter().any(|s: &PublicSystem| s.name == name) {
            problem(out, format!("{at}.name: `{name}` is listed twice"));
        }
        let mut system_chains = Vec::new();
        for (j, chain) in system.chains.iter().enumerate() {
            match followed_chain(chain, chains) {
                Ok(chain) if !system_chains.contains(&chain) => system_chains.push(chain),
                Ok(_) => {}
                Err(why) => problem(out, format!("{at}.chains[{j}]: {why}")),
            }
        }
        let mut contracts = Vec::new();
        for (j, contract) in system.contracts.iter().enumerate() {
            let chain = match followed_chain(&contract.chain, chains) {
                Ok(chain) => Some(chain),
                Err(why) => {
                    problem(out, format!("{at}.contracts[{j}].chain: {why}"));
                    None
                }
            };
            let address = match parse_address(&contract.address) {
                Ok(address) => Some(address),
                Err(error) => {
                    problem(out, format!("{at}.contracts[{j}].address: {error}"));
                    None
                }
            };
            if contract
                .label
                .as_ref()
                .is_some_and(|l| l.trim().is_empty() || l.chars().count() > MAX_PUBLIC_TEXT)
            {
                problem(
                    out,
                    format!(
                        "{at}.contracts[{j}].label: give a label of 1 to {MAX_PUBLIC_TEXT} characters"
                    ),
                );
            }
            if let (Some(chain), Some(address)) = (chain, address) {
                if !system_chains.contains(&chain) {
                    system_chains.push(chain);
                }
                contracts.push(PublicContract {
                    chain,
                    address,
                    label: contract.label.as_ref().map(|l| l.trim().to_owned()),
                });
            }
        }
        if system.chains.is_empty() && system.contracts.is_empty() {
            problem(
                out,
                format!(
                    "{at}: name the chains it runs on (`chains: [mainnet]`) or its contracts, so its health can be shown"
                ),
            );
        }
        systems.push(PublicSystem {
            name,
            chains: system_chains,
            contracts,
        });
    }
    if !ok {
        return None;
    }
    Some(ServerConfig {
        listen: listen?,
        allow_unauthenticated_remote: section.allow_unauthenticated_remote,
        ready_max_lag: section.ready_max_lag.unwrap_or(DEFAULT_READY_MAX_LAG),
        rate_limit: section.rate_limit,
        public: PublicConfig { title, systems },
    })
}

/// A chain written by name or number that the config follows.
fn followed_chain(value: &serde_json::Value, chains: &[ChainId]) -> Result<ChainId, String> {
    let chain = match value {
        serde_json::Value::String(name) => {
            ChainId::parse(name, true).map_err(|error| error.to_string())?
        }
        serde_json::Value::Number(n) => n
            .as_u64()
            .map(ChainId)
            .ok_or_else(|| format!("{n} is not a chain id"))?,
        other => return Err(format!("{other} is not a chain name or id")),
    };
    if chains.contains(&chain) {
        Ok(chain)
    } else {
        Err(format!(
            "chain {} is not one of the config's `chains:`; a public system can only show the health of a chain Argus follows",
            chain.name()
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::unwrap_used)]

    use std::path::{Path, PathBuf};

    use super::super::load;
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join("argus.yaml");
        std::fs::write(&path, text).unwrap();
        path
    }

    const CHAINS: &str = "chains: [{ chain: anvil, rpc: [ws://127.0.0.1:8545] }]\n";

    #[test]
    fn a_server_section_is_typed_with_its_public_allow_list() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            &format!(
                "{CHAINS}server:\n  listen: 127.0.0.1:8080\n  ready_max_lag: 2m\n  public:\n    title: Acme\n    systems:\n      - name: Token\n        contracts:\n          - {{ chain: anvil, address: '0x5FbDB2315678afecb367f032d93F642f64180aa3', label: ACME }}\n"
            ),
        );
        let server = load(&path)
            .expect("loads")
            .server
            .expect("a server section");
        assert_eq!(server.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(server.ready_max_lag, Duration::from_secs(120));
        assert_eq!(server.public.title, "Acme");
        assert_eq!(server.public.systems[0].chains, vec![ChainId::LOCAL]);
        assert_eq!(
            server.public.systems[0].contracts[0].label.as_deref(),
            Some("ACME")
        );
        let none = write(dir.path(), CHAINS);
        assert!(load(&none).expect("loads").server.is_none());
    }

    #[test]
    fn a_remote_listen_and_bad_systems_are_each_reported_at_the_section() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            &format!(
                "{CHAINS}server:\n  listen: 0.0.0.0:8080\n  public:\n    systems:\n      - name: Token\n        chains: [mainnet]\n        contracts:\n          - {{ chain: anvil, address: '0x12' }}\n"
            ),
        );
        let error = load(&path).expect_err("refused");
        let text = error.to_string();
        assert_eq!(error.0.len(), 3, "{text}");
        assert!(text.contains("tokens and TLS come next"), "{text}");
        assert!(
            text.contains("systems[0].chains[0]: chain mainnet is not one of"),
            "{text}"
        );
        assert!(text.contains("systems[0].contracts[0].address"), "{text}");
        assert!(error.0.iter().all(|d| d.line == 3), "{text}");

        let forced = write(
            dir.path(),
            &format!(
                "{CHAINS}server:\n  listen: 0.0.0.0:8080\n  allow_unauthenticated_remote: true\n"
            ),
        );
        let server = load(&forced).expect("loads").server.expect("server");
        assert!(server.allow_unauthenticated_remote);
        assert!(check_listen("[::1]:80".parse().unwrap(), false).is_ok());
        assert!(check_listen("10.0.0.1:80".parse().unwrap(), false).is_err());
    }
}
