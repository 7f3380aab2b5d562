//! Window state: counts in a sliding window, sustained conditions, and
//! values against the median of a baseline.
//!
//! Time is the data's own: a block's timestamp for chain rules, a signal's
//! `at_ms` for signals. The engine never reads a clock, so replaying the same
//! blocks gives the same findings.
//!
//! **Count windows** (`> 5 in 5m`). A window holds the matches of the last
//! `within` (the interval `(now − within, now]`, `now` being the time of the
//! newest match). Each match first drops what fell out of the window, then is
//! added; the rule fires when the count (or the sum of `value:`) passes the
//! threshold *and* the window is armed. Firing disarms it; it is re-armed
//! once the count is back on the other side of the threshold. So a burst of
//! 50 failures gives one finding, not 45, and a second burst after a quiet
//! period gives a second one. A reverted block takes its matches out of every
//! window (and re-arms a window that falls back below its threshold).
//!
//! **Sustained** (`for: 1m`, signals). The condition must hold for every
//! sample from the first one where it held until a sample at least `for`
//! later; a sample where it does not hold resets the run and re-arms. With a
//! sample per second, 91% for 59 s is not enough, 60 s is. Sparse samples are
//! taken at their word: two samples 60 s apart that both hold count as 60 s.
//!
//! **Baselines** (`> 200% of 1h median`). Each match's `value:` is compared
//! with the median of the values of the previous `within` (the match itself
//! not included), then added. The median of an even count is the mean of the
//! two middle values, compared exactly (integers in 512 bits, no float). An
//! empty baseline compares nothing. Memory is bounded: at most
//! [`MAX_BASELINE_SAMPLES`] values per window, the oldest dropped first.
//! Firing and re-arming work as for counts.
//!
//! Level rules on signals without a window (`condition: value > 5`) fire
//! when the condition starts to hold and are re-armed when it stops, per
//! group (by default, per label set).

use std::cmp::Ordering;
use std::collections::VecDeque;

use alloy_primitives::{B256, U512};

use crate::exact_int::ExactInt;
use crate::expression::Number;
use crate::threshold::Comparison;

/// How many values a baseline keeps per window at most.
pub const MAX_BASELINE_SAMPLES: usize = 4096;

#[derive(Debug, Clone)]
struct CountEntry {
    at_ms: i64,
    weight: f64,
    block: Option<B256>,
}

/// A sliding count (or sum) window.
#[derive(Debug, Clone, Default)]
pub(crate) struct CountWindow {
    entries: VecDeque<CountEntry>,
    sum: f64,
    fired: bool,
}

impl CountWindow {
    fn evict(&mut self, now_ms: i64, within_ms: u64) {
        let horizon = now_ms.saturating_sub(i64::try_from(within_ms).unwrap_or(i64::MAX));
        while let Some(front) = self.entries.front() {
            if front.at_ms > horizon {
                break;
            }
            self.sum -= front.weight;
            self.entries.pop_front();
        }
        if self.entries.is_empty() {
            self.sum = 0.0;
        }
    }

    fn holds(&self, op: Comparison, limit: u64) -> bool {
        // Sums of whole weights are exact in f64 far beyond any count here.
        let limit = limit as f64;
        op.holds(self.sum.partial_cmp(&limit).unwrap_or(Ordering::Less))
    }

    /// Adds a match; returns `Some(count)` when the window fires.
    pub(crate) fn add(
        &mut self,
        at_ms: i64,
        weight: f64,
        block: Option<B256>,
        op: Comparison,
        limit: u64,
        within_ms: u64,
    ) -> Option<f64> {
        self.evict(at_ms, within_ms);
        if !self.holds(op, limit) {
            self.fired = false;
        }
        self.entries.push_back(CountEntry {
            at_ms,
            weight,
            block,
        });
        self.sum += weight;
        if self.holds(op, limit) && !self.fired {
            self.fired = true;
            return Some(self.sum);
        }
        None
    }

