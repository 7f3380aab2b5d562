//! How many deliveries may be in flight: per notifier, and in all.
//!
//! Each notifier has its own bound (`max_in_flight` on the notifier, a
//! default per kind), so a webhook receiver built for machines gets many
//! requests at once while a chat channel gets a few, and one sink's backlog
//! never takes the slots of another. `retry.max_in_flight` caps the sum.
//!
//! A slot is held from the claim until the delivery's outcome is *committed*,
//! not merely until the sink answered: a `kill -9` can then re-send at most
//! `max_in_flight` deliveries per notifier (each with its idempotency key),
//! however many outcomes wait to be written in the next batch.

use std::collections::BTreeMap;

/// Deliveries to notifiers no longer configured are claimed this many at a
/// time (they are marked failed at once, saying so).
const UNKNOWN_AT_ONCE: usize = 16;

/// The in-flight bookkeeping of one dispatcher.
#[derive(Debug)]
pub(super) struct Slots {
    limits: BTreeMap<String, usize>,
    total: usize,
    busy: BTreeMap<String, usize>,
    unknown_busy: usize,
    busy_total: usize,
}

impl Slots {
    /// `limits` per configured notifier, `total` across all of them.
    pub(super) fn new(limits: BTreeMap<String, usize>, total: usize) -> Self {
        Self {
            limits,
            total: total.max(1),
            busy: BTreeMap::new(),
            unknown_busy: 0,
            busy_total: 0,
        }
    }

    /// What may be claimed now: each configured notifier with free slots
    /// and how many, how many deliveries to unknown notifiers, and the
    /// total's free slots. The claim spends the total as it finds
    /// deliveries (in name order), so a notifier with nothing due holds
    /// none of it.
    pub(super) fn wants(&self) -> (Vec<(String, usize)>, usize, usize) {
        let free_total = self.total.saturating_sub(self.busy_total);
        if free_total == 0 {
            return (Vec::new(), 0, 0);
        }
        let mut wants = Vec::new();
        for (name, limit) in &self.limits {
            let free = limit.saturating_sub(self.busy.get(name).copied().unwrap_or(0));
            if free > 0 {
                wants.push((name.clone(), free));
            }
        }
        let unknown = UNKNOWN_AT_ONCE.saturating_sub(self.unknown_busy);
        (wants, unknown, free_total)
    }

    /// Whether no slot at all is free.
    pub(super) fn all_full(&self) -> bool {
        self.busy_total >= self.total
    }

    /// A delivery to `notifier` was claimed.
    pub(super) fn take(&mut self, notifier: &str) {
        self.busy_total += 1;
        match self.busy.get_mut(notifier) {
            Some(busy) => *busy += 1,
            None if self.limits.contains_key(notifier) => {
                self.busy.insert(notifier.to_owned(), 1);
            }
            None => self.unknown_busy += 1,
        }
    }

    /// A delivery to `notifier` has its outcome committed (or lost to its
    /// lease).
    pub(super) fn give_back(&mut self, notifier: &str) {
        self.busy_total = self.busy_total.saturating_sub(1);
        match self.busy.get_mut(notifier) {
            Some(busy) => *busy = busy.saturating_sub(1),
            None => self.unknown_busy = self.unknown_busy.saturating_sub(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots() -> Slots {
        Slots::new(
            BTreeMap::from([("hook".to_owned(), 3), ("slack".to_owned(), 1)]),
            4,
        )
    }

    #[test]
    fn each_notifier_has_its_own_bound_within_the_total() {
        let mut slots = slots();
        assert_eq!(
            slots.wants(),
            (vec![("hook".to_owned(), 3), ("slack".to_owned(), 1)], 16, 4)
        );
        for _ in 0..3 {
            slots.take("hook");
        }
        assert_eq!(slots.wants(), (vec![("slack".to_owned(), 1)], 16, 1));
        slots.take("slack");
        assert!(slots.all_full());
        assert_eq!(slots.wants(), (vec![], 0, 0));
        slots.give_back("hook");
        assert_eq!(slots.wants(), (vec![("hook".to_owned(), 1)], 16, 1));
    }

    #[test]
    fn the_total_caps_the_sum_and_unknown_notifiers_get_what_is_left() {
        let mut slots = Slots::new(BTreeMap::from([("hook".to_owned(), 64)]), 10);
        assert_eq!(slots.wants(), (vec![("hook".to_owned(), 64)], 16, 10));
        for _ in 0..6 {
            slots.take("hook");
        }
        slots.give_back("hook");
        assert_eq!(slots.wants(), (vec![("hook".to_owned(), 59)], 16, 5));
        let mut slots = Slots::new(BTreeMap::from([("hook".to_owned(), 2)]), 10);
        assert_eq!(slots.wants(), (vec![("hook".to_owned(), 2)], 16, 10));
        slots.take("gone");
        assert_eq!(slots.wants(), (vec![("hook".to_owned(), 2)], 15, 9));
        slots.give_back("gone");
        assert_eq!(slots.wants().1, 16);
    }
}
