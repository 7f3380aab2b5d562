//! Response metrics over a period: the procedure's "Security Metrics" (mean
//! time to detect, to respond, the false-positive rate), from the store.
//!
//! The four times are the report's [`Figures`] of each incident opened in
//! the period, as means *and* medians (one slow incident moves a mean a
//! lot; the median says what is usual), each over the incidents that reached
//! its end instant (an open incident has no time to resolve yet; the
//! `count` says how many). The false-positive rate is over **judged**
//! alerts only (`alert_dispositions`), per rule and overall: an alert nobody
//! judged is counted as `unjudged`, never guessed. Benign alerts (real but
//! expected: a planned migration, a drill) are judged and not false
//! positives. Retracted alerts (their block left the chain) are not
//! counted at all: they were never a claim about the canonical chain.

use std::collections::BTreeMap;

use argus_alerting::AlertState;
use argus_alerting::outbox::{self, AlertFilter};
use argus_store::Connection;
use serde::Serialize;

use crate::db::{self, IncidentFilter};
use crate::error::IncidentError;
use crate::report::{self, Figure, Figures};
use crate::{Disposition, IncidentState};

/// Mean and median of one figure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FigureStats {
    /// What it is measured from and to (columns of `incidents`).
    pub from: &'static str,
    pub to: &'static str,
    /// Incidents that reached `to`.
    pub count: usize,
    pub mean_ms: Option<i64>,
    pub median_ms: Option<i64>,
}

/// Judgements of one rule's alerts (or of all of them).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RuleJudgements {
    /// `None` for the overall line.
    pub rule_id: Option<String>,
    /// Alerts recorded in the period (retracted ones left out).
    pub alerts: usize,
    pub judged: usize,
    pub true_positive: usize,
    pub false_positive: usize,
    pub benign: usize,
    pub unjudged: usize,
    /// `false_positive / judged`; `None` when nothing was judged.
    pub false_positive_rate: Option<f64>,
}

impl RuleJudgements {
    fn count(&mut self, disposition: Option<Disposition>) {
        self.alerts += 1;
        match disposition {
            None => self.unjudged += 1,
            Some(d) => {
                self.judged += 1;
                match d {
                    Disposition::TruePositive => self.true_positive += 1,
                    Disposition::FalsePositive => self.false_positive += 1,
                    Disposition::Benign => self.benign += 1,
                }
            }
        }
        self.false_positive_rate =
            (self.judged > 0).then(|| self.false_positive as f64 / self.judged as f64);
    }
}

/// The response metrics of a period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResponseMetrics {
    /// Incidents opened and alerts recorded at or after (all when `None`).
    pub since_ms: Option<i64>,
    /// … and before.
    pub until_ms: Option<i64>,
    pub incidents: usize,
    pub resolved: usize,
    /// Mean time to detect: first malicious block → first alert.
    pub mttd: FigureStats,
    /// Mean time to acknowledge: opened → acknowledged.
    pub mtta: FigureStats,
    /// Mean time to contain: opened → contained.
    pub mttc: FigureStats,
    /// Mean time to resolve: opened → resolved.
    pub mttr: FigureStats,
    pub false_positives: RuleJudgements,
    /// Per rule, by rule id.
    pub per_rule: Vec<RuleJudgements>,
}

/// The response metrics of incidents opened, and alerts recorded, in
/// `[since_ms, until_ms)`.
pub fn metrics(
    conn: &Connection,
    since_ms: Option<i64>,
    until_ms: Option<i64>,
) -> Result<ResponseMetrics, IncidentError> {
    let in_period = |at: i64| until_ms.is_none_or(|until| at < until);
    let incidents: Vec<_> = db::list_incidents(
        conn,
        &IncidentFilter {
            since_ms,
            ..IncidentFilter::default()
        },
    )?
    .into_iter()
    .filter(|i| in_period(i.opened_ms))
    .collect();
    let figures: Vec<Figures> = incidents.iter().map(Figures::of).collect();
    let stats = |(from, to): (&'static str, &'static str), pick: fn(&Figures) -> &Figure| {
        summarise(from, to, figures.iter().map(pick))
    };

    let alerts = outbox::list_alerts(
        conn,
        &AlertFilter {
            since_ms,
            limit: Some(usize::MAX),
            ..AlertFilter::default()
        },
    )?;
    let mut overall = RuleJudgements::default();
    let mut per_rule: BTreeMap<String, RuleJudgements> = BTreeMap::new();
    for alert in alerts
        .iter()
        .filter(|a| a.state != AlertState::Retracted && in_period(a.created_at_ms))
    {
        let disposition = db::disposition_of(conn, &alert.id)?;
        overall.count(disposition);
        per_rule
            .entry(alert.rule_id.clone())
            .or_insert_with(|| RuleJudgements {
                rule_id: Some(alert.rule_id.clone()),
                ..RuleJudgements::default()
            })
            .count(disposition);
    }

    Ok(ResponseMetrics {
        since_ms,
        until_ms,
        incidents: incidents.len(),
        resolved: incidents
            .iter()
            .filter(|i| i.state == IncidentState::Resolved)
            .count(),
        mttd: stats(report::DETECT, |f| &f.time_to_detect),
        mtta: stats(report::ACKNOWLEDGE, |f| &f.time_to_acknowledge),
        mttc: stats(report::CONTAIN, |f| &f.time_to_contain),
        mttr: stats(report::RESOLVE, |f| &f.time_to_resolve),
        false_positives: overall,
        per_rule: per_rule.into_values().collect(),
    })
}