    /// Removes the matches of a reverted block.
    pub(crate) fn revert(&mut self, block: B256, op: Comparison, limit: u64) {
        let before = self.entries.len();
        self.entries.retain(|e| e.block != Some(block));
        if self.entries.len() != before {
            self.sum = self.entries.iter().map(|e| e.weight).sum();
            if !self.holds(op, limit) {
                self.fired = false;
            }
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A run of samples where a condition held.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sustained {
    since_ms: Option<i64>,
    fired: bool,
}

impl Sustained {
    /// Records a sample; returns `Some(held_for_ms)` when the rule fires.
    pub(crate) fn sample(&mut self, at_ms: i64, holds: bool, for_ms: u64) -> Option<i64> {
        if !holds {
            self.since_ms = None;
            self.fired = false;
            return None;
        }
        let since = *self.since_ms.get_or_insert(at_ms);
        let held = at_ms.saturating_sub(since);
        if held >= i64::try_from(for_ms).unwrap_or(i64::MAX) && !self.fired {
            self.fired = true;
            return Some(held);
        }
        None
    }
}

/// Edge detection for level rules.
#[derive(Debug, Clone, Default)]
pub(crate) struct Level {
    fired: bool,
}

impl Level {
    pub(crate) fn sample(&mut self, holds: bool) -> bool {
        let fire = holds && !self.fired;
        self.fired = holds;
        fire
    }
}

#[derive(Debug, Clone)]
struct Sample {
    at_ms: i64,
    value: Number,
    block: Option<B256>,
}

/// A value against the median of a baseline.
#[derive(Debug, Clone, Default)]
pub(crate) struct Baseline {
    samples: VecDeque<Sample>,
    fired: bool,
}

/// What a baseline said about a value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BaselineVerdict {
    pub(crate) fires: bool,
    /// The median, as text (exact for integers).
    pub(crate) median: Option<String>,
    pub(crate) samples: usize,
}

impl Baseline {
    /// Compares `value` with the baseline, then adds it.
    pub(crate) fn add(
        &mut self,
        at_ms: i64,
        value: Number,
        block: Option<B256>,
        op: Comparison,
        percent_milli: u64,
        within_ms: u64,
    ) -> Result<BaselineVerdict, String> {
        let horizon = at_ms.saturating_sub(i64::try_from(within_ms).unwrap_or(i64::MAX));
        while self.samples.front().is_some_and(|s| s.at_ms <= horizon) {
            self.samples.pop_front();
        }
        let verdict = match median(&self.samples)? {
            None => BaselineVerdict {
                fires: false,
                median: None,
                samples: 0,
            },
            Some(m) => {
                let holds = compare_to_percent(value, &m, percent_milli)
                    .map(|ordering| op.holds(ordering))?;
                let fires = holds && !self.fired;
                self.fired = holds;
                BaselineVerdict {
                    fires,
                    median: Some(m.to_string()),
                    samples: self.samples.len(),
                }
            }
        };
        if self.samples.len() >= MAX_BASELINE_SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back(Sample {
            at_ms,
            value,
            block,
        });
        Ok(verdict)
    }

    pub(crate) fn revert(&mut self, block: B256) {
        self.samples.retain(|s| s.block != Some(block));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }
}

/// A median: one middle value, or two whose mean it is.
#[derive(Debug, Clone, PartialEq)]
enum Median {
    Exact { sum: U512, halves: bool },
    Double(f64),
}

impl std::fmt::Display for Median {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Median::Exact { sum, halves: false } => write!(f, "{sum}"),
            Median::Exact { sum, halves: true } => {
                let half = sum / U512::from(2u8);
                if sum.bit(0) {
                    write!(f, "{half}.5")
                } else {
                    write!(f, "{half}")
                }
            }
            Median::Double(d) => write!(f, "{d}"),
        }
    }
}

fn exact_u512(value: ExactInt) -> Result<U512, String> {
    value
        .to_u256()
        .map(|u| U512::from_limbs_slice(u.as_limbs()))
        .ok_or_else(|| "a baseline needs values of zero or more".to_owned())
}

fn median(samples: &VecDeque<Sample>) -> Result<Option<Median>, String> {
    if samples.is_empty() {
        return Ok(None);
    }
    let all_exact = samples.iter().all(|s| matches!(s.value, Number::Exact(_)));
    let mid = samples.len() / 2;
    let even = samples.len().is_multiple_of(2);
    if all_exact {
        let mut values = samples
            .iter()
            .map(|s| match s.value {
                Number::Exact(e) => exact_u512(e),
                Number::Double(_) => Err(String::new()),
            })
            .collect::<Result<Vec<_>, _>>()?;
        values.sort_unstable();
        let sum = if even {
            values[mid - 1] + values[mid]
        } else {
            values[mid]
        };
        return Ok(Some(Median::Exact { sum, halves: even }));
    }
    let mut values = Vec::with_capacity(samples.len());
    for s in samples {
        match s.value {
            Number::Double(d) if d.is_finite() => values.push(d),
            Number::Double(_) => return Err("a baseline value is not a finite number".to_owned()),
            Number::Exact(_) => {
                return Err(
                    "a baseline mixes exact integers and doubles; make `value:` one type"
                        .to_owned(),
                );
            }
        }
    }
    values.sort_by(f64::total_cmp);
    let m = if even {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    };
    Ok(Some(Median::Double(m)))
}

