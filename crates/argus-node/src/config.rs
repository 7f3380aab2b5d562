//! `argus.yaml`: the daemon's one config file.
//!
//! The file is read in two passes so that `argus validate` can report every
//! problem at once, each with its file, line and column, the way Vector's
//! config compiler does: the first pass reads the document's shape (top-level
//! keys, lists, maps) keeping where each item starts; the second turns each
//! item into its section's typed config on its own, so one bad chain or
//! notifier does not hide the next. Cross-checks (a route naming a notifier
//! that does not exist, a secret taken from an unset variable, a rule file
//! that does not load) come last, still collected rather than thrown.
//!
//! Relative paths in the file (rule files, registry imports, the data
//! directory) are relative to the file itself, not to where `argus` runs.

use std::fmt;
use std::path::{Path, PathBuf};

use argus_alerting::AlertingConfig;
use argus_chain::{EndpointConfig, FollowerConfig, PoolConfig};
use argus_core::file::{MAX_CONFIG_BYTES, MAX_RULES_BYTES, read_to_string_capped};
use argus_core::{ChainId, Diagnostic};
use argus_incident::IncidentsConfig;
use argus_rules::RuleSet;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_saphyr::Spanned;

use argus_chain::ChainSetup;
use argus_sources::SignalsConfig;

mod audit;
mod backup;
mod enrol;
mod server;
mod store;

pub use audit::{AuditConfig, Witness};
pub use backup::{BackupConfig, PassphraseSource};
pub use enrol::{EnrolConfig, EnrolPolicy, Trigger};
pub use store::{STORE_PASSWORD_ENV, StoreConfig, StorePassword};

pub use server::{
    DEFAULT_READY_MAX_LAG, PublicConfig, PublicContract, PublicSystem, RateLimitConfig,
    ServerConfig, TlsFiles, check_listen, remote_warning,
};

/// Every problem found in a config, in file order.
#[derive(Debug, Clone)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.0.len();
        writeln!(
            f,
            "{count} problem{} in the configuration:",
            if count == 1 { "" } else { "s" }
        )?;
        for diagnostic in &self.0 {
            writeln!(f, "  {diagnostic}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// The document's shape: each section kept raw with where it starts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    data_dir: Option<Spanned<String>>,
    #[serde(default)]
    chains: Vec<Spanned<serde_json::Value>>,
    #[serde(default)]
    registry: Option<Spanned<serde_json::Value>>,
    #[serde(default)]
    rules: Vec<Spanned<String>>,
    #[serde(default)]
    alerting: Option<Spanned<serde_json::Value>>,
    #[serde(default)]
    signals: Option<Spanned<serde_json::Value>>,
    #[serde(default)]
    audit: Option<Spanned<serde_json::Value>>,
    #[serde(default)]
    incidents: Option<argus_incident::loader::RawIncidents>,
    #[serde(default)]
    heartbeat: Option<Spanned<serde_json::Value>>,
    #[serde(default)]
    server: Option<Spanned<serde_json::Value>>,
    #[serde(default)]
    upgrades: Option<Spanned<serde_json::Value>>,
    checks: Option<Spanned<serde_json::Value>>,
    #[serde(default)]
    preflight: Option<Spanned<serde_json::Value>>,
    backup: Option<Spanned<serde_json::Value>>,
    #[serde(default)]
    store: Option<Spanned<serde_json::Value>>,
}

/// Collects diagnostics for one file.
#[derive(Debug)]
pub struct Collector {
    file: PathBuf,
    pub diagnostics: Vec<Diagnostic>,
}

impl Collector {
    pub fn new(file: &Path) -> Self {
        Self {
            file: file.to_path_buf(),
            diagnostics: Vec::new(),
        }
    }

    pub fn at<T>(&mut self, spanned: &Spanned<T>, message: impl Into<String>) {
        self.push(
            spanned.referenced.line(),
            spanned.referenced.column(),
            message,
        );
    }

    pub fn push(&mut self, line: u64, column: u64, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic::new(
            self.file.display().to_string(),
            line,
            column,
            message,
        ));
    }

    /// Deserializes one item of a section; on failure records where the item
    /// starts and what serde said, prefixed with `what`.
    pub fn item<T: DeserializeOwned>(
        &mut self,
        what: &str,
        raw: &Spanned<serde_json::Value>,
    ) -> Option<T> {
        self.typed(raw, what, raw.value.clone())
    }

    /// Deserializes `value` (a part of the item at `at`); on failure records
    /// where the item starts and what serde said, prefixed with `what`.
    pub fn typed<T: DeserializeOwned, S>(
        &mut self,
        at: &Spanned<S>,
        what: &str,
        value: serde_json::Value,
    ) -> Option<T> {
        match serde_json::from_value(value) {
            Ok(value) => Some(value),
            Err(error) => {
                self.at(at, format!("{what}: {error}"));
                None
            }
        }
    }
}

