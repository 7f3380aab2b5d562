//! `argus bench`: figures on this machine, for the README and for capacity
//! planning. Each run builds its input first, then times only the work, and
//! reads peak memory from the kernel.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use argus_abi::lint::LintOptions;
use argus_abi::{InterfaceSet, ItemKind, Origin, Role, lint, parse_signature_list, synthetic};
use serde::Serialize;

use crate::{GlobalArgs, output};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum BenchCommand {
    /// Lint a synthetic infrastructure: many ABIs, then one signature list.
    Lint(LintBenchArgs),
    /// The store's throughput through the daemon's write paths (blocks,
    /// alerts, deliveries a second), on SQLite or PostgreSQL.
    Store(crate::cmd::bench_store::StoreBenchArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct LintBenchArgs {
    /// Signatures in all (at most 50,000,000).
    #[arg(long, default_value_t = 1_000_000, value_parser = count::<50_000_000>)]
    signatures: usize,
    /// ABIs they are spread over (at most 1,000,000).
    #[arg(long, default_value_t = 10_000, value_parser = count::<1_000_000>)]
    abis: usize,
    /// Repetitions; the best and the median are reported (at most 1,000).
    #[arg(long, default_value_t = 5, value_parser = count::<1_000>)]
    runs: usize,
    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
}

/// A count from 1 to `MAX`: the input is built in memory, so an absurd
/// count is refused up front rather than met as an allocation failure.
fn count<const MAX: usize>(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=MAX).contains(&n) => Ok(n),
        _ => Err(format!("expected a whole number from 1 to {MAX}")),
    }
}

#[derive(Debug, Serialize)]
struct Figures {
    signatures: usize,
    abis: usize,
    runs: usize,
    abi_lint_best_ms: f64,
    abi_lint_median_ms: f64,
    abi_signatures_per_second: f64,
    baseline_alloy_selectors_best_ms: f64,
    lint_over_baseline: f64,
    list_lines: usize,
    list_parse_and_lint_best_ms: f64,
    list_parse_and_lint_median_ms: f64,
    input_rss_mib: Option<f64>,
    peak_rss_mib: Option<f64>,
    findings: usize,
}

pub(crate) fn run(_global: &GlobalArgs, command: BenchCommand) -> anyhow::Result<ExitCode> {
    match command {
        BenchCommand::Lint(args) => lint_bench(&args),
        BenchCommand::Store(args) => crate::cmd::bench_store::store_bench(&args),
    }
}

fn lint_bench(args: &LintBenchArgs) -> anyhow::Result<ExitCode> {
    let runs = args.runs.max(1);
    sh_eprintln!(
        "building {} ABIs with {} signatures…",
        args.abis,
        args.signatures
    );
    let set = synthetic::infrastructure(args.abis, args.signatures);
    let input_rss = rss_mib("VmRSS:");
    let options = LintOptions::default();
    let mut findings = 0;
    let mut abi_times = Vec::with_capacity(runs);
    for run in 0..runs {
        let started = Instant::now();
        let report = lint(&set, &options);
        abi_times.push(started.elapsed());
        findings = report.findings.len() + report.allowed.len();
        sh_eprintln!("  abi lint run {}/{runs}: {:.1?}", run + 1, abi_times[run]);
    }
    // Baseline, same input, same run: what computing every selector and
    // topic with alloy alone costs, without any linting.
    let mut baseline_times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let mut checksum = 0u8;
        for source in set.sources() {
            if let argus_abi::SourceItems::Abi(abi) = &source.items {
                checksum ^= abi.functions().fold(0, |x, f| x ^ f.selector()[0]);
                checksum ^= abi.errors().fold(0, |x, e| x ^ e.selector()[0]);
                checksum ^= abi.events().fold(0, |x, e| x ^ e.selector()[0]);
            }
        }
        std::hint::black_box(checksum);
        baseline_times.push(started.elapsed());
    }
    drop(set);

    let text = synthetic::signature_list(args.signatures);
    let mut list_times = Vec::with_capacity(runs);
    for run in 0..runs {
        let started = Instant::now();
        let (list, errors) = parse_signature_list(&text, ItemKind::Function);
        anyhow::ensure!(
            errors.is_empty(),
            "the synthetic list has bad lines: {errors:?}"
        );
        let mut set = InterfaceSet::new();
        set.add_signature_list(Origin::labelled("synthetic.txt"), list, Role::SignatureList);
        let _report = lint(&set, &options);
        list_times.push(started.elapsed());
        sh_eprintln!(
            "  list parse+lint run {}/{runs}: {:.1?}",
            run + 1,
            list_times[run]
        );
    }

    let (abi_best, abi_median) = best_and_median(&mut abi_times);
    let (baseline_best, _) = best_and_median(&mut baseline_times);
    let (list_best, list_median) = best_and_median(&mut list_times);
    let figures = Figures {
        signatures: args.signatures,
        abis: args.abis,
        runs,
        abi_lint_best_ms: ms(abi_best),
        abi_lint_median_ms: ms(abi_median),
        abi_signatures_per_second: args.signatures as f64 / abi_best.as_secs_f64().max(1e-9),
        baseline_alloy_selectors_best_ms: ms(baseline_best),
        lint_over_baseline: abi_best.as_secs_f64() / baseline_best.as_secs_f64().max(1e-9),
        list_lines: args.signatures,
        list_parse_and_lint_best_ms: ms(list_best),
        list_parse_and_lint_median_ms: ms(list_median),
        input_rss_mib: input_rss,
        peak_rss_mib: rss_mib("VmHWM:"),
        findings,
    };
    if args.json {
        output::json_pretty(&figures)?;
    } else {
        sh_println!(
            "lint {} signatures over {} ABIs: best {:.0} ms, median {:.0} ms ({:.2} M signatures/s, one core)",
            figures.signatures,
            figures.abis,
            figures.abi_lint_best_ms,
            figures.abi_lint_median_ms,
            figures.abi_signatures_per_second / 1e6
        )?;
        sh_println!(
            "baseline, same input: computing every selector and topic with alloy alone: {:.0} ms; \
             the whole lint costs {:.2}× that",
            figures.baseline_alloy_selectors_best_ms,
            figures.lint_over_baseline
        )?;
        sh_println!(
            "parse and lint a {}-line signature list: best {:.0} ms, median {:.0} ms",
            figures.list_lines,
            figures.list_parse_and_lint_best_ms,
            figures.list_parse_and_lint_median_ms
        )?;
        match figures.peak_rss_mib {
            Some(mib) => sh_println!(
                "peak memory (RSS, whole process): {mib:.0} MiB, of which the generated ABIs \
                 alone held {:.0} MiB before linting",
                figures.input_rss_mib.unwrap_or(0.0)
            )?,
            None => sh_println!("peak memory: not available on this platform")?,
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn best_and_median(times: &mut [Duration]) -> (Duration, Duration) {
    times.sort();
    (times[0], times[times.len() / 2])
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A resident-set figure from `/proc/self/status` (Linux): `VmRSS:` now,
/// `VmHWM:` the peak.
fn rss_mib(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
