//! The running node as a library: the stages of the pipeline composed.
//!
//! ```text
//!  argus-chain ─► argus-rules ─┐
//!  (one task per chain)        ├─► record (one transaction) ─► argus-alerting
//!  argus-sources ─► argus-rules┘   findings → outbox             Dispatcher ─► notifiers
//!  (probes, host, logs, wallets)   + the task's own progress
//!                                  then wake, then NodeEvent ─► subscribers
//! ```
//!
//! [`NodeBuilder`] takes a checked [`NodeConfig`] (the [`config`] module
//! reads one from `argus.yaml`, reporting every problem at once), the data
//! directory, the [`Clock`] and the notifier secrets; [`NodeBuilder::start`]
//! spawns one task per chain, one per signal source, the signal task and the
//! dispatcher on the current tokio runtime and gives a [`NodeHandle`]. The
//! handle is how the outside sees the node: [`NodeEvent`]s as alerts are
//! recorded (the binary prints them; tests await them), the live figures a
//! server and metrics read (each chain's tip, each endpoint's figures), and
//! a clean stop.
//!
//! Every task ends a unit of work through one record step (`record`): the
//! findings and the task's progress commit in one transaction, so delivery
//! is exactly-once per idempotency key across crashes (see that module).
//! The node prints nothing: output is the caller's.
//!
//! A node on a database file holds the data directory's [`RunLock`] for its
//! life: a second node on the same directory is refused with the holder's
//! pid ([`StoreError::Locked`]) rather than delivering every alert twice.

mod chain;
mod checks;
pub mod config;
pub mod directory;
pub mod enrol;
mod handle;
pub mod heartbeat;
mod incidents;
mod keyuse;
pub mod leases;
mod live;
mod record;
pub mod registry_feed;
mod signals;
pub mod state;
mod upgrades;
mod watches;

pub use handle::{NodeHandle, NodeView};
pub use live::BlockCounts;
use live::Live;
pub use upgrades::UpgradesConfig;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use argus_alerting::{
    AlertError, AlertingConfig, DispatchHandle, Dispatcher, Duty, Recorded, Retracted, Routing,
    Secret,
};
use argus_chain::{ChainSetup, EndpointStats};
use argus_core::{BlockRef, ChainId, Finding, Severity, finding_id};
use argus_rules::RuleSet;
use argus_sources::{Sample, SignalsConfig, SourceContext};
use argus_store::{RunLock, Store, StoreError};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinSet;

pub use argus_core::Clock;
use argus_incident::evidence::EvidenceSources;
pub use argus_incident::respond::GuardianKey;
use argus_incident::respond::Responders;
pub use checks::CheckRunner;

use crate::chain::ChainContext;
use crate::record::Recorder;

/// What the node runs: the typed sections of a checked config.
#[derive(Debug, Clone, Default)]
pub struct NodeConfig {
    pub chains: Vec<ChainSetup>,
    pub rules: RuleSet,
    pub alerting: AlertingConfig,
    /// What the node measures besides the chains.
    pub signals: SignalsConfig,
    /// The incident policy (no kinds: no incidents).
    pub incidents: argus_incident::IncidentsConfig,
    /// Where the node pings its health (none: no heartbeat).
    pub heartbeat: Option<heartbeat::HeartbeatConfig>,
    /// How upgrades of registered proxies are judged.
    pub upgrades: UpgradesConfig,
    /// `registry.enrol`: new contracts that join the registry by themselves.
    pub enrol: config::EnrolConfig,
    /// The scheduled checks (none: the daemon runs no checklist).
    pub checks: Option<argus_checks::ChecksConfig>,
}

impl From<&config::Loaded> for NodeConfig {
    fn from(loaded: &config::Loaded) -> Self {
        Self {
            chains: loaded.chains.clone(),
            rules: loaded.rules.clone(),
            alerting: loaded.alerting.clone(),
            signals: loaded.signals.clone(),
            incidents: loaded.incidents.clone(),
            heartbeat: loaded.heartbeat.clone(),
            upgrades: loaded.upgrades.clone(),
            enrol: loaded.enrol.clone(),
            checks: loaded.checks.clone(),
        }
    }
}