/// The parsed file before its sections are typed.
#[derive(Debug)]
pub struct ConfigDocument {
    pub dir: PathBuf,
    pub data_dir: Option<Spanned<String>>,
    pub chains: Vec<Spanned<serde_json::Value>>,
    pub registry: Option<Spanned<serde_json::Value>>,
    pub rules: Vec<Spanned<String>>,
    pub alerting: Option<Spanned<serde_json::Value>>,
    pub signals: Option<Spanned<serde_json::Value>>,
    pub audit: Option<Spanned<serde_json::Value>>,
    pub incidents: Option<argus_incident::loader::RawIncidents>,
    pub heartbeat: Option<Spanned<serde_json::Value>>,
    pub server: Option<Spanned<serde_json::Value>>,
    pub upgrades: Option<Spanned<serde_json::Value>>,
    pub checks: Option<Spanned<serde_json::Value>>,
    pub preflight: Option<Spanned<serde_json::Value>>,
    pub backup: Option<Spanned<serde_json::Value>>,
    pub store: Option<Spanned<serde_json::Value>>,
}

impl ConfigDocument {
    /// Reads and parses the file; a file that is not YAML of the right shape
    /// is one diagnostic with its position.
    pub fn read(path: &Path) -> Result<Self, Diagnostics> {
        let text =
            read_to_string_capped(path, MAX_CONFIG_BYTES, "config file").map_err(|error| {
                Diagnostics(vec![Diagnostic::in_file(
                    path.display().to_string(),
                    format!("cannot read the config file: {}", error.reason()),
                )])
            })?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Self, Diagnostics> {
        let raw: RawConfig = serde_saphyr::from_str(text).map_err(|error| {
            let (line, column) = error
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((0, 0));
            // The error renders a snippet over several lines; its first line
            // is the message.
            let message = error.to_string();
            let message = message
                .lines()
                .next()
                .unwrap_or("invalid YAML")
                .trim_start_matches("error: ")
                .to_owned();
            let message = strip_position(&message);
            Diagnostics(vec![Diagnostic::new(
                path.display().to_string(),
                line,
                column,
                message,
            )])
        })?;
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        Ok(Self {
            dir,
            data_dir: raw.data_dir,
            chains: raw.chains,
            registry: raw.registry,
            rules: raw.rules,
            alerting: raw.alerting,
            signals: raw.signals,
            audit: raw.audit,
            incidents: raw.incidents,
            heartbeat: raw.heartbeat,
            upgrades: raw.upgrades,
            server: raw.server,
            checks: raw.checks,
            preflight: raw.preflight,
            backup: raw.backup,
            store: raw.store,
        })
    }

    /// `path` resolved against the config file's folder.
    pub fn resolve(&self, path: &str) -> PathBuf {
        let path = Path::new(path);
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.dir.join(path)
        }
    }
}

/// A config read, checked and typed.
#[derive(Debug)]
pub struct Loaded {
    pub data_dir: Option<PathBuf>,
    pub chains: Vec<ChainSetup>,
    pub rules: RuleSet,
    pub rule_files: Vec<PathBuf>,
    pub alerting: AlertingConfig,
    pub registry_imports: Vec<PathBuf>,
    /// `registry.enrol` and `registry.unknown_callers`: new contracts on
    /// the chains that join the registry by themselves.
    pub enrol: EnrolConfig,
    pub signals: SignalsConfig,
    pub audit: AuditConfig,
    /// The incident policy: kinds, severities, playbooks, bots.
    pub incidents: IncidentsConfig,
    /// Where the node pings its health.
    pub heartbeat: Option<crate::heartbeat::HeartbeatConfig>,
    /// The HTTP API `argus run` serves (none without a `server:` section).
    pub server: Option<ServerConfig>,
    /// How upgrades of registered proxies are judged (`upgrades:`).
    pub upgrades: crate::UpgradesConfig,
    /// The scheduled checks (`checks:`; none: the daemon runs none).
    pub checks: Option<argus_checks::ChecksConfig>,
    /// What `argus preflight` runs (`preflight:`).
    pub preflight: argus_checks::PreflightConfig,
    /// Encrypted backups (none without a `backup:` section).
    pub backup: Option<BackupConfig>,
    /// A PostgreSQL store shared by several instances (none: the SQLite
    /// file in the data directory).
    pub store: Option<StoreConfig>,
}

