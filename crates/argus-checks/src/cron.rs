//! A strict five-field cron expression (`minute hour day-of-month month
//! day-of-week`) and its next firing time in an IANA time zone.
//!
//! Written here rather than taken from a crate: the grammar is small, the
//! crates we looked at accept six- and seven-field forms, names and
//! `@yearly` shorthands we do not want in a security config, and their
//! daylight-saving behaviour is rarely stated. What is accepted: `*`, a
//! number, `a-b`, `*/n`, `a-b/n`, and comma lists of those; day of week 0–7
//! (0 and 7 are Sunday). As in Vixie cron, when both day fields are
//! restricted a day matching either fires.
//!
//! Times are local times in the schedule's zone, read through jiff: a time
//! the spring-forward gap skips fires at the first instant after the gap
//! (`02:30` on the day clocks jump from 02:00 to 03:00 fires at 03:30), a
//! time the fall-back fold repeats fires once, at its first occurrence.

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ZonedDateTime};

/// A parsed expression: for each field, which values fire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronExpr {
    text: String,
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    days_restricted: bool,
    weekdays_restricted: bool,
}

/// How far ahead [`CronExpr::next_after`] looks (an expression such as
/// `0 0 31 2 *` never fires).
const MAX_DAYS_AHEAD: i32 = 366 * 5;

impl CronExpr {
    /// Parses `text`; the error names the field and what is wrong with it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "{text:?} has {} fields; write five: minute hour day-of-month month day-of-week \
                 (e.g. \"0 6 * * *\")",
                fields.len()
            ));
        }
        let minutes = field(fields[0], "minute", 0, 59)?;
        let hours = field(fields[1], "hour", 0, 23)?;
        let days = field(fields[2], "day of month", 1, 31)?;
        let months = field(fields[3], "month", 1, 12)?;
        let mut weekdays = field(fields[4], "day of week", 0, 7)?;
        if weekdays & (1 << 7) != 0 {
            weekdays = (weekdays | 1) & !(1 << 7);
        }
        Ok(Self {
            text: fields.join(" "),
            minutes,
            hours,
            days,
            months,
            weekdays,
            days_restricted: fields[2] != "*",
            weekdays_restricted: fields[4] != "*",
        })
    }

    /// The expression as written (blanks normalised).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn day_matches(&self, date: Date) -> bool {
        if self.months & (1 << date.month()) == 0 {
            return false;
        }
        let dom = self.days & (1 << date.day()) != 0;
        let dow = self.weekdays & (1 << date.weekday().to_sunday_zero_offset()) != 0;
        match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => dom || dow,
            (true, false) => dom,
            (false, true) => dow,
            (false, false) => true,
        }
    }

    /// The first firing strictly after `after`, in `tz`; `None` when the
    /// expression never fires within five years.
    pub fn next_after(&self, after: Timestamp, tz: &TimeZone) -> Option<ZonedDateTime> {
        let local = after.to_zoned_datetime(tz.clone());
        let mut date = local.date();
        for _ in 0..MAX_DAYS_AHEAD {
            if self.day_matches(date) {
                for hour in bits(self.hours) {
                    for minute in bits(self.minutes) {
                        let civil = DateTime::new(
                            date.year(),
                            date.month(),
                            date.day(),
                            i8::try_from(hour).ok()?,
                            i8::try_from(minute).ok()?,
                            0,
                            0,
                        )
                        .ok()?;
                        let Ok(at) = civil.to_zoned_datetime(tz.clone()) else {
                            continue;
                        };
                        if at.timestamp() > after {
                            return Some(at);
                        }
                    }
                }
            }
            date = date.tomorrow().ok()?;
        }
        None
    }
}

impl std::fmt::Display for CronExpr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

fn bits(set: u64) -> impl Iterator<Item = u32> {
    (0..64).filter(move |i| set & (1u64 << i) != 0)
}

fn field(text: &str, name: &str, min: u32, max: u32) -> Result<u64, String> {
    let mut set = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => {
                let step = number(step, name)?;
                if step == 0 {
                    return Err(format!("{name}: the step in {part:?} is zero"));
                }
                (range, step)
            }
            None => (part, 1),
        };
        let (low, high) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (number(a, name)?, number(b, name)?)
        } else {
            let n = number(range, name)?;
            if step != 1 {
                return Err(format!(
                    "{name}: {part:?} steps from a single value; write a range (`{n}-{max}/{step}`)"
                ));
            }
            (n, n)
        };
        if low < min || high > max {
            return Err(format!("{name}: {part:?} is outside {min}-{max}"));
        }
        if low > high {
            return Err(format!(
                "{name}: {part:?} runs backwards; write the smaller value first"
            ));
        }
        let mut v = low;
        while v <= high {
            set |= 1 << v;
            v += step;
        }
    }
    Ok(set)
}

