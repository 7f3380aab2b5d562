//! `argus`: the one binary. It parses the command line and hands each command
//! to its module under `cmd/`; the work itself lives in the library crates.
//!
//! Output channels: stdout carries only the result of a command (a table, a
//! JSON document, a SARIF log); progress, notices and errors go to stderr, so
//! `argus lint --json > findings.json` always yields a clean document. Both go
//! through [`output`], the one module that writes to the terminal and escapes
//! the control and bidi characters of text from outside.

// A `println!` anywhere else would print chain-controlled text raw.
#![deny(clippy::print_stdout, clippy::print_stderr)]

#[macro_use]
mod output;

mod cmd;
mod config;
mod stores;
mod trail;

/// mimalloc: the linter and importers make millions of small allocations, and
/// glibc's allocator spent a third of the lint benchmark consolidating them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Argus: operational security for on-chain infrastructure.
#[derive(Debug, Parser)]
#[command(name = "argus", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// Flags every command understands.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct GlobalArgs {
    /// Where Argus keeps its state: the SQLite registry, the key vault and the
    /// audit log.
    #[arg(long, global = true, env = "ARGUS_DATA_DIR", default_value = ".argus")]
    pub(crate) data_dir: PathBuf,
    /// A PostgreSQL store shared by several instances
    /// (`postgres://user@host:port/db`, password from ARGUS_STORE_PASSWORD):
    /// the commands act on it instead of the data directory's SQLite file.
    /// `argus run` and `-c argus.yaml` follow the config's `store:`.
    #[arg(long, global = true, env = "ARGUS_STORE", value_name = "postgres://…")]
    pub(crate) store: Option<String>,
    /// More detail on stderr (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The deployments registry: every contract with its chain, address,
    /// label and ABI.
    #[command(subcommand)]
    Registry(cmd::registry::RegistryCommand),
    /// Lint interfaces across the whole infrastructure: selector and topic
    /// collisions, names reused for different interfaces, the same interface
    /// with different parameters or indexing.
    Lint(cmd::lint::LintArgs),
    /// How much of the registry the rules watch: one figure, per contract
    /// the watched and unwatched events and functions, privileged functions
    /// no rule watches; recorded so a drop is visible (`coverage history`).
    Coverage(cmd::coverage::CoverageArgs),
    /// Write a starting config and rule files from a Foundry or Hardhat
    /// project, or from the registry.
    Init(cmd::init::InitArgs),
    /// Measure Argus on this machine.
    #[command(subcommand)]
    Bench(cmd::bench::BenchCommand),
    /// The key vault: Web3 Secret Storage v3 keys under a master key, with
    /// labels, access policy and crash-safe master-key rotation.
    #[command(subcommand)]
    Keys(cmd::keys::KeysCommand),
    /// The tamper-evident audit log: record, verify, prune, export, tail,
    /// query.
    #[command(subcommand)]
    Audit(cmd::audit::AuditCommand),
    /// The store: `migrate` moves a SQLite data directory into PostgreSQL,
    /// for several instances sharing one database.
    #[command(subcommand)]
    Store(cmd::store::StoreCommand),
    /// Encrypted backups (age format): create, list, verify, restore.
    #[command(subcommand)]
    Backup(cmd::backup::BackupCommand),
    /// Check this deployment's hardening, with the command that fixes each
    /// problem.
    Doctor(cmd::doctor::DoctorArgs),
    /// The daemon: follow the chains, evaluate the rules, deliver alerts.
    Run(cmd::run::RunArgs),
    /// Dry run over history: the alerts the rules would have made between
    /// two blocks, without notifying anyone.
    Replay(cmd::replay::ReplayArgs),
    /// Rules: run rule test cases written as data.
    #[command(subcommand)]
    Rules(cmd::rules::RulesCommand),
    /// Check a config and its rule files, reporting every problem at once.
    Validate(cmd::validate::ValidateArgs),
    /// The alerts Argus recorded, their deliveries, and silences.
    #[command(subcommand)]
    Alerts(cmd::alerts::AlertsCommand),
    /// Is the monitor keeping up? Each chain's checkpoint, the outbox, the
    /// notifiers' last errors, the audit log.
    Status(cmd::status::StatusArgs),
    /// Incidents: list, show, acknowledge, contain, resolve, approve steps,
    /// judge alerts. The daemon opens them from alerts and runs their
    /// playbooks.
    #[command(subcommand)]
    Incidents(cmd::incidents::IncidentsCommand),
    /// Response metrics: mean and median time to detect, acknowledge,
    /// contain and resolve; the false-positive rate per rule.
    Metrics(cmd::metrics::MetricsArgs),
    /// The HTTP API (JSON, the live event stream, health, the public status
    /// page) over a data directory, read-only.
    Serve(cmd::serve::ServeArgs),
    /// The HTTP API's bearer tokens: create (with a role, TOTP, an
    /// expiry), list, revoke.
    #[command(subcommand)]
    Tokens(cmd::tokens::TokensCommand),
    /// Play an attack scenario for real on a local anvil and score the
    /// response; `drill history` shows the kept scorecards.
    Drill(cmd::drill::DrillArgs),
    /// The procedure's daily, weekly and monthly checklists: run one now,
    /// list the checks, or report every run as compliance evidence.
    #[command(subcommand)]
    Checks(cmd::checks::ChecksCommand),
    /// The configuration under review: `approve` records the running
    /// config and rules as approved (audited).
    #[command(subcommand)]
    Config(cmd::config_approve::ConfigCommand),
    /// The pre-deployment checklist with an exit status for CI: tests,
    /// lint, monitoring alive, guardian keys, configuration approved.
    Preflight(cmd::preflight::PreflightArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    stores::init(cli.global.store.clone());
    // The daemon's log lines carry the time; one-shot commands' do not.
    init_logging(
        cli.global.verbose,
        matches!(cli.command, Command::Run(_) | Command::Serve(_)),
    );
    if matches!(cli.command, Command::Run(_) | Command::Serve(_)) {
        small_pages_for_the_daemon();
    }
    let result = match cli.command {
        Command::Registry(command) => cmd::registry::run(&cli.global, command),
        Command::Lint(args) => cmd::lint::run(&cli.global, args),
        Command::Coverage(args) => cmd::coverage::run(&cli.global, args),
        Command::Init(args) => cmd::init::run(&cli.global, args),
        Command::Bench(command) => cmd::bench::run(&cli.global, command),
        Command::Keys(command) => cmd::keys::run(&cli.global, command),
        Command::Audit(command) => cmd::audit::run(&cli.global, command),
        Command::Backup(command) => cmd::backup::run(&cli.global, command),
        Command::Store(command) => cmd::store::run(&cli.global, command),
        Command::Doctor(args) => cmd::doctor::run(&cli.global, args),
        Command::Run(args) => cmd::run::run(&cli.global, args),
        Command::Replay(args) => cmd::replay::run(&cli.global, args),
        Command::Rules(command) => cmd::rules::run(&cli.global, command),
        Command::Validate(args) => cmd::validate::run(&cli.global, args),
        Command::Alerts(command) => cmd::alerts::run(&cli.global, command),
        Command::Status(args) => cmd::status::run(&cli.global, args),
        Command::Incidents(command) => cmd::incidents::run(&cli.global, command),
        Command::Metrics(args) => cmd::metrics::run(&cli.global, args),
        Command::Drill(args) => cmd::drill::run(&cli.global, args),
        Command::Serve(args) => cmd::serve::run(&cli.global, args),
        Command::Tokens(command) => cmd::tokens::run(&cli.global, command),
        Command::Checks(command) => cmd::checks::run(&cli.global, command),
        Command::Config(command) => cmd::config_approve::run(&cli.global, command),
        Command::Preflight(args) => cmd::preflight::run(&cli.global, args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            sh_eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// The daemon's memory in 4 KiB pages, not transparent huge pages. Where the
/// kernel backs every large anonymous mapping with 2 MiB pages (THP
/// `always`, the default of many distributions), the allocator's arenas are
/// faulted in 2 MiB at a time: 15 MiB of the idle daemon's 21 MiB of
/// anonymous memory on the burst benchmark, and that much more at its peak.
/// The one-shot commands keep huge pages (the linter's millions of small
/// allocations run faster on them). Best effort: a kernel without the
/// setting leaves the daemon as it was.
fn small_pages_for_the_daemon() {
    #[cfg(target_os = "linux")]
    if let Err(error) = rustix::thread::disable_transparent_huge_pages(true) {
        tracing::debug!(%error, "transparent huge pages stay on");
    }
}

fn init_logging(verbose: u8, with_time: bool) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("ARGUS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(output::LogWriter);
    if with_time {
        builder.init();
    } else {
        builder.without_time().init();
    }
}
