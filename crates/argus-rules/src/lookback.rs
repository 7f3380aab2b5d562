//! How far back the rules' windows reach. The engine keeps its windows in
//! memory; a restarted node must feed it again what those windows held, so
//! "> 5 in 5 minutes" counts the failures from before the restart. The
//! engine answers how much that is, so the node never reads rule internals.

use std::collections::BTreeSet;

use crate::{Aggregate, Matcher, RuleSet};

/// What a (re)started node must feed the engine again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lookback {
    /// The longest window of a rule on blocks (events, calls,
    /// transactions), in milliseconds; 0 when none has one. A sustained
    /// condition is not refilled from the chain: it restarts empty.
    pub chain_ms: u64,
    /// The longest window of a rule on signals, in milliseconds.
    pub signal_ms: u64,
    /// The signals that windowed rules read: the samples worth keeping.
    pub signals: BTreeSet<String>,
}

impl RuleSet {
    /// How far back the windows of these rules reach.
    pub fn lookback(&self) -> Lookback {
        let mut lookback = Lookback::default();
        for rule in self.rules() {
            let Some(aggregate) = &rule.aggregate else {
                continue;
            };
            match &rule.matcher {
                Matcher::Signal { name } => {
                    lookback.signals.insert(name.clone());
                    lookback.signal_ms = lookback.signal_ms.max(aggregate.span_ms());
                }
                _ if matches!(aggregate, Aggregate::Sustained { .. }) => {}
                _ => lookback.chain_ms = lookback.chain_ms.max(aggregate.span_ms()),
            }
        }
        lookback
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn chain_and_signal_windows_are_told_apart() {
        let yaml = r#"
rules:
  - id: failures
    match: { transaction: { status: failed } }
    threshold: "> 5 in 5m"
  - id: gas
    match: { transaction: { status: success } }
    value: tx.gas_used
    threshold: "> 200% of 1h median"
  - id: auth
    match: { signal: authentication_failures }
    threshold: "> 3 in 1 minute"
  - id: memory
    match: { signal: memory_usage }
    condition: value > 90.0
    for: 90s
  - id: plain
    match: { signal: process_up }
    condition: value == 0.0
"#;
        let set = RuleSet::from_yaml(yaml, std::path::Path::new("rules.yaml")).unwrap();
        let lookback = set.lookback();
        assert_eq!(lookback.chain_ms, 3_600_000);
        assert_eq!(lookback.signal_ms, 90_000);
        assert_eq!(
            lookback
                .signals
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            ["authentication_failures", "memory_usage"]
        );
        assert_eq!(RuleSet::default().lookback(), Lookback::default());
    }
}