/// The `registry:` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistrySection {
    /// Build outputs imported (idempotently) when the daemon starts.
    #[serde(default)]
    import: Vec<String>,
    /// Enrolment policies (typed in `config/enrol.rs`).
    #[serde(default)]
    enrol: Vec<serde_json::Value>,
    /// Report contracts created by others that call ours.
    #[serde(default)]
    unknown_callers: Option<bool>,
}

/// One entry of a chain's `rpc:` list: a URL, or an endpoint in full.
#[derive(Deserialize)]
#[serde(untagged)]
enum EndpointEntry {
    Url(String),
    Full(EndpointConfig),
}

/// Reads, checks and types the config at `path`, reporting every problem at
/// once.
pub fn load(path: &Path) -> Result<Loaded, Diagnostics> {
    load_checking(path, true)
}

/// [`load`] for commands that read the config but send nothing (`status`,
/// `keys sign`): the notifiers' secrets are not looked up, so an operator's
/// shell without the daemon's environment can use it.
pub fn load_without_secrets(path: &Path) -> Result<Loaded, Diagnostics> {
    load_checking(path, false)
}

fn load_checking(path: &Path, check_secrets: bool) -> Result<Loaded, Diagnostics> {
    let doc = ConfigDocument::read(path)?;
    let mut out = Collector::new(path);

    let data_dir = doc.data_dir.as_ref().map(|d| doc.resolve(&d.value));

    let mut chains: Vec<ChainSetup> = Vec::new();
    for raw in &doc.chains {
        if let Some(setup) = chain_setup(&mut out, raw) {
            if chains
                .iter()
                .any(|c| c.follower.chain == setup.follower.chain)
            {
                out.at(
                    raw,
                    format!(
                        "chain {} is listed twice; give one entry several `rpc` endpoints instead",
                        setup.follower.chain.name()
                    ),
                );
            } else {
                chains.push(setup);
            }
        }
    }
    if doc.chains.is_empty() {
        out.push(1, 1, "no `chains:` to follow; add one, e.g. `chains: [{ chain: anvil, rpc: [ws://127.0.0.1:8545] }]`");
    }

    let registry_section = doc
        .registry
        .as_ref()
        .and_then(|raw| out.item::<RegistrySection>("registry", raw));
    let registry_imports = registry_section
        .as_ref()
        .map(|r| r.import.iter().map(|p| doc.resolve(p)).collect::<Vec<_>>())
        .unwrap_or_default();
    let enrol = match (&registry_section, &doc.registry) {
        (Some(section), Some(raw)) => {
            let followed: Vec<ChainId> = chains.iter().map(|c| c.follower.chain).collect();
            let full: Vec<ChainId> = chains
                .iter()
                .filter(|c| c.follower.fetch == argus_chain::FetchMode::Full)
                .map(|c| c.follower.chain)
                .collect();
            let mut problems = Vec::new();
            let enrol = enrol::enrol_config(
                &section.enrol,
                section.unknown_callers,
                &followed,
                &full,
                &mut problems,
            );
            for problem in problems {
                out.at(raw, problem);
            }
            enrol
        }
        _ => EnrolConfig::default(),
    };
    for (import, raw) in registry_imports
        .iter()
        .zip(std::iter::repeat(&doc.registry))
    {
        if !import.exists()
            && let Some(raw) = raw
        {
            out.at(
                raw,
                format!("registry.import: {} does not exist", import.display()),
            );
        }
    }
    // What `argus run` will import must import: a file that does not parse
    // is refused here, not when the daemon starts.
    if check_secrets
        && let Some(raw) = &doc.registry
        && registry_imports.iter().all(|p| p.exists())
        && !registry_imports.is_empty()
        && let Err(errors) = argus_registry::artifact::load_paths(
            registry_imports.iter().map(PathBuf::as_path),
            &argus_registry::artifact::ImportHints::default(),
        )
    {
        for error in &errors.errors {
            out.at(raw, format!("registry.import: {error}"));
        }
    }

    let alerting = match &doc.alerting {
        Some(raw) => out.item::<AlertingConfig>("alerting", raw),
        None => Some(AlertingConfig::default()),
    };
    if let (Some(alerting), Some(raw)) = (&alerting, &doc.alerting) {
        let problems = if check_secrets {
            match argus_alerting::build_notifiers(alerting) {
                Err(argus_alerting::AlertError::Config { problems }) => problems,
                _ => Vec::new(),
            }
        } else {
            alerting.validate("alerting")
        };
        for problem in problems {
            out.at(raw, problem.to_string());
        }
    }

    let mut rule_files = Vec::new();
    let mut sets = Vec::new();
    let mut rules_ok = true;
    for file in &doc.rules {
        let resolved = doc.resolve(&file.value);
        let text = match read_to_string_capped(&resolved, MAX_RULES_BYTES, "rule file") {
            Ok(text) => text,
            Err(error) => {
                out.at(file, error.to_string());
                rules_ok = false;
                continue;
            }
        };
        match RuleSet::from_yaml(&text, &resolved) {
            Ok(set) => sets.push(set),
            Err(problems) => {
                out.diagnostics.extend(problems);
                rules_ok = false;
            }
        }
        rule_files.push(resolved);
    }
    let rules = if rules_ok {
        match RuleSet::merge(sets) {
            Ok(set) => Some(set),
            Err(problems) => {
                out.diagnostics.extend(problems);
                None
            }
        }
    } else {
        None
    };

    let signals = match &doc.signals {
        Some(raw) => {
            let signals = out.item::<SignalsConfig>("signals", raw);
            for problem in signals.iter().flat_map(SignalsConfig::problems) {
                out.at(raw, problem.to_string());
            }
            let ids: Vec<ChainId> = chains.iter().map(|c| c.follower.chain).collect();
            for (i, wallet) in signals.iter().flat_map(|s| s.wallets.iter()).enumerate() {
                if let Err(message) = wallet.resolve(&ids) {
                    out.at(raw, format!("signals.wallets[{i}]: {message}"));
                }
            }
            signals
        }
        None => Some(SignalsConfig::default()),
    };

    let audit = match &doc.audit {
        Some(raw) => audit::audit_config(
            &mut out,
            &doc,
            raw,
            data_dir.as_deref(),
            alerting.as_ref().map(|a| &a.notifiers),
        ),
        None => AuditConfig::default(),
    };

    let heartbeat = doc.heartbeat.as_ref().and_then(|raw| {
        let config = out.item::<crate::heartbeat::HeartbeatConfig>("heartbeat", raw)?;
        let problems = config.problems();
        for problem in &problems {
            out.at(raw, problem.clone());
        }
        problems.is_empty().then_some(config)
    });

    let upgrades = doc
        .upgrades
        .as_ref()
        .and_then(|raw| out.item::<crate::UpgradesConfig>("upgrades", raw))
        .unwrap_or_default();
    let checks = doc.checks.as_ref().and_then(|raw| {
        let config = out.item::<argus_checks::ChecksConfig>("checks", raw)?;
        let problems = config.problems();
        for problem in &problems {
            out.at(raw, problem.clone());
        }
        problems.is_empty().then_some(config)
    });
    let preflight = doc
        .preflight
        .as_ref()
        .and_then(|raw| {
            let config = out.item::<argus_checks::PreflightConfig>("preflight", raw)?;
            let problems = config.problems();
            for problem in &problems {
                out.at(raw, problem.clone());
            }
            problems.is_empty().then_some(config)
        })
        .unwrap_or_default();

    let incidents = match &doc.incidents {
        Some(raw) => {
            let refs = argus_incident::loader::References {
                notifiers: alerting
                    .as_ref()
                    .map(|a| a.notifiers.keys().cloned().collect()),
                chains: chains.iter().map(|c| c.follower.chain).collect(),
                rules: rules
                    .as_ref()
                    .map(|r| r.rules().iter().map(|rule| rule.id.clone()).collect()),
            };
            match argus_incident::loader::load(raw, &path.display().to_string(), &refs) {
                Ok(mut incidents) => {
                    // Files named in the policy are relative to the config.
                    let resolve = |p: &mut PathBuf| {
                        if p.is_relative() {
                            *p = doc.dir.join(&*p);
                        }
                    };
                    for bot in incidents.bots.values_mut() {
                        if let Some(file) = bot.kill_switch_file.as_mut() {
                            resolve(file);
                        }
                        if let Some(file) = bot.pid_file.as_mut() {
                            resolve(file);
                        }
                        if let Some(file) = bot
                            .key_use
                            .as_mut()
                            .and_then(|k| k.submissions_file.as_mut())
                        {
                            resolve(file);
                        }
                    }
                    incidents.evidence.log_files.iter_mut().for_each(resolve);
                    Some(incidents)
                }
                Err(problems) => {
                    out.diagnostics.extend(problems);
                    None
                }
            }
        }
        None => Some(IncidentsConfig::default()),
    };

    let followed: Vec<ChainId> = chains.iter().map(|c| c.follower.chain).collect();
    let server = doc
        .server
        .as_ref()
        .and_then(|raw| server::server_config(&mut out, raw, &followed, |p| doc.resolve(p)));

    let backup = doc
        .backup
        .as_ref()
        .and_then(|raw| backup::backup_config(&mut out, &doc, raw, data_dir.as_deref()));
    let store = doc
        .store
        .as_ref()
        .and_then(|raw| store::store_config(&mut out, raw));

    match (
        out.diagnostics.is_empty(),
        rules,
        alerting,
        signals,
        incidents,
    ) {
        (true, Some(rules), Some(alerting), Some(signals), Some(incidents)) => Ok(Loaded {
            data_dir,
            chains,
            rules,
            rule_files,
            alerting,
            registry_imports,
            enrol,
            signals,
            audit,
            incidents,
            heartbeat,
            server,
            upgrades,
            checks,
            preflight,
            backup,
            store,
        }),
        _ => {
            let mut diagnostics = out.diagnostics;
            diagnostics
                .sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
            Err(Diagnostics(diagnostics))
        }
    }
}

