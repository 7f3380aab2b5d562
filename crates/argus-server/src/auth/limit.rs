//! Rate limits per client address: a token bucket for every request, and a
//! stricter gate for failed authentications.
//!
//! The bucket keeps one client from starving the others (each request may
//! cost an Argon2id verification and a blocking read). The failure gate is
//! what makes guessing useless: after [`MAX_FAILURES`] failures in a
//! minute an address is refused for the rest of that minute *before* its
//! token is looked at, so a guesser gets five tries a minute and each
//! refusal costs the server nothing. Both maps are capped
//! ([`MAX_CLIENTS`]); when full the entry seen longest ago goes, so a flood
//! of spoofed-looking addresses costs bounded memory.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures an address may have in [`FAILURE_WINDOW`] before it is refused.
pub(crate) const MAX_FAILURES: u32 = 5;
/// The failure gate's window.
pub(crate) const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Addresses each map remembers.
pub(crate) const MAX_CLIENTS: usize = 10_000;

/// The request budget per client (`server.rate_limit`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Requests per second, sustained.
    pub per_second: f64,
    /// Requests allowed at once.
    pub burst: f64,
}

impl From<argus_node::config::RateLimitConfig> for RateLimit {
    fn from(config: argus_node::config::RateLimitConfig) -> Self {
        Self {
            per_second: f64::from(config.per_second.max(1)),
            burst: f64::from(config.burst.max(1)),
        }
    }
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            per_second: 20.0,
            burst: 60.0,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    since: Instant,
    count: u32,
}

/// Both limits' state.
#[derive(Debug, Default)]
pub(crate) struct Limiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
    failures: Mutex<HashMap<IpAddr, Failures>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Drops the entry whose time is oldest when `map` is full.
fn make_room<V>(map: &mut HashMap<IpAddr, V>, at: impl Fn(&V) -> Instant) {
    if map.len() < MAX_CLIENTS {
        return;
    }
    if let Some(oldest) = map.iter().min_by_key(|(_, v)| at(v)).map(|(k, _)| *k) {
        map.remove(&oldest);
    }
}

impl Limiter {
    pub(crate) fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            ..Self::default()
        }
    }

    /// Takes one request from `client`'s bucket; `Err(seconds to wait)`
    /// when it is empty.
    pub(crate) fn take(&self, client: IpAddr, now: Instant) -> Result<(), u64> {
        let limit = self.limit;
        let mut buckets = lock(&self.buckets);
        if !buckets.contains_key(&client) {
            make_room(&mut buckets, |b| b.at);
        }
        let bucket = buckets.entry(client).or_insert(Bucket {
            tokens: limit.burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * limit.per_second).min(limit.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / limit.per_second.max(f64::MIN_POSITIVE);
            Err(wait.ceil().clamp(1.0, 3600.0) as u64)
        }
    }

    /// `Err(seconds to wait)` when `client` failed too often this minute.
    pub(crate) fn gate(&self, client: IpAddr, now: Instant) -> Result<(), u64> {
        let failures = lock(&self.failures);
        match failures.get(&client) {
            Some(f) if f.count >= MAX_FAILURES => {
                let over = f.since + FAILURE_WINDOW;
                if now < over {
                    Err(over.duration_since(now).as_secs().max(1))
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }

    /// Counts a failed authentication of `client`.
    pub(crate) fn failed(&self, client: IpAddr, now: Instant) {
        let mut failures = lock(&self.failures);
        if !failures.contains_key(&client) {
            make_room(&mut failures, |f| f.since);
        }
        let entry = failures.entry(client).or_insert(Failures {
            since: now,
            count: 0,
        });
        if now.saturating_duration_since(entry.since) >= FAILURE_WINDOW {
            *entry = Failures {
                since: now,
                count: 0,
            };
        }
        entry.count = entry.count.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn the_bucket_allows_a_burst_then_refills() {
        let limiter = Limiter::new(RateLimit {
            per_second: 2.0,
            burst: 3.0,
        });
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.take(A, t0), Ok(()));
        }
        assert_eq!(limiter.take(A, t0), Err(1));
        assert_eq!(limiter.take(B, t0), Ok(()), "another client has its own");
        assert_eq!(limiter.take(A, t0 + Duration::from_millis(500)), Ok(()));
        assert!(limiter.take(A, t0 + Duration::from_millis(500)).is_err());
    }

    #[test]
    fn five_failures_close_the_gate_for_the_minute() {
        let limiter = Limiter::new(RateLimit::default());
        let t0 = Instant::now();
        for _ in 0..MAX_FAILURES {
            assert_eq!(limiter.gate(A, t0), Ok(()));
            limiter.failed(A, t0);
        }
        assert_eq!(limiter.gate(A, t0 + Duration::from_secs(10)), Err(50));
        assert_eq!(limiter.gate(B, t0), Ok(()));
        assert_eq!(limiter.gate(A, t0 + FAILURE_WINDOW), Ok(()));
        limiter.failed(A, t0 + FAILURE_WINDOW);
        assert_eq!(limiter.gate(A, t0 + FAILURE_WINDOW), Ok(()), "a new window");
    }

    #[test]
    fn memory_is_capped() {
        let limiter = Limiter::new(RateLimit::default());
        let t0 = Instant::now();
        for i in 0..(MAX_CLIENTS as u32 + 10) {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(i));
            let _ = limiter.take(ip, t0 + Duration::from_nanos(u64::from(i)));
            limiter.failed(ip, t0 + Duration::from_nanos(u64::from(i)));
        }
        assert_eq!(lock(&limiter.buckets).len(), MAX_CLIENTS);
        assert_eq!(lock(&limiter.failures).len(), MAX_CLIENTS);
        assert!(!lock(&limiter.buckets).contains_key(&IpAddr::V4(0.into())));
    }
}
