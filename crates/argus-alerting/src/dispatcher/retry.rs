//! When a failed delivery is tried again: exponential backoff with a jitter
//! derived from the idempotency key, so a burst that failed together does not
//! come back together, and a retry's time is reproducible in tests.

use crate::config::RetryConfig;

/// How long to wait before the next attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub initial_ms: i64,
    pub max_ms: i64,
}

impl RetryPolicy {
    /// From the config.
    pub fn from_config(config: &RetryConfig) -> Self {
        Self {
            initial_ms: config.initial.as_ms().max(1),
            max_ms: config.max.as_ms().max(1),
        }
    }

    /// The delay after the `attempts`-th failed attempt (1-based) of the
    /// delivery with `key`: half the capped exponential delay, plus a jitter
    /// of up to the other half derived from the key and attempt.
    pub fn delay_ms(&self, key: &str, attempts: u32) -> i64 {
        let shift = attempts.saturating_sub(1).min(40);
        let base = self
            .initial_ms
            .saturating_mul(1_i64 << shift)
            .min(self.max_ms)
            .max(1);
        let mut seed = Vec::with_capacity(key.len() + 4);
        seed.extend_from_slice(key.as_bytes());
        seed.extend_from_slice(&attempts.to_be_bytes());
        let hash = alloy_primitives::keccak256(&seed);
        let mut word = [0u8; 8];
        word.copy_from_slice(&hash[..8]);
        let half = base / 2;
        half + (u64::from_be_bytes(word) % (base - half + 1) as u64) as i64
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::from_config(&RetryConfig::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let policy = RetryPolicy {
            initial_ms: 1_000,
            max_ms: 300_000,
        };
        for attempt in 1..=20 {
            let base = (1_000_i64 << (attempt - 1).min(30)).min(300_000);
            let delay = policy.delay_ms("key", attempt);
            assert!(
                delay >= base / 2 && delay <= base,
                "attempt {attempt}: {delay}"
            );
        }
        assert_eq!(policy.delay_ms("key", 3), policy.delay_ms("key", 3));
        let spread: std::collections::BTreeSet<i64> = (0..20)
            .map(|i| policy.delay_ms(&format!("k{i}"), 5))
            .collect();
        assert!(spread.len() > 10, "jitter spreads deliveries");
    }
}
