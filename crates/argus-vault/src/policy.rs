//! Per-key access policy: which actions may use a key, and when.
//!
//! A guardian key that exists to pause a contract should not be able to sign
//! an arbitrary transfer: its policy allows `sign-containment` only. A key
//! with `sign-any` may be used for everything.
//!
//! A key may also have a time window (days and hours in a named IANA time
//! zone, so daylight saving is followed): a use outside it is refused, or
//! allowed and flagged so the caller raises a critical signal — the seed's
//! "private key access outside normal hours". Time is passed in, never read
//! here, so tests drive it.

use serde::{Deserialize, Serialize};

/// What a key is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Sign a containment transaction (pause, revoke, stop a bot).
    SignContainment,
    /// Sign anything.
    SignAny,
}

impl Action {
    /// The name used in files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignContainment => "sign-containment",
            Self::SignAny => "sign-any",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Action {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sign-containment" => Ok(Self::SignContainment),
            "sign-any" => Ok(Self::SignAny),
            other => Err(format!(
                "unknown action {other:?}; use sign-containment or sign-any"
            )),
        }
    }
}

/// The rules a key's use must pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessPolicy {
    /// Actions this key may be used for; `sign-any` allows every action.
    pub actions: Vec<Action>,
    /// When the key may be used; `None`: at any time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<TimeWindow>,
    /// How long a generation of the key may live before it is due for
    /// rotation, in seconds; `None`: [`DEFAULT_ROTATE_EVERY_SECS`] (the
    /// procedure's quarter). The scheduled checks alert before and after
    /// the due date; nothing here refuses an overdue key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotate_every_secs: Option<u64>,
}

/// The rotation period of a key whose policy names none: 90 days.
pub const DEFAULT_ROTATE_EVERY_SECS: u64 = 90 * 86_400;

impl AccessPolicy {
    /// The key's rotation period in seconds (the default when unset).
    pub fn rotate_every(&self) -> u64 {
        self.rotate_every_secs.unwrap_or(DEFAULT_ROTATE_EVERY_SECS)
    }
}

impl Default for AccessPolicy {
    /// Containment only, at any time: the narrowest useful policy.
    fn default() -> Self {
        Self {
            actions: vec![Action::SignContainment],
            window: None,
            rotate_every_secs: None,
        }
    }
}

/// Days and hours a key may be used, in a named time zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeWindow {
    /// IANA time zone name, e.g. `Europe/Paris`.
    pub time_zone: String,
    /// Allowed weekdays, 1 = Monday … 7 = Sunday; empty means every day.
    #[serde(default)]
    pub days: Vec<u8>,
    /// First allowed hour (0–23), local time.
    pub start_hour: u8,
    /// Hour the window closes (1–24), local time; below `start_hour` the
    /// window wraps past midnight (22 → 6). The day is the day it opened.
    pub end_hour: u8,
    /// What a use outside the window gets.
    #[serde(default)]
    pub outside: OutsideWindow,
}

/// What happens to a use outside the time window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutsideWindow {
    /// The use is refused.
    #[default]
    Refuse,
    /// The use is allowed; the caller must raise a critical signal.
    AllowWithCriticalSignal,
}

/// The verdict on an allowed use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    /// Within the policy.
    Allowed,
    /// Outside the time window, allowed by configuration: raise a critical
    /// signal.
    OutsideWindow,
}

impl TimeWindow {
    /// Checks the zone name and the hours; the reason when they are wrong.
    pub fn validate(&self) -> Result<(), String> {
        jiff::tz::TimeZone::get(&self.time_zone).map_err(|e| {
            format!(
                "unknown time zone {:?} ({e}); use an IANA name such as Europe/Paris",
                self.time_zone
            )
        })?;
        if self.start_hour > 23
            || self.end_hour == 0
            || self.end_hour > 24
            || self.start_hour == self.end_hour
        {
            return Err(format!(
                "hours {}-{} are not a window: start 0–23, end 1–24, start ≠ end",
                self.start_hour, self.end_hour
            ));
        }
        if let Some(day) = self.days.iter().find(|d| !(1..=7).contains(*d)) {
            return Err(format!("day {day} is not 1 (Monday) to 7 (Sunday)"));
        }
        Ok(())
    }

    /// Whether `at` falls inside the window.
    pub fn contains(&self, at: jiff::Timestamp) -> Result<bool, String> {
        self.validate()?;
        let tz = jiff::tz::TimeZone::get(&self.time_zone).map_err(|e| e.to_string())?;
        let local = at.to_zoned_datetime(tz);
        let hour = u8::try_from(local.hour()).unwrap_or(0);
        let weekday = u8::try_from(local.weekday().to_monday_one_offset()).unwrap_or(1);
        let (in_hours, opened_on) = if self.start_hour < self.end_hour {
            (hour >= self.start_hour && hour < self.end_hour, weekday)
        } else if hour >= self.start_hour {
            (true, weekday)
        } else {
            // After midnight in a wrapping window: it opened the day before.
            (
                hour < self.end_hour,
                if weekday == 1 { 7 } else { weekday - 1 },
            )
        };
        Ok(in_hours && (self.days.is_empty() || self.days.contains(&opened_on)))
    }
}

