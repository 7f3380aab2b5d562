//! The acts of `argus incidents`: each changes the store in one
//! transaction (with its timeline row), then copies the timeline into the
//! audit log when the master key is at hand.
//!
//! The actor is who runs the command (`$USER`, `$LOGNAME` or the uid), never
//! a flag: an approval counts once per person, and a flag would let one
//! person approve twice.

use std::path::PathBuf;
use std::process::ExitCode;

use alloy_primitives::Address;
use anyhow::{Context as _, bail};
use argus_incident::policy::{
    ContractCallStep, IncidentsConfig, RetryConfig, StepAction, StepConfig, Targets,
};
use argus_incident::state::{self, Act};
use argus_incident::{Disposition, db};
use argus_store::Connection;
use jiff::Timestamp;

use super::IncidentsCommand;
use crate::cmd::records::{open_store, read_store};
use crate::{GlobalArgs, output, trail};

/// Where the audit log's key comes from.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ActArgs {
    /// A file (mode 0600) holding the master key, so the act is copied into
    /// the audit log at once; else `ARGUS_MASTER_KEY`. Without either the
    /// act is in the incident's timeline and the daemon copies it.
    #[arg(long, value_name = "FILE", global = true)]
    master_key_file: Option<PathBuf>,
    /// Print the incident as it is after the act (what `incidents show
    /// --json` prints) on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ReasonArgs {
    /// The incident's number.
    id: i64,
    /// Why (kept in the timeline and the audit log).
    #[arg(long, short = 'r')]
    reason: Option<String>,
    /// The config whose incident policy applies (for `reopen`: the response
    /// time the escalation timer restarts with).
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    act: ActArgs,
}

#[derive(Debug, clap::Args)]
pub(crate) struct NoteArgs {
    id: i64,
    /// The note.
    text: String,
    #[command(flatten)]
    act: ActArgs,
}