fn number(text: &str, name: &str) -> Result<u32, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) || text.len() > 2 {
        return Err(format!(
            "{name}: {text:?} is not a number (names and `?`, `L`, `W` are not accepted)"
        ));
    }
    text.parse()
        .map_err(|_| format!("{name}: {text:?} is not a number"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn next(expr: &str, after: &str, tz: &str) -> String {
        let tz = TimeZone::get(tz).unwrap();
        let after: Timestamp = after.parse().unwrap();
        CronExpr::parse(expr)
            .unwrap()
            .next_after(after, &tz)
            .unwrap()
            .to_string()
    }

    #[test]
    fn daily_weekly_and_monthly_fire_at_their_local_times() {
        assert_eq!(
            next("0 6 * * *", "2026-12-01T05:30:00Z", "UTC"),
            "2026-12-01T06:00:00+00:00[UTC]"
        );
        assert_eq!(
            next("0 6 * * *", "2026-12-01T06:00:00Z", "UTC"),
            "2026-12-02T06:00:00+00:00[UTC]"
        );
        // 2026-12-01 is a Tuesday: the next Monday is the 7th.
        assert_eq!(
            next("0 7 * * 1", "2026-12-01T00:00:00Z", "Europe/Paris"),
            "2026-12-07T07:00:00+01:00[Europe/Paris]"
        );
        assert_eq!(
            next("0 8 1 * *", "2026-12-01T08:00:00Z", "UTC"),
            "2027-01-01T08:00:00+00:00[UTC]"
        );
        assert_eq!(
            next("*/15 9-10 * * 1-5", "2026-12-05T12:00:00Z", "UTC"),
            "2026-12-07T09:00:00+00:00[UTC]"
        );
    }

    #[test]
    fn daylight_saving_moves_the_instant_not_the_local_time() {
        // Paris: UTC+1 in winter, UTC+2 from 2027-03-28 03:00.
        assert_eq!(
            next("0 6 * * *", "2027-03-27T06:00:00Z", "Europe/Paris"),
            "2027-03-28T06:00:00+02:00[Europe/Paris]"
        );
        // 02:30 does not exist that day: it fires after the gap, once.
        assert_eq!(
            next("30 2 * * *", "2027-03-27T02:00:00Z", "Europe/Paris"),
            "2027-03-28T03:30:00+02:00[Europe/Paris]"
        );
        // 02:30 happens twice on 2027-10-31: it fires at the first only.
        let first = next("30 2 * * *", "2027-10-30T12:00:00Z", "Europe/Paris");
        assert_eq!(first, "2027-10-31T02:30:00+02:00[Europe/Paris]");
        assert_eq!(
            next("30 2 * * *", "2027-10-31T00:30:00Z", "Europe/Paris"),
            "2027-11-01T02:30:00+01:00[Europe/Paris]"
        );
    }

    #[test]
    fn both_day_fields_restricted_fire_on_either() {
        // The 15th, or any Sunday.
        assert_eq!(
            next("0 0 15 * 0", "2026-12-01T00:00:00Z", "UTC"),
            "2026-12-06T00:00:00+00:00[UTC]"
        );
        assert_eq!(
            next("0 0 15 * 7", "2026-12-07T00:00:00Z", "UTC"),
            "2026-12-13T00:00:00+00:00[UTC]"
        );
    }

    #[test]
    fn an_impossible_date_never_fires() {
        let expr = CronExpr::parse("0 0 31 2 *").unwrap();
        assert!(
            expr.next_after(Timestamp::UNIX_EPOCH, &TimeZone::UTC)
                .is_none()
        );
    }

    proptest::proptest! {
        #[test]
        fn any_text_parses_or_is_refused_without_panicking(text in "\\PC{0,40}") {
            let _ = CronExpr::parse(&text);
        }

        #[test]
        fn the_next_firing_is_later_and_matches_every_field(
            minute in 0u32..60,
            hour in 0u32..24,
            step in 1u32..30,
            dow in 0u32..8,
            after in 0i64..4_000_000_000,
            zone in proptest::sample::select(vec!["UTC", "Europe/Paris", "America/New_York", "Australia/Lord_Howe"]),
        ) {
            let text = format!("{minute} {hour}-23/{step} * * {dow}");
            let expr = CronExpr::parse(&text).unwrap();
            let tz = TimeZone::get(zone).unwrap();
            let after = Timestamp::from_second(after).unwrap();
            let next = expr.next_after(after, &tz).unwrap();
            proptest::prop_assert!(next.timestamp() > after);
            proptest::prop_assert!(next.timestamp() <= after + jiff::SignedDuration::from_hours(24 * 8));
            // Away from a change of offset (a firing in a gap lands after
            // it) the local time is one the expression names.
            let local = next.datetime();
            let hour_before = (next.timestamp() - jiff::SignedDuration::from_hours(1)).to_zoned_datetime(tz.clone());
            if hour_before.offset() == next.offset() {
                proptest::prop_assert_eq!(local.minute(), i8::try_from(minute).unwrap());
                let h = u32::try_from(local.hour()).unwrap();
                proptest::prop_assert!(h >= hour && (h - hour) % step == 0, "{text} {next}");
                let wd = local.date().weekday().to_sunday_zero_offset();
                proptest::prop_assert_eq!(u32::try_from(wd).unwrap(), dow % 7, "{} {}", text, next);
            }
        }
    }

    #[test]
    fn malformed_expressions_are_refused_with_the_field_named() {
        for (text, needle) in [
            ("0 6 * *", "has 4 fields"),
            ("0 6 * * * *", "has 6 fields"),
            ("60 6 * * *", "minute"),
            ("0 24 * * *", "hour"),
            ("0 6 0 * *", "day of month"),
            ("0 6 * 13 *", "month"),
            ("0 6 * * 8", "day of week"),
            ("0 6 * * mon", "not a number"),
            ("*/0 6 * * *", "zero"),
            ("5/10 6 * * *", "single value"),
            ("0 9-5 * * *", "backwards"),
            ("0 -1 * * *", "not a number"),
            ("0 6 L * *", "not a number"),
            ("@daily", "fields"),
        ] {
            let error = CronExpr::parse(text).unwrap_err();
            assert!(error.contains(needle), "{text}: {error}");
        }
    }
}
