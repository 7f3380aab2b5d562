//! Per-notifier rate limits: send no faster than the sink accepts.
//!
//! Chat and pager services limit how fast a webhook or a bot may post, and
//! answer a faster sender with `429`; an exploit's burst would otherwise
//! spend minutes in retries and lose its order. So each notifier has a
//! `rate_limit: { per_second | per_minute, burst }`, with defaults from the
//! services' documented limits ([`default_for`]): Slack about one message a
//! second per incoming webhook; Discord five requests per two seconds and 30
//! a minute per channel webhook; Telegram one a second per chat and 20 a
//! minute in a group; PagerDuty's Events API v2 120 events a minute per
//! routing key; SMTP a conservative 10 a minute (providers throttle and
//! flag bursts). Webhooks and scripts have none by default: a machine
//! receiver takes every alert as fast as it comes.
//!
//! The limiter is a GCRA (a token bucket kept as one "theoretical arrival
//! time" per notifier), in memory: after a restart a notifier may send one
//! burst early, which its sink's own `429` and `Retry-After` then cover. A
//! `Retry-After` pauses the whole notifier, not only the delivery it
//! answered ([`Limiter::pause_until`]). The dispatcher asks
//! [`Limiter::admit`] before each send and moves a refused delivery to the
//! time it names, without counting an attempt.
//!
//! What the limit cannot drain within a minute is folded into one digest
//! ([`crate::digest`]) instead of a queue that drains for an hour.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::NotifierConfig;

/// `rate_limit:` of a notifier, as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Sends a second (give this or `per_minute`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_second: Option<u32>,
    /// Sends a minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_minute: Option<u32>,
    /// Sends allowed at once after a quiet spell. Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
}

/// A checked rate: one send per `interval_ms`, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub interval_ms: i64,
    pub burst: u32,
}

impl RateLimit {
    const fn per_second(n: i64, burst: u32) -> Self {
        Self {
            interval_ms: 1_000 / n,
            burst,
        }
    }

    const fn per_minute(n: i64, burst: u32) -> Self {
        Self {
            interval_ms: 60_000 / n,
            burst,
        }
    }

    /// From the config (`None` when it is invalid; [`validate`] says why).
    pub fn from_config(config: &RateLimitConfig) -> Option<Self> {
        let burst = config.burst.unwrap_or(1);
        if burst == 0 {
            return None;
        }
        match (config.per_second, config.per_minute) {
            (Some(n), None) if (1..=1_000).contains(&n) => {
                Some(Self::per_second(i64::from(n), burst))
            }
            (None, Some(n)) if (1..=60_000).contains(&n) => {
                Some(Self::per_minute(i64::from(n), burst))
            }
            _ => None,
        }
    }

    /// How many sends the limit allows in a minute, its burst included:
    /// a backlog beyond this is folded into a digest.
    pub fn per_minute_capacity(&self) -> usize {
        usize::try_from(60_000 / self.interval_ms.max(1)).unwrap_or(usize::MAX)
            + self.burst as usize
    }
}

/// The rate limit a notifier kind has when its config sets none.
pub fn default_for(notifier: &NotifierConfig) -> Option<RateLimit> {
    match notifier {
        NotifierConfig::Slack(_) => Some(RateLimit::per_second(1, 1)),
        NotifierConfig::Discord(_) => Some(RateLimit::per_minute(30, 5)),
        NotifierConfig::Telegram(_) => Some(RateLimit::per_minute(20, 1)),
        NotifierConfig::Pagerduty(_) => Some(RateLimit::per_minute(120, 10)),
        NotifierConfig::Email(_) => Some(RateLimit::per_minute(10, 5)),
        NotifierConfig::Webhook(_) | NotifierConfig::Script(_) => None,
    }
}

/// The rate limit in force for a notifier: its own, else its kind's default.
pub fn effective(notifier: &NotifierConfig) -> Option<RateLimit> {
    match notifier.rate_limit() {
        Some(config) => RateLimit::from_config(config),
        None => default_for(notifier),
    }
}

