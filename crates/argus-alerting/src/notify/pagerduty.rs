//! PagerDuty Events API v2: a fire triggers, a retraction resolves.
//!
//! The event's `dedup_key` is the alert's dedup key, so PagerDuty folds
//! repeats into one incident and the retraction resolves that incident.
//! PagerDuty limits dedup keys to 255 characters; a longer key is replaced by
//! `argus-<keccak hex>` of it, the same on fire and retract.
//!
//! ```yaml
//! pager: { type: pagerduty, routing_key: { env: PD_ROUTING_KEY } }
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::AlertError;
use crate::notify::http::{check_url, client, parse_url, send};
use crate::notify::text::{clip, rfc3339, summary};
use crate::notify::{BuildContext, Outgoing, SendError};
use crate::outbox::DeliveryKind;
use crate::secret::{Secret, SecretSource};

/// `type: pagerduty` — Events API v2.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PagerDutyConfig {
    /// How fast this notifier may send; default: its kind's
    /// ([`crate::limits::default_for`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<crate::limits::RateLimitConfig>,
    /// The integration's routing key.
    pub routing_key: SecretSource,
    /// Default `https://events.pagerduty.com/v2/enqueue`.
    #[serde(default = "default_pagerduty_endpoint")]
    pub endpoint: String,
    /// The `payload.source` field. Default `argus`.
    #[serde(default = "default_pagerduty_source")]
    pub source: String,
    /// Deliveries to this notifier in flight at once; default 8 (the Events API's own limit is per integration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<usize>,
}

fn default_pagerduty_endpoint() -> String {
    "https://events.pagerduty.com/v2/enqueue".to_owned()
}
fn default_pagerduty_source() -> String {
    "argus".to_owned()
}

impl PagerDutyConfig {
    /// Every problem of this notifier, at key paths under `at`.
    pub(crate) fn validate(&self, at: &str, problem: &mut impl FnMut(String, String)) {
        check_url(at, "endpoint", &self.endpoint, problem);
    }

    /// Each secret field with its source.
    pub(crate) fn secret_fields(&self) -> Vec<(&'static str, &SecretSource)> {
        vec![("routing_key", &self.routing_key)]
    }

    /// The notifier, its secret resolved.
    pub(crate) fn build(&self, ctx: &BuildContext<'_>) -> Result<PagerDutyNotifier, AlertError> {
        PagerDutyNotifier::new(
            ctx.name,
            &self.endpoint,
            &self.source,
            ctx.secret("routing_key", &self.routing_key)?,
            ctx.request_timeout,
        )
    }
}

/// Sends Events v2 `trigger` / `resolve`.
#[derive(Debug)]
pub struct PagerDutyNotifier {
    endpoint: reqwest::Url,
    source: String,
    routing_key: Secret,
    client: reqwest::Client,
}

impl PagerDutyNotifier {
    fn new(
        name: &str,
        endpoint: &str,
        source: &str,
        routing_key: Secret,
        timeout: Duration,
    ) -> Result<Self, AlertError> {
        Ok(Self {
            endpoint: parse_url(name, "endpoint", endpoint)?,
            source: source.to_owned(),
            routing_key,
            client: client(name, timeout)?,
        })
    }

    pub(crate) fn secret(&self) -> &Secret {
        &self.routing_key
    }

    /// The event body for `out`.
    pub fn body(&self, out: &Outgoing<'_>) -> serde_json::Value {
        let alert = out.alert;
        let dedup_key = if let Some(digest) = out.digest() {
            // One incident per group: every digest of the group updates it.
            format!(
                "argus-group-{}",
                hex::encode(alloy_primitives::keccak256(digest.group.as_bytes()))
            )
        } else if alert.dedup_key.len() <= 255 {
            alert.dedup_key.clone()
        } else {
            format!(
                "argus-{}",
                hex::encode(alloy_primitives::keccak256(alert.dedup_key.as_bytes()))
            )
        };
        match out.kind() {
            DeliveryKind::Retract => json!({
                "routing_key": self.routing_key.expose(),
                "event_action": "resolve",
                "dedup_key": dedup_key,
            }),
            DeliveryKind::Fire | DeliveryKind::Digest => {
                let severity = match out.digest().map_or(alert.severity, |d| d.severity) {
                    argus_core::Severity::Critical => "critical",
                    argus_core::Severity::High => "error",
                    argus_core::Severity::Medium => "warning",
                    argus_core::Severity::Low | argus_core::Severity::Info => "info",
                };
                json!({
                    "routing_key": self.routing_key.expose(),
                    "event_action": "trigger",
                    "dedup_key": dedup_key,
                    "client": "Argus",
                    "payload": {
                        "summary": clip(&summary(out), 1024),
                        "source": self.source,
                        "severity": severity,
                        "timestamp": rfc3339(alert.at_ms),
                        "component": alert.rule_id,
                        "custom_details": {
                            "alert_id": alert.id,
                            "chain_id": alert.chain_id,
                            "block_number": alert.block_number,
                            "tx_hash": alert.tx_hash,
                            "fields": alert.fields,
                            "idempotency_key": out.delivery.idempotency_key,
                            "group": out.digest().map(|d| &d.group),
                            "count": out.digest().map(|d| d.count),
                            "alerts": out.digest().map(|d| d.alerts.iter().map(|a| &a.id).collect::<Vec<_>>()),
                        },
                    },
                })
            }
        }
    }

    pub(crate) async fn send(&self, out: &Outgoing<'_>) -> Result<(), SendError> {
        send(
            self.client
                .post(self.endpoint.clone())
                .header("Idempotency-Key", &out.delivery.idempotency_key)
                .json(&self.body(out)),
        )
        .await
    }
}
