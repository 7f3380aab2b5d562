//! The allow-list: findings a team has looked at and accepted.
//!
//! A YAML file, one entry per accepted finding, each with the reason it was
//! accepted, because an allow-list without reasons is where real problems go
//! to hide:
//!
//! ```yaml
//! allow:
//!   - rule: selector-collision
//!     key: "0x42966c68"
//!     reason: "collate_propagate_storage is a known 4byte decoy, not ours"
//! ```
//!
//! Entries that match nothing are reported, so the list does not rot.

use serde::{Deserialize, Serialize};

use super::Rule;

/// One accepted finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowEntry {
    /// The rule id, e.g. `selector-collision`.
    pub rule: String,
    /// The finding's key, as printed by `argus lint`.
    pub key: String,
    /// Why the finding is accepted.
    pub reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AllowFile {
    #[serde(default)]
    allow: Vec<AllowEntry>,
}

/// The accepted findings.
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    entries: Vec<AllowEntry>,
}

/// An allow-list that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllowListError {
    /// Not YAML of the expected shape.
    #[error("not an allow-list: {reason}")]
    Syntax { reason: String },
    /// An entry names a rule that does not exist.
    #[error("entry {index}: `{rule}` is not a lint rule (rules: {known})")]
    UnknownRule {
        index: usize,
        rule: String,
        known: String,
    },
    /// An entry without a reason.
    #[error("entry {index} ({rule} {key}): give a reason for accepting the finding")]
    MissingReason {
        index: usize,
        rule: String,
        key: String,
    },
}

impl AllowList {
    /// Parses an allow-list file's text.
    pub fn parse(text: &str) -> Result<Self, AllowListError> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let file: AllowFile = serde_saphyr::from_str(text).map_err(|e| AllowListError::Syntax {
            reason: e.to_string().lines().next().unwrap_or_default().to_owned(),
        })?;
        for (index, entry) in file.allow.iter().enumerate() {
            let index = index + 1;
            if entry.rule.parse::<Rule>().is_err() {
                return Err(AllowListError::UnknownRule {
                    index,
                    rule: entry.rule.clone(),
                    known: Rule::ALL.map(Rule::id).join(", "),
                });
            }
            if entry.reason.trim().is_empty() {
                return Err(AllowListError::MissingReason {
                    index,
                    rule: entry.rule.clone(),
                    key: entry.key.clone(),
                });
            }
        }
        Ok(Self {
            entries: file.allow,
        })
    }

    /// The entries, in file order.
    pub fn entries(&self) -> &[AllowEntry] {
        &self.entries
    }

    /// The index of the entry that accepts a finding, if any. Keys compare
    /// without regard to case, so `0xABCD1234` and `0xabcd1234` are one.
    pub fn matching(&self, rule: Rule, key: &str) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| e.rule == rule.id() && e.key.eq_ignore_ascii_case(key))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_entries_and_matches_case_insensitively() {
        let list = AllowList::parse(
            "allow:\n  - rule: selector-collision\n    key: \"0x42966C68\"\n    reason: decoy\n",
        )
        .unwrap();
        assert_eq!(
            list.matching(Rule::SelectorCollision, "0x42966c68"),
            Some(0)
        );
        assert_eq!(list.matching(Rule::NameReuse, "0x42966c68"), None);
    }

    #[test]
    fn refuses_unknown_rules_missing_reasons_and_junk() {
        let unknown = AllowList::parse("allow:\n  - {rule: nope, key: x, reason: y}\n");
        assert!(matches!(
            unknown,
            Err(AllowListError::UnknownRule { index: 1, .. })
        ));
        let reasonless = AllowList::parse("allow:\n  - {rule: name-reuse, key: x, reason: ' '}\n");
        assert!(matches!(
            reasonless,
            Err(AllowListError::MissingReason { .. })
        ));
        assert!(matches!(
            AllowList::parse("allow: 3"),
            Err(AllowListError::Syntax { .. })
        ));
        assert!(matches!(
            AllowList::parse("allow:\n  - {rule: name-reuse, key: x, reason: y, extra: 1}\n"),
            Err(AllowListError::Syntax { .. })
        ));
    }
}
