//! The chat services: Slack (incoming webhook), Discord (channel webhook)
//! and Telegram (Bot API `sendMessage`). They share one sender,
//! [`ChatNotifier`]: one short message per delivery, posted as JSON; only
//! the address and the body differ by service.
//!
//! Titles and fields can hold text an attacker chose (a token's name, a
//! revert string), so Slack's text is escaped for its markup and Discord's
//! mentions are disabled.
//!
//! ```yaml
//! slack:    { type: slack, webhook_url: { env: SLACK_WEBHOOK_URL } }
//! discord:  { type: discord, webhook_url: { env: DISCORD_WEBHOOK_URL } }
//! telegram: { type: telegram, bot_token: { env: TG_BOT_TOKEN }, chat_id: "@ops" }
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::AlertError;
use crate::notify::http::{check_url, client, send};
use crate::notify::text::{clip, details, rfc3339, summary};
use crate::notify::{BuildContext, Outgoing, SendError};
use crate::outbox::DeliveryKind;
use crate::secret::{Secret, SecretSource};

/// `type: slack` — an incoming webhook.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// How fast this notifier may send; default: its kind's
    /// ([`crate::limits::default_for`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<crate::limits::RateLimitConfig>,
    /// The incoming-webhook URL; it is a secret (it grants posting).
    pub webhook_url: SecretSource,
    /// Deliveries to this notifier in flight at once; default 4 (a chat channel takes about one message a second).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<usize>,
}

impl SlackConfig {
    /// Nothing to check before the secret is resolved: the URL is the
    /// secret, checked when the notifier is built.
    pub(crate) fn validate(&self, _at: &str, _problem: &mut impl FnMut(String, String)) {}

    /// Each secret field with its source.
    pub(crate) fn secret_fields(&self) -> Vec<(&'static str, &SecretSource)> {
        vec![("webhook_url", &self.webhook_url)]
    }

    /// The notifier, its secret resolved.
    pub(crate) fn build(&self, ctx: &BuildContext<'_>) -> Result<ChatNotifier, AlertError> {
        ChatNotifier::new(
            ctx.name,
            ChatService::Slack,
            ctx.secret("webhook_url", &self.webhook_url)?,
            ctx.request_timeout,
        )
    }
}

/// `type: discord` — a channel webhook.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DiscordConfig {
    /// How fast this notifier may send; default: its kind's
    /// ([`crate::limits::default_for`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<crate::limits::RateLimitConfig>,
    /// The webhook URL; it is a secret (it grants posting).
    pub webhook_url: SecretSource,
    /// Deliveries to this notifier in flight at once; default 4 (a chat channel takes about one message a second).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<usize>,
}

impl DiscordConfig {
    /// Nothing to check before the secret is resolved: the URL is the
    /// secret, checked when the notifier is built.
    pub(crate) fn validate(&self, _at: &str, _problem: &mut impl FnMut(String, String)) {}

    /// Each secret field with its source.
    pub(crate) fn secret_fields(&self) -> Vec<(&'static str, &SecretSource)> {
        vec![("webhook_url", &self.webhook_url)]
    }

    /// The notifier, its secret resolved.
    pub(crate) fn build(&self, ctx: &BuildContext<'_>) -> Result<ChatNotifier, AlertError> {
        ChatNotifier::new(
            ctx.name,
            ChatService::Discord,
            ctx.secret("webhook_url", &self.webhook_url)?,
            ctx.request_timeout,
        )
    }
}

/// `type: telegram` — Bot API `sendMessage`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramConfig {
    /// How fast this notifier may send; default: its kind's
    /// ([`crate::limits::default_for`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<crate::limits::RateLimitConfig>,
    /// The bot token from BotFather.
    pub bot_token: SecretSource,
    /// The chat: a number or `@channelname`.
    pub chat_id: String,
    /// The Bot API base URL. Default `https://api.telegram.org`.
    #[serde(default = "default_telegram_base")]
    pub api_base: String,
    /// Deliveries to this notifier in flight at once; default 4 (a chat takes about one message a second).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<usize>,
}

fn default_telegram_base() -> String {
    "https://api.telegram.org".to_owned()
}

impl TelegramConfig {
    /// Every problem of this notifier, at key paths under `at`.
    pub(crate) fn validate(&self, at: &str, problem: &mut impl FnMut(String, String)) {
        check_url(at, "api_base", &self.api_base, problem);
        if self.chat_id.trim().is_empty() {
            problem(
                format!("{at}.chat_id"),
                "needed: a chat id number or @channelname".to_owned(),
            );
        }
    }

