//! Which notifiers an alert goes to, and how alerts group.
//!
//! Routes are tried in order. A route matches when every matcher it has
//! matches (severity at least `min_severity`; rule id in `rules` or starting
//! with `rule_prefix` when either is given). The first matching route wins,
//! unless it says `continue: true`, in which case later routes are tried too
//! and the notifiers of all matching routes are used (each once). An alert no
//! route matched goes to `default_notifiers`, which is every notifier when
//! unset. With no routes at all, every alert goes to every notifier.

use argus_core::Severity;

use crate::config::{AlertingConfig, RouteConfig};
use crate::error::AlertError;

/// Compiled routes plus the dedup window, read by [`crate::outbox::record`].
#[derive(Debug, Clone)]
pub struct Routing {
    routes: Vec<RouteConfig>,
    default: Vec<String>,
    dedup_window_ms: i64,
}

impl Routing {
    /// From a config, refusing it (with every problem) when it is invalid.
    pub fn from_config(config: &AlertingConfig) -> Result<Self, AlertError> {
        let problems = config.validate("alerting");
        if !problems.is_empty() {
            return Err(AlertError::Config { problems });
        }
        Ok(Self {
            routes: config.routes.clone(),
            default: config
                .default_notifiers
                .clone()
                .unwrap_or_else(|| config.notifiers.keys().cloned().collect()),
            dedup_window_ms: config.dedup_window.as_ms(),
        })
    }

    /// Every alert to each of `notifiers`, grouped within `dedup_window_ms`.
    pub fn to_all(notifiers: &[&str], dedup_window_ms: i64) -> Self {
        Self {
            routes: Vec::new(),
            default: notifiers.iter().map(|n| (*n).to_owned()).collect(),
            dedup_window_ms,
        }
    }

    /// The dedup window in milliseconds (0: no grouping).
    pub fn dedup_window_ms(&self) -> i64 {
        self.dedup_window_ms
    }

    /// The notifiers for an alert of `rule_id` at `severity`, each once, in
    /// route order.
    pub fn notifiers_for(&self, rule_id: &str, severity: Severity) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut matched = false;
        for route in &self.routes {
            if !route_matches(route, rule_id, severity) {
                continue;
            }
            matched = true;
            for name in &route.notifiers {
                if !out.contains(name) {
                    out.push(name.clone());
                }
            }
            if !route.continue_matching {
                break;
            }
        }
        if !matched {
            out.clone_from(&self.default);
        }
        out
    }
}

fn route_matches(route: &RouteConfig, rule_id: &str, severity: Severity) -> bool {
    // Severity orders worst first: Critical < High < ... < Info.
    if route.min_severity.is_some_and(|min| severity > min) {
        return false;
    }
    let has_rule_matcher = !route.rules.is_empty() || route.rule_prefix.is_some();
    if has_rule_matcher {
        let by_id = route.rules.iter().any(|r| r == rule_id);
        let by_prefix = route
            .rule_prefix
            .as_deref()
            .is_some_and(|p| rule_id.starts_with(p));
        if !(by_id || by_prefix) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn route(min: Option<Severity>, prefix: Option<&str>, to: &[&str], cont: bool) -> RouteConfig {
        RouteConfig {
            name: None,
            min_severity: min,
            rules: Vec::new(),
            rule_prefix: prefix.map(str::to_owned),
            notifiers: to.iter().map(|s| (*s).to_owned()).collect(),
            continue_matching: cont,
        }
    }

    #[test]
    fn first_match_wins_unless_continue() {
        let routing = Routing {
            routes: vec![
                route(Some(Severity::High), None, &["pager", "slack"], true),
                route(None, Some("bot."), &["hook", "slack"], false),
                route(None, None, &["mail"], false),
            ],
            default: vec!["never".to_owned()],
            dedup_window_ms: 0,
        };
        assert_eq!(
            routing.notifiers_for("bot.mem", Severity::Critical),
            ["pager", "slack", "hook"]
        );
        assert_eq!(
            routing.notifiers_for("bot.mem", Severity::Low),
            ["hook", "slack"]
        );
        assert_eq!(
            routing.notifiers_for("token.x", Severity::High),
            ["pager", "slack", "mail"]
        );
        assert_eq!(routing.notifiers_for("token.x", Severity::Info), ["mail"]);
    }

    #[test]
    fn unmatched_alerts_go_to_the_default() {
        let routing = Routing {
            routes: vec![route(Some(Severity::Critical), None, &["pager"], false)],
            default: vec!["slack".to_owned()],
            dedup_window_ms: 0,
        };
        assert_eq!(routing.notifiers_for("r", Severity::Critical), ["pager"]);
        assert_eq!(routing.notifiers_for("r", Severity::High), ["slack"]);
    }
}
