//! `argus replay -c argus.yaml --from N --to M`: the alerts the rules would
//! have made over a stretch of history. A dry run: nothing is stored, nobody
//! is notified. Findings go to stdout (one line each, or JSON lines with
//! `--json`), progress to stderr.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context as _, bail};
use argus_chain::RpcPool;
use argus_registry::Registry;
use argus_rules::Engine;

use crate::config;
use crate::{GlobalArgs, output};
use argus_node::directory;

#[derive(Debug, clap::Args)]
pub(crate) struct ReplayArgs {
    /// The config file (its chains, rules and registry are used; its
    /// notifiers are not).
    #[arg(short, long, default_value = "argus.yaml")]
    pub(crate) config: PathBuf,
    /// The first block.
    #[arg(long)]
    pub(crate) from: u64,
    /// The last block (inclusive); the node's latest block when omitted.
    #[arg(long)]
    pub(crate) to: Option<u64>,
    /// Which of the config's chains (needed when it has several).
    #[arg(long)]
    pub(crate) chain: Option<String>,
    /// Findings as JSON lines.
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) fn run(global: &GlobalArgs, args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let Some((loaded, data_dir)) = config::load_for(&args.config, global) else {
        return Ok(ExitCode::from(2));
    };
    let setup = match &args.chain {
        Some(name) => {
            let chain = argus_core::ChainId::parse(name, true).context("--chain")?;
            loaded
                .chains
                .iter()
                .find(|c| c.follower.chain == chain)
                .with_context(|| format!("the config has no chain {}", chain.name()))?
        }
        None => match loaded.chains.as_slice() {
            [one] => one,
            _ => bail!("the config has several chains; pick one with --chain"),
        },
    };
    // A dry run writes nothing: the registry is read, never created.
    let registry = if crate::stores::exists(&data_dir) {
        crate::stores::registry_read_only(&data_dir)?
    } else {
        Registry::open_in_memory()?
    };
    let mut engine = Engine::new(loaded.rules, &directory::load(&registry)?);
    for problem in engine.binding_problems() {
        sh_eprintln!(
            "warning: rule {}: {}",
            output::escaped(&problem.rule_id),
            output::escaped(&problem.message)
        );
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let pool = RpcPool::new(
        setup.follower.chain,
        setup.endpoints.clone(),
        setup.pool.clone(),
    )?;
    let fetch = setup.follower.fetch.clone();
    let chain = setup.follower.chain;
    let state_pool = pool.clone();
    let json = args.json;
    let from = args.from;
    let started = Instant::now();
    let (blocks, logs, findings, errors) = runtime.block_on(async move {
        let to = match args.to {
            Some(to) => to,
            None => pool
                .block_number()
                .await
                .context("asking the node for its latest block")?,
        };
        if to < from {
            bail!("--to {to} is before --from {from}");
        }
        // Every block from 0 through u64::MAX is one more than a u64 counts.
        let Some(total) = (to - from).checked_add(1) else {
            bail!(
                "--from {from} --to {to} is more blocks than can be counted; give a --to no \
                 higher than the chain's latest block (or leave it out to replay up to it)"
            );
        };
        let tty = output::stderr_is_terminal();
        let mut range = argus_chain::range(pool, from, to, fetch).on_progress(move |p| {
            let done = p.done_through.saturating_sub(p.from).saturating_add(1);
            let percent = done.saturating_mul(100) / total.max(1);
            let bar: String = (0..30)
                .map(|i| if i * 100 / 30 < percent { '#' } else { '.' })
                .collect();
            let line = format!(
                "replay [{bar}] {percent:>3}% block {} of {}..={} ({} logs)",
                p.done_through, p.from, p.to, p.logs_delivered
            );
            output::progress(&line, tty);
        });
        let (mut blocks, mut logs, mut findings, mut errors) = (0u64, 0u64, 0u64, 0u64);
        while let Some(batch) = range.next_batch().await {
            let batch = batch.context("reading the range")?;
            for block in &batch {
                blocks += 1;
                logs += block.logs.len() as u64;
                let mut outcome = engine.on_block(block);
                // State rules read at each block (old blocks need an archive node).
                let state = argus_node::state::evaluate_block(
                    &mut engine,
                    &state_pool,
                    chain,
                    &block.header,
                )
                .await;
                outcome.findings.extend(state.findings);
                outcome.errors.extend(state.errors);
                for finding in &outcome.findings {
                    findings += 1;
                    print_finding(finding, json)?;
                }
                for error in &outcome.errors {
                    errors += 1;
                    sh_eprintln!(
                        "\nerror: rule {} could not evaluate: {}",
                        output::escaped(&error.rule_id),
                        output::escaped(&error.message)
                    );
                }
            }
        }
        if tty {
            sh_eprintln!();
        }
        Ok((blocks, logs, findings, errors))
    })?;
    sh_eprintln!(
        "replayed {blocks} blocks, {logs} logs in {:.1} s: {findings} finding(s), {errors} rule error(s); nothing was stored or sent",
        started.elapsed().as_secs_f64()
    );
    Ok(if errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// One finding on stdout; its rule id and title may come from the chain, so
/// they are escaped.
fn print_finding(finding: &argus_core::Finding, json: bool) -> anyhow::Result<()> {
    if json {
        return output::json(&crate::cmd::run_output::finding_json(finding));
    }
    let block = finding.origin.map(|o| o.block.number).unwrap_or_default();
    sh_println!(
        "{:<8} block {block:<8} {}: {}",
        finding.severity.as_str().to_uppercase(),
        output::escaped(&finding.rule_id),
        output::escaped(&finding.title)
    )
}
