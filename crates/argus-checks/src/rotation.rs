//! Key rotation due dates: a key's generation is due `rotate_every` after
//! it entered the vault (its policy's, 90 days by default); the monthly
//! check warns `rotation_lead` before and fails once it is past. Each
//! stage alerts once per key generation (the alert's identity is the
//! key's label, address and stage, so the outbox keeps one), not at every
//! run that sees it.

use argus_core::Severity;
use argus_vault::KeyEntry;
use jiff::{SignedDuration, Timestamp};

use crate::CheckAlert;

/// When `key`'s current generation is due for rotation (`None` for a
/// retired key, or a date off the calendar).
pub fn due_at(key: &KeyEntry) -> Option<Timestamp> {
    if key.retired_at.is_some() {
        return None;
    }
    let created = i64::try_from(key.created_at).ok()?;
    let every = i64::try_from(key.policy.rotate_every()).ok()?;
    Timestamp::from_second(created.checked_add(every)?).ok()
}

/// Where a key stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Not due within the lead time.
    Current,
    /// Due within the lead time.
    DueSoon,
    /// Past its due date.
    Overdue,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Current => "current",
            Self::DueSoon => "due-soon",
            Self::Overdue => "overdue",
        }
    }
}

/// The stage of `key` at `now`, with its due date.
pub fn stage(key: &KeyEntry, now: Timestamp, lead: SignedDuration) -> Option<(Stage, Timestamp)> {
    let due = due_at(key)?;
    let stage = if now >= due {
        Stage::Overdue
    } else if now >= due.checked_sub(lead).unwrap_or(due) {
        Stage::DueSoon
    } else {
        Stage::Current
    };
    Some((stage, due))
}

/// The alert for `key` at `stage` (none when current): high before the
/// due date, critical past it.
pub fn alert(key: &KeyEntry, stage: Stage, due: Timestamp) -> Option<CheckAlert> {
    let (severity, title) = match stage {
        Stage::Current => return None,
        Stage::DueSoon => (
            Severity::High,
            format!(
                "key {} ({}) is due for rotation on {}: `argus keys rotate {}`",
                key.label,
                key.address,
                due.to_zoned_datetime(jiff::tz::TimeZone::UTC).date(),
                key.label
            ),
        ),
        Stage::Overdue => (
            Severity::Critical,
            format!(
                "key {} ({}) is overdue for rotation since {}: `argus keys rotate {}`",
                key.label,
                key.address,
                due.to_zoned_datetime(jiff::tz::TimeZone::UTC).date(),
                key.label
            ),
        ),
    };
    Some(CheckAlert {
        identity: format!(
            "key-rotation:{}:{}:{}",
            key.label,
            key.address,
            stage.as_str()
        ),
        severity,
        title,
    })
}