    /// Each secret field with its source.
    pub(crate) fn secret_fields(&self) -> Vec<(&'static str, &SecretSource)> {
        vec![("bot_token", &self.bot_token)]
    }

    /// The notifier, its secret resolved.
    pub(crate) fn build(&self, ctx: &BuildContext<'_>) -> Result<ChatNotifier, AlertError> {
        ChatNotifier::new(
            ctx.name,
            ChatService::Telegram {
                api_base: self.api_base.clone(),
                chat_id: self.chat_id.clone(),
            },
            ctx.secret("bot_token", &self.bot_token)?,
            ctx.request_timeout,
        )
    }
}

/// Which chat service a [`ChatNotifier`] posts to.
#[derive(Debug, Clone)]
pub enum ChatService {
    /// The secret is the incoming-webhook URL.
    Slack,
    /// The secret is the webhook URL.
    Discord,
    /// The secret is the bot token.
    Telegram { api_base: String, chat_id: String },
}

/// Slack, Discord and Telegram: one short message per delivery.
#[derive(Debug)]
pub struct ChatNotifier {
    service: ChatService,
    secret: Secret,
    client: reqwest::Client,
}

impl ChatNotifier {
    fn new(
        name: &str,
        service: ChatService,
        secret: Secret,
        timeout: Duration,
    ) -> Result<Self, AlertError> {
        let notifier = Self {
            service,
            secret,
            client: client(name, timeout)?,
        };
        notifier.url().map_err(|_| AlertError::NotifierBuild {
            notifier: name.to_owned(),
            reason: "the webhook URL or API base is not an http(s) URL".to_owned(),
        })?;
        Ok(notifier)
    }

    pub(crate) fn secret(&self) -> &Secret {
        &self.secret
    }

    fn url(&self) -> Result<reqwest::Url, ()> {
        let text = match &self.service {
            ChatService::Slack | ChatService::Discord => self.secret.expose().to_owned(),
            ChatService::Telegram { api_base, .. } => format!(
                "{}/bot{}/sendMessage",
                api_base.trim_end_matches('/'),
                self.secret.expose()
            ),
        };
        let url = reqwest::Url::parse(&text).map_err(|_| ())?;
        if matches!(url.scheme(), "http" | "https") && url.has_host() {
            Ok(url)
        } else {
            Err(())
        }
    }

    /// The JSON body for `out`, as the service's API documents it.
    pub fn body(&self, out: &Outgoing<'_>) -> serde_json::Value {
        let summary = summary(out);
        let details = details(out);
        match &self.service {
            ChatService::Slack => {
                let text = clip(&slack_escape(&format!("{summary}\n{details}")), 3000);
                json!({
                    "text": text,
                    "blocks": [
                        {"type": "section", "text": {"type": "mrkdwn", "text": text}}
                    ],
                })
            }
            ChatService::Discord => {
                let color = match (out.kind(), out.alert.severity) {
                    (DeliveryKind::Retract, _) => 0x95a5a6,
                    (_, argus_core::Severity::Critical) => 0xe74c3c,
                    (_, argus_core::Severity::High) => 0xe67e22,
                    (_, argus_core::Severity::Medium) => 0xf1c40f,
                    _ => 0x3498db,
                };
                json!({
                    "content": clip(&summary, 2000),
                    "allowed_mentions": {"parse": []},
                    "embeds": [{
                        "title": clip(&summary, 256),
                        "description": clip(&details, 4096),
                        "color": color,
                        "timestamp": rfc3339(out.alert.at_ms),
                    }],
                })
            }
            ChatService::Telegram { chat_id, .. } => json!({
                "chat_id": chat_id,
                "text": clip(&format!("{summary}\n{details}"), 4096),
                "link_preview_options": {"is_disabled": true},
            }),
        }
    }

    pub(crate) async fn send(&self, out: &Outgoing<'_>) -> Result<(), SendError> {
        let url = self
            .url()
            .map_err(|()| SendError::permanent("the configured URL is not an http(s) URL"))?;
        send(
            self.client
                .post(url)
                .header("Idempotency-Key", &out.delivery.idempotency_key)
                .json(&self.body(out)),
        )
        .await
    }
}

/// Escapes Slack's mrkdwn control characters.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_markup_in_alert_text_is_escaped() {
        assert_eq!(
            slack_escape("<!channel> & <https://evil|click>"),
            "&lt;!channel&gt; &amp; &lt;https://evil|click&gt;"
        );
    }
}
