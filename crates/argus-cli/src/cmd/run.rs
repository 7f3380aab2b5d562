//! `argus run -c argus.yaml`: the daemon.
//!
//! It imports the registry paths the config names, then follows every chain,
//! evaluates the rules and delivers alerts until SIGINT or SIGTERM. Each
//! alert is printed on stdout as it is recorded (`--json` for one JSON
//! document per line); logs go to stderr.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use argus_registry::{ImportOptions, Registry};
use argus_store::RunLock;

use crate::GlobalArgs;
use crate::cmd::run_output::AlertOutput;
use crate::config;
use crate::trail::{self, daemon};
use argus_node::{NodeBuilder, NodeConfig};

#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// The config file.
    #[arg(short, long, default_value = "argus.yaml")]
    pub(crate) config: PathBuf,
    /// Print each alert as one JSON document per line.
    #[arg(long)]
    pub(crate) json: bool,
    /// Print nothing on stdout (alerts still go to the notifiers).
    #[arg(long, short)]
    pub(crate) quiet: bool,
    /// Read the master key from this file (mode 0600) instead of
    /// `ARGUS_MASTER_KEY`. With a master key the daemon unseals the
    /// notifier secrets kept in the vault and audits its starts and stops.
    #[arg(long, value_name = "FILE")]
    pub(crate) master_key_file: Option<PathBuf>,
}

