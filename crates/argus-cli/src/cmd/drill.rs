//! `argus drill SCENARIO`: play an attack for real and score the response.
//!
//! The drill starts its own anvil (a fresh chain with the config's chain id,
//! or a fork of `--fork-url`), deploys the scenario's contracts, files them
//! in a registry in a scratch data directory (never the operator's), and
//! starts a node in-process with the operator's config (`--config`): its
//! rules, incident policy and notifiers, the scenario's chain pointed at the
//! drill's anvil. Then it plays the steps and prints the scorecard the
//! store gives (`argus_incident::drill`), which it also keeps in the
//! operator's data directory (`drill_runs`) for `argus drill history`.
//!
//! Exit status: 0 when every expectation held, 1 when one did not (or a
//! step failed), 2 on bad input (a scenario or config that does not load,
//! no anvil).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use argus_chain::{ChainSetup, Confirmations, EndpointConfig, PoolConfig, RpcPool, Start};
use argus_core::Clock;
use argus_incident::drill::scorecard::Run;
use argus_incident::drill::{AnvilProcess, Deployed, Player, Scenario, Scorecard, find_anvil};
use argus_node::{NodeBuilder, NodeConfig};
use argus_registry::Registry;
use argus_registry::artifact::ImportHints;

use crate::config::{self, Loaded};

/// How long a drill waits after its last step for the playbook's steps in
/// flight to end.
const SETTLE_WITHIN: std::time::Duration = std::time::Duration::from_secs(60);
use crate::{GlobalArgs, output};

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(crate) struct DrillArgs {
    #[command(subcommand)]
    command: Option<DrillCommand>,
    /// The scenario file (YAML).
    #[arg(required = true)]
    scenario: Option<PathBuf>,
    /// The operator's config: its rules, incident policy and notifiers run
    /// in the drill; its data directory keeps the scorecard.
    #[arg(short, long, default_value = "argus.yaml")]
    config: PathBuf,
    /// Only load and check the scenario.
    #[arg(long)]
    check: bool,
    /// The anvil binary (default: `anvil` on PATH, else
    /// node_modules/.bin/anvil here).
    #[arg(long)]
    anvil: Option<PathBuf>,
    /// Play on an anvil fork of this node (of the config's chain) instead of
    /// a fresh chain.
    #[arg(long)]
    fork_url: Option<String>,
    /// Keep the drill's data directory here instead of a temporary one.
    #[arg(long)]
    scratch: Option<PathBuf>,
    /// Print the scorecard as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum DrillCommand {
    /// The kept scorecards, newest first.
    History(HistoryArgs),
}

