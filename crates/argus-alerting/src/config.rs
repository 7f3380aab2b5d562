//! The `alerting:` section of `argus.yaml`: notifiers, routes, dedup, retries.
//!
//! Like every Argus config, it is checked whole: [`AlertingConfig::validate`]
//! returns *every* problem with its key path, so a user fixes a config in one
//! pass instead of one error per run. Secrets are references
//! ([`SecretSource`](crate::secret::SecretSource)); they are resolved when
//! the notifiers are built.
//!
//! Each notifier kind's settings and their checks live with its code, in
//! [`crate::notify`]; they are re-exported here ([`NotifierConfig`],
//! [`WebhookConfig`], …) beside the rest of the section.
//!
//! ```yaml
//! alerting:
//!   dedup_window: 10m          # alerts sharing a dedup key within it notify once
//!   retry: { initial: 1s, max: 5m, max_in_flight: 256, request_timeout: 10s }
//!   notifiers:
//!     ops-hook: { type: webhook, url: "https://ops.example/argus", secret: { env: ARGUS_HOOK_SECRET }, max_in_flight: 64 }
//!     slack:    { type: slack, webhook_url: { env: SLACK_WEBHOOK_URL } }
//!     pager:    { type: pagerduty, routing_key: { env: PD_ROUTING_KEY },
//!                 rate_limit: { per_minute: 60, burst: 5 } }   # default: the service's own limit
//!   routes:                    # in order; the first match wins unless `continue: true`
//!     - { min_severity: high, notifiers: [pager, slack], continue: true }
//!     - { rule_prefix: "bot.", notifiers: [ops-hook] }
//!     - { rule_prefix: "dex.", notifiers: [slack], group_by: [rule, contract],
//!         group_wait: 10s, group_interval: 5m }
//!   default_notifiers: [slack] # when no route matches; default: every notifier
//! ```
//!
//! Grouping ([`crate::grouping`]): a route's `group_by` / `group_wait` /
//! `group_interval` make one notification (a digest) per group and
//! notifier; a route without them groups its chat, PagerDuty and email
//! notifiers by `[rule]` (5s wait, 1m interval) and sends every alert to
//! webhooks and scripts on its own. `rate_limit` ([`crate::limits`]) defaults
//! to each service's documented limit (webhooks and scripts: none); a
//! backlog beyond a minute of it is folded into one digest
//! ([`crate::digest`]). A rule's `cooldown:` (in its rule file) widens the
//! dedup window of its alerts.

use std::collections::BTreeMap;
use std::time::Duration;

use argus_core::{Diagnostic, Severity};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use crate::notify::{
    DiscordConfig, EmailConfig, NotifierConfig, PagerDutyConfig, ScriptConfig, SlackConfig,
    SmtpSecurity, TelegramConfig, WebhookConfig,
};

/// A duration in the one duration grammar ([`argus_core::duration`]): `10m`,
/// `1s`, `1h 30m`, ISO 8601 (`PT10M`) or a number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConfigDuration(pub Duration);

impl ConfigDuration {
    /// From seconds.
    pub const fn secs(secs: u64) -> Self {
        Self(Duration::from_secs(secs))
    }

    /// In whole milliseconds, saturating.
    pub fn as_ms(self) -> i64 {
        i64::try_from(self.0.as_millis()).unwrap_or(i64::MAX)
    }
}

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        argus_core::duration::deserialize(deserializer).map(ConfigDuration)
    }
}

impl Serialize for ConfigDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format!("{}ms", self.0.as_millis()))
    }
}

/// The `alerting:` section.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertingConfig {
    /// Alerts sharing a dedup key whose event times are closer than this are
    /// grouped: the first notifies, the others are stored as suppressed.
    /// `0s` turns grouping off. Default 10 minutes.
    #[serde(default = "default_dedup_window")]
    pub dedup_window: ConfigDuration,
    /// Named notifiers.
    #[serde(default)]
    pub notifiers: BTreeMap<String, NotifierConfig>,
    /// Routes, tried in order.
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    /// The notifiers of an alert no route matched; every notifier when unset.
    #[serde(default)]
    pub default_notifiers: Option<Vec<String>>,
    /// Retry and concurrency of the dispatcher.
    #[serde(default)]
    pub retry: RetryConfig,
}

fn default_dedup_window() -> ConfigDuration {
    ConfigDuration::secs(600)
}

impl Default for AlertingConfig {
    fn default() -> Self {
        Self {
            dedup_window: default_dedup_window(),
            notifiers: BTreeMap::new(),
            routes: Vec::new(),
            default_notifiers: None,
            retry: RetryConfig::default(),
        }
    }
}

/// How the dispatcher retries and how much it does at once.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// The first retry's delay (doubled each attempt, with jitter). Default 1s.
    #[serde(default = "default_initial")]
    pub initial: ConfigDuration,
    /// The longest delay between two attempts. Default 5m. A sink's
    /// `Retry-After` is honoured up to one hour.
    #[serde(default = "default_max")]
    pub max: ConfigDuration,
    /// Deliveries sent at once across all notifiers, on top of each
    /// notifier's own `max_in_flight`. Default 256.
    #[serde(default = "default_in_flight")]
    pub max_in_flight: usize,
    /// The time one send may take. Default 10s.
    #[serde(default = "default_request_timeout")]
    pub request_timeout: ConfigDuration,
}