impl AccessPolicy {
    /// Checks the policy itself (time zone, hours, days).
    pub fn validate(&self) -> Result<(), String> {
        if self.actions.is_empty() {
            return Err("no action is allowed; allow sign-containment or sign-any".into());
        }
        match &self.window {
            Some(window) => window.validate(),
            None => Ok(()),
        }
    }

    /// Whether `action` is allowed at `at`; the reason when it is not.
    pub fn check(&self, action: Action, at: jiff::Timestamp) -> Result<Permit, String> {
        if !(self.actions.contains(&Action::SignAny) || self.actions.contains(&action)) {
            let allowed: Vec<&str> = self.actions.iter().map(|a| a.as_str()).collect();
            return Err(format!(
                "action {action} is not among the allowed actions [{}]",
                allowed.join(", ")
            ));
        }
        let Some(window) = &self.window else {
            return Ok(Permit::Allowed);
        };
        if window.contains(at)? {
            return Ok(Permit::Allowed);
        }
        match window.outside {
            OutsideWindow::AllowWithCriticalSignal => Ok(Permit::OutsideWindow),
            OutsideWindow::Refuse => Err(format!(
                "{at} is outside the allowed window ({:02}:00–{:02}:00 {}{})",
                window.start_hour,
                window.end_hour,
                window.time_zone,
                if window.days.is_empty() {
                    String::new()
                } else {
                    format!(", days {:?}", window.days)
                }
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> jiff::Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn containment_only_refuses_any() {
        let now = at("2026-11-23T12:00:00Z");
        let policy = AccessPolicy::default();
        assert!(policy.check(Action::SignContainment, now).is_ok());
        assert!(policy.check(Action::SignAny, now).is_err());
        let any = AccessPolicy {
            actions: vec![Action::SignAny],
            window: None,
            rotate_every_secs: None,
        };
        assert!(any.check(Action::SignContainment, now).is_ok());
    }

    #[test]
    fn office_hours_in_paris_follow_daylight_saving() {
        let mut policy = AccessPolicy {
            actions: vec![Action::SignAny],
            window: Some(TimeWindow {
                time_zone: "Europe/Paris".into(),
                days: vec![1, 2, 3, 4, 5],
                start_hour: 9,
                end_hour: 18,
                outside: OutsideWindow::Refuse,
            }),
            rotate_every_secs: None,
        };
        policy.validate().unwrap();
        // Monday 23 Nov 2026, CET (UTC+1): 08:30 UTC is 09:30 in Paris.
        assert_eq!(
            policy.check(Action::SignAny, at("2026-11-23T08:30:00Z")),
            Ok(Permit::Allowed)
        );
        assert!(
            policy
                .check(Action::SignAny, at("2026-11-23T07:30:00Z"))
                .is_err()
        );
        // Monday 6 Jul 2026, CEST (UTC+2): 07:30 UTC is 09:30 in Paris.
        assert_eq!(
            policy.check(Action::SignAny, at("2026-07-06T07:30:00Z")),
            Ok(Permit::Allowed)
        );
        // Saturday.
        assert!(
            policy
                .check(Action::SignAny, at("2026-11-28T10:00:00Z"))
                .is_err()
        );
        if let Some(window) = &mut policy.window {
            window.outside = OutsideWindow::AllowWithCriticalSignal;
        }
        assert_eq!(
            policy.check(Action::SignAny, at("2026-11-28T10:00:00Z")),
            Ok(Permit::OutsideWindow)
        );
    }

    #[test]
    fn night_window_wraps_midnight_and_keeps_its_opening_day() {
        let window = TimeWindow {
            time_zone: "UTC".into(),
            days: vec![5],
            start_hour: 22,
            end_hour: 6,
            outside: OutsideWindow::Refuse,
        };
        assert!(window.contains(at("2026-11-27T23:00:00Z")).unwrap()); // Friday night
        assert!(window.contains(at("2026-11-28T05:00:00Z")).unwrap()); // Saturday early, opened Friday
        assert!(!window.contains(at("2026-11-28T23:00:00Z")).unwrap()); // Saturday night
        assert!(!window.contains(at("2026-11-27T12:00:00Z")).unwrap());
    }

    #[test]
    fn bad_windows_are_named() {
        let mut window = TimeWindow {
            time_zone: "Mars/Olympus".into(),
            days: vec![],
            start_hour: 9,
            end_hour: 17,
            outside: OutsideWindow::Refuse,
        };
        assert!(window.validate().unwrap_err().contains("Mars/Olympus"));
        window.time_zone = "UTC".into();
        window.end_hour = 25;
        assert!(window.validate().is_err());
        window.end_hour = 17;
        window.days = vec![8];
        assert!(window.validate().is_err());
    }
}
