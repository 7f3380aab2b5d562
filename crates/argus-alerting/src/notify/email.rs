//! Email over SMTP, through `lettre` (tokio, rustls with ring, the platform
//! verifier; no native-tls, no connection pool).
//!
//! The delivery's idempotency key becomes the `Message-ID`
//! (`<key@argus.invalid>`), so a mail re-sent after a crash carries the same
//! id and mail clients and archives can fold it. An SMTP 5xx answer is a
//! permanent failure; 4xx answers and connection problems are retried.
//!
//! Shaky: lettre keeps the SMTP password in its own `String` (not zeroized)
//! for the life of the transport.
//!
//! ```yaml
//! mail: { type: email, host: smtp.example, username: argus, password: { env: SMTP_PASSWORD },
//!         from: "argus@example.org", to: ["ops@example.org"] }
//! ```

use std::time::Duration;

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

use crate::error::AlertError;
use crate::notify::text::{details, summary};
use crate::notify::{BuildContext, Outgoing, SendError, is_loopback_host};
use crate::secret::{Secret, SecretSource};

/// How an SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// TLS from the first byte (port 465).
    Tls,
    /// STARTTLS, required (port 587).
    Starttls,
    /// Plain text; only allowed to a loopback host.
    None,
}

/// `type: email` — SMTP.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// How fast this notifier may send; default: its kind's
    /// ([`crate::limits::default_for`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<crate::limits::RateLimitConfig>,
    pub host: String,
    /// Default 587.
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    /// Default `starttls`.
    #[serde(default = "default_smtp_security")]
    pub security: SmtpSecurity,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<SecretSource>,
    pub from: String,
    pub to: Vec<String>,
    /// Default `[argus]`.
    #[serde(default = "default_subject_prefix")]
    pub subject_prefix: String,
    /// Deliveries to this notifier in flight at once; default 4 (each is an SMTP session).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<usize>,
}

fn default_smtp_port() -> u16 {
    587
}
fn default_smtp_security() -> SmtpSecurity {
    SmtpSecurity::Starttls
}
fn default_subject_prefix() -> String {
    "[argus]".to_owned()
}

impl EmailConfig {
    /// Every problem of this notifier, at key paths under `at`.
    pub(crate) fn validate(&self, at: &str, problem: &mut impl FnMut(String, String)) {
        if self.host.trim().is_empty() {
            problem(
                format!("{at}.host"),
                "needed: the SMTP server's host name".to_owned(),
            );
        }
        if self.security == SmtpSecurity::None && !is_loopback_host(&self.host) {
            problem(
                format!("{at}.security"),
                "`none` sends the password and the alert in clear; it is allowed only to localhost, use starttls or tls".to_owned(),
            );
        }
        if self.from.parse::<Mailbox>().is_err() {
            problem(format!("{at}.from"), "not an email address".to_owned());
        }
        if self.to.is_empty() {
            problem(
                format!("{at}.to"),
                "needed: at least one recipient".to_owned(),
            );
        }
        for (i, to) in self.to.iter().enumerate() {
            if to.parse::<Mailbox>().is_err() {
                problem(format!("{at}.to[{i}]"), "not an email address".to_owned());
            }
        }
        if self.password.is_some() && self.username.is_none() {
            problem(
                format!("{at}.username"),
                "a password is set but no username".to_owned(),
            );
        }
    }

    /// Each secret field with its source.
    pub(crate) fn secret_fields(&self) -> Vec<(&'static str, &SecretSource)> {
        self.password.iter().map(|p| ("password", p)).collect()
    }

    /// The notifier, its password (if any) resolved.
    pub(crate) fn build(&self, ctx: &BuildContext<'_>) -> Result<EmailNotifier, AlertError> {
        let password = self
            .password
            .as_ref()
            .map(|p| ctx.secret("password", p))
            .transpose()?;
        EmailNotifier::new(ctx.name, self, password, ctx.request_timeout)
    }
}

/// Sends one plain-text mail per delivery.
pub struct EmailNotifier {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    subject_prefix: String,
    password: Option<Secret>,
}

impl std::fmt::Debug for EmailNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailNotifier")
            .field("from", &self.from.to_string())
            .field("to", &self.to.len())
            .finish_non_exhaustive()
    }
}

