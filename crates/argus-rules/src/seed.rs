//! The seed's `thresholds:` shorthand (the operators' procedure writes
//! `alerts:`), turned into ordinary rules:
//!
//! | key | rule |
//! |---|---|
//! | `failed_transactions: ">5 in 5 minutes"` | transactions with status failed from the `wallets` (any sender without wallets), counted in one window |
//! | `authentication_failures: ">3 in 1 minute"` | signal `authentication_failures`, the sum of its values (1 per failure) in a window |
//! | `gas_price_spike: ">200% of normal"` | gas price of the wallets' transactions against the median of `gas_price_baseline` (default 1h) |
//! | `network_latency: ">5 seconds"` | signal `network_latency` (seconds) above the limit, per label set |
//! | `memory_usage: ">90% for 1 minute"` | signal `memory_usage` (percent) above the limit for every sample over the duration |

use argus_core::Severity;

use crate::expression::{Expect, Expression, Template, Vocabulary, with_window};
use crate::schema::{Aggregate, ContractRef, Loader, Matcher, Rule, entries, field};
use crate::threshold::{Threshold, parse_threshold, window_ms};
use crate::yaml::Node;

impl Loader {
    /// The seed's `thresholds:` section, one rule per known key.
    pub(crate) fn seed_thresholds(&mut self, section: &Node, wallets: &[ContractRef]) -> Vec<Rule> {
        const KEYS: &[&str] = &[
            "failed_transactions",
            "authentication_failures",
            "gas_price_spike",
            "network_latency",
            "memory_usage",
            "gas_price_baseline",
        ];
        if !self.mapping(section, "`thresholds`", KEYS) {
            return Vec::new();
        }
        let baseline_ms = match field(section, "gas_price_baseline") {
            Some(node) => match self
                .text(node, "`gas_price_baseline`")
                .map(|t| window_ms(&t))
            {
                Some(Ok(ms)) => ms,
                Some(Err(e)) => {
                    self.error(node, format!("`gas_price_baseline`: {e}"));
                    3_600_000
                }
                None => 3_600_000,
            },
            None => 3_600_000,
        };
        let mut rules = Vec::new();
        for (key, value) in entries(section) {
            let Some(name) = key.as_str() else { continue };
            if name == "gas_price_baseline" || !KEYS.contains(&name) {
                continue;
            }
            let Some(text) = self.text(value, &format!("`{name}`")) else {
                continue;
            };
            let threshold = match parse_threshold(&text) {
                Ok(t) => t,
                Err(e) => {
                    self.error(value, format!("`{name}`: {e}"));
                    continue;
                }
            };
            if let Some(rule) = self.seed_rule(name, value, threshold, wallets, baseline_ms) {
                rules.push(rule);
            }
        }
        rules
    }

    fn seed_rule(
        &mut self,
        name: &str,
        node: &Node,
        threshold: Threshold,
        wallets: &[ContractRef],
        baseline_ms: u64,
    ) -> Option<Rule> {
        let expected = match name {
            "failed_transactions" | "authentication_failures" => {
                "a count, e.g. \">5 in 5 minutes\""
            }
            "gas_price_spike" => "a percentage of normal, e.g. \">200% of normal\"",
            _ => "a value, e.g. \">5 seconds\" or \">90% for 1 minute\"",
        };
        let mut rule = Rule {
            id: format!("seed-{}", name.replace('_', "-")),
            description: Some(format!(
                "{name}: {} (operators' procedure)",
                node.as_str().unwrap_or_default()
            )),
            severity: Severity::High,
            matcher: Matcher::Signal {
                name: name.to_owned(),
            },
            aggregate: None,
            location: self.location(node),
            condition: None,
            value: None,
            group_by: None,
            cooldown_ms: None,
            title: None,
            dedup: None,
            open_args: None,
        };
        let compile = |source: &str, vocabulary: Vocabulary, expect: Expect| {
            Expression::compile(source, &vocabulary.untyped_args(), expect).ok()
        };
        match (name, threshold) {
            (
                "failed_transactions",
                Threshold::Count {
                    op,
                    limit,
                    within_ms,
                },
            ) => {
                rule.matcher = Matcher::Transaction {
                    chain: None,
                    from: wallets.to_vec(),
                    to: Vec::new(),
                    success: Some(false),
                };
                rule.aggregate = Some(Aggregate::Count {
                    op,
                    limit,
                    within_ms,
                });
            }
            (
                "authentication_failures",
                Threshold::Count {
                    op,
                    limit,
                    within_ms,
                },
            ) => {
                rule.value = compile("value", Vocabulary::SIGNAL, Expect::Number);
                rule.aggregate = Some(Aggregate::Count {
                    op,
                    limit,
                    within_ms,
                });
            }
            (
                "gas_price_spike",
                Threshold::Baseline {
                    op,
                    percent_milli,
                    baseline_ms: window,
                },
            ) => {
                rule.matcher = Matcher::Transaction {
                    chain: None,
                    from: wallets.to_vec(),
                    to: Vec::new(),
                    success: None,
                };
                rule.value = compile("tx.gas_price", Vocabulary::TRANSACTION, Expect::Number);
                rule.aggregate = Some(Aggregate::Baseline {
                    op,
                    percent_milli,
                    within_ms: window.unwrap_or(baseline_ms),
                });
            }
            (
                "network_latency" | "memory_usage",
                Threshold::Value {
                    op,
                    limit,
                    sustained_ms,
                },
            ) => {
                rule.severity = Severity::Medium;
                rule.condition = compile(
                    &format!("value {op} {limit:?}"),
                    Vocabulary::SIGNAL,
                    Expect::Bool,
                );
                rule.aggregate = sustained_ms.map(|for_ms| Aggregate::Sustained { for_ms });
                rule.title = Template::compile(
                    &format!("{name} {{{{value}}}} {op} {limit}"),
                    &with_window(&Vocabulary::SIGNAL.untyped_args()),
                )
                .ok();
            }
            _ => {
                self.error(node, format!("`{name}` takes {expected}"));
                return None;
            }
        }
        Some(rule)
    }
}