/// Orders `value × 100%` against `median × percent`.
fn compare_to_percent(
    value: Number,
    median: &Median,
    percent_milli: u64,
) -> Result<Ordering, String> {
    match (value, median) {
        (Number::Exact(v), Median::Exact { sum, halves }) => {
            // value / median ⋚ percent/100  ⇔  value·100_000·d ⋚ sum·percent_milli
            let d = if *halves { 2u64 } else { 1 };
            let lhs = exact_u512(v)? * U512::from(100_000u64 * d);
            let rhs = *sum * U512::from(percent_milli);
            Ok(lhs.cmp(&rhs))
        }
        (Number::Double(v), Median::Double(m)) if v.is_finite() => {
            let lhs = v * 100_000.0;
            let rhs = m * percent_milli as f64;
            Ok(lhs.total_cmp(&rhs))
        }
        _ => Err("a baseline mixes exact integers and doubles; make `value:` one type".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::U256;

    fn exact(n: u64) -> Number {
        Number::Exact(ExactInt::from_u256(U256::from(n)))
    }

    #[test]
    fn count_fires_once_per_crossing_and_rearms() {
        let mut w = CountWindow::default();
        let add =
            |w: &mut CountWindow, t: i64| w.add(t, 1.0, None, Comparison::Greater, 5, 300_000);
        for t in 0..5 {
            assert_eq!(add(&mut w, t * 1000), None);
        }
        assert_eq!(add(&mut w, 5_000), Some(6.0));
        assert_eq!(add(&mut w, 6_000), None, "no storm");
        // Quiet for longer than the window, then a new burst fires again.
        for t in 0..5 {
            assert_eq!(add(&mut w, 1_000_000 + t), None);
        }
        assert_eq!(add(&mut w, 1_000_010), Some(6.0));
    }

    #[test]
    fn count_window_edges() {
        let mut w = CountWindow::default();
        assert_eq!(w.add(0, 1.0, None, Comparison::Greater, 1, 60_000), None);
        // Exactly `within` later the first match has left the window.
        assert_eq!(
            w.add(60_000, 1.0, None, Comparison::Greater, 1, 60_000),
            None
        );
        assert_eq!(
            w.add(60_001, 1.0, None, Comparison::Greater, 1, 60_000),
            Some(2.0)
        );
    }

    #[test]
    fn revert_removes_and_rearms() {
        let mut w = CountWindow::default();
        let a = B256::repeat_byte(1);
        let b = B256::repeat_byte(2);
        assert_eq!(w.add(0, 1.0, Some(a), Comparison::Greater, 1, 60_000), None);
        assert_eq!(
            w.add(1, 1.0, Some(b), Comparison::Greater, 1, 60_000),
            Some(2.0)
        );
        w.revert(b, Comparison::Greater, 1);
        assert_eq!(
            w.add(
                2,
                1.0,
                Some(B256::repeat_byte(3)),
                Comparison::Greater,
                1,
                60_000
            ),
            Some(2.0)
        );
    }

    #[test]
    fn sustained_needs_the_full_duration() {
        let mut s = Sustained::default();
        for t in 0..60 {
            assert_eq!(s.sample(t * 1000, true, 60_000), None);
        }
        assert_eq!(s.sample(60_000, true, 60_000), Some(60_000));
        assert_eq!(s.sample(61_000, true, 60_000), None);
        assert_eq!(s.sample(62_000, false, 60_000), None);
        assert_eq!(s.sample(63_000, true, 60_000), None);
    }

    #[test]
    fn baseline_is_exact() {
        let mut b = Baseline::default();
        let gwei = 1_000_000_000u64;
        for t in 0..10 {
            let v = b
                .add(
                    t,
                    exact(10 * gwei),
                    None,
                    Comparison::Greater,
                    200_000,
                    3_600_000,
                )
                .unwrap();
            assert!(!v.fires);
        }
        let at_200 = b
            .add(
                10,
                exact(20 * gwei),
                None,
                Comparison::Greater,
                200_000,
                3_600_000,
            )
            .unwrap();
        assert!(!at_200.fires);
        let just_above = b
            .add(
                11,
                exact(20 * gwei + 1),
                None,
                Comparison::Greater,
                200_000,
                3_600_000,
            )
            .unwrap();
        assert!(just_above.fires);
        assert_eq!(just_above.median.as_deref(), Some("10000000000"));
    }

    #[test]
    fn even_median_is_the_mean() {
        let mut b = Baseline::default();
        b.add(0, exact(3), None, Comparison::Greater, 100_000, 1000)
            .unwrap();
        assert!(
            !b.add(1, exact(2), None, Comparison::Greater, 100_000, 1000)
                .unwrap()
                .fires
        );
        let v = b
            .add(2, exact(2), None, Comparison::Greater, 100_000, 1000)
            .unwrap();
        assert_eq!(v.median.as_deref(), Some("2.5"));
        assert!(!v.fires, "2 is not above 2.5");
        let v = b
            .add(3, exact(3), None, Comparison::Greater, 100_000, 1000)
            .unwrap();
        assert_eq!(v.median.as_deref(), Some("2"));
        assert!(v.fires, "3 > 100% of 2");
    }

    #[test]
    fn baseline_memory_is_bounded() {
        let mut b = Baseline::default();
        for t in 0..(MAX_BASELINE_SAMPLES as i64 + 100) {
            b.add(
                t,
                Number::Double(1.0),
                None,
                Comparison::Greater,
                200_000,
                u64::MAX / 4,
            )
            .unwrap();
        }
        assert_eq!(b.samples.len(), MAX_BASELINE_SAMPLES);
    }
}
