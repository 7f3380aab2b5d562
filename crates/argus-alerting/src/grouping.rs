//! Grouping: many alerts, one notification per group (Alertmanager's model).
//!
//! An exploit makes thousands of matches in a few blocks; a chat channel or
//! a pager cannot take thousands of messages, and a person reads a count and
//! a few examples faster than a scroll. So a route may group its alerts per
//! notifier: `group_by` names what makes two alerts the same group (`rule`,
//! `chain`, `contract`, `severity`, `labels.NAME` for a field of the alert),
//! `group_wait` how long the first alert of a new group waits for others,
//! `group_interval` how long after a group's notification the next one of the
//! same group may go. A route that says nothing groups its chat, PagerDuty
//! and email notifiers by `[rule]` with a 5 s wait and a 1 min interval, and
//! leaves webhooks and scripts ungrouped: machines take every alert.
//! `group_by: []` turns grouping off for a route.
//!
//! Durable by construction: there is no group state besides the outbox rows.
//! [`crate::outbox::record`] queues a grouped fire *held* — pending, with its
//! group key, due at its group's flush time — in the daemon's transaction;
//! the dispatcher folds the held fires of a due group into one digest
//! delivery in its claim transaction ([`crate::digest::fold_due`]). A restart
//! finds the same rows, so a group's notification is neither lost nor sent
//! twice, and the digest's idempotency key is derived from its notifier, its
//! group key and its first member, so a re-send after a crash carries the
//! same key.
//!
//! Alertmanager's `repeat_interval` has no counterpart: an Argus alert is an
//! event that happened, not a condition that stays true, so there is nothing
//! to repeat; the next event of the group is the next notification.

use std::time::Duration;

use argus_core::Finding;
use argus_store::Connection;
use argus_store::sql::params;

use crate::config::{ConfigDuration, NotifierConfig, RouteConfig};
use crate::error::AlertError;
use crate::outbox::query_row_cached;

/// The group wait of chat and pager notifiers when a route sets none.
pub const DEFAULT_GROUP_WAIT: Duration = Duration::from_secs(5);
/// The group interval of chat and pager notifiers when a route sets none.
pub const DEFAULT_GROUP_INTERVAL: Duration = Duration::from_secs(60);
/// The longest `group_wait` accepted: a first alert held longer is late.
const MAX_GROUP_WAIT: Duration = Duration::from_secs(3600);
/// The longest `group_interval` accepted.
const MAX_GROUP_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// The longest group key stored.
const MAX_KEY_BYTES: usize = 512;

/// What two alerts must share to be one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupLabel {
    Rule,
    Chain,
    /// `fields.contract`, else `fields.address`.
    Contract,
    Severity,
    /// `labels.NAME`: the alert's field `NAME` (top level of its fields).
    Field(String),
}

impl GroupLabel {
    /// Parses one `group_by` entry, or says what is accepted.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "rule" => Ok(Self::Rule),
            "chain" => Ok(Self::Chain),
            "contract" => Ok(Self::Contract),
            "severity" => Ok(Self::Severity),
            _ => match text.strip_prefix("labels.") {
                Some(name)
                    if !name.is_empty()
                        && name.len() <= 64
                        && name
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
                {
                    Ok(Self::Field(name.to_owned()))
                }
                _ => Err(format!(
                    "`{}` is not a group label; use rule, chain, contract, severity or labels.NAME",
                    text.chars().take(64).collect::<String>()
                )),
            },
        }
    }

    fn name(&self) -> &str {
        match self {
            Self::Rule => "rule",
            Self::Chain => "chain",
            Self::Contract => "contract",
            Self::Severity => "severity",
            Self::Field(name) => name,
        }
    }

    fn value(&self, finding: &Finding) -> String {
        let field = |name: &str| match finding.fields.get(name) {
            // Parsed per look: only `contract` and named-field groupings
            // look, and a finding's facts are small.
            Some(serde_json::Value::String(s)) => Some(s.to_ascii_lowercase()),
            Some(serde_json::Value::Null) | None => None,
            Some(other) => Some(other.to_string()),
        };
        match self {
            Self::Rule => finding.rule_id.clone(),
            Self::Chain => finding
                .origin
                .as_ref()
                .map(|o| o.chain.0.to_string())
                .unwrap_or_default(),
            Self::Contract => field("contract")
                .or_else(|| field("address"))
                .unwrap_or_default(),
            Self::Severity => finding.severity.as_str().to_owned(),
            Self::Field(name) => field(name).unwrap_or_default(),
        }
    }
}

/// How one notifier groups the alerts of one route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupPolicy {
    pub by: Vec<GroupLabel>,
    pub wait_ms: i64,
    pub interval_ms: i64,
}

impl GroupPolicy {
    /// The policy of a route for one of its notifiers: the route's own
    /// settings (unset ones from the defaults), else the notifier kind's
    /// default. `None`: every alert on its own.
    pub fn for_route(route: Option<&RouteConfig>, notifier: &NotifierConfig) -> Option<Self> {
        let own = route.filter(|r| {
            r.group_by.is_some() || r.group_wait.is_some() || r.group_interval.is_some()
        });
        let by = match own {
            Some(route) => match &route.group_by {
                Some(labels) => labels
                    .iter()
                    .filter_map(|l| GroupLabel::parse(l).ok())
                    .collect(),
                None => vec![GroupLabel::Rule],
            },
            None if groups_by_default(notifier) => vec![GroupLabel::Rule],
            None => return None,
        };
        if by.is_empty() {
            return None;
        }
        let ms = |d: Option<ConfigDuration>, default: Duration| {
            d.map_or_else(|| ConfigDuration(default).as_ms(), ConfigDuration::as_ms)
        };
        Some(Self {
            by,
            wait_ms: ms(own.and_then(|r| r.group_wait), DEFAULT_GROUP_WAIT),
            interval_ms: ms(own.and_then(|r| r.group_interval), DEFAULT_GROUP_INTERVAL),
        })
    }