#[derive(Debug, clap::Args)]
pub(crate) struct AssignArgs {
    id: i64,
    /// Who takes it.
    assignee: String,
    #[arg(long, short = 'r')]
    reason: Option<String>,
    #[command(flatten)]
    act: ActArgs,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ApproveArgs {
    id: i64,
    /// The step's id (`argus incidents show N` lists them).
    step: String,
    #[arg(long, short = 'r')]
    reason: Option<String>,
    #[command(flatten)]
    act: ActArgs,
}

#[derive(Debug, clap::Args)]
pub(crate) struct UnpauseArgs {
    id: i64,
    /// The chain, as named in the config's `chains:`.
    #[arg(long)]
    chain: String,
    /// A registry label or address to unpause (repeat for several).
    #[arg(long = "contract", required = true)]
    contracts: Vec<String>,
    /// The vault key that signs.
    #[arg(long)]
    key: String,
    /// The unpause function (default `unpause()`).
    #[arg(long)]
    function: Option<String>,
    #[arg(long, short = 'r')]
    reason: Option<String>,
    #[command(flatten)]
    act: ActArgs,
}

#[derive(Debug, clap::Args)]
pub(crate) struct StatusArgs {
    id: i64,
    /// The line the public view shows.
    text: String,
    #[command(flatten)]
    act: ActArgs,
}

#[derive(Debug, clap::Args)]
pub(crate) struct DispositionArgs {
    /// The alert's full id (`argus alerts list` / `argus incidents show`).
    alert: String,
    /// true-positive, false-positive or benign.
    disposition: Disposition,
    #[arg(long, short = 'r')]
    reason: Option<String>,
    #[command(flatten)]
    act: ActArgs,
}

pub(super) fn run(global: &GlobalArgs, command: IncidentsCommand) -> anyhow::Result<ExitCode> {
    let actor = trail::actor();
    let now_ms = Timestamp::now().as_millisecond();
    fn act<'a>(actor: &'a str, reason: Option<&'a String>, now_ms: i64) -> Act<'a> {
        Act {
            actor,
            reason: reason.map(String::as_str),
            now_ms,
        }
    }
    let act = |reason| act(&actor, reason, now_ms);
    let (message, args) = match &command {
        IncidentsCommand::Ack(a) => {
            let i = write(global, |c| {
                state::acknowledge(c, a.id, act(a.reason.as_ref()))
            })?;
            (format!("incident {} acknowledged by {actor}", i.id), &a.act)
        }
        IncidentsCommand::Contain(a) => {
            let i = write(global, |c| state::contain(c, a.id, act(a.reason.as_ref())))?;
            (format!("incident {} contained", i.id), &a.act)
        }
        IncidentsCommand::Resolve(a) => {
            let i = write(global, |c| state::resolve(c, a.id, act(a.reason.as_ref())))?;
            (format!("incident {} resolved", i.id), &a.act)
        }
        IncidentsCommand::Reopen(a) => {
            let policy = policy(global, a.config.as_ref())?;
            let i = write(global, |c| {
                state::reopen(c, &policy, a.id, act(a.reason.as_ref()))
            })?;
            (format!("incident {} reopened", i.id), &a.act)
        }
        IncidentsCommand::Note(a) => {
            write(global, |c| state::note(c, a.id, &a.text, act(None)))?;
            (format!("note added to incident {}", a.id), &a.act)
        }
        IncidentsCommand::Assign(a) => {
            let i = write(global, |c| {
                state::assign(c, a.id, &a.assignee, act(a.reason.as_ref()))
            })?;
            (
                format!(
                    "incident {} assigned to {}",
                    i.id,
                    output::escape(&a.assignee)
                ),
                &a.act,
            )
        }
        IncidentsCommand::Approve(a) => {
            let approved = write(global, |c| {
                state::approve(c, a.id, &a.step, act(a.reason.as_ref()))
            })?;
            let then = if approved.released {
                "it runs now"
            } else {
                "it waits for more approvals or for the steps before it"
            };
            (
                format!(
                    "step {} of incident {} approved by {actor} ({}/{}); {then}",
                    output::escape(&a.step),
                    a.id,
                    approved.approvals,
                    approved.needed
                ),
                &a.act,
            )
        }
        IncidentsCommand::Unpause(a) => {
            let step = unpause_step(a)?;
            write(global, |c| {
                state::add_step(c, a.id, &step, act(a.reason.as_ref()))
            })?;
            (
                format!(
                    "step {} added to incident {}: it runs after two different operators ran \
                     `argus incidents approve {} {}`",
                    step.id, a.id, a.id, step.id
                ),
                &a.act,
            )
        }
        IncidentsCommand::Status(a) => {
            write(global, |c| {
                state::set_public_status(c, a.id, &a.text, act(None))
            })?;
            (format!("public status of incident {} set", a.id), &a.act)
        }
        IncidentsCommand::Disposition(a) => {
            write(global, |c| {
                if argus_alerting::outbox::get_alert(c, &a.alert)?.is_none() {
                    bail!(
                        "no alert has the id {}; give the full 0x… id that `argus alerts list \
                         --json` shows",
                        output::escape(&a.alert)
                    )
                }
                db::set_disposition(
                    c,
                    &a.alert,
                    a.disposition,
                    &actor,
                    now_ms,
                    a.reason.as_deref(),
                )?;
                if let Some(id) = db::incident_of_alert(c, &a.alert)? {
                    db::add_event(
                        c,
                        id,
                        now_ms,
                        &actor,
                        "alert.disposition",
                        a.reason.as_deref(),
                        &serde_json::json!({ "alert": a.alert, "disposition": a.disposition }),
                    )?;
                }
                Ok(())
            })?;
            (format!("alert judged {}", a.disposition), &a.act)
        }
        IncidentsCommand::List(_) | IncidentsCommand::Show(_) | IncidentsCommand::Documents(_) => {
            unreachable!("read-only subcommands are run by the module")
        }
    };
    sh_eprintln!("{message}");
    copy_to_audit(global, args)?;
    if args.json {
        let conn = read_store(&global.data_dir)?;
        let doc = match &command {
            IncidentsCommand::Disposition(a) => serde_json::json!({
                "alert": a.alert,
                "disposition": a.disposition,
                "incident": db::incident_of_alert(&conn, &a.alert)?,
            }),
            other => super::incident_document(&conn, incident_id(other))?,
        };
        output::json(&doc)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The incident an act is about.
fn incident_id(command: &IncidentsCommand) -> i64 {
    match command {
        IncidentsCommand::Ack(a)
        | IncidentsCommand::Contain(a)
        | IncidentsCommand::Resolve(a)
        | IncidentsCommand::Reopen(a) => a.id,
        IncidentsCommand::Note(a) => a.id,
        IncidentsCommand::Assign(a) => a.id,
        IncidentsCommand::Approve(a) => a.id,
        IncidentsCommand::Unpause(a) => a.id,
        IncidentsCommand::Status(a) => a.id,
        IncidentsCommand::Disposition(_)
        | IncidentsCommand::List(_)
        | IncidentsCommand::Show(_)
        | IncidentsCommand::Documents(_) => 0,
    }
}

/// Runs `change` in one write transaction and commits it.
fn write<T, E>(
    global: &GlobalArgs,
    change: impl FnOnce(&Connection) -> Result<T, E>,
) -> anyhow::Result<T>
where
    anyhow::Error: From<E>,
{
    let mut conn = open_store(&global.data_dir)?;
    let tx = conn.transaction()?;
    let value = change(&tx)?;
    tx.commit()?;
    Ok(value)
}

/// Copies the timeline rows not in the audit log yet, when the master key
/// is at hand; else says who will.
fn copy_to_audit(global: &GlobalArgs, args: &ActArgs) -> anyhow::Result<()> {
    if !trail::master_key_given(args.master_key_file.as_deref()) {
        sh_eprintln!(
            "note: no master key (ARGUS_MASTER_KEY or --master-key-file): the act is in the \
             incident's timeline; the daemon (or the next command with the key) copies it into \
             the audit log"
        );
        return Ok(());
    }
    let mut vault = trail::open_vault(&global.data_dir, args.master_key_file.as_deref(), true)?;
    let store = crate::stores::open(&global.data_dir)?;
    let append = |entries: &[argus_audit::NewEntry]| -> anyhow::Result<()> {
        let mut log = trail::open_log(&mut vault, &global.data_dir, argus_audit::Clock::system())?;
        log.append_batch(entries)?;
        Ok(())
    };
    // `open_log` needs the vault mutably; the closure is called once per batch.
    let append = std::cell::RefCell::new(append);
    let copy = |entries: &[argus_audit::NewEntry]| (append.borrow_mut())(entries);
    trail::incidents::copy_to_audit(&store, &copy).context(
        "the act is done but could not be copied into the audit log; the daemon retries",
    )?;
    Ok(())
}

/// The incident policy of `--config`, or the defaults.
fn policy(global: &GlobalArgs, config: Option<&PathBuf>) -> anyhow::Result<IncidentsConfig> {
    let Some(path) = config else {
        return Ok(IncidentsConfig::default());
    };
    match crate::config::load_for_reading(path, global) {
        Some((loaded, _)) => Ok(loaded.incidents),
        None => bail!("the config {} did not load", path.display()),
    }
}

fn unpause_step(args: &UnpauseArgs) -> anyhow::Result<StepConfig> {
    for contract in &args.contracts {
        if contract.starts_with("0x") && contract.parse::<Address>().is_err() {
            bail!(
                "`{}` is not an address; give a registry label or a 0x… address",
                output::escape(contract)
            )
        }
    }
    Ok(StepConfig {
        id: format!("unpause-{}", Timestamp::now().as_second()),
        action: StepAction::Unpause(ContractCallStep {
            chain: args.chain.clone(),
            contracts: Targets::Listed(args.contracts.clone()),
            function: args.function.clone(),
            key: args.key.clone(),
            max_fee_gwei: None,
            replace_after_ms: None,
        }),
        after: Some(Vec::new()),
        approvals: 2,
        retry: RetryConfig::default(),
        min_severity: None,
    })
}