/// What the node tells its subscribers, after the commit that made it true.
#[derive(Debug, Clone)]
pub enum NodeEvent {
    /// A new alert was recorded (fired, suppressed as a duplicate or by a
    /// silence, or stored with no route).
    Alert {
        finding: Box<Finding>,
        recorded: Recorded,
    },
    /// The alerts of a block that left the canonical chain were retracted.
    Retraction {
        chain: ChainId,
        block: BlockRef,
        retracted: Retracted,
    },
    /// An incident was opened (`opened`) or changed: an alert joined it, a
    /// step ran, a timer escalated it. Its timeline has the details; the
    /// binary copies new timeline rows into the audit log on this event.
    Incident { id: i64, opened: bool },
}

/// Why the node could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Registry(#[from] argus_registry::RegistryError),
    #[error(transparent)]
    Alerting(#[from] AlertError),
    #[error(transparent)]
    ChainStore(#[from] argus_chain::DbError),
    #[error(transparent)]
    Rpc(#[from] argus_chain::RpcError),
    #[error(transparent)]
    Follow(#[from] argus_chain::FollowError),
    #[error(transparent)]
    Pool(#[from] argus_chain::PoolError),
    #[error(transparent)]
    SignalStore(#[from] argus_sources::db::DbError),
    #[error(transparent)]
    Incident(#[from] argus_incident::IncidentError),
    /// A chain's task stopped for good.
    #[error("following chain {chain}: {source}")]
    Chain {
        chain: String,
        #[source]
        source: Box<NodeError>,
    },
    /// The alert dispatcher stopped.
    #[error("the alert dispatcher stopped: {source}")]
    Dispatcher {
        #[source]
        source: AlertError,
    },
    /// A task panicked or was cancelled.
    #[error("a task of the node failed: {detail}")]
    Task { detail: String },
}

/// How many events wait for a slow subscriber before it misses some (it is
/// told how many: `RecvError::Lagged`). The outbox holds every alert anyway.
const EVENT_BUFFER: usize = 4096;

/// Where `{ env: NAME }` secrets come from.
type EnvLookup = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Rotates a vault key by label (the binary's, holding the master key).
type KeyRotator = Box<dyn Fn(&str) -> Result<String, String> + Send + Sync>;

/// Builds a node: the config, then what the caller injects.
pub struct NodeBuilder {
    config: NodeConfig,
    data_dir: PathBuf,
    store: Option<Store>,
    run_lock: Option<RunLock>,
    clock: Clock,
    vault_secrets: BTreeMap<String, Secret>,
    env: EnvLookup,
    host: String,
    events: broadcast::Sender<NodeEvent>,
    signing_keys: BTreeMap<String, GuardianKey>,
    key_rotator: Option<KeyRotator>,
    config_files: Vec<PathBuf>,
    check_runner: Option<CheckRunner>,
    instance_id: Option<String>,
    lease_time: std::time::Duration,
}

impl std::fmt::Debug for NodeBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeBuilder")
            .field("data_dir", &self.data_dir)
            .field("chains", &self.config.chains.len())
            .field("rules", &self.config.rules.len())
            .finish_non_exhaustive()
    }
}

impl NodeBuilder {
    /// A node over `config` keeping its state in `data_dir`, on the system
    /// clock, with secrets from the environment only.
    pub fn new(config: NodeConfig, data_dir: impl Into<PathBuf>) -> Self {
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        Self {
            config,
            data_dir: data_dir.into(),
            store: None,
            run_lock: None,
            clock: Clock::system(),
            vault_secrets: BTreeMap::new(),
            env: Box::new(|name| std::env::var(name).ok()),
            host: String::from("localhost"),
            events,
            signing_keys: BTreeMap::new(),
            key_rotator: None,
            config_files: Vec::new(),
            check_runner: None,
            instance_id: None,
            lease_time: argus_store::lease::DEFAULT_LEASE,
        }
    }

    /// This instance's id among those sharing a PostgreSQL store (default:
    /// `<host>-<pid>`).
    pub fn instance_id(mut self, id: impl Into<String>) -> Self {
        self.instance_id = Some(id.into());
        self
    }

    /// How long a lease lasts without renewal on a shared store: a dead
    /// instance's work moves to another within about this time.
    pub fn lease_time(mut self, ttl: std::time::Duration) -> Self {
        self.lease_time = ttl;
        self
    }

    /// The keys the incident responders sign with, unsealed from the vault
    /// (each with its access policy, checked at every use).
    pub fn signing_keys(mut self, keys: BTreeMap<String, GuardianKey>) -> Self {
        self.signing_keys = keys;
        self
    }

    /// How a playbook's `rotate_keys` step rotates a vault key.
    pub fn key_rotator(
        mut self,
        rotate: impl Fn(&str) -> Result<String, String> + Send + Sync + 'static,
    ) -> Self {
        self.key_rotator = Some(Box::new(rotate));
        self
    }

    /// How the scheduled checks run (the binary's runner holds the master
    /// key and the audit log's writer); without one the `checks:` schedule
    /// does not run in this node.
    pub fn check_runner(mut self, runner: CheckRunner) -> Self {
        self.check_runner = Some(runner);
        self
    }

    /// The config and rule files, whose hashes go into every incident's
    /// evidence.
    pub fn config_files(mut self, files: Vec<PathBuf>) -> Self {
        self.config_files = files;
        self
    }

    /// The store to use, when the caller opened it already (once per
    /// process); by default the node opens `argus.db` in its data directory.
    pub fn store(mut self, store: Store) -> Self {
        self.store = Some(store);
        self
    }

    /// The data directory's run lock, when the caller took it already
    /// (`argus run` takes it before it writes anything); by default the
    /// node takes it at [`start`](NodeBuilder::start), in the directory of
    /// the store's file, in the data directory for a PostgreSQL store, and
    /// none for a store in memory.
    pub fn run_lock(mut self, lock: RunLock) -> Self {
        self.run_lock = Some(lock);
        self
    }

    /// Where "now" comes from: alerts' times, retries, silences, and the
    /// times of signals. Tests pass a manual clock.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Notifier secrets unsealed from the vault, by name (`{ vault: NAME }`).
    pub fn vault_secrets(mut self, secrets: BTreeMap<String, Secret>) -> Self {
        self.vault_secrets = secrets;
        self
    }

    /// Where `{ env: NAME }` secrets are looked up (the process environment
    /// by default).
    pub fn env(mut self, lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        self.env = Box::new(lookup);
        self
    }

    /// The `host` label of the host's signals.
    pub fn host_name(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }

    /// The node's events from its start on. Subscribe before [`start`]
    /// to miss none.
    ///
    /// [`start`]: NodeBuilder::start
    pub fn subscribe(&self) -> broadcast::Receiver<NodeEvent> {
        self.events.subscribe()
    }

    /// Takes the data directory's run lock, opens the store, builds the
    /// notifiers and starts every task on the current tokio runtime. Refused
    /// with [`StoreError::Locked`] while another node holds the directory.
    pub fn start(mut self) -> Result<NodeHandle, NodeError> {
        // One node per data directory; taken before anything is written.
        let run_lock = match (self.run_lock.take(), &self.store) {
            (Some(lock), _) => Some(lock),
            (None, None) => Some(RunLock::acquire(&self.data_dir)?),
            (None, Some(store)) => match store.path().and_then(std::path::Path::parent) {
                Some(dir) => Some(RunLock::acquire(dir)?),
                // A shared PostgreSQL store: the data directory still holds
                // this instance's vault and audit log, one node at a time.
                None if store.dialect() == argus_store::Dialect::Postgres => {
                    Some(RunLock::acquire(&self.data_dir)?)
                }
                None => None,
            },
        };
        // Opened (and migrated) once; every task takes its own connection.
        let store = match self.store.take() {
            Some(store) => store,
            None => Store::open_in_dir(&self.data_dir)?,
        };
        let vault = |name: &str| self.vault_secrets.get(name).cloned();
        let notifiers = argus_alerting::build_notifiers_with(
            &self.config.alerting,
            &argus_alerting::Secrets {
                env: &*self.env,
                vault: Some(&vault),
            },
        )?;
        let routing = Arc::new(Routing::from_config(&self.config.alerting)?.with_cooldowns(
            self.config.rules.rules().iter().filter_map(|rule| {
                let ms = i64::try_from(rule.cooldown_ms?).ok()?;
                Some((rule.id.clone(), ms))
            }),
        ));
        let dispatcher =
            Dispatcher::new(&store, notifiers, &self.config.alerting, self.clock.clone())?;
        let dispatch = dispatcher.handle();
        let (shutdown, stopping) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let instance = leases::Instance::new(
            store.clone(),
            self.instance_id
                .clone()
                .unwrap_or_else(|| format!("{}-{}", self.host, std::process::id())),
            self.lease_time,
        );
        {
            let announce = leases::announce_until_stopped(
                instance.clone(),
                self.host.clone(),
                self.clock.now_ms(),
                stopping.clone(),
            );
            tasks.spawn(async move {
                announce.await;
                Ok(())
            });
        }
        self.spawn_dispatcher(&mut tasks, dispatcher, &store, &instance, &stopping);
        let wake_incidents = Arc::new(tokio::sync::Notify::new());
        let recorder = Recorder {
            routing,
            wake: dispatch.clone(),
            events: self.events.clone(),
            clock: self.clock.clone(),
            incidents: Arc::new(self.config.incidents.clone()),
            wake_incidents: wake_incidents.clone(),
        };
        let live = Arc::new(Live::default());
        if let Some(config) = self.config.heartbeat.clone() {
            let task = heartbeat::run(
                config,
                store.clone(),
                live.clone(),
                self.clock.clone(),
                stopping.clone(),
            );
            tasks.spawn(async move {
                task.await;
                Ok(())
            });
        }
        if let (Some(config), Some(runner)) = (&self.config.checks, self.check_runner.take()) {
            match config.schedules() {
                Ok(schedules) => {
                    // One instance runs the schedules (a shared store's
                    // `checks` lease), so a check runs and alerts once.
                    let (store, clock) = (store.clone(), self.clock.clone());
                    // Due times count from the node's start, whenever the
                    // term starts (runs recorded before count from theirs).
                    let started_ms = clock.now_ms();
                    tasks.spawn(leases::leased(
                        instance.clone(),
                        "checks".to_owned(),
                        stopping.clone(),
                        move |_fence, stop| {
                            let task = checks::run(
                                schedules.clone(),
                                store.clone(),
                                clock.clone(),
                                runner.clone(),
                                started_ms,
                                stop,
                            );
                            async move {
                                task.await;
                                Ok::<(), NodeError>(())
                            }
                        },
                    ));
                }
                Err(problems) => {
                    tracing::error!("checks: no schedule runs: {}", problems.join("; "));
                }
            }
        }
        // The signal task also runs when only the rules read signals: the
        // HTTP server sends `authentication_failures` through the inlet.
        let reads_signals = self
            .config
            .rules
            .rules()
            .iter()
            .any(|rule| matches!(rule.matcher, argus_rules::Matcher::Signal { .. }));
        let mut signal_inlet = None;
        if !self.config.signals.is_empty() || reads_signals {
            let positions = if self.config.signals.logs.is_empty() {
                BTreeMap::new()
            } else {
                let conn = store.connect()?;
                argus_sources::db::log_positions(&conn).unwrap_or_else(|error| {
                    tracing::warn!("cannot read where the log sources stopped: {error}; they start at the end of their files");
                    BTreeMap::new()
                })
            };
            let context = SourceContext {
                clock: self.clock.clone(),
                host: self.host.clone(),
            };
            let (tx, rx) = mpsc::channel(1024);
            for source in self
                .config
                .signals
                .build(&self.config.chains, &positions, &context)
            {
                let run = source.run(tx.clone(), stopping.clone());
                tasks.spawn(async move {
                    run.await;
                    Ok(())
                });
            }
            // Registry changes are signals when a rule reads them.
            let reads_registry = self.config.rules.rules().iter().any(|rule| {
                matches!(&rule.matcher, argus_rules::Matcher::Signal { name } if name == registry_feed::SIGNAL)
            });
            if reads_registry {
                // One instance reads the feed (a shared store's
                // `registry-feed` lease), so a change is signalled once.
                let (store, tx) = (store.clone(), tx.clone());
                tasks.spawn(leases::leased(
                    instance.clone(),
                    "registry-feed".to_owned(),
                    stopping.clone(),
                    move |_fence, stop| {
                        let feed = registry_feed::run(store.clone(), tx.clone(), stop);
                        async move {
                            feed.await;
                            Ok::<(), NodeError>(())
                        }
                    },
                ));
            }
            signal_inlet = Some(tx);
            let mut stop = stopping.clone();
            let task = signals::evaluate(
                store.clone(),
                self.config.rules.clone(),
                recorder.clone(),
                rx,
            );
            tasks.spawn(async move {
                tokio::select! {
                    result = task => result,
                    _ = stop.wait_for(|s| *s) => Ok(()),
                }
            });
        }
        if !self.config.incidents.is_empty() {
            let runner = self.incident_runner(&store, &dispatch, wake_incidents.clone())?;
            tasks.spawn(leases::leased(
                instance.clone(),
                "incidents".to_owned(),
                stopping.clone(),
                move |fence, stop| {
                    let mut runner = runner.clone();
                    runner.fence = fence;
                    async move {
                        match runner.run(stop).await {
                            // Its lease is gone: the term ends, the lease
                            // is competed for again.
                            Err(NodeError::Store(StoreError::Fenced { lease, detail })) => {
                                tracing::warn!(%lease, "incident runner fenced: {detail}");
                                Ok(())
                            }
                            other => other,
                        }
                    }
                },
            ));
        }
        let cross_chain = self.config.rules.rules().iter().any(|rule| {
            matches!(&rule.matcher, argus_rules::Matcher::State(spec) if spec.is_cross_chain())
        });
        if cross_chain {
            let (store, rules, recorder, live) = (
                store.clone(),
                self.config.rules.clone(),
                recorder.clone(),
                live.clone(),
            );
            tasks.spawn(leases::leased(
                instance.clone(),
                "cross-chain".to_owned(),
                stopping.clone(),
                move |_, stop| {
                    state::cross_chain(
                        store.clone(),
                        rules.clone(),
                        recorder.clone(),
                        live.clone(),
                        stop,
                    )
                },
            ));
        }
        let bots = Arc::new(self.config.incidents.bots.clone());
        let enrol = Arc::new(self.config.enrol.clone());
        for setup in self.config.chains {
            let context = ChainContext {
                enrol: enrol.clone(),
                store: store.clone(),
                rules: self.config.rules.clone(),
                recorder: recorder.clone(),
                live: live.clone(),
                upgrades: self.config.upgrades.clone(),
                bots: bots.clone(),
                fence: leases::Fence::open(),
            };
            // One follower per chain among the instances sharing the store.
            let lease = format!("follow:{}", setup.follower.chain.0);
            tasks.spawn(leases::leased(
                instance.clone(),
                lease,
                stopping.clone(),
                move |fence, stop| {
                    let mut context = context.clone();
                    context.fence = fence;
                    chain::supervise_chain(setup.clone(), context, stop)
                },
            ));
        }
        Ok(NodeHandle {
            store,
            events: self.events,
            shutdown,
            tasks,
            live,
            dispatch,
            signals: signal_inlet,
            _run_lock: run_lock,
        })
    }
}

/// A dispatch duty's check of its lease, run inside each of the
/// dispatcher's transactions.
fn fence_hook(fence: leases::Fence) -> argus_alerting::FenceHook {
    Arc::new(move |tx: &argus_store::Transaction<'_>| fence.check(tx))
}

impl NodeBuilder {
    /// The dispatcher runs for the node's whole life. Alone on the store it
    /// sends every delivery. Sharing it, it sends for the duties whose
    /// leases this instance holds: one per notifier (`dispatch:<name>`) and
    /// one for deliveries to notifiers no instance has configured
    /// (`dispatch`), so several instances split the notifiers between them
    /// and a dead instance's notifiers move within the lease time.
    fn spawn_dispatcher(
        &self,
        tasks: &mut JoinSet<Result<(), NodeError>>,
        dispatcher: Dispatcher,
        store: &Store,
        instance: &leases::Instance,
        stopping: &watch::Receiver<bool>,
    ) {
        let dispatcher = Arc::new(dispatcher);
        if instance.is_shared() {
            dispatcher.share();
            let duties = dispatcher.notifiers().into_iter().map(Duty::Notifier);
            for duty in duties.chain([Duty::Unconfigured]) {
                let dispatcher = Arc::clone(&dispatcher);
                tasks.spawn(leases::leased(
                    instance.clone(),
                    duty.lease_name(),
                    stopping.clone(),
                    move |fence, mut stop| {
                        let (dispatcher, duty) = (Arc::clone(&dispatcher), duty.clone());
                        async move {
                            dispatcher.hold(duty.clone(), fence_hook(fence.clone()));
                            let _ = stop.wait_for(|s| *s).await;
                            if fence.is_live() {
                                // Handed over: the outcomes of the sends in
                                // flight are written first.
                                dispatcher
                                    .drain(&duty, leases::DRAIN - std::time::Duration::from_secs(1))
                                    .await;
                            } else {
                                dispatcher.let_go(&duty);
                            }
                            Ok::<(), NodeError>(())
                        }
                    },
                ));
            }
        }
        // Other instances' alerts wake it at once (PostgreSQL's NOTIFY), not
        // at its next poll.
        let wake = dispatcher.handle();
        let listener = match store.listen_outbox(move || wake.wake()) {
            Ok(listener) => listener,
            Err(error) => {
                tracing::warn!("the dispatcher polls only: {error}");
                None
            }
        };
        let mut stop = stopping.clone();
        tasks.spawn(async move {
            let _listener = listener;
            dispatcher
                .run(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await
                .map_err(|source| NodeError::Dispatcher { source })
        });
    }

    /// The incident runner: responders over pools of their own (a
    /// containment transaction must not queue behind a backfill), evidence
    /// from the same nodes, contracts named by the registry.
    fn incident_runner(
        &mut self,
        store: &Store,
        dispatch: &DispatchHandle,
        wake: Arc<tokio::sync::Notify>,
    ) -> Result<incidents::IncidentRunner, NodeError> {
        let mut responders = Responders::new(store.clone(), self.clock.clone())
            .bots(self.config.incidents.bots.clone());
        let mut pools = BTreeMap::new();
        for setup in &self.config.chains {
            let pool = setup.connect()?;
            let id = setup.chain();
            responders = responders.chain(&id.name(), id, pool.clone()).chain(
                &id.0.to_string(),
                id,
                pool.clone(),
            );
            pools.insert(id, pool);
        }
        for (label, key) in std::mem::take(&mut self.signing_keys) {
            responders = responders.key(&label, key);
        }
        if let Some(rotate) = self.key_rotator.take() {
            responders = responders.key_rotator(rotate);
        }
        let registry_store = store.clone();
        responders = responders.contracts(move |chain, label| {
            let registry = argus_registry::Registry::open(&registry_store).ok()?;
            registry
                .find(label, argus_registry::Scope::Chain(chain))
                .ok()?
                .address
        });
        let data_dir = store
            .path()
            .and_then(std::path::Path::parent)
            .map_or_else(|| self.data_dir.clone(), std::path::Path::to_path_buf);
        let evidence = EvidenceSources {
            data_dir,
            chains: pools,
            config: self.config.incidents.evidence.clone(),
            bots: self.config.incidents.bots.clone(),
            config_files: self.config_files.clone(),
            clock: self.clock.clone(),
        };
        Ok(incidents::IncidentRunner {
            store: store.clone(),
            policy: Arc::new(self.config.incidents.clone()),
            responders: Arc::new(responders),
            evidence: Arc::new(evidence),
            clock: self.clock.clone(),
            events: self.events.clone(),
            wake,
            dispatch: dispatch.clone(),
            fence: leases::Fence::open(),
        })
    }
}

/// The alert for a rule that could not evaluate.
fn rule_error_finding(scope: &str, error: &argus_rules::RuleError) -> Finding {
    let rule_id = format!("argus.rule-error.{}", error.rule_id);
    let origin = error.origin;
    Finding {
        id: finding_id(&rule_id, origin.as_ref(), error.message.as_bytes()),
        rule_id,
        severity: Severity::High,
        title: format!(
            "rule {} could not evaluate: {}",
            error.rule_id, error.message
        ),
        dedup_key: format!("rule-error:{scope}:{}", error.rule_id),
        origin,
        at_ms: error.at_ms,
        fields: serde_json::json!({ "rule": error.rule_id, "error": error.message }).into(),
    }
}

/// What the rules found, with an alert for each rule that could not
/// evaluate (silence would read as "nothing happened"); `scope` (a chain id,
/// or `signals`) keeps their dedup keys apart.
pub(crate) fn all_findings(outcome: argus_rules::Outcome, scope: &str) -> Vec<Finding> {
    let mut findings = outcome.findings;
    findings.extend(outcome.errors.iter().map(|e| rule_error_finding(scope, e)));
    findings
}
