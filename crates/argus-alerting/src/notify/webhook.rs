//! The signed webhook: a JSON POST any receiver can verify.
//!
//! Headers:
//! - `Idempotency-Key`: the same for every attempt of one delivery;
//! - `X-Argus-Timestamp`: seconds since the Unix epoch when this attempt was made;
//! - `X-Argus-Signature`: `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
//!
//! A receiver verifies by (1) reading the raw body bytes, (2) computing
//! HMAC-SHA256 with the shared secret over the timestamp header, a `.`, and
//! the body, (3) comparing hex digests in constant time, (4) refusing a
//! timestamp more than 5 minutes from its own clock (a replayed request), and
//! (5) answering 2xx for an `Idempotency-Key` it has already processed
//! without acting on it again. Every retry is signed afresh with a new
//! timestamp, so a slow retry is not refused as a replay.
//!
//! The body: `{"version": 1, "kind": "fire"|"retract", "idempotency_key",
//! "notifier", "sent_at_ms", "alert": {id, rule_id, severity, title,
//! dedup_key, chain_id, block_number, block_hash, tx_hash, log_index, at_ms,
//! fields, state, duplicates, reason, …}}`.
//!
//! ```yaml
//! ops-hook: { type: webhook, url: "https://ops.example/argus", secret: { env: ARGUS_HOOK_SECRET } }
//! ```

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::AlertError;
use crate::notify::http::{check_url, client, parse_url, send};
use crate::notify::{BuildContext, Outgoing, SendError};
use crate::secret::{Secret, SecretSource};

/// `type: webhook` — a signed JSON POST.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// How fast this notifier may send; default: its kind's
    /// ([`crate::limits::default_for`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<crate::limits::RateLimitConfig>,
    /// Where to POST (http or https).
    pub url: String,
    /// The HMAC-SHA256 key of `X-Argus-Signature`; required, so receivers can
    /// refuse forged alerts.
    pub secret: SecretSource,
    /// Deliveries to this notifier in flight at once; default 64 (a receiver built for machines takes many).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<usize>,
}

impl WebhookConfig {
    /// Every problem of this notifier, at key paths under `at`.
    pub(crate) fn validate(&self, at: &str, problem: &mut impl FnMut(String, String)) {
        check_url(at, "url", &self.url, problem);
    }

    /// Each secret field with its source.
    pub(crate) fn secret_fields(&self) -> Vec<(&'static str, &SecretSource)> {
        vec![("secret", &self.secret)]
    }

    /// The notifier, its secret resolved.
    pub(crate) fn build(&self, ctx: &BuildContext<'_>) -> Result<WebhookNotifier, AlertError> {
        WebhookNotifier::new(
            ctx.name,
            &self.url,
            ctx.secret("secret", &self.secret)?,
            ctx.request_timeout,
        )
    }
}

/// `sha256=<hex>` of HMAC-SHA256(secret, `"<timestamp>.<body>"`).
pub fn signature(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length; this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// POSTs the alert document, signed.
#[derive(Debug)]
pub struct WebhookNotifier {
    url: reqwest::Url,
    secret: Secret,
    client: reqwest::Client,
}

impl WebhookNotifier {
    fn new(name: &str, url: &str, secret: Secret, timeout: Duration) -> Result<Self, AlertError> {
        Ok(Self {
            url: parse_url(name, "url", url)?,
            secret,
            client: client(name, timeout)?,
        })
    }

    pub(crate) fn secret(&self) -> &Secret {
        &self.secret
    }

    pub(crate) async fn send(&self, out: &Outgoing<'_>) -> Result<(), SendError> {
        let body = serde_json::to_vec(&out.document())
            .map_err(|e| SendError::permanent(format!("cannot encode the alert: {e}")))?;
        let timestamp = out.now_ms.div_euclid(1000).to_string();
        let signature = signature(self.secret.expose().as_bytes(), &timestamp, &body);
        send(
            self.client
                .post(self.url.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header("Idempotency-Key", &out.delivery.idempotency_key)
                .header("X-Argus-Timestamp", timestamp)
                .header("X-Argus-Signature", signature)
                .body(body),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_over_timestamp_dot_body() {
        // Python: hmac.new(b"shared-key", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
        assert_eq!(
            signature(b"shared-key", "1700000000", br#"{"a":1}"#),
            "sha256=b4826e25e6e1b3f137cc5c811efa47a94ce89d1419df198a8eb946f4197036fb"
        );
    }
}
