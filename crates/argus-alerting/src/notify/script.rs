//! The script notifier: run a program with the alert document on stdin.
//!
//! The program gets the same JSON document as the webhook on stdin and the
//! environment variables `ARGUS_IDEMPOTENCY_KEY` and `ARGUS_DELIVERY_KIND`
//! (`fire` / `retract`). Exit status 0 means delivered; any other status, a
//! signal or the timeout (the program is killed) is retried, with the end
//! of its stderr kept in `last_error`. A program that cannot be started
//! (missing, not executable) fails for good until requeued. No shell is
//! involved: the command is an argument vector.
//!
//! ```yaml
//! page: { type: script, command: [/usr/local/bin/page, --team, ops], timeout: 30s }
//! ```

use std::process::Stdio;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::config::ConfigDuration;
use crate::notify::text::clip;
use crate::notify::{BuildContext, Outgoing, SendError};
use crate::secret::SecretSource;

/// `type: script` — run a program with the alert JSON on stdin.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptConfig {
    /// How fast this notifier may send; default: its kind's
    /// ([`crate::limits::default_for`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<crate::limits::RateLimitConfig>,
    /// The program and its arguments (no shell).
    pub command: Vec<String>,
    /// Killed after this long. Default 10s.
    #[serde(default = "default_timeout")]
    pub timeout: ConfigDuration,
    /// Deliveries to this notifier in flight at once; default 4 (each is a process).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<usize>,
}

fn default_timeout() -> ConfigDuration {
    ConfigDuration::secs(10)
}

impl ScriptConfig {
    /// Every problem of this notifier, at key paths under `at`.
    pub(crate) fn validate(&self, at: &str, problem: &mut impl FnMut(String, String)) {
        if self.command.first().is_none_or(|p| p.trim().is_empty()) {
            problem(
                format!("{at}.command"),
                "needed: the program to run and its arguments, e.g. [/usr/local/bin/page, --team, ops]".to_owned(),
            );
        }
        if self.timeout.0.is_zero() {
            problem(format!("{at}.timeout"), "must be more than 0s".to_owned());
        }
    }

    /// A script has no secret field (its environment is its own business).
    pub(crate) fn secret_fields(&self) -> Vec<(&'static str, &SecretSource)> {
        Vec::new()
    }

    /// The notifier; a script has nothing to resolve.
    pub(crate) fn build(&self, ctx: &BuildContext<'_>) -> ScriptNotifier {
        ScriptNotifier::new(ctx.name, self)
    }
}

/// Runs a command per delivery.
#[derive(Debug)]
pub struct ScriptNotifier {
    command: Vec<String>,
    timeout: Duration,
}

impl ScriptNotifier {
    fn new(_name: &str, config: &ScriptConfig) -> Self {
        Self {
            command: config.command.clone(),
            timeout: config.timeout.0,
        }
    }

    pub(crate) async fn send(&self, out: &Outgoing<'_>) -> Result<(), SendError> {
        let Some((program, args)) = self.command.split_first() else {
            return Err(SendError::permanent("the script notifier has no command"));
        };
        let body = serde_json::to_vec(&out.document())
            .map_err(|e| SendError::permanent(format!("cannot encode the alert: {e}")))?;
        let mut child = Command::new(program)
            .args(args)
            .env("ARGUS_IDEMPOTENCY_KEY", &out.delivery.idempotency_key)
            .env("ARGUS_DELIVERY_KIND", out.delivery.kind.as_str())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                let message = format!("cannot start {program}: {e}");
                match e.kind() {
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
                        SendError::permanent(message)
                    }
                    _ => SendError::retry(message),
                }
            })?;
        let stdin = child.stdin.take();
        let write = async move {
            if let Some(mut stdin) = stdin {
                // A script that ignores stdin closes the pipe; that is fine.
                let _ = stdin.write_all(&body).await;
                let _ = stdin.shutdown().await;
            }
        };
        let run = async {
            let (_, output) = tokio::join!(write, child.wait_with_output());
            output
        };
        let output = match tokio::time::timeout(self.timeout, run).await {
            Ok(Ok(output)) => output,
            Ok(Err(e)) => return Err(SendError::retry(format!("{program} failed: {e}"))),
            Err(_) => {
                return Err(SendError::retry(format!(
                    "{program} did not finish within {} ms and was killed",
                    self.timeout.as_millis()
                )));
            }
        };
        if output.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: String = {
            let trimmed = stderr.trim();
            let count = trimmed.chars().count();
            trimmed.chars().skip(count.saturating_sub(300)).collect()
        };
        let status = match output.status.code() {
            Some(code) => format!("exit status {code}"),
            None => "killed by a signal".to_owned(),
        };
        Err(SendError::retry(clip(
            &format!("{program} ended with {status}: {tail}"),
            400,
        )))
    }
}
