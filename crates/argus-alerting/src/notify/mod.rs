//! The notifiers: where a delivery goes.
//!
//! Each notifier kind is one module of this folder, holding all of it: its
//! config struct (what `type: <kind>` under `alerting.notifiers` reads), its
//! validation, its build (secrets resolved) and its send.
//!
//! | `type:` | module | config | notifier |
//! |---|---|---|---|
//! | `webhook` | `webhook.rs` | [`WebhookConfig`] | [`WebhookNotifier`] (and [`signature`]) |
//! | `slack`, `discord`, `telegram` | `chat.rs` | [`SlackConfig`], [`DiscordConfig`], [`TelegramConfig`] | [`ChatNotifier`], one sender for the three |
//! | `pagerduty` | `pagerduty.rs` | [`PagerDutyConfig`] | [`PagerDutyNotifier`] |
//! | `email` | `email.rs` | [`EmailConfig`], [`SmtpSecurity`] | [`EmailNotifier`] |
//! | `script` | `script.rs` | [`ScriptConfig`] | [`ScriptNotifier`] |
//!
//! What the kinds share: `http.rs` (one client setup, one check of
//! configured URLs, one mapping of HTTP answers to retry decisions) and
//! `text.rs` (how an alert reads in a message, a page or a mail). This file
//! is the one interface: [`NotifierConfig`], the serde enum tagged by
//! `type` that dispatches to each kind's config, and [`Notifier`], the
//! built notifier that dispatches to each kind's sender. (The config types
//! are re-exported from [`crate::config`] too, where the `alerting:`
//! section is.)
//!
//! Each notifier is built once with its secrets resolved
//! ([`build_notifiers`]), and sends one [`Outgoing`] at a time: a `fire` or
//! a `retract` of one alert, with the delivery's idempotency key. A send
//! answers `Ok` only when the sink accepted; a [`SendError`] says whether
//! trying again may help and, for rate limits, when.
//!
//! Error texts never hold a secret: HTTP errors are described without their
//! URL (Slack, Discord and Telegram URLs carry tokens), and every message is
//! scrubbed of the notifier's secret values before it leaves [`Notifier::send`].
//!
//! # Adding a notifier kind
//!
//! 1. `notify/<kind>.rs` (a folder `notify/<kind>/` with `mod.rs`,
//!    `config.rs` and `tests.rs` once it outgrows one file): the module docs
//!    (what the sink gets, what is retried, a YAML example); a
//!    `<Kind>Config` (serde, `deny_unknown_fields`, secrets as
//!    [`SecretSource`]) with `validate(&self, at, problem)` (every problem,
//!    at key paths under `at`), `secret_fields(&self)` and
//!    `build(&self, &BuildContext) -> Result<<Kind>Notifier, AlertError>`;
//!    the `<Kind>Notifier` with `send(&self, &Outgoing) -> Result<(),
//!    SendError>` and, when it holds secrets, `secret()`; its unit tests.
//! 2. Here: `mod <kind>;` and the `pub use` of its config and notifier; a
//!    [`NotifierConfig`] variant (its lowercase name is the `type:`) with its
//!    arms in `type_name`, `secret_fields` and `validate`; a [`Notifier`]
//!    variant with its arms in `Notifier::build`, `send` and `secrets`. The
//!    compiler points at every arm left out.
//! 3. `crate::config`: the config type in its `pub use` of the notifier
//!    configs, so `argus_alerting::config::<Kind>Config` works like the
//!    others.
//! 4. `tests/notifiers.rs`: a send against a real receiver;
//!    `tests/config.rs`: the validation's key paths and messages.

mod chat;
mod email;
mod http;
mod pagerduty;
mod script;
mod text;
mod webhook;

use std::collections::BTreeMap;
use std::time::Duration;

use argus_core::Diagnostic;
use serde::{Deserialize, Serialize};

use crate::config::AlertingConfig;
use crate::error::AlertError;
use crate::outbox::{AlertRecord, Delivery, DeliveryKind};
use crate::secret::{Secret, SecretSource};

pub use chat::{ChatNotifier, ChatService, DiscordConfig, SlackConfig, TelegramConfig};
pub use email::{EmailConfig, EmailNotifier, SmtpSecurity};
pub use pagerduty::{PagerDutyConfig, PagerDutyNotifier};
pub use script::{ScriptConfig, ScriptNotifier};
pub use webhook::{WebhookConfig, WebhookNotifier, signature};