impl EmailNotifier {
    fn new(
        name: &str,
        config: &EmailConfig,
        password: Option<Secret>,
        timeout: Duration,
    ) -> Result<Self, AlertError> {
        let failed = |reason: String| AlertError::NotifierBuild {
            notifier: name.to_owned(),
            reason,
        };
        let builder = match config.security {
            SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host)
                .map_err(|e| failed(format!("TLS setup for {} failed: {e}", config.host)))?,
            SmtpSecurity::Starttls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host)
                    .map_err(|e| failed(format!("TLS setup for {} failed: {e}", config.host)))?
            }
            SmtpSecurity::None => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            }
        };
        let mut builder = builder.port(config.port).timeout(Some(timeout));
        if let Some(username) = &config.username {
            let password = password
                .as_ref()
                .map(|p| p.expose().to_owned())
                .unwrap_or_default();
            builder = builder.credentials(Credentials::new(username.clone(), password));
        }
        let from = config
            .from
            .parse::<Mailbox>()
            .map_err(|e| failed(format!("from is not an address: {e}")))?;
        let to = config
            .to
            .iter()
            .map(|t| t.parse::<Mailbox>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| failed(format!("a recipient is not an address: {e}")))?;
        Ok(Self {
            transport: builder.build(),
            from,
            to,
            subject_prefix: config.subject_prefix.clone(),
            password,
        })
    }

    pub(crate) fn secret(&self) -> Option<&Secret> {
        self.password.as_ref()
    }

    /// The mail for `out`.
    pub fn message(&self, out: &Outgoing<'_>) -> Result<Message, SendError> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(
                format!("{} {}", self.subject_prefix, summary(out))
                    .trim()
                    .to_owned(),
            )
            .message_id(Some(format!(
                "<{}@argus.invalid>",
                out.delivery.idempotency_key
            )))
            .header(ContentType::TEXT_PLAIN);
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        let fields = serde_json::to_string_pretty(&out.alert.fields).unwrap_or_default();
        let body = format!(
            "{}\n\n{}\n\nfields:\n{}\n\nidempotency key: {}\n",
            summary(out),
            details(out),
            fields,
            out.delivery.idempotency_key
        );
        builder
            .body(body)
            .map_err(|e| SendError::permanent(format!("cannot build the mail: {e}")))
    }

    pub(crate) async fn send(&self, out: &Outgoing<'_>) -> Result<(), SendError> {
        let message = self.message(out)?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(error) if error.is_permanent() => Err(SendError::permanent(format!(
                "the SMTP server refused the mail: {error}"
            ))),
            Err(error) => Err(SendError::retry(format!("SMTP send failed: {error}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(host: &str, security: SmtpSecurity) -> EmailConfig {
        EmailConfig {
            rate_limit: None,
            host: host.to_owned(),
            port: 25,
            security,
            username: None,
            password: None,
            from: "argus@example.org".to_owned(),
            to: vec!["ops@example.org".to_owned()],
            subject_prefix: default_subject_prefix(),
            max_in_flight: None,
        }
    }

    fn problems(config: &EmailConfig) -> Vec<String> {
        let mut paths = Vec::new();
        config.validate("n", &mut |path, _| paths.push(path));
        paths
    }

    #[test]
    fn smtp_without_tls_is_allowed_only_to_localhost() {
        assert!(problems(&config("localhost", SmtpSecurity::None)).is_empty());
        assert!(problems(&config("[::1]", SmtpSecurity::None)).is_empty());
        assert_eq!(
            problems(&config("smtp.example", SmtpSecurity::None)),
            ["n.security"]
        );
        assert!(problems(&config("smtp.example", SmtpSecurity::Starttls)).is_empty());
    }

    #[test]
    fn a_password_needs_a_username_and_is_its_only_secret() {
        let mut with_password = config("smtp.example", SmtpSecurity::Tls);
        with_password.password = Some(SecretSource::Env {
            env: "SMTP_PASSWORD".to_owned(),
        });
        assert_eq!(problems(&with_password), ["n.username"]);
        let fields: Vec<&str> = with_password
            .secret_fields()
            .into_iter()
            .map(|(f, _)| f)
            .collect();
        assert_eq!(fields, ["password"]);
        assert!(
            config("smtp.example", SmtpSecurity::Tls)
                .secret_fields()
                .is_empty()
        );
    }
}