/// One `chains:` item: `rpc` and `pool` are the pool's, every other key is
/// the follower's.
fn chain_setup(out: &mut Collector, raw: &Spanned<serde_json::Value>) -> Option<ChainSetup> {
    let serde_json::Value::Object(map) = &raw.value else {
        out.at(raw, "a chain is a mapping with at least `chain` and `rpc`");
        return None;
    };
    let mut follower = map.clone();
    // Chains are written by name or number; the follower wants the number.
    if let Some(serde_json::Value::String(name)) = follower.get("chain") {
        match ChainId::parse(name, false) {
            Ok(chain) => {
                follower.insert("chain".into(), serde_json::Value::from(chain.0));
            }
            Err(error) => {
                out.at(raw, format!("chains.chain: {error}"));
                return None;
            }
        }
    }
    let rpc = follower.remove("rpc");
    let pool = follower.remove("pool");
    let follower: Option<FollowerConfig> =
        out.typed(raw, "chains", serde_json::Value::Object(follower));
    let endpoints: Option<Vec<EndpointConfig>> = match rpc {
        None => {
            out.at(
                raw,
                "chains: `rpc` is missing: list the node URLs to read this chain from",
            );
            None
        }
        Some(rpc) => out
            .typed::<Vec<EndpointEntry>, _>(raw, "chains.rpc", rpc)
            .map(|entries| {
                entries
                    .into_iter()
                    .enumerate()
                    .map(|(i, entry)| match entry {
                        EndpointEntry::Url(url) => {
                            EndpointConfig::new(format!("rpc-{}", i + 1), url)
                        }
                        EndpointEntry::Full(config) => config,
                    })
                    .collect()
            }),
    };
    let pool: Option<PoolConfig> = match pool {
        None => Some(PoolConfig::default()),
        Some(pool) => out.typed(raw, "chains.pool", pool),
    };
    let (follower, endpoints, pool) = (follower?, endpoints?, pool?);
    // Build the pool once to check URLs and names; nothing connects yet.
    let setup = ChainSetup {
        follower,
        endpoints,
        pool,
    };
    if let Err(error) = setup.connect() {
        out.at(raw, format!("chains.rpc: {error}"));
        return None;
    }
    Some(setup)
}