/// Every problem of a `rate_limit:` at key paths under `at`.
pub(crate) fn validate(
    config: &RateLimitConfig,
    at: &str,
    problem: &mut impl FnMut(String, String),
) {
    let at = format!("{at}.rate_limit");
    match (config.per_second, config.per_minute) {
        (Some(_), Some(_)) => problem(
            at.clone(),
            "give per_second or per_minute, not both".to_owned(),
        ),
        (None, None) => problem(
            at.clone(),
            "needs per_second or per_minute, e.g. { per_second: 1, burst: 3 }".to_owned(),
        ),
        (Some(n), None) if !(1..=1_000).contains(&n) => problem(
            format!("{at}.per_second"),
            "must be 1 to 1000; for a slower rate use per_minute".to_owned(),
        ),
        (None, Some(n)) if !(1..=60_000).contains(&n) => {
            problem(format!("{at}.per_minute"), "must be 1 to 60000".to_owned())
        }
        _ => {}
    }
    if config.burst == Some(0) {
        problem(format!("{at}.burst"), "must be at least 1".to_owned());
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// `None`: no rate limit, only `Retry-After` pauses.
    limit: Option<RateLimit>,
    /// When the bucket is empty again if nothing more is sent.
    tat_ms: i64,
    /// A sink's `Retry-After`: nothing is sent before.
    paused_until_ms: i64,
}

/// Every notifier's rate limit and `Retry-After` pause.
#[derive(Debug, Default)]
pub struct Limiter {
    buckets: BTreeMap<String, Bucket>,
}

impl Limiter {
    /// One bucket per notifier of `limits` (a notifier without a limit is
    /// still paused by a `Retry-After`).
    pub fn new(limits: impl IntoIterator<Item = (String, Option<RateLimit>)>) -> Self {
        Self {
            buckets: limits
                .into_iter()
                .map(|(name, limit)| {
                    (
                        name,
                        Bucket {
                            limit,
                            tat_ms: i64::MIN,
                            paused_until_ms: i64::MIN,
                        },
                    )
                })
                .collect(),
        }
    }

    /// The limit of `notifier`, if it has one.
    pub fn limit_of(&self, notifier: &str) -> Option<RateLimit> {
        self.buckets.get(notifier).and_then(|b| b.limit)
    }

    /// May `notifier` send now? `Ok` takes the send from its budget; `Err`
    /// names the earliest time it may.
    pub fn admit(&mut self, notifier: &str, now_ms: i64) -> Result<(), i64> {
        let Some(bucket) = self.buckets.get_mut(notifier) else {
            return Ok(());
        };
        if now_ms < bucket.paused_until_ms {
            return Err(bucket.paused_until_ms);
        }
        let Some(limit) = bucket.limit else {
            return Ok(());
        };
        let interval = limit.interval_ms.max(1);
        let tolerance = interval.saturating_mul(i64::from(limit.burst) - 1);
        let tat = bucket.tat_ms.max(now_ms);
        let earliest = tat.saturating_sub(tolerance);
        if earliest > now_ms {
            return Err(earliest);
        }
        bucket.tat_ms = tat.saturating_add(interval);
        Ok(())
    }

    /// The sink said `Retry-After`: `notifier` sends nothing before `at_ms`.
    pub fn pause_until(&mut self, notifier: &str, at_ms: i64) {
        if let Some(bucket) = self.buckets.get_mut(notifier) {
            bucket.paused_until_ms = bucket.paused_until_ms.max(at_ms);
        }
    }
}

/// Keeps the claimed deliveries their notifiers' limits let go now and
/// postpones the others to when they may (inside the claim transaction).
pub fn admit_claimed<T>(
    conn: &argus_store::Connection,
    limiter: &std::sync::Mutex<Limiter>,
    claimed: Vec<(crate::outbox::Delivery, T)>,
    now_ms: i64,
) -> Result<Vec<(crate::outbox::Delivery, T)>, crate::error::AlertError> {
    let mut limiter = match limiter.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    };
    let mut out = Vec::with_capacity(claimed.len());
    for (delivery, rest) in claimed {
        match limiter.admit(&delivery.notifier, now_ms) {
            Ok(()) => out.push((delivery, rest)),
            Err(at) => crate::outbox::postpone(conn, delivery.id, at)?,
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_one_per_interval() {
        let mut limiter = Limiter::new([
            ("slack".to_owned(), Some(RateLimit::per_second(1, 3))),
            ("hook".to_owned(), None),
        ]);
        for _ in 0..3 {
            assert_eq!(limiter.admit("slack", 10_000), Ok(()));
        }
        assert_eq!(limiter.admit("slack", 10_000), Err(11_000));
        assert_eq!(limiter.admit("slack", 11_000), Ok(()));
        assert_eq!(limiter.admit("slack", 11_000), Err(12_000));
        for _ in 0..100 {
            assert_eq!(limiter.admit("hook", 10_000), Ok(()));
        }
    }

    #[test]
    fn retry_after_pauses_the_notifier_limited_or_not() {
        let mut limiter = Limiter::new([
            ("slack".to_owned(), Some(RateLimit::per_second(1, 5))),
            ("hook".to_owned(), None),
        ]);
        limiter.pause_until("slack", 30_000);
        limiter.pause_until("hook", 20_000);
        assert_eq!(limiter.admit("slack", 10_000), Err(30_000));
        assert_eq!(limiter.admit("slack", 30_000), Ok(()));
        assert_eq!(limiter.admit("hook", 10_000), Err(20_000));
        assert_eq!(limiter.admit("hook", 20_000), Ok(()));
        assert_eq!(limiter.admit("hook", 20_000), Ok(()));
    }

    #[test]
    fn configs_check_and_convert() {
        let ok = RateLimitConfig {
            per_second: None,
            per_minute: Some(20),
            burst: Some(2),
        };
        assert_eq!(
            RateLimit::from_config(&ok),
            Some(RateLimit {
                interval_ms: 3_000,
                burst: 2
            })
        );
        assert_eq!(
            RateLimit::from_config(&ok).map(|l| l.per_minute_capacity()),
            Some(22)
        );
        let both = RateLimitConfig {
            per_second: Some(1),
            ..ok
        };
        let mut problems = Vec::new();
        validate(&both, "alerting.notifiers.s", &mut |p, m| {
            problems.push((p, m))
        });
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].0, "alerting.notifiers.s.rate_limit");
        assert_eq!(RateLimit::from_config(&both), None);
    }
}
