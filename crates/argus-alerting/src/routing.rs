//! Which notifiers an alert goes to, and how alerts group.
//!
//! Routes are tried in order. A route matches when every matcher it has
//! matches (severity at least `min_severity`; rule id in `rules` or starting
//! with `rule_prefix` when either is given). The first matching route wins,
//! unless it says `continue: true`, in which case later routes are tried too
//! and the notifiers of all matching routes are used (each once). An alert no
//! route matched goes to `default_notifiers`, which is every notifier when
//! unset. With no routes at all, every alert goes to every notifier.
//!
//! Each (route, notifier) pair also says how the notifier groups that
//! route's alerts ([`GroupPolicy`], see [`crate::grouping`]); the first
//! matching route that names a notifier decides its grouping. Per-rule
//! cooldowns ([`Routing::with_cooldowns`]) widen the dedup window of a
//! rule's alerts.

use std::collections::BTreeMap;

use argus_core::Severity;

use crate::config::{AlertingConfig, RouteConfig};
use crate::error::AlertError;
use crate::grouping::GroupPolicy;

/// Compiled routes plus the dedup window, read by [`crate::outbox::record`].
#[derive(Debug, Clone)]
pub struct Routing {
    routes: Vec<RouteConfig>,
    default: Vec<String>,
    dedup_window_ms: i64,
    /// Per route (by index), each notifier's grouping.
    route_groups: Vec<BTreeMap<String, GroupPolicy>>,
    /// The grouping of notifiers an alert reaches through `default`.
    default_groups: BTreeMap<String, GroupPolicy>,
    /// Per rule id: no new notification for its dedup key within this.
    cooldowns: BTreeMap<String, i64>,
}

impl Routing {
    /// From a config, refusing it (with every problem) when it is invalid.
    pub fn from_config(config: &AlertingConfig) -> Result<Self, AlertError> {
        let problems = config.validate("alerting");
        if !problems.is_empty() {
            return Err(AlertError::Config { problems });
        }
        let policies = |route: Option<&RouteConfig>, names: &[String]| {
            names
                .iter()
                .filter_map(|name| {
                    let notifier = config.notifiers.get(name)?;
                    GroupPolicy::for_route(route, notifier).map(|p| (name.clone(), p))
                })
                .collect::<BTreeMap<_, _>>()
        };
        let default = config
            .default_notifiers
            .clone()
            .unwrap_or_else(|| config.notifiers.keys().cloned().collect());
        Ok(Self {
            route_groups: config
                .routes
                .iter()
                .map(|r| policies(Some(r), &r.notifiers))
                .collect(),
            default_groups: policies(None, &default),
            routes: config.routes.clone(),
            default,
            dedup_window_ms: config.dedup_window.as_ms(),
            cooldowns: BTreeMap::new(),
        })
    }

    /// Every alert to each of `notifiers`, grouped within `dedup_window_ms`,
    /// each alert notified on its own.
    pub fn to_all(notifiers: &[&str], dedup_window_ms: i64) -> Self {
        Self {
            routes: Vec::new(),
            default: notifiers.iter().map(|n| (*n).to_owned()).collect(),
            dedup_window_ms,
            route_groups: Vec::new(),
            default_groups: BTreeMap::new(),
            cooldowns: BTreeMap::new(),
        }
    }

    /// With per-rule cooldowns (rule id, milliseconds): an alert of such a
    /// rule whose dedup key notified less than its cooldown before is
    /// suppressed as a duplicate, as within the dedup window.
    #[must_use]
    pub fn with_cooldowns(mut self, cooldowns: impl IntoIterator<Item = (String, i64)>) -> Self {
        self.cooldowns
            .extend(cooldowns.into_iter().filter(|(_, ms)| *ms > 0));
        self
    }

    /// The dedup window in milliseconds (0: no grouping).
    pub fn dedup_window_ms(&self) -> i64 {
        self.dedup_window_ms
    }

    /// The cooldown of `rule_id` in milliseconds (0: none).
    pub fn cooldown_ms(&self, rule_id: &str) -> i64 {
        self.cooldowns.get(rule_id).copied().unwrap_or(0)
    }

    /// The notifiers for an alert of `rule_id` at `severity`, each once, in
    /// route order.
    pub fn notifiers_for(&self, rule_id: &str, severity: Severity) -> Vec<String> {
        self.deliveries_for(rule_id, severity)
            .into_iter()
            .map(|(name, _)| name)
            .collect()
    }

    /// [`Self::notifiers_for`], each with how it groups this alert (`None`:
    /// notified on its own).
    pub fn deliveries_for(
        &self,
        rule_id: &str,
        severity: Severity,
    ) -> Vec<(String, Option<&GroupPolicy>)> {
        let mut out: Vec<(String, Option<&GroupPolicy>)> = Vec::new();
        let mut matched = false;
        for (index, route) in self.routes.iter().enumerate() {
            if !route_matches(route, rule_id, severity) {
                continue;
            }
            matched = true;
            for name in &route.notifiers {
                if !out.iter().any(|(n, _)| n == name) {
                    let policy = self.route_groups.get(index).and_then(|g| g.get(name));
                    out.push((name.clone(), policy));
                }
            }
            if !route.continue_matching {
                break;
            }
        }
        if !matched {
            out = self
                .default
                .iter()
                .map(|name| (name.clone(), self.default_groups.get(name)))
                .collect();
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
            group_by: None,
            group_wait: None,
            group_interval: None,
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
            route_groups: Vec::new(),
            default_groups: BTreeMap::new(),
            cooldowns: BTreeMap::new(),
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
            route_groups: Vec::new(),
            default_groups: BTreeMap::new(),
            cooldowns: BTreeMap::new(),
        };
        assert_eq!(routing.notifiers_for("r", Severity::Critical), ["pager"]);
        assert_eq!(routing.notifiers_for("r", Severity::High), ["slack"]);
    }
}