/// A notifier's config, by type: the one entry point of every kind's
/// config, validation and build.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum NotifierConfig {
    Webhook(WebhookConfig),
    Slack(SlackConfig),
    Discord(DiscordConfig),
    Telegram(TelegramConfig),
    Pagerduty(PagerDutyConfig),
    Email(EmailConfig),
    Script(ScriptConfig),
}

impl NotifierConfig {
    /// The type's name as written in configs.
    pub fn type_name(&self) -> &'static str {
        match self {
            NotifierConfig::Webhook(_) => "webhook",
            NotifierConfig::Slack(_) => "slack",
            NotifierConfig::Discord(_) => "discord",
            NotifierConfig::Telegram(_) => "telegram",
            NotifierConfig::Pagerduty(_) => "pagerduty",
            NotifierConfig::Email(_) => "email",
            NotifierConfig::Script(_) => "script",
        }
    }

    /// The `rate_limit:` written for this notifier, if any.
    pub fn rate_limit(&self) -> Option<&crate::limits::RateLimitConfig> {
        match self {
            NotifierConfig::Webhook(c) => c.rate_limit.as_ref(),
            NotifierConfig::Slack(c) => c.rate_limit.as_ref(),
            NotifierConfig::Discord(c) => c.rate_limit.as_ref(),
            NotifierConfig::Telegram(c) => c.rate_limit.as_ref(),
            NotifierConfig::Pagerduty(c) => c.rate_limit.as_ref(),
            NotifierConfig::Email(c) => c.rate_limit.as_ref(),
            NotifierConfig::Script(c) => c.rate_limit.as_ref(),
        }
    }

    /// The config paths of secrets written as literals (for `argus doctor`).
    pub fn literal_secrets(&self) -> Vec<&'static str> {
        self.secret_fields()
            .into_iter()
            .filter(|(_, s)| s.is_literal())
            .map(|(name, _)| name)
            .collect()
    }

    /// The names of the vault secrets this notifier uses.
    pub fn vault_secrets(&self) -> Vec<&str> {
        self.secret_fields()
            .into_iter()
            .filter_map(|(_, s)| s.vault_name())
            .collect()
    }

    /// Each secret field with its source.
    fn secret_fields(&self) -> Vec<(&'static str, &SecretSource)> {
        match self {
            NotifierConfig::Webhook(c) => c.secret_fields(),
            NotifierConfig::Slack(c) => c.secret_fields(),
            NotifierConfig::Discord(c) => c.secret_fields(),
            NotifierConfig::Telegram(c) => c.secret_fields(),
            NotifierConfig::Pagerduty(c) => c.secret_fields(),
            NotifierConfig::Email(c) => c.secret_fields(),
            NotifierConfig::Script(c) => c.secret_fields(),
        }
    }

    /// How many deliveries to this notifier may be in flight at once: its
    /// `max_in_flight`, or a default sized for the kind of sink (a webhook
    /// receiver takes many requests at once; a chat channel, a pager or a
    /// mail server is not helped by more than a few).
    pub fn max_in_flight(&self) -> usize {
        let (set, default) = match self {
            NotifierConfig::Webhook(c) => (c.max_in_flight, 64),
            NotifierConfig::Slack(c) => (c.max_in_flight, 4),
            NotifierConfig::Discord(c) => (c.max_in_flight, 4),
            NotifierConfig::Telegram(c) => (c.max_in_flight, 4),
            NotifierConfig::Pagerduty(c) => (c.max_in_flight, 8),
            NotifierConfig::Email(c) => (c.max_in_flight, 4),
            NotifierConfig::Script(c) => (c.max_in_flight, 4),
        };
        set.unwrap_or(default).clamp(1, MAX_IN_FLIGHT_LIMIT)
    }

    /// Every problem of this notifier's settings, at key paths under `at`
    /// (`alerting.notifiers.<name>`). Secrets are not resolved here.
    pub(crate) fn validate(&self, at: &str, problem: &mut impl FnMut(String, String)) {
        let set = match self {
            NotifierConfig::Webhook(c) => c.max_in_flight,
            NotifierConfig::Slack(c) => c.max_in_flight,
            NotifierConfig::Discord(c) => c.max_in_flight,
            NotifierConfig::Telegram(c) => c.max_in_flight,
            NotifierConfig::Pagerduty(c) => c.max_in_flight,
            NotifierConfig::Email(c) => c.max_in_flight,
            NotifierConfig::Script(c) => c.max_in_flight,
        };
        if set.is_some_and(|n| n == 0 || n > MAX_IN_FLIGHT_LIMIT) {
            problem(
                format!("{at}.max_in_flight"),
                format!(
                    "must be from 1 to {MAX_IN_FLIGHT_LIMIT}; leave it out for the kind's default"
                ),
            );
        }
        if let Some(limit) = self.rate_limit() {
            crate::limits::validate(limit, at, problem);
        }
        match self {
            NotifierConfig::Webhook(c) => c.validate(at, problem),
            NotifierConfig::Slack(c) => c.validate(at, problem),
            NotifierConfig::Discord(c) => c.validate(at, problem),
            NotifierConfig::Telegram(c) => c.validate(at, problem),
            NotifierConfig::Pagerduty(c) => c.validate(at, problem),
            NotifierConfig::Email(c) => c.validate(at, problem),
            NotifierConfig::Script(c) => c.validate(at, problem),
        }
    }
}