    /// The key of the group `finding` belongs to: `rule=x,chain=1`, readable
    /// (it is shown in digests) and stable (it is part of a digest's key).
    pub fn key(&self, finding: &Finding) -> String {
        let mut key = String::new();
        for (i, label) in self.by.iter().enumerate() {
            if i > 0 {
                key.push(',');
            }
            key.push_str(label.name());
            key.push('=');
            key.push_str(&label.value(finding));
        }
        // Field values are the rule's data: keep the key (stored on every
        // grouped delivery) bounded.
        if key.len() > MAX_KEY_BYTES {
            let cut = (0..=MAX_KEY_BYTES)
                .rev()
                .find(|&i| key.is_char_boundary(i))
                .unwrap_or(0);
            key.truncate(cut);
        }
        key
    }

    /// When a new fire of group `group_key` to `notifier` is due: with the
    /// group's other held fires when it has some; else `group_wait` from now,
    /// but not before `group_interval` after the group's last notification
    /// (a digest, or a fire sent alone).
    pub(crate) fn due_at(
        &self,
        conn: &Connection,
        notifier: &str,
        group_key: &str,
        now_ms: i64,
    ) -> Result<i64, AlertError> {
        // Two queries, the cheap one first: in a burst every fire after the
        // group's first finds a held one and needs no look at the group's
        // last notifications (a scan of the interval's rows for each fire).
        let held: Option<i64> = query_row_cached(
            conn,
            "SELECT min(next_attempt_at_ms) FROM alert_deliveries
              WHERE notifier = ?1 AND group_key = ?2 AND group_key IS NOT NULL
                AND status = 'pending' AND kind = 'fire' AND attempts = 0",
            params![notifier, group_key],
            |row| row.get(0),
        )
        .map_err(AlertError::db("read a group"))?;
        if let Some(at) = held {
            return Ok(at);
        }
        let last_digest: Option<i64> = query_row_cached(
            conn,
            "SELECT max(CASE kind WHEN 'digest' THEN created_at_ms ELSE delivered_at_ms END)
               FROM alert_deliveries
              WHERE notifier = ?1 AND group_key = ?2 AND group_key IS NOT NULL
                AND created_at_ms > ?3
                AND (kind = 'digest' OR delivered_at_ms IS NOT NULL)",
            // Only a notification within the interval can delay this one.
            params![notifier, group_key, now_ms.saturating_sub(self.interval_ms)],
            |row| row.get(0),
        )
        .map_err(AlertError::db("read a group"))?;
        let first = now_ms.saturating_add(self.wait_ms);
        Ok(match last_digest {
            Some(at) => first.max(at.saturating_add(self.interval_ms)),
            None => first,
        })
    }
}

/// Chat, PagerDuty and email group by default; webhooks and scripts do not.
fn groups_by_default(notifier: &NotifierConfig) -> bool {
    !matches!(
        notifier,
        NotifierConfig::Webhook(_) | NotifierConfig::Script(_)
    )
}

/// Every problem of a route's grouping settings, at key paths under `at`.
pub(crate) fn validate_route(
    route: &RouteConfig,
    at: &str,
    problem: &mut impl FnMut(String, String),
) {
    if let Some(labels) = &route.group_by {
        for (i, label) in labels.iter().enumerate() {
            if let Err(message) = GroupLabel::parse(label) {
                problem(format!("{at}.group_by[{i}]"), message);
            }
        }
    }
    if let Some(wait) = route.group_wait
        && wait.0 > MAX_GROUP_WAIT
    {
        problem(
            format!("{at}.group_wait"),
            "at most 1h: a first alert held longer is late; e.g. 5s".to_owned(),
        );
    }
    if let Some(interval) = route.group_interval {
        if interval.0 < Duration::from_secs(1) {
            problem(
                format!("{at}.group_interval"),
                "at least 1s, e.g. 1m".to_owned(),
            );
        } else if interval.0 > MAX_GROUP_INTERVAL {
            problem(
                format!("{at}.group_interval"),
                "at most 24h, e.g. 5m".to_owned(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use argus_core::Severity;

    fn finding(rule: &str, fields: serde_json::Value) -> Finding {
        Finding {
            id: alloy_primitives::B256::ZERO,
            rule_id: rule.to_owned(),
            severity: Severity::High,
            title: "t".to_owned(),
            dedup_key: "k".to_owned(),
            origin: None,
            at_ms: 0,
            fields: fields.into(),
        }
    }

    #[test]
    fn labels_parse_and_refuse_with_the_accepted_names() {
        assert_eq!(GroupLabel::parse("rule"), Ok(GroupLabel::Rule));
        assert_eq!(
            GroupLabel::parse("labels.pool"),
            Ok(GroupLabel::Field("pool".to_owned()))
        );
        for bad in ["labels.", "label.x", "rules", "labels.a b"] {
            let error = GroupLabel::parse(bad).unwrap_err();
            assert!(error.contains("labels.NAME"), "{bad}: {error}");
        }
    }

    #[test]
    fn the_key_names_each_label_and_its_value() {
        let policy = GroupPolicy {
            by: vec![
                GroupLabel::Rule,
                GroupLabel::Contract,
                GroupLabel::Field("pool".to_owned()),
            ],
            wait_ms: 0,
            interval_ms: 1,
        };
        let f = finding(
            "token.big",
            serde_json::json!({"address": "0xABC", "pool": 7}),
        );
        assert_eq!(policy.key(&f), "rule=token.big,contract=0xabc,pool=7");
    }
}
