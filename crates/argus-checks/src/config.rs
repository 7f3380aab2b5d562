//! The `checks:` and `preflight:` sections of `argus.yaml`.
//!
//! ```yaml
//! checks:
//!   time_zone: Europe/Paris      # the schedules' zone (default UTC)
//!   daily: "0 6 * * *"           # defaults: 06:00 daily, Monday 07:00, the 1st at 08:00
//!   weekly: "0 7 * * 1"
//!   monthly: "0 8 1 * *"
//!   rotation_lead: 14d           # alert this long before a key's rotation is due
//!   unused_after: 30d            # a key or token unused this long is reported
//!   new_actor_window: 30d        # an actor not seen in this window is unusual
//!   burst: 5                     # refused uses or failed logins in one hour that are a burst
//!   max_lag: 5m                  # a chain whose newest recorded block is older fails
//! preflight:
//!   test_command: ["forge", "test"]   # argv, no shell
//!   lint_severity: error              # `argus lint` findings at or above fail
//! ```

use std::time::Duration;

use jiff::tz::TimeZone;
use serde::Deserialize;

use crate::Cadence;
use crate::cron::CronExpr;

/// The `checks:` section.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChecksConfig {
    /// The IANA zone the schedules are read in.
    #[serde(default = "default_zone")]
    pub time_zone: String,
    #[serde(default = "default_daily")]
    pub daily: String,
    #[serde(default = "default_weekly")]
    pub weekly: String,
    #[serde(default = "default_monthly")]
    pub monthly: String,
    #[serde(
        default = "default_rotation_lead",
        deserialize_with = "argus_core::duration::deserialize"
    )]
    pub rotation_lead: Duration,
    #[serde(
        default = "default_unused_after",
        deserialize_with = "argus_core::duration::deserialize"
    )]
    pub unused_after: Duration,
    #[serde(
        default = "default_unused_after",
        deserialize_with = "argus_core::duration::deserialize"
    )]
    pub new_actor_window: Duration,
    #[serde(default = "default_burst")]
    pub burst: u32,
    #[serde(
        default = "default_max_lag",
        deserialize_with = "argus_core::duration::deserialize"
    )]
    pub max_lag: Duration,
}

fn default_zone() -> String {
    "UTC".to_owned()
}
fn default_daily() -> String {
    "0 6 * * *".to_owned()
}
fn default_weekly() -> String {
    "0 7 * * 1".to_owned()
}
fn default_monthly() -> String {
    "0 8 1 * *".to_owned()
}
fn default_rotation_lead() -> Duration {
    Duration::from_secs(14 * 86_400)
}
fn default_unused_after() -> Duration {
    Duration::from_secs(30 * 86_400)
}
fn default_burst() -> u32 {
    5
}
fn default_max_lag() -> Duration {
    Duration::from_secs(300)
}

impl Default for ChecksConfig {
    fn default() -> Self {
        Self {
            time_zone: default_zone(),
            daily: default_daily(),
            weekly: default_weekly(),
            monthly: default_monthly(),
            rotation_lead: default_rotation_lead(),
            unused_after: default_unused_after(),
            new_actor_window: default_unused_after(),
            burst: default_burst(),
            max_lag: default_max_lag(),
        }
    }
}

/// The three schedules, parsed, with their zone.
#[derive(Debug, Clone)]
pub struct Schedules {
    pub zone: TimeZone,
    pub entries: Vec<(Cadence, CronExpr)>,
}

impl Schedules {
    /// The first firing of any schedule strictly after `after`, and which.
    pub fn next_after(&self, after: jiff::Timestamp) -> Option<(Cadence, jiff::ZonedDateTime)> {
        self.entries
            .iter()
            .filter_map(|(cadence, expr)| Some((*cadence, expr.next_after(after, &self.zone)?)))
            .min_by_key(|(_, at)| at.timestamp())
    }

    /// The checklists due in `(after, now]`, each once, in schedule order.
    pub fn due(&self, after: jiff::Timestamp, now: jiff::Timestamp) -> Vec<Cadence> {
        self.entries
            .iter()
            .filter(|(_, expr)| {
                expr.next_after(after, &self.zone)
                    .is_some_and(|at| at.timestamp() <= now)
            })
            .map(|(cadence, _)| *cadence)
            .collect()
    }
}