/// The most deliveries one notifier may have in flight: each holds a
/// connection (or a process) and a claimed row.
pub const MAX_IN_FLIGHT_LIMIT: usize = 1_024;

/// Whether `host` is this machine (`localhost`, `127.0.0.1`, `[::1]`…): the
/// only place plain text (http, SMTP without TLS) may go.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let host = host.trim().trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// One delivery to send.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    pub delivery: &'a Delivery,
    pub alert: &'a AlertRecord,
    /// The dispatcher's clock, for timestamps and signatures.
    pub now_ms: i64,
}

impl Outgoing<'_> {
    /// Fire, retract or digest.
    pub fn kind(&self) -> DeliveryKind {
        self.delivery.kind
    }

    /// What a digest carries (`None` for a fire or a retraction).
    pub fn digest(&self) -> Option<&crate::digest::Digest> {
        self.delivery.digest.as_deref()
    }

    /// The JSON document the webhook and script notifiers send. A digest's
    /// also has `group`, `count` and `alerts` (the first few; `alert` is
    /// the first).
    pub fn document(&self) -> serde_json::Value {
        if let Some(digest) = self.digest() {
            return serde_json::json!({
                "version": 1,
                "kind": self.delivery.kind.as_str(),
                "idempotency_key": self.delivery.idempotency_key,
                "notifier": self.delivery.notifier,
                "sent_at_ms": self.now_ms,
                "group": digest.group,
                "count": digest.count,
                "severity": digest.severity,
                "alerts": digest.alerts,
                "alert": self.alert,
            });
        }
        serde_json::json!({
            "version": 1,
            "kind": self.delivery.kind.as_str(),
            "idempotency_key": self.delivery.idempotency_key,
            "notifier": self.delivery.notifier,
            "sent_at_ms": self.now_ms,
            "alert": self.alert,
        })
    }
}

/// Why a send did not succeed. Its message holds no secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    /// Whether sending again later may succeed.
    pub retryable: bool,
    /// The sink asked to wait this long (`Retry-After`).
    pub retry_after: Option<Duration>,
    /// What happened, for `last_error`.
    pub message: String,
}

impl SendError {
    /// A failure worth retrying.
    pub fn retry(message: impl Into<String>) -> Self {
        Self {
            retryable: true,
            retry_after: None,
            message: message.into(),
        }
    }

    /// A failure that will not heal by itself.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            retryable: false,
            retry_after: None,
            message: message.into(),
        }
    }
}

/// A built notifier.
#[derive(Debug)]
pub enum Notifier {
    Webhook(WebhookNotifier),
    /// Slack, Discord and Telegram.
    Chat(ChatNotifier),
    PagerDuty(PagerDutyNotifier),
    Email(EmailNotifier),
    Script(ScriptNotifier),
}

impl Notifier {
    /// Builds one notifier, reading its secrets with `lookup`.
    pub fn build(
        name: &str,
        config: &NotifierConfig,
        request_timeout: Duration,
        secrets: &Secrets<'_>,
    ) -> Result<Self, AlertError> {
        let ctx = BuildContext {
            name,
            request_timeout,
            secrets,
        };
        Ok(match config {
            NotifierConfig::Webhook(c) => Notifier::Webhook(c.build(&ctx)?),
            NotifierConfig::Slack(c) => Notifier::Chat(c.build(&ctx)?),
            NotifierConfig::Discord(c) => Notifier::Chat(c.build(&ctx)?),
            NotifierConfig::Telegram(c) => Notifier::Chat(c.build(&ctx)?),
            NotifierConfig::Pagerduty(c) => Notifier::PagerDuty(c.build(&ctx)?),
            NotifierConfig::Email(c) => Notifier::Email(c.build(&ctx)?),
            NotifierConfig::Script(c) => Notifier::Script(c.build(&ctx)),
        })
    }

