//! The `server:` section: where `argus run` serves its HTTP API, and what
//! its public status page may show.
//!
//! ```yaml
//! server:
//!   listen: 127.0.0.1:8080
//!   tls: { cert: tls/cert.pem, key: tls/key.pem }   # PEM; paths against the config's folder
//!   ready_max_lag: 5m            # /readyz: a chain whose newest block is older is not ready
//!   rate_limit: { per_second: 20, burst: 60 }   # per client address (the defaults)
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
//! **The listen policy** ([`check_listen`]): loopback is served in plain
//! HTTP; any other address needs TLS (`tls:`), since tokens and everything
//! the API shows would otherwise cross the network in clear. An operator
//! who terminates TLS elsewhere (a proxy on the same private network) says
//! `insecure_remote: true`, which is warned about at every start. The
//! certificate and key are loaded here, with the server's own loader
//! (`argus_core::tls::server_config`), so `argus validate` refuses a pair
//! the server could not use. `allow_unauthenticated_remote`, the key's
//! name before TLS existed, is still read as `insecure_remote` with a
//! deprecation warning. `argus serve` applies the same checks to its flags.

use std::net::SocketAddr;
use std::path::PathBuf;
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
    /// The certificate and key to serve HTTPS with (none: plain HTTP).
    pub tls: Option<TlsFiles>,
    /// Serve plain HTTP on a non-loopback address (warned about at every
    /// start).
    pub insecure_remote: bool,
    /// `insecure_remote` was written under its old name,
    /// `allow_unauthenticated_remote`.
    pub deprecated_remote_key: bool,
    /// `/readyz` fails when a chain's newest block is older than this.
    pub ready_max_lag: Duration,
    /// Requests per client address (`rate_limit: {per_second, burst}`).
    pub rate_limit: RateLimitConfig,
    /// What the public status page shows.
    pub public: PublicConfig,
}

/// The PEM files of `server.tls`, resolved against the config's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, the server's certificate first.
    pub cert: PathBuf,
    /// The private key (unencrypted; keep it mode 0600).
    pub key: PathBuf,
}

impl ServerConfig {
    /// What the operator should hear from `argus validate`: plain HTTP to
    /// the network (the server logs it at every start too), a deprecated
    /// key.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = self.deprecations();
        warnings.extend(remote_warning(
            self.listen,
            self.tls.is_some(),
            self.insecure_remote,
        ));
        warnings
    }

    /// Keys written under an old name, for the commands to print at start.
    pub fn deprecations(&self) -> Vec<String> {
        if self.deprecated_remote_key {
            vec![
                "server.allow_unauthenticated_remote is deprecated; write `insecure_remote: true` \
                 (or, better, give `tls: {cert, key}`)"
                    .to_owned(),
            ]
        } else {
            Vec::new()
        }
    }
}