impl ChecksConfig {
    /// The schedules, or what is wrong with them (`checks.daily: …`).
    pub fn schedules(&self) -> Result<Schedules, Vec<String>> {
        let mut problems = Vec::new();
        let zone = TimeZone::get(&self.time_zone).map_err(|e| {
            format!(
                "checks.time_zone: unknown zone {:?} ({e}); use an IANA name such as Europe/Paris",
                self.time_zone
            )
        });
        let mut entries = Vec::new();
        for (cadence, text) in [
            (Cadence::Daily, &self.daily),
            (Cadence::Weekly, &self.weekly),
            (Cadence::Monthly, &self.monthly),
        ] {
            match CronExpr::parse(text) {
                Ok(expr) => entries.push((cadence, expr)),
                Err(e) => problems.push(format!("checks.{}: {e}", cadence.as_str())),
            }
        }
        if self.burst == 0 {
            problems.push("checks.burst must be at least 1".to_owned());
        }
        match zone {
            Ok(zone) if problems.is_empty() => Ok(Schedules { zone, entries }),
            Ok(_) => Err(problems),
            Err(e) => {
                problems.insert(0, e);
                Err(problems)
            }
        }
    }

    /// What is wrong with the section, one line each.
    pub fn problems(&self) -> Vec<String> {
        self.schedules().err().unwrap_or_default()
    }
}

/// The `preflight:` section.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreflightConfig {
    /// The project's own test command, as argv (run without a shell, in
    /// the config file's folder).
    #[serde(default)]
    pub test_command: Vec<String>,
    /// `argus lint` findings at or above this severity fail preflight
    /// (`error` by default; `warning` and `note` are stricter).
    #[serde(default)]
    pub lint_severity: Option<String>,
    /// The `argus lint` inputs (files or folders); none: the registry.
    #[serde(default)]
    pub lint_paths: Vec<String>,
    /// `argus coverage`'s figure (percent) below which preflight fails;
    /// none: the figure is shown, never fails.
    #[serde(default)]
    pub min_coverage: Option<f64>,
    /// Build output with the compiler's AST for the coverage item (as
    /// `argus coverage --build`): privilege from modifiers, not names.
    #[serde(default)]
    pub coverage_build: Vec<String>,
}

impl PreflightConfig {
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self
            .test_command
            .first()
            .is_some_and(|p| p.trim().is_empty())
        {
            problems.push("preflight.test_command: the program name is empty".to_owned());
        }
        if let Some(s) = &self.lint_severity
            && !matches!(s.as_str(), "error" | "warning" | "info")
        {
            problems.push(format!(
                "preflight.lint_severity: {s:?} is not error, warning or note"
            ));
        }
        if let Some(min) = self.min_coverage
            && !(0.0..=100.0).contains(&min)
        {
            problems.push(format!(
                "preflight.min_coverage: {min} is not a percentage between 0 and 100"
            ));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_defaults_fire_daily_weekly_and_monthly() {
        let schedules = ChecksConfig::default().schedules().unwrap();
        // Tuesday 2026-12-01 05:00 UTC → daily at 06:00, monthly at 08:00.
        let after: jiff::Timestamp = "2026-12-01T05:00:00Z".parse().unwrap();
        let (cadence, at) = schedules.next_after(after).unwrap();
        assert_eq!(cadence, Cadence::Daily);
        assert_eq!(at.timestamp().to_string(), "2026-12-01T06:00:00Z");
        let now: jiff::Timestamp = "2026-12-01T09:00:00Z".parse().unwrap();
        assert_eq!(
            schedules.due(after, now),
            vec![Cadence::Daily, Cadence::Monthly]
        );
    }

    #[test]
    fn bad_schedules_name_their_key() {
        let config = ChecksConfig {
            time_zone: "Mars/Olympus".into(),
            weekly: "0 7 * *".into(),
            ..ChecksConfig::default()
        };
        let problems = config.problems();
        assert!(problems[0].starts_with("checks.time_zone"), "{problems:?}");
        assert!(problems[1].starts_with("checks.weekly"), "{problems:?}");
    }
}
