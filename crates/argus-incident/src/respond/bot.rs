//! Stopping a bot: never by process name (a name matches whatever else runs
//! under it), only by what the `bots:` section names, every mechanism
//! configured, in this order:
//!
//! 1. **Kill switch**: a file the bot polls, created atomically (written
//!    beside it, then renamed) with `{incident, at, reason}`; its directory
//!    must exist already (a bot that watches a directory nobody made is
//!    misconfigured, and making it would hide that).
//! 2. **Pid file**: one positive integer, neither our own pid nor 1; the
//!    process must exist. It is sent the configured signal (TERM by
//!    default) with `kill(2)` through rustix (a process already gone at a
//!    second run of the step counts as stopped: the first run signalled
//!    it and was cut short before recording so), whose safe wrapper keeps
//!    `unsafe` out of the workspace and reports the errno (no such process,
//!    not permitted) without parsing a `kill` program's output. Then up to
//!    10 s are given for it to exit (a zombie counts as exited).
//! 3. **Command**: an argv (`[systemctl, stop, arb.service]`), see
//!    `command`.
//! 4. **HTTP kill switch**: the bot polls Argus's `/killswitch/NAME`, which
//!    says "stop" while an unresolved incident holds a succeeded stop of it
//!    (`db::kill_switch_orders`); nothing is sent, the step's success is
//!    the order.
//!
//! Each is applied even when one before it failed, and the step succeeds
//! only when all did; the result lists each.

use std::path::Path;
use std::time::Duration;

use rustix::io::Errno;
use rustix::process::{Pid, Signal};
use serde_json::json;

use super::command::{Stderr, run_command};
use super::{RespondError, Responders, StepJob};
use crate::policy::BotConfig;

/// How long a signalled process is given to exit.
const EXIT_WAIT: Duration = Duration::from_secs(10);
/// A pid file holds a number, not a document.
const PID_FILE_CAP: u64 = 64;
/// A command with no timeout of its own (a bot's `command`).
const BOT_COMMAND_TIMEOUT_MS: i64 = 30_000;

/// Why one mechanism failed, and whether another run may help.
struct Failure {
    what: String,
    retryable: bool,
}

impl Failure {
    fn fatal(what: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            retryable: false,
        }
    }
}

/// Stops bot `name` with every mechanism it has.
pub(super) async fn stop(
    responders: &Responders,
    job: &StepJob,
    name: &str,
) -> Result<serde_json::Value, RespondError> {
    let bot = responders.bot(name).ok_or_else(|| {
        RespondError::config(format!(
            "the step names bot `{name}`, which the `bots:` section does not have"
        ))
    })?;
    if bot.kill_switch_file.is_none()
        && bot.pid_file.is_none()
        && bot.command.is_none()
        && !bot.http_kill_switch
    {
        return Err(RespondError::config(format!(
            "bot `{name}` has no kill_switch_file, pid_file, command or http_kill_switch to stop it with"
        )));
    }
    let mut done = Vec::new();
    let mut failures = Vec::new();
    if bot.http_kill_switch {
        // The order is this step's success itself: the server's
        // `/killswitch/NAME` answers "stop" while an unresolved incident has
        // a succeeded stop of the bot (`db::kill_switch_orders`).
        done.push(json!({ "mechanism": "http_kill_switch", "bot": name, "ok": true }));
    }
    if let Some(file) = &bot.kill_switch_file {
        match write_kill_switch(file, responders, job) {
            Ok(()) => done.push(json!({ "mechanism": "kill_switch", "file": file, "ok": true })),
            Err(failure) => {
                done.push(json!({ "mechanism": "kill_switch", "file": file, "ok": false, "error": failure.what }));
                failures.push(failure);
            }
        }
    }
    if let Some(file) = &bot.pid_file {
        match signal_pid_file(file, bot, job.attempt).await {
            Ok(report) => done.push(report),
            Err(failure) => {
                done.push(json!({ "mechanism": "pid_file", "file": file, "ok": false, "error": failure.what }));
                failures.push(failure);
            }
        }
    }
    if let Some(command) = &bot.command {
        match run_command(
            command,
            BOT_COMMAND_TIMEOUT_MS,
            &job.incident,
            Stderr::Quote,
        )
        .await
        {
            Ok(mut report) => {
                report["mechanism"] = json!("command");
                report["ok"] = json!(true);
                done.push(report);
            }
            Err(error) => {
                let failure = Failure {
                    retryable: error.is_retryable(),
                    what: error.to_string(),
                };
                done.push(json!({ "mechanism": "command", "command": command, "ok": false, "error": failure.what }));
                failures.push(failure);
            }
        }
    }
    if !failures.is_empty() {
        return Err(RespondError::Bot {
            bot: name.to_owned(),
            retryable: failures.iter().all(|f| f.retryable),
            what: failures
                .iter()
                .map(|f| f.what.as_str())
                .collect::<Vec<_>>()
                .join("; "),
        });
    }
    Ok(json!({ "action": "stop_bot", "bot": name, "mechanisms": done }))
}