/// The warning for plain HTTP on a non-loopback address, when that is
/// what will be served.
pub fn remote_warning(listen: SocketAddr, tls: bool, insecure_remote: bool) -> Option<String> {
    (insecure_remote && !tls && !listen.ip().is_loopback()).then(|| {
        format!(
            "serving the API over plain HTTP on {listen}, a non-loopback address \
             (insecure_remote): what it shows, and any token sent to it, cross the network in clear"
        )
    })
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

/// Why a listen address is refused: anything but loopback needs TLS,
/// unless `insecure_remote` forces plain HTTP.
pub fn check_listen(listen: SocketAddr, tls: bool, insecure_remote: bool) -> Result<(), String> {
    if listen.ip().is_loopback() || tls || insecure_remote {
        return Ok(());
    }
    Err(format!(
        "{listen} is not a loopback address, and plain HTTP would carry the API (and its \
         tokens) in clear: give a certificate (`server.tls: {{cert: FILE, key: FILE}}`, or \
         `argus serve --tls-cert FILE --tls-key FILE`), or listen on 127.0.0.1 or [::1] \
         behind a TLS proxy, or set `insecure_remote: true` (`--insecure-remote`) to serve \
         plain HTTP to the network anyway"
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerSection {
    listen: String,
    #[serde(default)]
    tls: Option<TlsSection>,
    #[serde(default)]
    insecure_remote: bool,
    /// The old name of `insecure_remote`.
    #[serde(default)]
    allow_unauthenticated_remote: Option<bool>,
    #[serde(default, deserialize_with = "argus_core::duration::deserialize_option")]
    ready_max_lag: Option<Duration>,
    #[serde(default)]
    public: PublicSection,
    #[serde(default)]
    rate_limit: RateLimitConfig,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsSection {
    cert: String,
    key: String,
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
    resolve: impl Fn(&str) -> PathBuf,
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
    let insecure_remote =
        section.insecure_remote || section.allow_unauthenticated_remote.unwrap_or(false);
    let tls = section.tls.as_ref().map(|tls| TlsFiles {
        cert: resolve(tls.cert.trim()),
        key: resolve(tls.key.trim()),
    });
    if let Some(files) = &tls
        && let Err(error) = argus_core::tls::server_config(&files.cert, &files.key)
    {
        problem(out, format!("server.tls: {error}"));
    }
    if let Some(listen) = listen
        && let Err(why) = check_listen(listen, tls.is_some(), insecure_remote)
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
        tls,
        insecure_remote,
        deprecated_remote_key: section.allow_unauthenticated_remote.is_some(),
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
        assert_eq!(server.rate_limit, RateLimitConfig::default());
        let none = write(dir.path(), CHAINS);
        assert!(load(&none).expect("loads").server.is_none());
    }

    #[test]
    fn a_rate_limit_is_read_and_zero_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            &format!(
                "{CHAINS}server:\n  listen: 127.0.0.1:8080\n  rate_limit: {{ per_second: 5, burst: 10 }}\n"
            ),
        );
        let server = load(&path).expect("loads").server.expect("server");
        assert_eq!(
            server.rate_limit,
            RateLimitConfig {
                per_second: 5,
                burst: 10
            }
        );
        let zero = write(
            dir.path(),
            &format!(
                "{CHAINS}server:\n  listen: 127.0.0.1:8080\n  rate_limit: {{ per_second: 0, burst: 10 }}\n"
            ),
        );
        let text = load(&zero).expect_err("refused").to_string();
        assert!(text.contains("server.rate_limit"), "{text}");
        let unknown = write(
            dir.path(),
            &format!(
                "{CHAINS}server:\n  listen: 127.0.0.1:8080\n  rate_limit: {{ per_minute: 5 }}\n"
            ),
        );
        assert!(load(&unknown).is_err());
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
        assert!(text.contains("insecure_remote: true"), "{text}");
        assert!(text.contains("server.tls"), "{text}");
        assert!(
            text.contains("systems[0].chains[0]: chain mainnet is not one of"),
            "{text}"
        );
        assert!(text.contains("systems[0].contracts[0].address"), "{text}");
        assert!(error.0.iter().all(|d| d.line == 3), "{text}");

        let forced = write(
            dir.path(),
            &format!("{CHAINS}server:\n  listen: 0.0.0.0:8080\n  insecure_remote: true\n"),
        );
        let server = load(&forced).expect("loads").server.expect("server");
        assert!(server.insecure_remote && !server.deprecated_remote_key);
        let warnings = server.warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("plain HTTP"), "{warnings:?}");

        let old_name = write(
            dir.path(),
            &format!(
                "{CHAINS}server:\n  listen: 0.0.0.0:8080\n  allow_unauthenticated_remote: true\n"
            ),
        );
        let server = load(&old_name).expect("loads").server.expect("server");
        assert!(server.insecure_remote && server.deprecated_remote_key);
        let warnings = server.warnings();
        assert!(warnings[0].contains("deprecated"), "{warnings:?}");
        assert!(check_listen("[::1]:80".parse().unwrap(), false, false).is_ok());
        assert!(check_listen("10.0.0.1:80".parse().unwrap(), false, false).is_err());
        assert!(check_listen("10.0.0.1:80".parse().unwrap(), true, false).is_ok());
    }

    fn tls_testdata(name: &str) -> String {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata/tls")
            .join(name)
            .display()
            .to_string()
    }

    #[test]
    fn a_remote_listen_with_tls_loads_and_a_bad_pair_is_reported_at_its_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(tls_testdata("cert.pem"), dir.path().join("cert.pem")).unwrap();
        let key = tls_testdata("key.pem");
        // The certificate relative to the config's folder, the key absolute.
        let path = write(
            dir.path(),
            &format!(
                "{CHAINS}server:\n  listen: 0.0.0.0:8443\n  tls: {{ cert: cert.pem, key: '{key}' }}\n"
            ),
        );
        let server = load(&path).expect("loads").server.expect("server");
        let tls = server.tls.clone().expect("tls");
        assert_eq!(tls.cert, dir.path().join("cert.pem"));
        assert!(server.warnings().is_empty(), "{:?}", server.warnings());

        let other = tls_testdata("other-key.pem");
        let mismatch = write(
            dir.path(),
            &format!(
                "{CHAINS}server:\n  listen: 0.0.0.0:8443\n  tls: {{ cert: cert.pem, key: '{other}' }}\n"
            ),
        );
        let error = load(&mismatch).expect_err("refused");
        let text = error.to_string();
        assert_eq!(error.0.len(), 1, "{text}");
        assert!(text.contains("server.tls: the TLS key"), "{text}");
        assert!(text.contains("does not fit"), "{text}");
        assert_eq!(error.0[0].line, 3, "{text}");

        let missing = write(
            dir.path(),
            &format!(
                "{CHAINS}server:\n  listen: 127.0.0.1:8443\n  tls: {{ cert: nowhere.pem, key: '{key}' }}\n"
            ),
        );
        let text = load(&missing).expect_err("refused").to_string();
        assert!(text.contains("nowhere.pem"), "{text}");
        assert!(text.contains("argus.yaml:3"), "{text}");
    }
}