    /// Sends one delivery. `Ok` means the sink accepted it.
    pub async fn send(&self, out: &Outgoing<'_>) -> Result<(), SendError> {
        let result = match self {
            Notifier::Webhook(n) => n.send(out).await,
            Notifier::Chat(n) => n.send(out).await,
            Notifier::PagerDuty(n) => n.send(out).await,
            Notifier::Email(n) => n.send(out).await,
            Notifier::Script(n) => n.send(out).await,
        };
        result.map_err(|mut error| {
            for secret in self.secrets() {
                if !secret.is_empty() {
                    error.message = error.message.replace(secret.expose(), "[redacted]");
                }
            }
            error
        })
    }

    fn secrets(&self) -> Vec<&Secret> {
        match self {
            Notifier::Webhook(n) => vec![n.secret()],
            Notifier::Chat(n) => vec![n.secret()],
            Notifier::PagerDuty(n) => vec![n.secret()],
            Notifier::Email(n) => n.secret().into_iter().collect(),
            Notifier::Script(_) => Vec::new(),
        }
    }
}

/// What a kind's `build` gets: the notifier's name (for errors), the time
/// one send may take, and where its secrets are looked up.
#[derive(Debug)]
pub(crate) struct BuildContext<'a> {
    pub(crate) name: &'a str,
    pub(crate) request_timeout: Duration,
    secrets: &'a Secrets<'a>,
}

impl BuildContext<'_> {
    /// Resolves the secret of config field `field`, or names the one missing.
    pub(crate) fn secret(
        &self,
        field: &'static str,
        source: &SecretSource,
    ) -> Result<Secret, AlertError> {
        let secrets = self.secrets;
        source
            .resolve_with(secrets.env, &|n| secrets.vault.and_then(|v| v(n)))
            .ok_or_else(|| AlertError::SecretMissing {
                notifier: self.name.to_owned(),
                field,
                source_desc: source.describe(),
            })
    }
}

/// Builds every notifier of `config`, reading secrets from the process
/// environment. Every problem (a missing secret, a bad address) is reported
/// at once.
pub fn build_notifiers(config: &AlertingConfig) -> Result<BTreeMap<String, Notifier>, AlertError> {
    build_notifiers_with(
        config,
        &Secrets {
            env: &|name| std::env::var(name).ok(),
            vault: None,
        },
    )
}

/// Unseals a vault secret by name.
pub type VaultLookup<'a> = &'a dyn Fn(&str) -> Option<Secret>;

/// Where the secrets a config names are looked up.
pub struct Secrets<'a> {
    /// Environment variables (`{ env: NAME }`).
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// The vault's unsealed secrets (`{ vault: NAME }`). `None` when the
    /// vault is not open: notifiers that need it are then skipped, not
    /// built and not reported (the daemon builds them once it unsealed
    /// them).
    pub vault: Option<VaultLookup<'a>>,
}

impl std::fmt::Debug for Secrets<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("vault_open", &self.vault.is_some())
            .finish_non_exhaustive()
    }
}

/// [`build_notifiers`] with explicit lookups (tests, the daemon's vault).
pub fn build_notifiers_with(
    config: &AlertingConfig,
    secrets: &Secrets<'_>,
) -> Result<BTreeMap<String, Notifier>, AlertError> {
    let mut problems = config.validate("alerting");
    let mut built = BTreeMap::new();
    if problems.is_empty() {
        for (name, notifier) in &config.notifiers {
            if secrets.vault.is_none() && !notifier.vault_secrets().is_empty() {
                continue;
            }
            match Notifier::build(name, notifier, config.retry.request_timeout.0, secrets) {
                Ok(n) => {
                    built.insert(name.clone(), n);
                }
                Err(error) => problems.push(Diagnostic::at_path(
                    format!("alerting.notifiers.{name}"),
                    error.to_string(),
                )),
            }
        }
    }
    if problems.is_empty() {
        Ok(built)
    } else {
        Err(AlertError::Config { problems })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_localhost_and_loopback_addresses() {
        for host in [
            "localhost",
            "LOCALHOST",
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "[::1]",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in ["localhost.example", "10.0.0.1", "::", "smtp.example", ""] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }
}
