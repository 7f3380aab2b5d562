//! Running a command for a step: `run`, the commands of `rotate_keys`, and
//! a bot's stop command; and rotating vault keys.
//!
//! A command is an argv, never a shell line, so nothing in an incident can
//! be interpreted by a shell. It gets the incident in `ARGUS_INCIDENT_ID`,
//! `ARGUS_INCIDENT_KIND` and `ARGUS_INCIDENT_SEVERITY`, no stdin, and a
//! timeout after which it is killed; only exit status 0 is success. Its
//! standard output is not kept (a credential rotation may print the new
//! secret); the end of its standard error goes into a failure's message.
//!
//! Keys are rotated by the function the binary gives
//! ([`super::Responders::key_rotator`]): the vault and its master key are
//! the binary's, not this crate's.

use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use tokio::io::AsyncReadExt as _;

use super::{RespondError, Responders, StepJob};
use crate::db::Incident;
use crate::policy::{CommandStep, RotateStep};

/// How much of a failed command's standard error is quoted.
const STDERR_TAIL: usize = 500;
/// How much standard error is read at most.
const STDERR_CAP: u64 = 64 * 1024;

/// Whether a failed command's error output may be quoted in the failure
/// (which lands in the timeline, the audit log and the escalation notice).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stderr {
    Quote,
    /// A credential rotation may print the secret it made: never quoted.
    Withhold,
}

/// Runs `argv` for `incident` within `timeout_ms`; its pid, exit status and
/// duration.
pub(super) async fn run_command(
    argv: &[String],
    timeout_ms: i64,
    incident: &Incident,
    quote: Stderr,
) -> Result<serde_json::Value, RespondError> {
    let Some((program, args)) = argv.split_first() else {
        return Err(RespondError::config("a command step has an empty command"));
    };
    let failed = |what: String, retryable: bool| RespondError::Command {
        program: program.clone(),
        what,
        retryable,
    };
    let started = tokio::time::Instant::now();
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .env("ARGUS_INCIDENT_ID", incident.id.to_string())
        .env("ARGUS_INCIDENT_KIND", &incident.kind)
        .env("ARGUS_INCIDENT_SEVERITY", incident.severity.as_str())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            let retryable = e.kind() != std::io::ErrorKind::NotFound
                && e.kind() != std::io::ErrorKind::PermissionDenied;
            failed(format!("cannot be started: {e}"), retryable)
        })?;
    let pid = child.id();
    let stderr = child.stderr.take();
    let timeout = Duration::from_millis(u64::try_from(timeout_ms).unwrap_or(0));
    let waited = tokio::time::timeout(timeout, async {
        let mut text = Vec::new();
        if let Some(stderr) = stderr {
            // An error reading stderr leaves the message shorter, nothing else.
            let _ = stderr.take(STDERR_CAP).read_to_end(&mut text).await;
        }
        (child.wait().await, text)
    })
    .await;
    let (status, stderr) = match waited {
        Ok((Ok(status), stderr)) => (status, stderr),
        Ok((Err(e), _)) => return Err(failed(format!("cannot be waited for: {e}"), true)),
        Err(_) => {
            // Dropping the future dropped the child: kill_on_drop kills it.
            return Err(failed(
                format!("did not finish within {timeout:?} and was killed"),
                true,
            ));
        }
    };
    if !status.success() && quote == Stderr::Withhold {
        return Err(failed(
            format!(
                "exited with {status}; its error output is not quoted (a credential rotation may print secrets)"
            ),
            true,
        ));
    }
    if !status.success() {
        let text = String::from_utf8_lossy(&stderr);
        let tail: String = {
            let trimmed = text.trim();
            let skip = trimmed.chars().count().saturating_sub(STDERR_TAIL);
            trimmed.chars().skip(skip).collect()
        };
        return Err(failed(
            format!(
                "exited with {status}{}",
                if tail.is_empty() {
                    String::new()
                } else {
                    format!("; its error output ends: {tail}")
                }
            ),
            true,
        ));
    }
    Ok(json!({
        "command": argv,
        "pid": pid,
        "exit_code": status.code(),
        "duration_ms": u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    }))
}

/// A `run` step.
pub(super) async fn run_step(
    job: &StepJob,
    step: &CommandStep,
) -> Result<serde_json::Value, RespondError> {
    let result = run_command(&step.command, step.timeout_ms, &job.incident, Stderr::Quote).await?;
    Ok(json!({ "action": "run", "result": result }))
}

/// A `rotate_keys` step: every vault key through the binary's rotator, then
/// every command. A rotation is not undone when a later one fails, and a
/// re-run rotates again: a key rotated twice is as safe as once.
pub(super) async fn rotate(
    responders: &Responders,
    job: &StepJob,
    step: &RotateStep,
) -> Result<serde_json::Value, RespondError> {
    let mut keys = Vec::new();
    if !step.keys.is_empty() {
        let Some(rotator) = responders.rotator() else {
            return Err(RespondError::Rotate {
                key: step.keys.join(", "),
                reason: "the daemon has no master key, so it cannot open the vault; run it with \
                         the master key or rotate with `argus keys rotate`"
                    .to_owned(),
            });
        };
        for label in &step.keys {
            let rotate = rotator.clone();
            let key = label.clone();
            let rotated = tokio::task::spawn_blocking(move || rotate(&key))
                .await
                .map_err(|e| RespondError::Rotate {
                    key: label.clone(),
                    reason: format!("the rotation task failed: {e}"),
                })?
                .map_err(|reason| RespondError::Rotate {
                    key: label.clone(),
                    reason,
                })?;
            keys.push(json!({ "key": label, "new_address": rotated }));
        }
    }
    let mut commands = Vec::new();
    for command in &step.commands {
        commands.push(
            run_command(
                &command.command,
                command.timeout_ms,
                &job.incident,
                Stderr::Withhold,
            )
            .await?,
        );
    }
    Ok(json!({ "action": "rotate_keys", "keys": keys, "commands": commands }))
}