#[derive(Debug, clap::Args)]
struct HistoryArgs {
    /// Only this scenario's runs (its `name`).
    #[arg(long)]
    scenario: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(global: &GlobalArgs, args: DrillArgs) -> anyhow::Result<ExitCode> {
    if let Some(DrillCommand::History(history)) = args.command {
        return show_history(&global.data_dir, history);
    }
    let Some(path) = args.scenario.as_deref() else {
        bail!("name a scenario file, e.g. `argus drill examples/drills/funds-drained.yaml`");
    };
    let scenario = match Scenario::load(path) {
        Ok(scenario) => scenario,
        Err(problems) => {
            sh_eprint!("{problems}");
            return Ok(ExitCode::from(2));
        }
    };
    if args.check {
        let expectations = scenario.expectations().count();
        sh_println!(
            "{}: ok ({} deployments, {} steps, {} expectations)",
            output::escaped(&scenario.name),
            scenario.deploy.len(),
            scenario.steps.len(),
            expectations
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let Some((loaded, data_dir)) = config::load_for(&args.config, global) else {
        return Ok(ExitCode::from(2));
    };
    let setup = match drill_chain(&loaded, &scenario) {
        Ok(setup) => setup,
        Err(message) => {
            sh_eprintln!("error: {message}");
            return Ok(ExitCode::from(2));
        }
    };
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let bin = match find_anvil(args.anvil.as_deref(), &cwd) {
        Ok(bin) => bin,
        Err(error) => {
            sh_eprintln!("error: {error}");
            return Ok(ExitCode::from(2));
        }
    };
    // Opened first: a data directory that cannot take the scorecard fails
    // the drill before anything is played, and it exists for the files the
    // policy keeps there (the example's kill switch).
    let kept_store = crate::stores::open(&data_dir)
        .with_context(|| format!("cannot keep drill scorecards in {}", data_dir.display()))?;
    let scratch = Scratch::new(args.scratch.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let card = runtime.block_on(play(Drill {
        scenario: &scenario,
        loaded: &loaded,
        setup,
        bin: &bin,
        fork_url: args.fork_url.as_deref(),
        scratch: scratch.path(),
    }))?;
    // Kept with the operator's state, so the trend outlives the scratch
    // directory; a drill writes nothing else there.
    let kept = kept_store
        .connect()
        .map_err(anyhow::Error::from)
        .and_then(|conn| card.record(&conn).map_err(anyhow::Error::from));
    match &kept {
        Ok(id) => sh_eprintln!("kept as drill run {id} in {}", data_dir.display()),
        Err(error) => sh_eprintln!("warning: the scorecard was not kept: {error:#}"),
    }
    if args.json {
        output::json_pretty(&card)?;
    } else {
        print_card(&card)?;
    }
    Ok(if card.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The config's chain the scenario plays on.
fn drill_chain(loaded: &Loaded, scenario: &Scenario) -> Result<ChainSetup, String> {
    match &scenario.chain {
        Some(name) => {
            let wanted = argus_core::ChainId::parse(name, true).map_err(|e| e.to_string())?;
            loaded
                .chains
                .iter()
                .find(|c| c.chain() == wanted)
                .cloned()
                .ok_or_else(|| {
                    format!("the scenario plays on chain {name}, which the config does not follow")
                })
        }
        None => match loaded.chains.as_slice() {
            [only] => Ok(only.clone()),
            _ => Err(
                "the config follows several chains; name one in the scenario (`chain: mainnet`)"
                    .to_owned(),
            ),
        },
    }
}

/// The drill's data directory: a temporary one, removed at the end, or the
/// one `--scratch` names (kept, refused when it holds a database already).
struct Scratch {
    _temp: Option<tempfile::TempDir>,
    path: PathBuf,
}

impl Scratch {
    fn new(keep: Option<&Path>) -> anyhow::Result<Scratch> {
        match keep {
            Some(path) => {
                if path.join(argus_store::DATABASE_FILE).exists() {
                    bail!(
                        "{} holds an Argus database already; --scratch takes a new or empty directory, never a real data directory",
                        path.display()
                    );
                }
                std::fs::create_dir_all(path)
                    .with_context(|| format!("cannot create {}", path.display()))?;
                Ok(Scratch {
                    _temp: None,
                    path: path.to_path_buf(),
                })
            }
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("argus-drill-")
                    .tempdir()
                    .context("cannot create the drill's scratch directory")?;
                let path = temp.path().to_path_buf();
                Ok(Scratch {
                    _temp: Some(temp),
                    path,
                })
            }
        }
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

struct Drill<'a> {
    scenario: &'a Scenario,
    loaded: &'a Loaded,
    setup: ChainSetup,
    bin: &'a Path,
    fork_url: Option<&'a str>,
    scratch: &'a Path,
}

async fn play(drill: Drill<'_>) -> anyhow::Result<Scorecard> {
    let chain = drill.setup.chain();
    let anvil = AnvilProcess::start(drill.bin, chain.0, drill.fork_url).await?;
    sh_eprintln!(
        "drill {}: anvil on port {} (chain {}{})",
        output::escaped(&drill.scenario.name),
        anvil.port(),
        chain.0,
        if drill.fork_url.is_some() {
            ", forked"
        } else {
            ""
        }
    );
    let endpoint = EndpointConfig {
        ws_url: Some(anvil.ws_url()),
        ..EndpointConfig::new("drill-anvil", anvil.http_url())
    };
    // One round: a send that timed out is not sent again behind the
    // scenario's back.
    let pool = RpcPool::new(
        chain,
        vec![endpoint.clone()],
        PoolConfig {
            rounds: 1,
            ..PoolConfig::default()
        },
    )?;
    let found = pool.chain_id().await?;
    if found != chain.0 {
        return Err(argus_incident::drill::DrillError::WrongChain {
            wanted: chain.0,
            found,
        }
        .into());
    }
    let clock = Clock::system();
    let mut player = Player::new(pool, drill.scenario, clock.clone()).await?;
    let deployed = player.deploy(drill.scenario).await?;
    register(drill.scratch, chain, &deployed, drill.loaded)?;
    let head = player.head().await?;

    // The operator's config, the scenario's chain on the drill's anvil from
    // the first block after the deployments. Signal sources read this host
    // and the real endpoints, not the drill's chain: left out.
    let mut setup = drill.setup;
    setup.endpoints = vec![endpoint];
    setup.follower.start = Start::Block(head + 1);
    setup.follower.confirmations = Confirmations::Blocks(0);
    let config = NodeConfig {
        chains: vec![setup],
        signals: Default::default(),
        // The drill's node is not the monitor: it must not tell the
        // operator's dead-man's switch that all is well.
        heartbeat: None,
        ..NodeConfig::from(drill.loaded)
    };
    let signing_keys = drill_keys(drill.loaded, drill.scenario, &anvil)?;
    let node = NodeBuilder::new(config, drill.scratch)
        .clock(clock.clone())
        .signing_keys(signing_keys)
        .start()
        .context("cannot start the drill's node")?;
    let store = node.store().clone();
    // The follower starts at the first block after the deployments, so the
    // attack's blocks are read however soon they come.
    let started_ms = clock.now_ms();
    let steps = player.play(drill.scenario, &store, started_ms).await;
    // The playbook's steps still in flight (an evidence capture beside the
    // containment) end before the node stops, so the card shows how they
    // went.
    if !argus_incident::drill::play::settle(&store, &clock, started_ms, SETTLE_WITHIN).await {
        tracing::warn!(
            "playbook steps were still running {}s after the scenario ended; the scorecard shows them as they were",
            SETTLE_WITHIN.as_secs()
        );
    }
    let finished_ms = clock.now_ms();
    node.stop().await;
    anvil.stop().await;
    let conn = store.connect()?;
    let card = Scorecard::compute(
        &conn,
        &Run {
            scenario: drill.scenario,
            deployed: &deployed,
            steps: &steps,
            started_ms,
            finished_ms,
            chain_id: chain.0,
            forked: drill.fork_url.is_some(),
        },
    )?;
    Ok(card)
}

/// Files the drill's deployments (and the config's registry imports) in
/// the scratch directory's registry, under their labels.
fn register(
    scratch: &Path,
    chain: argus_core::ChainId,
    deployed: &[Deployed],
    loaded: &Loaded,
) -> anyhow::Result<()> {
    let mut registry = Registry::open_in_dir(scratch)?;
    let mut contracts = Vec::new();
    for item in deployed {
        let hints = ImportHints {
            chain: Some(chain),
            address: Some(item.address),
            label: Some(item.label.clone()),
            allow_unknown_chain: true,
            ..ImportHints::default()
        };
        match argus_registry::artifact::load_path(&item.artifact, &hints) {
            Ok(found) => contracts.extend(found),
            Err(errors) => bail!(
                "cannot file {} in the drill's registry: {}",
                item.label,
                errors
                    .errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        }
    }
    if !loaded.registry_imports.is_empty() {
        match argus_registry::artifact::load_paths(
            loaded.registry_imports.iter().map(PathBuf::as_path),
            &ImportHints::default(),
        ) {
            Ok(found) => contracts.extend(found),
            Err(errors) => bail!(
                "the config's registry imports did not load: {}",
                errors
                    .errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        }
    }
    registry.import(&contracts, argus_registry::ImportOptions::default())?;
    Ok(())
}

fn ms(value: Option<i64>) -> String {
    match value {
        Some(ms) => format!("{:.1} s", ms as f64 / 1000.0),
        None => "—".to_owned(),
    }
}

fn print_card(card: &Scorecard) -> anyhow::Result<()> {
    sh_println!(
        "drill {}: {}",
        output::escaped(&card.scenario),
        if card.passed { "PASSED" } else { "FAILED" }
    )?;
    sh_println!(
        "  detected: {}   MTTD: {}   time to containment: {}",
        if card.detected { "yes" } else { "no" },
        ms(card.mttd_ms),
        ms(card.time_to_containment_ms)
    )?;
    sh_println!(
        "  expectations: {} held, {} failed",
        card.expectations_held,
        card.expectations_failed
    )?;
    sh_println!("  {:<4} {:<5} {:<8} step", "#", "line", "status")?;
    for step in &card.steps {
        let text = |key: &str| {
            step.get(key)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_owned()
        };
        let number = |key: &str| {
            step.get(key)
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0)
        };
        sh_println!(
            "  {:<4} {:<5} {:<8} {}",
            number("index"),
            number("line"),
            text("status"),
            output::escaped(text("step"))
        )?;
    }
    for incident in &card.incidents {
        sh_println!(
            "  incident {} {} {} {}: MTTD {}, contained after {}",
            incident.id,
            output::escaped(&incident.kind),
            incident.severity,
            incident.state,
            ms(Some(incident.mttd_ms)),
            ms(incident.time_to_containment_ms)
        )?;
        for step in &incident.steps {
            sh_println!(
                "    playbook step {} ({}): {} after {} attempt(s){}",
                output::escaped(&step.step),
                step.action,
                step.state,
                step.attempts,
                step.error
                    .as_deref()
                    .map(|e| format!(": {}", output::escape(e)))
                    .unwrap_or_default()
            )?;
        }
    }
    for alert in &card.alerts {
        sh_println!(
            "  alert {} ({}, {}): {}",
            output::escaped(&alert.rule_id),
            alert.severity,
            alert.state,
            output::escaped(&alert.title)
        )?;
    }
    for failure in &card.failures {
        sh_println!("  failed: {}", output::escaped(failure))?;
    }
    Ok(())
}

fn show_history(data_dir: &Path, args: HistoryArgs) -> anyhow::Result<ExitCode> {
    if !crate::stores::exists(data_dir) {
        bail!(
            "there is no Argus database at {}: drills keep their scorecards in the data directory of the config they ran with; point --data-dir at it",
            data_dir.display()
        );
    }
    let conn = crate::stores::open_read_only(data_dir)?.connect()?;
    let runs = argus_incident::db::drill_runs(&conn, args.scenario.as_deref())?;
    if args.json {
        output::json_pretty(&runs)?;
        return Ok(ExitCode::SUCCESS);
    }
    sh_println!(
        "{:<5} {:<24} {:<25} {:<7} {:<9} {:<9} containment",
        "run",
        "scenario",
        "started",
        "passed",
        "detected",
        "MTTD"
    )?;
    for run in &runs {
        let card = &run.scorecard;
        let started = jiff::Timestamp::from_millisecond(run.started_ms)
            .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_else(|_| run.started_ms.to_string());
        sh_println!(
            "{:<5} {:<24} {:<25} {:<7} {:<9} {:<9} {}",
            run.id,
            output::escaped(&run.scenario),
            started,
            if run.passed { "yes" } else { "no" },
            match card.get("detected").and_then(serde_json::Value::as_bool) {
                Some(true) => "yes",
                Some(false) => "no",
                None => "?",
            },
            ms(card.get("mttd_ms").and_then(serde_json::Value::as_i64)),
            ms(card
                .get("time_to_containment_ms")
                .and_then(serde_json::Value::as_i64))
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The keys the playbooks sign with, on the drill's chain: each label is
/// the scenario's account of the same name when it has one (an anvil dev
/// account by index), else dev account 0 — the deployer, who holds the
/// roles of what the scenario deployed. Never the vault: a drill must not
/// touch real keys, and its chain is its own.
fn drill_keys(
    loaded: &crate::config::Loaded,
    scenario: &argus_incident::drill::Scenario,
    anvil: &AnvilProcess,
) -> anyhow::Result<std::collections::BTreeMap<String, argus_node::GuardianKey>> {
    use argus_incident::drill::scenario::Account;
    let mut keys = std::collections::BTreeMap::new();
    for label in loaded.incidents.key_labels() {
        let index = match scenario.accounts.iter().find(|(name, _)| *name == label) {
            Some((_, Account::Index(index))) => *index,
            Some((_, Account::Address(_))) => anyhow::bail!(
                "the playbooks sign with key {label}, which the scenario names as an address; \
                 a drill signs with anvil's dev accounts only: give {label} an account index"
            ),
            None => 0,
        };
        let signer = anvil.dev_signer(index).with_context(|| {
            format!("anvil printed no private key for dev account {index} (key {label})")
        })?;
        keys.insert(
            label,
            argus_node::GuardianKey {
                signer: signer.into(),
                policy: argus_vault::AccessPolicy::default(),
            },
        );
    }
    Ok(keys)
}
