//! The notifiers: where a delivery goes.
//!
//! Each notifier has a config struct (in [`crate::config`]), is built once
//! with its secrets resolved ([`build_notifiers`]), and sends one
//! [`Outgoing`] at a time: a `fire` or a `retract` of one alert, with the
//! delivery's idempotency key. A send answers `Ok` only when the sink
//! accepted; a [`SendError`] says whether trying again may help and, for
//! rate limits, when.
//!
//! Error texts never hold a secret: HTTP errors are described without their
//! URL (Slack, Discord and Telegram URLs carry tokens), and every message is
//! scrubbed of the notifier's secret values before it leaves [`Notifier::send`].

mod email;
mod http;
mod pagerduty;
mod script;
mod text;
mod webhook;

use std::collections::BTreeMap;
use std::time::Duration;

use argus_core::Diagnostic;

use crate::config::{AlertingConfig, NotifierConfig};
use crate::error::AlertError;
use crate::outbox::{AlertRecord, Delivery, DeliveryKind};
use crate::secret::{Secret, SecretSource};

pub use email::EmailNotifier;
pub use http::{ChatNotifier, ChatService};
pub use pagerduty::PagerDutyNotifier;
pub use script::ScriptNotifier;
pub use webhook::{WebhookNotifier, signature};

/// One delivery to send.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    pub delivery: &'a Delivery,
    pub alert: &'a AlertRecord,
    /// The dispatcher's clock, for timestamps and signatures.
    pub now_ms: i64,
}

impl Outgoing<'_> {
    /// Fire or retract.
    pub fn kind(&self) -> DeliveryKind {
        self.delivery.kind
    }

    /// The JSON document the webhook and script notifiers send.
    pub fn document(&self) -> serde_json::Value {
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
        let secret = |field: &'static str, source: &SecretSource| -> Result<Secret, AlertError> {
            source
                .resolve_with(secrets.env, &|n| secrets.vault.and_then(|v| v(n)))
                .ok_or_else(|| AlertError::SecretMissing {
                    notifier: name.to_owned(),
                    field,
                    source_desc: source.describe(),
                })
        };
        Ok(match config {
            NotifierConfig::Webhook(c) => Notifier::Webhook(WebhookNotifier::new(
                name,
                &c.url,
                secret("secret", &c.secret)?,
                request_timeout,
            )?),
            NotifierConfig::Slack(c) => Notifier::Chat(ChatNotifier::new(
                name,
                ChatService::Slack,
                secret("webhook_url", &c.webhook_url)?,
                request_timeout,
            )?),
            NotifierConfig::Discord(c) => Notifier::Chat(ChatNotifier::new(
                name,
                ChatService::Discord,
                secret("webhook_url", &c.webhook_url)?,
                request_timeout,
            )?),
            NotifierConfig::Telegram(c) => Notifier::Chat(ChatNotifier::new(
                name,
                ChatService::Telegram {
                    api_base: c.api_base.clone(),
                    chat_id: c.chat_id.clone(),
                },
                secret("bot_token", &c.bot_token)?,
                request_timeout,
            )?),
            NotifierConfig::Pagerduty(c) => Notifier::PagerDuty(PagerDutyNotifier::new(
                name,
                &c.endpoint,
                &c.source,
                secret("routing_key", &c.routing_key)?,
                request_timeout,
            )?),
            NotifierConfig::Email(c) => {
                let password = c
                    .password
                    .as_ref()
                    .map(|p| secret("password", p))
                    .transpose()?;
                Notifier::Email(EmailNotifier::new(name, c, password, request_timeout)?)
            }
            NotifierConfig::Script(c) => Notifier::Script(ScriptNotifier::new(name, c)),
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