pub(crate) fn run(global: &GlobalArgs, args: RunArgs) -> anyhow::Result<ExitCode> {
    let Some((loaded, data_dir)) = config::load_for(&args.config, global) else {
        return Ok(ExitCode::from(2));
    };
    // One daemon per data directory: claimed before anything is written
    // (the import, the audit), held until the process ends.
    let run_lock = RunLock::acquire(&data_dir)?;
    // The one store of this process: the import below and every task of
    // the node use it. With `store:` it is PostgreSQL, shared with other
    // instances (each with its own data directory: vault, audit log).
    let store = crate::cmd::store::open_configured(
        loaded.store.as_ref(),
        &data_dir,
        args.master_key_file.as_deref(),
    )?;
    if !loaded.registry_imports.is_empty() {
        let mut registry = Registry::open(&store)?;
        let hints = argus_registry::artifact::ImportHints::default();
        let contracts = match argus_registry::artifact::load_paths(
            loaded.registry_imports.iter().map(PathBuf::as_path),
            &hints,
        ) {
            Ok(contracts) => contracts,
            Err(errors) => {
                for error in &errors.errors {
                    sh_eprintln!("error: {error}");
                }
                sh_eprintln!(
                    "the registry paths of the config did not import; nothing was started"
                );
                return Ok(ExitCode::from(2));
            }
        };
        let summary = registry.import(&contracts, ImportOptions::default())?;
        sh_eprintln!(
            "registry: {} added, {} new versions, {} unchanged",
            summary.added(),
            summary.new_versions(),
            summary.unchanged()
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    // Listen before the start is recorded: a stop asked for from then on is
    // a clean, audited stop, never the signal's default death.
    let stop_signal = {
        let _entered = runtime.enter();
        StopSignal::listen().context("cannot listen for SIGINT, SIGTERM and SIGHUP")?
    };
    let witness_files: Vec<PathBuf> = loaded.audit.files();
    let mut unsealed = daemon::unseal(
        &data_dir,
        args.master_key_file.as_deref(),
        &loaded.alerting.vault_secret_names(),
        &loaded.incidents.key_labels(),
        &witness_files,
    )?;
    if let Some(audit) = unsealed.audit.as_mut() {
        audit.send_heads_to(store.clone(), loaded.audit.notifiers());
        audit.seal_segments(loaded.audit.segments);
    }
    // Before anything is recorded: a log rolled back together with its head
    // file is caught only by a head kept elsewhere.
    if let Some(first) = witness_files.first() {
        daemon::check_witness(
            &data_dir,
            first,
            unsealed.audit.as_ref().map(daemon::DaemonAudit::verifier),
        )?;
    }
    if let Some(audit) = &unsealed.audit {
        audit.started(&daemon::StartFacts {
            config: &args.config,
            rule_files: &loaded.rule_files,
            chains: loaded
                .chains
                .iter()
                .map(|c| c.follower.chain.name())
                .collect(),
            rules: loaded.rules.len(),
            notifiers: loaded.alerting.notifiers.keys().cloned().collect(),
        })?;
    } else {
        sh_eprintln!(
            "argus: no master key (ARGUS_MASTER_KEY): this run's start and stop are not audited"
        );
    }
    sh_eprintln!(
        "argus: {} rule(s) from {} file(s), {} chain(s), {} notifier(s); data in {}{}",
        loaded.rules.len(),
        loaded.rule_files.len(),
        loaded.chains.len(),
        loaded.alerting.notifiers.len(),
        data_dir.display(),
        match &loaded.store {
            Some(_) => format!(", store {} (shared: leases)", store.describe()),
            None => String::new(),
        }
    );
    let signing_keys = unsealed
        .keys
        .into_iter()
        .map(|(label, (signer, policy))| (label, argus_node::GuardianKey { signer, policy }))
        .collect();
    let mut config_files = vec![args.config.clone()];
    config_files.extend(loaded.rule_files.iter().cloned());
    let mut builder = NodeBuilder::new(NodeConfig::from(&loaded), data_dir.clone())
        .store(store.clone())
        .run_lock(run_lock)
        .vault_secrets(unsealed.secrets)
        .signing_keys(signing_keys)
        .config_files(config_files)
        .host_name(trail::host_name());
    if let Some(shared) = &loaded.store {
        builder = builder.lease_time(shared.lease);
        if let Some(id) = &shared.instance {
            builder = builder.instance_id(id.clone());
        }
    }
    if trail::master_key_given(args.master_key_file.as_deref()) {
        builder = builder.key_rotator(daemon::key_rotator(
            &data_dir,
            args.master_key_file.as_deref(),
        ));
    }
    let output = AlertOutput::new(args.json, args.quiet);
    let audit = unsealed.audit.map(Arc::new);
    let timeline_audit = audit.clone();
    let api_audit = audit.clone();
    // The scheduled checks, with the master key (re-read at each run to
    // open the vault) and the daemon's audit writer.
    if loaded.checks.is_some() {
        let inputs = crate::cmd::checks::Inputs::from_loaded(
            &loaded,
            &data_dir,
            &args.config,
            args.master_key_file.as_deref(),
        )?;
        builder = builder.check_runner(crate::cmd::checks::runner(
            inputs,
            store,
            argus_core::Clock::system(),
            audit.clone(),
        ));
    }
    let totp_key = unsealed.totp_key.map(Arc::new);
    // The HTTP API beside the node when the config asks for it: bound
    // before the node starts, so a taken port stops the start.
    let api = match &loaded.server {
        Some(server) => {
            for warning in server.deprecations() {
                sh_eprintln!("warning: {warning}");
            }
            let listener = runtime.block_on(argus_server::bind(
                server.listen,
                server.tls.as_ref(),
                server.insecure_remote,
            ))?;
            Some((listener, server.clone(), loaded.rules.clone()))
        }
        None => None,
    };
    // Who may report submissions over the API: the policy's bots.
    let bots: Vec<(String, Vec<alloy_primitives::Address>)> = loaded
        .incidents
        .bots
        .iter()
        .map(|(name, bot)| (name.clone(), bot.wallets.clone()))
        .collect();
    let outcome = runtime.block_on(async move {
        let mut events = builder.subscribe();
        let node = builder.start()?;
        let (stop_api, api_stopped) = tokio::sync::oneshot::channel::<()>();
        let api = api.map(|(listener, server, rules)| {
            let view = node.view();
            let auth = argus_server::AuthConfig {
                rate_limit: server.rate_limit.into(),
                totp_key,
                audit: api_audit.map(|audit| {
                    Arc::new(daemon::ApiAudit(audit)) as Arc<dyn argus_server::AuditSink>
                }),
                signals: view.signals(),
            };
            let state = argus_server::AppState::new(node.store().clone(), data_dir.clone())
                .with_auth(auth)
                .with_node(view)
                .with_rules(&rules)
                .with_bots(bots)
                .with_public(server.public)
                .with_ready_max_lag(server.ready_max_lag);
            sh_eprintln!(
                "argus: serving the API on {}://{}/",
                listener.scheme(),
                listener.local_addr()
            );
            tokio::spawn(argus_server::serve(listener, state, async move {
                let _ = api_stopped.await;
            }))
        });
        let mut timeline = IncidentTimeline::new(node.store().clone(), timeline_audit)?;
        // Rows a previous run committed but did not copy (it was killed).
        timeline.catch_up(&output);
        let printer = tokio::spawn(async move {
            // Operators act from other processes (`argus incidents ack`):
            // their rows are printed and copied within a couple of seconds.
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let received = tokio::select! {
                    received = events.recv() => received,
                    _ = tick.tick() => {
                        timeline.catch_up(&output);
                        continue;
                    }
                };
                match received {
                    Ok(event) => {
                        output.show(&event);
                        if matches!(event, argus_node::NodeEvent::Incident { .. }) {
                            timeline.catch_up(&output);
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                        sh_eprintln!("argus: {missed} alert line(s) not shown (the terminal was too slow); `argus alerts list` has them");
                        timeline.catch_up(&output);
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
            timeline.catch_up(&output);
        });
        let outcome = node
            .run_until(async {
                let name = stop_signal.wait().await;
                sh_eprintln!("argus: stopping ({name})");
            })
            .await;
        // The API stops gracefully: its event streams end, requests in
        // flight finish.
        let _ = stop_api.send(());
        if let Some(api) = api {
            match api.await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => sh_eprintln!("argus: {error}"),
                Err(error) => sh_eprintln!("argus: the HTTP server failed: {error}"),
            }
        }
        // Every event committed before the stop is printed before the exit.
        let _ = printer.await;
        outcome.map_err(anyhow::Error::from)
    });
    if let Some(audit) = &audit
        && let Err(error) = audit.stopped(&outcome)
    {
        sh_eprintln!("argus: the stop could not be recorded in the audit log: {error:#}");
    }
    outcome?;
    Ok(ExitCode::SUCCESS)
}

/// Incident timelines as the daemon sees them: each new row printed, and
/// copied into the audit log when the daemon has one.
///
/// Its reads run on the runtime's worker: each is one indexed query. Moving
/// them off with `block_in_place` was tried and reverted: in a burst the
/// lagging terminal reads several times a second, each read handed the
/// worker's core to another thread, and a daemon then peaked at 45.3 MiB
/// with a sixth thread (the build without it: 42.2–43.2 MiB in the same
/// minutes). A thread of its own for the whole printer would be the way,
/// once the memory figures allow one.
struct IncidentTimeline {
    store: argus_store::Store,
    audit: Option<Arc<daemon::DaemonAudit>>,
    /// The newest row printed.
    printed: i64,
    /// Kept between reads (a burst's lagging terminal asks several times a
    /// second; a new SQLite connection parses the whole schema); dropped
    /// after a failure, opened again at the next read.
    conn: Option<argus_store::Connection>,
}

impl IncidentTimeline {
    fn new(
        store: argus_store::Store,
        audit: Option<Arc<daemon::DaemonAudit>>,
    ) -> anyhow::Result<Self> {
        let conn = store.connect()?;
        let printed = argus_incident::db::last_event_id(&conn)?;
        Ok(Self {
            store,
            audit,
            printed,
            conn: Some(conn),
        })
    }

    /// Copies what is not in the audit log yet and prints what is new. A
    /// failure is told and retried at the next event: the rows stay marked
    /// as not copied.
    fn catch_up(&mut self, output: &AlertOutput) {
        if let Some(audit) = &self.audit {
            let append = |entries: &[argus_audit::NewEntry]| audit.append(entries);
            if let Err(error) = trail::incidents::copy_to_audit(&self.store, &append) {
                sh_eprintln!(
                    "argus: incident acts could not be copied to the audit log yet (retried at the next one): {error:#}"
                );
            }
        }
        let conn = match self.conn.take() {
            Some(conn) => Ok(conn),
            None => self.store.connect(),
        };
        let rows = conn.map_err(anyhow::Error::from).and_then(|conn| {
            let rows = argus_incident::db::events_after(&conn, self.printed, 1_000)?;
            self.conn = Some(conn);
            Ok(rows)
        });
        match rows {
            Ok(rows) => {
                for row in &rows {
                    output.incident_event(row);
                }
                if let Some(last) = rows.last() {
                    self.printed = last.id;
                }
            }
            Err(error) => sh_eprintln!("argus: cannot read the incident timeline: {error:#}"),
        }
    }
}

/// The signals that stop the daemon cleanly: SIGINT, SIGTERM, and SIGHUP
/// (a closed terminal or a supervisor's reload request), so each ends with
/// a `system.stop` entry rather than the signal's default death.
pub(crate) struct StopSignal {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

impl StopSignal {
    /// Registers the handlers now (inside a runtime).
    pub(crate) fn listen() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }

    /// The first of them to arrive, by name.
    pub(crate) async fn wait(mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.hangup.recv() => "SIGHUP",
        }
    }
}
