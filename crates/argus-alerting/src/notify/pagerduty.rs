//! PagerDuty Events API v2: a fire triggers, a retraction resolves.
//!
//! The event's `dedup_key` is the alert's dedup key, so PagerDuty folds
//! repeats into one incident and the retraction resolves that incident.
//! PagerDuty limits dedup keys to 255 characters; a longer key is replaced by
//! `argus-<keccak hex>` of it, the same on fire and retract.

use std::time::Duration;

use serde_json::json;

use crate::error::AlertError;
use crate::notify::http::{client, parse_url, send};
use crate::notify::text::{clip, rfc3339, summary};
use crate::notify::{Outgoing, SendError};
use crate::outbox::DeliveryKind;
use crate::secret::Secret;

/// Sends Events v2 `trigger` / `resolve`.
#[derive(Debug)]
pub struct PagerDutyNotifier {
    endpoint: reqwest::Url,
    source: String,
    routing_key: Secret,
    client: reqwest::Client,
}

impl PagerDutyNotifier {
    pub(crate) fn new(
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
        let dedup_key = if alert.dedup_key.len() <= 255 {
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
            DeliveryKind::Fire => {
                let severity = match alert.severity {
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