/// Creates the kill switch atomically: a temporary file beside it, synced,
/// renamed over it.
fn write_kill_switch(file: &Path, responders: &Responders, job: &StepJob) -> Result<(), Failure> {
    let shown = file.display();
    let (Some(dir), Some(name)) = (file.parent(), file.file_name()) else {
        return Err(Failure::fatal(format!(
            "kill switch {shown} is not a file path"
        )));
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    if !dir.is_dir() {
        return Err(Failure::fatal(format!(
            "the kill switch's directory {} does not exist; create it where the bot looks",
            dir.display()
        )));
    }
    let incident = &job.incident;
    let body = json!({
        "incident": incident.id,
        "at": responders.clock().now().timestamp().to_string(),
        "reason": format!(
            "Argus incident {} ({}, {}), step {}",
            incident.id, incident.kind, incident.severity, job.step_id
        ),
    });
    let mut temporary = name.to_owned();
    temporary.push(format!(".argus-{}.tmp", std::process::id()));
    let temporary = dir.join(temporary);
    let written = (|| {
        use std::io::Write as _;
        let mut out = std::fs::File::create(&temporary)?;
        out.write_all(body.to_string().as_bytes())?;
        out.write_all(b"\n")?;
        out.sync_all()?;
        std::fs::rename(&temporary, file)
    })();
    written.map_err(|e| {
        let _ = std::fs::remove_file(&temporary);
        Failure {
            what: format!("cannot write the kill switch {shown}: {e}"),
            retryable: true,
        }
    })
}

/// Reads the pid file, signals its process and waits for it to exit.
async fn signal_pid_file(
    file: &Path,
    bot: &BotConfig,
    attempt: u32,
) -> Result<serde_json::Value, Failure> {
    let shown = file.display();
    let signal_name = bot.signal.as_deref().unwrap_or("TERM");
    let signal = parse_signal(signal_name).ok_or_else(|| {
        Failure::fatal(format!(
            "signal `{signal_name}` is not one of TERM, INT, HUP, QUIT, KILL, USR1, USR2"
        ))
    })?;
    let bytes =
        argus_core::file::read_capped(file, PID_FILE_CAP, "pid file").map_err(|e| Failure {
            what: e.to_string(),
            retryable: true,
        })?;
    let text = String::from_utf8_lossy(&bytes);
    let raw: i32 = text.trim().parse().map_err(|_| {
        Failure::fatal(format!(
            "pid file {shown} does not hold one process id (it holds {} bytes that are not a number)",
            bytes.len()
        ))
    })?;
    let own = i32::try_from(std::process::id()).unwrap_or(0);
    if raw == 1 || raw == own {
        return Err(Failure::fatal(format!(
            "pid file {shown} names pid {raw}, {}; refusing to signal it",
            if raw == 1 {
                "the init process"
            } else {
                "Argus itself"
            }
        )));
    }
    // `Pid::from_raw` takes non-negative numbers only.
    let pid = (raw > 0)
        .then(|| Pid::from_raw(raw))
        .flatten()
        .ok_or_else(|| {
            Failure::fatal(format!(
                "pid file {shown} names {raw}, which is not a process id"
            ))
        })?;
    if !alive(pid)? && attempt > 1 {
        // An earlier run of this step signalled it and was cut short (a
        // restart) before it recorded the outcome: the bot is stopped.
        return Ok(json!({
            "mechanism": "pid_file",
            "file": file,
            "pid": raw,
            "exited": true,
            "already": "not running at this run; an earlier run of the step signalled it",
            "ok": true,
        }));
    }
    if !alive(pid)? {
        return Err(Failure::fatal(format!(
            "no process {raw} (named by {shown}) is running: the bot is already stopped or the pid file is stale"
        )));
    }
    rustix::process::kill_process(pid, signal).map_err(|e| describe(e, raw))?;
    let started = tokio::time::Instant::now();
    while alive(pid)? {
        if started.elapsed() >= EXIT_WAIT {
            return Err(Failure {
                what: format!(
                    "process {raw} got SIG{} but is still running after {EXIT_WAIT:?}",
                    signal_name.trim_start_matches("SIG")
                ),
                retryable: true,
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(json!({
        "mechanism": "pid_file",
        "file": file,
        "pid": raw,
        "signal": signal_name,
        "exited": true,
        "ok": true,
    }))
}

/// Whether `pid` runs (a zombie has exited: it only waits for its parent).
fn alive(pid: Pid) -> Result<bool, Failure> {
    match rustix::process::test_kill_process(pid) {
        Ok(()) => Ok(!is_zombie(pid)),
        Err(Errno::SRCH) => Ok(false),
        Err(e) => Err(describe(e, pid.as_raw_nonzero().get())),
    }
}

fn is_zombie(pid: Pid) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.as_raw_nonzero()));
    // `pid (comm) S ...`: the state follows the last `)`.
    stat.ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

fn describe(error: Errno, pid: i32) -> Failure {
    match error {
        Errno::PERM => Failure::fatal(format!(
            "Argus may not signal process {pid} (not permitted); run the bot as Argus's user or give it a stop command"
        )),
        Errno::SRCH => Failure::fatal(format!("process {pid} does not exist")),
        other => Failure {
            what: format!("cannot signal process {pid}: {other}"),
            retryable: true,
        },
    }
}

fn parse_signal(name: &str) -> Option<Signal> {
    let upper = name.trim().to_ascii_uppercase();
    Some(match upper.strip_prefix("SIG").unwrap_or(&upper) {
        "TERM" => Signal::TERM,
        "INT" => Signal::INT,
        "HUP" => Signal::HUP,
        "QUIT" => Signal::QUIT,
        "KILL" => Signal::KILL,
        "USR1" => Signal::USR1,
        "USR2" => Signal::USR2,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_are_named_with_or_without_sig() {
        assert_eq!(parse_signal("TERM"), Some(Signal::TERM));
        assert_eq!(parse_signal("sigkill"), Some(Signal::KILL));
        assert_eq!(parse_signal("SIGUSR1"), Some(Signal::USR1));
        assert_eq!(parse_signal("STOP"), None);
        assert_eq!(parse_signal(""), None);
    }
}