fn summarise<'a>(
    from: &'static str,
    to: &'static str,
    figures: impl Iterator<Item = &'a Figure>,
) -> FigureStats {
    let mut values: Vec<i64> = figures.filter_map(|f| f.ms).collect();
    values.sort_unstable();
    let count = values.len();
    let mean_ms = (count > 0).then(|| {
        let sum: i128 = values.iter().map(|v| i128::from(*v)).sum();
        i64::try_from(sum / count as i128).unwrap_or(i64::MAX)
    });
    let median_ms = match count {
        0 => None,
        n if n % 2 == 1 => values.get(n / 2).copied(),
        n => match (values.get(n / 2 - 1), values.get(n / 2)) {
            (Some(a), Some(b)) => Some(a / 2 + b / 2 + (a % 2 + b % 2) / 2),
            _ => None,
        },
    };
    FigureStats {
        from,
        to,
        count,
        mean_ms,
        median_ms,
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::report::tests::{Times, add_alert, insert_incident};

    const MIN: i64 = 60_000;

    #[test]
    fn means_and_medians_over_the_incidents_that_reached_each_instant() {
        let store = argus_store::testing::store().unwrap();
        let conn = store.connect().unwrap();
        let t = 1_000_000_000;
        // Detected in 10 s, 20 s, 60 s; acknowledged in 2 and 6 minutes (one
        // still open); contained once, in 10 minutes.
        insert_incident(
            &conn,
            1,
            "a",
            Times {
                first_event: t,
                first_alert: t + 10_000,
                opened: t + 10_000,
                acknowledged: Some(t + 10_000 + 2 * MIN),
                contained: Some(t + 10_000 + 10 * MIN),
                resolved: Some(t + 10_000 + 60 * MIN),
            },
        );
        insert_incident(
            &conn,
            2,
            "b",
            Times {
                first_event: t + MIN,
                first_alert: t + MIN + 20_000,
                opened: t + MIN + 20_000,
                acknowledged: Some(t + MIN + 20_000 + 6 * MIN),
                ..Times::default()
            },
        );
        insert_incident(
            &conn,
            3,
            "c",
            Times {
                first_event: t + 2 * MIN,
                first_alert: t + 3 * MIN,
                opened: t + 3 * MIN,
                ..Times::default()
            },
        );
        let m = metrics(&conn, None, None).unwrap();
        assert_eq!(m.incidents, 3);
        assert_eq!(m.resolved, 1);
        assert_eq!(m.mttd.count, 3);
        assert_eq!(m.mttd.mean_ms, Some(30_000));
        assert_eq!(m.mttd.median_ms, Some(20_000));
        assert_eq!(m.mtta.count, 2);
        assert_eq!(m.mtta.mean_ms, Some(4 * MIN));
        assert_eq!(m.mtta.median_ms, Some(4 * MIN));
        assert_eq!(m.mttc.count, 1);
        assert_eq!(m.mttc.median_ms, Some(10 * MIN));
        assert_eq!(m.mttr.count, 1);
        assert_eq!(m.mttr.mean_ms, Some(60 * MIN));
        assert_eq!(m.mttr.from, "opened_ms");

        // The period: only incident 3 was opened at or after t + 3 min.
        let later = metrics(&conn, Some(t + 3 * MIN), None).unwrap();
        assert_eq!(later.incidents, 1);
        assert_eq!(later.mtta.count, 0);
        assert_eq!(later.mtta.mean_ms, None);
        let earlier = metrics(&conn, None, Some(t + 3 * MIN)).unwrap();
        assert_eq!(earlier.incidents, 2);
    }

    #[test]
    fn the_false_positive_rate_counts_judged_alerts_only() {
        let store = argus_store::testing::store().unwrap();
        let conn = store.connect().unwrap();
        let at = 5_000_000;
        let a1 = add_alert(&conn, 0, "large-outflow", "x", 1, at);
        let a2 = add_alert(&conn, 0, "large-outflow", "x", 2, at);
        let a3 = add_alert(&conn, 0, "large-outflow", "x", 3, at);
        let a4 = add_alert(&conn, 0, "large-outflow", "x", 4, at);
        let b1 = add_alert(&conn, 0, "bot-memory", "y", 5, at);
        let b2 = add_alert(&conn, 0, "bot-memory", "y", 6, at);
        db::set_disposition(&conn, &a1, Disposition::FalsePositive, "op", at, None).unwrap();
        db::set_disposition(&conn, &a2, Disposition::TruePositive, "op", at, None).unwrap();
        db::set_disposition(&conn, &a3, Disposition::Benign, "op", at, None).unwrap();
        let _ = a4; // unjudged
        db::set_disposition(&conn, &b1, Disposition::FalsePositive, "op", at, None).unwrap();
        db::set_disposition(&conn, &b2, Disposition::FalsePositive, "op", at, None).unwrap();
        // A retracted alert is not counted, judged or not.
        let r = add_alert(&conn, 0, "bot-memory", "y", 7, at);
        argus_alerting::outbox::retract_alert(&conn, &r, "reorg", at).unwrap();

        let m = metrics(&conn, None, None).unwrap();
        assert_eq!(m.false_positives.alerts, 6);
        assert_eq!(m.false_positives.judged, 5);
        assert_eq!(m.false_positives.unjudged, 1);
        assert_eq!(m.false_positives.false_positive, 3);
        assert_eq!(m.false_positives.false_positive_rate, Some(0.6));
        let rules: Vec<(&str, Option<f64>, usize)> = m
            .per_rule
            .iter()
            .map(|r| {
                (
                    r.rule_id.as_deref().unwrap(),
                    r.false_positive_rate,
                    r.unjudged,
                )
            })
            .collect();
        assert_eq!(
            rules,
            [
                ("bot-memory", Some(1.0), 0),
                ("large-outflow", Some(1.0 / 3.0), 1)
            ]
        );
        // Alerts recorded before the period are left out.
        let none = metrics(&conn, Some(at + 1), None).unwrap();
        assert_eq!(none.false_positives.alerts, 0);
        assert_eq!(none.false_positives.false_positive_rate, None);
    }

    #[test]
    fn an_even_count_takes_the_middle_two() {
        let figure = |ms| Figure {
            from: "a",
            to: "b",
            ms: Some(ms),
        };
        let figures = [figure(1), figure(4), figure(10), figure(100)];
        let s = summarise("a", "b", figures.iter());
        assert_eq!(s.median_ms, Some(7));
        assert_eq!(s.mean_ms, Some(28));
        let big = [figure(i64::MAX), figure(i64::MAX)];
        let s = summarise("a", "b", big.iter());
        assert_eq!(s.mean_ms, Some(i64::MAX));
        assert_eq!(s.median_ms, Some(i64::MAX));
    }
}

/// How many incidents are at one severity in one state now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentCount {
    pub severity: crate::IncidentSeverity,
    pub state: IncidentState,
    pub count: u64,
}