/// serde-saphyr puts "line L column C: " in front of its messages; the
/// diagnostic carries the position already.
fn strip_position(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("line ")
        && let Some((_, tail)) = rest.split_once(": ")
    {
        return tail.to_owned();
    }
    message.to_owned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]
    use super::*;

    #[test]
    fn a_shape_error_has_its_line_and_column() {
        let error = ConfigDocument::parse(Path::new("argus.yaml"), "chains: []\nchainz: 1\n")
            .expect_err("unknown key");
        assert_eq!(error.0.len(), 1);
        assert_eq!((error.0[0].line, error.0[0].column), (2, 1));
        assert!(
            error.0[0].message.contains("unknown field `chainz`"),
            "{}",
            error.0[0].message
        );
    }

    #[test]
    fn an_enrolment_problem_is_placed_at_the_registry_section_with_its_key_path() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("argus.yaml");
        std::fs::write(
            &path,
            "chains:\n  - { chain: anvil, rpc: [\"http://127.0.0.1:1\"], fetch: { logs: {} } }\n\
             rules: []\n\
             registry:\n  enrol:\n    - { deployer: \"0x00000000000000000000000000000000000000aa\", label: \"v-{n}\" }\n\
                 \x20   - { factory: \"0x00000000000000000000000000000000000000aa\", event: \"Made(\" }\n",
        )
        .expect("written");
        let problems = load(&path).expect_err("two problems").0;
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(problems.len(), 2, "{text:#?}");
        // The `registry:` section's value starts on line 5.
        assert!(problems.iter().all(|p| p.line == 5), "{text:#?}");
        assert!(!text[1].contains('\n'), "one line: {text:#?}");
        assert!(
            text[0].contains("registry.enrol[0]: a deployer policy reads transactions"),
            "{text:#?}"
        );
        assert!(text[1].contains("registry.enrol[1].event"), "{text:#?}");
    }

    #[test]
    fn items_keep_where_they_start() {
        let doc = ConfigDocument::parse(
            Path::new("dir/argus.yaml"),
            "chains:\n  - chain: anvil\n  - chain: 1\nrules: [a.yaml]\n",
        )
        .expect("parses");
        assert_eq!(doc.chains.len(), 2);
        assert_eq!(doc.chains[1].referenced.line(), 3);
        assert_eq!(doc.resolve("a.yaml"), PathBuf::from("dir/a.yaml"));
    }

    #[test]
    fn upgrades_and_key_use_are_checked_and_located() {
        #![allow(clippy::unwrap_used)]
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("argus.yaml");
        let text = "chains:\n  - { chain: anvil, rpc: [http://127.0.0.1:1] }\n\
                    upgrades: { registered: bogus }\n\
                    incidents:\n  bots:\n    arb:\n      kill_switch_file: STOP\n\
                    \x20     key_use: { submissions_file: arb.jsonl }\n";
        std::fs::write(&path, text).unwrap();
        let problems = load(&path).expect_err("two problems").0;
        let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(
            shown
                .iter()
                .any(|p| p.contains(":3:") && p.contains("upgrades") && p.contains("bogus")),
            "{shown:?}"
        );
        assert!(
            shown
                .iter()
                .any(|p| p.contains("incidents.bots.arb.key_use") && p.contains("wallets")),
            "{shown:?}"
        );

        let text = "chains:\n  - { chain: anvil, rpc: [http://127.0.0.1:1] }\n\
                    upgrades: { registered: critical, admin_changed: medium }\n\
                    incidents:\n  bots:\n    arb:\n      kill_switch_file: STOP\n\
                    \x20     wallets: [\"0x70997970C51812dc3A010C7d01b50e0d17dc79C8\"]\n\
                    \x20     chain: anvil\n\
                    \x20     key_use: { submissions_file: arb.jsonl, grace_blocks: 1 }\n";
        std::fs::write(&path, text).unwrap();
        let loaded = load(&path).expect("valid");
        assert_eq!(loaded.upgrades.registered, argus_core::Severity::Critical);
        assert_eq!(loaded.upgrades.admin_changed, argus_core::Severity::Medium);
        let key_use = loaded.incidents.bots["arb"].key_use.clone().unwrap();
        assert_eq!(key_use.grace_blocks, 1);
        assert_eq!(
            key_use.submissions_file,
            Some(dir.path().join("arb.jsonl")),
            "relative to the config"
        );
    }
}