fn default_initial() -> ConfigDuration {
    ConfigDuration::secs(1)
}
fn default_max() -> ConfigDuration {
    ConfigDuration::secs(300)
}
fn default_in_flight() -> usize {
    256
}
fn default_request_timeout() -> ConfigDuration {
    ConfigDuration::secs(10)
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            initial: default_initial(),
            max: default_max(),
            max_in_flight: default_in_flight(),
            request_timeout: default_request_timeout(),
        }
    }
}

/// One route: which alerts go to which notifiers.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// A name for messages; optional.
    #[serde(default)]
    pub name: Option<String>,
    /// Matches alerts at least this severe.
    #[serde(default)]
    pub min_severity: Option<Severity>,
    /// Matches these rule ids exactly (or `rule_prefix`, when both are given).
    #[serde(default)]
    pub rules: Vec<String>,
    /// Matches rule ids starting with this.
    #[serde(default)]
    pub rule_prefix: Option<String>,
    /// Where matching alerts go.
    pub notifiers: Vec<String>,
    /// Keep trying later routes after this one matched.
    #[serde(default, rename = "continue")]
    pub continue_matching: bool,
    /// What makes alerts one group (one notification per group and
    /// notifier): any of `rule`, `chain`, `contract`, `severity`,
    /// `labels.NAME`; `[]` turns grouping off. Unset (with `group_wait` and
    /// `group_interval` unset too): chat, PagerDuty and email notifiers group
    /// by `[rule]`, webhooks and scripts do not group. See
    /// [`crate::grouping`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_by: Option<Vec<String>>,
    /// How long a new group waits for more alerts. Default 5s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_wait: Option<ConfigDuration>,
    /// The least time between two notifications of one group. Default 1m.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_interval: Option<ConfigDuration>,
}

impl AlertingConfig {
    /// The names of every vault secret the notifiers use, sorted, once each.
    pub fn vault_secret_names(&self) -> Vec<String> {
        let names: std::collections::BTreeSet<&str> = self
            .notifiers
            .values()
            .flat_map(NotifierConfig::vault_secrets)
            .collect();
        names.into_iter().map(str::to_owned).collect()
    }

    /// Every problem of the config, each with its key path under `prefix`
    /// (usually `alerting`). Empty means valid. Secrets are not resolved here.
    pub fn validate(&self, prefix: &str) -> Vec<Diagnostic> {
        let mut problems = Vec::new();
        let mut problem = |path: String, message: String| {
            problems.push(Diagnostic::at_path(path, message));
        };
        for (name, notifier) in &self.notifiers {
            let at = format!("{prefix}.notifiers.{name}");
            if !valid_name(name) {
                problem(
                    at.clone(),
                    "a notifier name is 1-64 characters of a-z, 0-9, `-` and `_`".to_owned(),
                );
            }
            notifier.validate(&at, &mut problem);
        }
        for (index, route) in self.routes.iter().enumerate() {
            let at = format!("{prefix}.routes[{index}]");
            if route.notifiers.is_empty() {
                problem(
                    format!("{at}.notifiers"),
                    "a route needs at least one notifier".to_owned(),
                );
            }
            for (i, name) in route.notifiers.iter().enumerate() {
                if !self.notifiers.contains_key(name) {
                    problem(
                        format!("{at}.notifiers[{i}]"),
                        unknown_notifier(name, &self.notifiers),
                    );
                }
            }
            crate::grouping::validate_route(route, &at, &mut problem);
            if route.rule_prefix.as_deref() == Some("") {
                problem(
                    format!("{at}.rule_prefix"),
                    "an empty prefix matches every rule; remove it instead".to_owned(),
                );
            }
        }
        if let Some(defaults) = &self.default_notifiers {
            for (i, name) in defaults.iter().enumerate() {
                if !self.notifiers.contains_key(name) {
                    problem(
                        format!("{prefix}.default_notifiers[{i}]"),
                        unknown_notifier(name, &self.notifiers),
                    );
                }
            }
        }
        let retry = &self.retry;
        if retry.initial.0.is_zero() {
            problem(
                format!("{prefix}.retry.initial"),
                "must be more than 0s, e.g. 1s".to_owned(),
            );
        }
        if retry.max < retry.initial {
            problem(
                format!("{prefix}.retry.max"),
                "must be at least retry.initial".to_owned(),
            );
        }
        if retry.max_in_flight == 0 {
            problem(
                format!("{prefix}.retry.max_in_flight"),
                "must be at least 1".to_owned(),
            );
        }
        if retry.request_timeout.0.is_zero() {
            problem(
                format!("{prefix}.retry.request_timeout"),
                "must be more than 0s, e.g. 10s".to_owned(),
            );
        }
        problems
    }
}

fn unknown_notifier(name: &str, known: &BTreeMap<String, NotifierConfig>) -> String {
    let names: Vec<&str> = known.keys().map(String::as_str).collect();
    format!(
        "no notifier is named `{}`; defined: {}",
        name.chars().take(64).collect::<String>(),
        if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        }
    )
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}