/// Every incident, counted by severity and state (one grouped query).
pub fn incident_counts(conn: &Connection) -> Result<Vec<IncidentCount>, IncidentError> {
    let mut stmt = conn
        .prepare_cached("SELECT severity, state, count(*) FROM incidents GROUP BY severity, state")
        .map_err(IncidentError::db("count incidents"))?;
    let rows = stmt
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
            ))
        })
        .map_err(IncidentError::db("count incidents"))?;
    let mut out = Vec::new();
    for row in rows {
        let (severity, state, count) = row.map_err(IncidentError::db("count incidents"))?;
        let corrupt = |detail: String| IncidentError::Corrupt {
            what: "incident severity or state",
            detail,
        };
        let severity = crate::IncidentSeverity::ALL
            .into_iter()
            .find(|s| s.as_str() == severity)
            .ok_or_else(|| corrupt(format!("severity `{severity}`")))?;
        let state = state.parse::<IncidentState>().map_err(corrupt)?;
        out.push(IncidentCount {
            severity,
            state,
            count: u64::try_from(count).unwrap_or(0),
        });
    }
    Ok(out)
}

/// The four response times of every incident as fixed-bucket histograms,
/// in the order detect, acknowledge, contain, resolve (the same
/// [`Figures`] the report shows; an incident counts in a histogram once it
/// reached that figure's end). One query each.
pub fn figure_histograms(
    conn: &Connection,
    bounds_ms: &[i64],
) -> Result<[argus_alerting::Histogram; 4], IncidentError> {
    let one = |sql: &str| {
        argus_alerting::stats::histogram(conn, sql, bounds_ms)
            .map_err(IncidentError::db("measure response times"))
    };
    Ok([
        one(
            "SELECT CASE WHEN first_alert_ms - first_event_ms < 0 THEN 0 ELSE first_alert_ms - first_event_ms END AS d \
             FROM incidents",
        )?,
        one(
            "SELECT CASE WHEN acknowledged_ms - opened_ms < 0 THEN 0 ELSE acknowledged_ms - opened_ms END AS d \
             FROM incidents",
        )?,
        one(
            "SELECT CASE WHEN contained_ms - opened_ms < 0 THEN 0 ELSE contained_ms - opened_ms END AS d \
             FROM incidents",
        )?,
        one(
            "SELECT CASE WHEN resolved_ms - opened_ms < 0 THEN 0 ELSE resolved_ms - opened_ms END AS d \
             FROM incidents",
        )?,
    ])
}
