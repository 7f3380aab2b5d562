//! `argus rules test FILE...`: rule behaviour tests written as data. Each
//! file names its rule files and lists cases: input blocks, transactions,
//! logs and signals, and the findings they must produce. A failing case says
//! what was expected and what came out.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::{GlobalArgs, output};
use argus_node::directory;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum RulesCommand {
    /// Run rule test files.
    Test(TestArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct TestArgs {
    /// Test files (YAML).
    #[arg(required = true)]
    pub(crate) files: Vec<PathBuf>,
    /// Resolve contract labels through the registry in the data directory
    /// (otherwise only the contracts the test files declare are known).
    #[arg(long)]
    pub(crate) registry: bool,
    /// The report as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) fn run(global: &GlobalArgs, command: RulesCommand) -> anyhow::Result<ExitCode> {
    match command {
        RulesCommand::Test(args) => test(global, args),
    }
}

fn test(global: &GlobalArgs, args: TestArgs) -> anyhow::Result<ExitCode> {
    let directory = if args.registry {
        directory::load(&crate::stores::registry_read_only(&global.data_dir)?)?
    } else {
        argus_rules::ContractDirectory::default()
    };
    let mut failed = 0usize;
    let mut passed = 0usize;
    let mut unreadable = 0usize;
    let mut reports = Vec::new();
    for file in &args.files {
        match argus_rules::run_test_file(file, &directory) {
            Ok(report) => {
                for case in &report.cases {
                    if case.passed {
                        passed += 1;
                    } else {
                        failed += 1;
                    }
                    if !args.json {
                        let mark = if case.passed { "ok  " } else { "FAIL" };
                        sh_println!(
                            "{mark} {}: {}",
                            output::escaped(&report.path),
                            output::escaped(&case.name)
                        )?;
                        for failure in &case.failures {
                            sh_println!("       {}", output::escaped(failure))?;
                        }
                        for error in &case.errors {
                            sh_println!("       rule error: {}", output::escaped(error))?;
                        }
                    }
                }
                reports.push(serde_json::to_value(&report)?);
            }
            Err(error) => {
                failed += 1;
                if matches!(error, argus_rules::TestFileError::Read { .. }) {
                    // Not a failing case but a file that cannot be read: the
                    // error names the path, and the exit code is 2.
                    unreadable += 1;
                    sh_eprintln!("error: {error}");
                } else {
                    sh_eprintln!("error: {}: {error}", file.display());
                }
                reports.push(serde_json::json!({ "file": file, "error": error.to_string() }));
            }
        }
    }
    if args.json {
        output::json(&serde_json::json!({ "passed": passed, "failed": failed, "files": reports }))?;
    } else {
        sh_println!("rule cases: {passed} passed, {failed} failed")?;
    }
    Ok(if unreadable > 0 {
        ExitCode::from(2)
    } else if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
