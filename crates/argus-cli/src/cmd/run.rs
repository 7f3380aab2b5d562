//! `argus run -c argus.yaml`: the daemon.
//!
//! It imports the registry paths the config names, then follows every chain,
//! evaluates the rules and delivers alerts until SIGINT or SIGTERM. Each
//! alert is printed on stdout as it is recorded (`--json` for one JSON
//! document per line); logs go to stderr.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use argus_registry::{ImportOptions, Registry};
use argus_store::{RunLock, Store};

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
    // the node use it.
    let store = Store::open_in_dir(&data_dir)?;
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
    let witness_files: Vec<PathBuf> = loaded
        .audit
        .witnesses
        .iter()
        .filter_map(|w| w.file().map(Path::to_path_buf))
        .collect();
    let unsealed = daemon::unseal(
        &data_dir,
        args.master_key_file.as_deref(),
        &loaded.alerting.vault_secret_names(),
        &witness_files,
    )?;
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
        "argus: {} rule(s) from {} file(s), {} chain(s), {} notifier(s); data in {}",
        loaded.rules.len(),
        loaded.rule_files.len(),
        loaded.chains.len(),
        loaded.alerting.notifiers.len(),
        data_dir.display()
    );
    let builder = NodeBuilder::new(NodeConfig::from(&loaded), data_dir)
        .store(store)
        .run_lock(run_lock)
        .vault_secrets(unsealed.secrets)
        .host_name(trail::host_name());
    let output = AlertOutput::new(args.json, args.quiet);
    let outcome = runtime.block_on(async move {
        let mut events = builder.subscribe();
        let node = builder.start()?;
        let printer = tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(event) => output.show(&event),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                        sh_eprintln!("argus: {missed} alert line(s) not shown (the terminal was too slow); `argus alerts list` has them");
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        let outcome = node
            .run_until(async {
                let name = stop_signal.wait().await;
                sh_eprintln!("argus: stopping ({name})");
            })
            .await;
        // Every event committed before the stop is printed before the exit.
        let _ = printer.await;
        outcome.map_err(anyhow::Error::from)
    });
    if let Some(audit) = &unsealed.audit
        && let Err(error) = audit.stopped(&outcome)
    {
        sh_eprintln!("argus: the stop could not be recorded in the audit log: {error:#}");
    }
    outcome?;
    Ok(ExitCode::SUCCESS)
}

/// The signals that stop the daemon cleanly: SIGINT, SIGTERM, and SIGHUP
/// (a closed terminal or a supervisor's reload request), so each ends with
/// a `system.stop` entry rather than the signal's default death.
struct StopSignal {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

impl StopSignal {
    /// Registers the handlers now (inside a runtime).
    fn listen() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }

    /// The first of them to arrive, by name.
    async fn wait(mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.hangup.recv() => "SIGHUP",
        }
    }
}
