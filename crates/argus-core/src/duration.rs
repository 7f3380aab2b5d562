//! The one way Argus reads a length of time a person wrote.
//!
//! Durations appear in the config (`timeout: 10s`, `dedup_window: 10m`), in
//! rules (`> 5 in 5 minutes`, `for: 1m`) and on the command line (`--for 2h`).
//! They used to be read by four parsers that each accepted something else;
//! this grammar is the union of theirs, so nothing that was accepted before is
//! refused now:
//!
//! - a number and a unit: `250ms`, `10s`, `5m`, `1h`, `2d`, `1.5s`, `5 minutes`;
//! - several of them: `1h30m`, `1h 30m`, `1 hour, 30 minutes`;
//! - a fraction on any part: `1.5h`, `0,5s`, `.5s`;
//! - `HH:MM:SS[.fraction]`: `10:30:00`;
//! - ISO 8601: `PT10M`, `PT1H30M`, `P1DT2H`, `PT0.5S` (any case);
//! - a number alone is seconds (`30`, `1.5`) — except where a number alone
//!   would mean something else, which [`parse_window`] refuses.
//!
//! Units, in any case: `ns`, `us`/`µs`, `ms`, `s`, `m`, `h`, `d` and their
//! names (`nanos`, `micros`, `millis`, `msec`, `sec`, `secs`, `second(s)`,
//! `min`, `mins`, `minute(s)`, `hr`, `hrs`, `hour(s)`, `day(s)`). Months and
//! years are not durations (their length depends on the date) and `M` is
//! minutes, as `m` is. A leading `+` is allowed; a negative duration is not
//! (`-0s` and `0s ago` are zero).
//!
//! [`HumanDuration`] writes a duration back in this grammar (`1h30m`,
//! `250ms`), so what Argus prints can be pasted into a config.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

const NANOS_PER_SEC: u128 = 1_000_000_000;
const UNITS: &[(u128, &[&str])] = &[
    (
        1,
        &[
            "ns",
            "nano",
            "nanos",
            "nsec",
            "nsecs",
            "nanosecond",
            "nanoseconds",
        ],
    ),
    (
        1_000,
        &[
            "us",
            "µs",
            "usec",
            "usecs",
            "µsec",
            "µsecs",
            "micro",
            "micros",
            "microsecond",
            "microseconds",
        ],
    ),
    (
        1_000_000,
        &[
            "ms",
            "msec",
            "msecs",
            "milli",
            "millis",
            "millisecond",
            "milliseconds",
        ],
    ),
    (NANOS_PER_SEC, &["s", "sec", "secs", "second", "seconds"]),
    (
        60 * NANOS_PER_SEC,
        &["m", "min", "mins", "minute", "minutes"],
    ),
    (3_600 * NANOS_PER_SEC, &["h", "hr", "hrs", "hour", "hours"]),
    (86_400 * NANOS_PER_SEC, &["d", "day", "days"]),
];
const EXAMPLES: &str = "e.g. 500ms, 10s, 5m, 1h30m, 2d, 5 minutes";
const UNIT_LIST: &str =
    "ms, s, m, h, d (or milliseconds, seconds, minutes, hours, days; also us, ns)";

/// Why a text is not a duration. The message says what is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("an empty text is not a duration: write a number and a unit, {EXAMPLES}")]
    Empty,
    #[error("`{text}` is not a duration: write a number and a unit, {EXAMPLES}")]
    NotADuration { text: String },
    #[error("`{unit}` is not a unit of time: use {UNIT_LIST}")]
    UnknownUnit { unit: String },
    #[error("`{text}` has no unit: add one, e.g. {text}s or {text}m")]
    NoUnit { text: String },
    #[error("`{text}` is negative: a duration cannot be negative")]
    Negative { text: String },
    #[error("`{text}` is too long a duration")]
    TooLong { text: String },
    #[error("a duration must be longer than zero")]
    Zero,
    #[error("`{text}` is shorter than a millisecond, the shortest window")]
    BelowMillisecond { text: String },
}

/// Parses a duration in the grammar of the [module](self); a number alone is
/// seconds and zero is allowed. For config values.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let parsed = parse(text)?;
    Ok(parsed.duration)
}

/// Parses a window or a span that must be there: a rule's `in 5m` and `for:`,
/// a silence's `--for`, `--since 2h`. The same grammar as [`parse_duration`],
/// but a unit is required (in `> 5 in 5` the bare number is ambiguous, and on
/// the command line `5` is more likely a mistake than five seconds) and the
/// duration must be at least a millisecond.
pub fn parse_window(text: &str) -> Result<Duration, DurationError> {
    let parsed = parse(text)?;
    if !parsed.unit_written {
        return Err(DurationError::NoUnit {
            text: shorten(text.trim()),
        });
    }
    if parsed.duration.is_zero() {
        return Err(DurationError::Zero);
    }
    if parsed.duration < Duration::from_millis(1) {
        return Err(DurationError::BelowMillisecond {
            text: shorten(text.trim()),
        });
    }
    if u64::try_from(parsed.duration.as_millis()).is_err() {
        return Err(DurationError::TooLong {
            text: shorten(text.trim()),
        });
    }
    Ok(parsed.duration)
}

/// [`parse_window`] in whole milliseconds (truncated), which always fit a `u64`.
pub fn parse_window_ms(text: &str) -> Result<u64, DurationError> {
    let window = parse_window(text)?;
    Ok(u64::try_from(window.as_millis()).unwrap_or(u64::MAX))
}

/// Serde: a duration written as text in the grammar of the [module](self),
/// or as a number of seconds. Use with `#[serde(deserialize_with = …)]`.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    match Written::deserialize(deserializer)? {
        Written::Seconds(seconds) => seconds_to_duration(seconds),
        Written::Text(text) => parse_duration(&text).map_err(serde::de::Error::custom),
    }
}

/// Serde: like [`deserialize`], for an optional field (`null` or absent is
/// `None`; pair it with `#[serde(default)]`).
pub fn deserialize_option<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    match Option::<Written>::deserialize(deserializer)? {
        None => Ok(None),
        Some(Written::Seconds(seconds)) => seconds_to_duration(seconds).map(Some),
        Some(Written::Text(text)) => parse_duration(&text)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Written {
    Seconds(f64),
    Text(String),
}

fn seconds_to_duration<E: serde::de::Error>(seconds: f64) -> Result<Duration, E> {
    if seconds < 0.0 {
        return Err(E::custom(DurationError::Negative {
            text: seconds.to_string(),
        }));
    }
    Duration::try_from_secs_f64(seconds).map_err(|_| {
        E::custom(format!(
            "{seconds} is not a duration: write a number of seconds or a number and a unit, {EXAMPLES}"
        ))
    })
}

/// Writes a duration in the grammar of the [module](self), largest unit
/// first: `1d2h`, `1h30m`, `250ms`, `1s500ms`, `0s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_zero() {
            return f.write_str("0s");
        }
        let secs = self.0.as_secs();
        let nanos = self.0.subsec_nanos();
        let parts = [
            (secs / 86_400, "d"),
            (secs / 3_600 % 24, "h"),
            (secs / 60 % 60, "m"),
            (secs % 60, "s"),
            (u64::from(nanos / 1_000_000), "ms"),
            (u64::from(nanos / 1_000 % 1_000), "us"),
            (u64::from(nanos % 1_000), "ns"),
        ];
        for (value, unit) in parts {
            if value > 0 {
                write!(f, "{value}{unit}")?;
            }
        }
        Ok(())
    }
}

struct Parsed {
    duration: Duration,
    /// Whether the text had a unit (a bare number did not).
    unit_written: bool,
}

fn shorten(text: &str) -> String {
    let mut short: String = text.chars().take(40).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}

fn parse(text: &str) -> Result<Parsed, DurationError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(DurationError::Empty);
    }
    let not_a_duration = || DurationError::NotADuration {
        text: shorten(trimmed),
    };
    let (negative, body) = if let Some(rest) = trimmed.strip_prefix('+') {
        (false, rest)
    } else if let Some(rest) = trimmed.strip_prefix('-') {
        (true, rest)
    } else {
        (false, trimmed)
    };
    let (body, ago) = match body.strip_suffix("ago") {
        Some(rest) if rest.ends_with(char::is_whitespace) && !negative => (rest.trim_end(), true),
        _ => (body, false),
    };
    if body.is_empty() {
        return Err(not_a_duration());
    }
    let mut cursor = Cursor { rest: body };
    let (nanos, unit_written) = if body.starts_with(['P', 'p']) {
        cursor.rest = &body[1..];
        (iso(&mut cursor).ok_or_else(not_a_duration)?, true)
    } else if body.contains(':') {
        (hms(&mut cursor).ok_or_else(not_a_duration)?, true)
    } else {
        units(&mut cursor, trimmed)?
    };
    if !cursor.rest.is_empty() {
        return Err(not_a_duration());
    }
    if (negative || ago) && nanos > 0 {
        return Err(DurationError::Negative {
            text: shorten(trimmed),
        });
    }
    let too_long = || DurationError::TooLong {
        text: shorten(trimmed),
    };
    let secs = u64::try_from(nanos / NANOS_PER_SEC).map_err(|_| too_long())?;
    // The remainder of a division by 10^9 fits a u32.
    let subsec = u32::try_from(nanos % NANOS_PER_SEC).map_err(|_| too_long())?;
    Ok(Parsed {
        duration: Duration::new(secs, subsec),
        unit_written,
    })
}

/// A number as written: whole part and the fraction's digits.
struct Number<'a> {
    whole: &'a str,
    fraction: &'a str,
}

impl Number<'_> {
    /// `self × unit` in nanoseconds, truncated below a nanosecond; `None`
    /// when it overflows.
    fn times(&self, unit: u128) -> Option<u128> {
        let whole: u128 = if self.whole.is_empty() {
            0
        } else {
            self.whole.parse().ok()?
        };
        let mut total = whole.checked_mul(unit)?;
        // Digits past the 18th cannot move a day by a nanosecond.
        let digits = &self.fraction[..self.fraction.len().min(18)];
        if !digits.is_empty() {
            let numerator: u128 = digits.parse().ok()?;
            let scale = 10u128.pow(u32::try_from(digits.len()).ok()?);
            total = total.checked_add(numerator.checked_mul(unit)? / scale)?;
        }
        Some(total)
    }
}

struct Cursor<'a> {
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> &'a str {
        let end = self.rest.find(|c| !keep(c)).unwrap_or(self.rest.len());
        let (taken, rest) = self.rest.split_at(end);
        self.rest = rest;
        taken
    }

    fn skip_space(&mut self) {
        self.rest = self.rest.trim_start();
    }

    fn eat(&mut self, c: char) -> bool {
        match self.rest.strip_prefix(c) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    /// `digits? ([.,] digits?)?` with at least one digit; a `,` counts as a
    /// decimal separator only when a digit follows it (`1,5s`, not `1h, 30m`).
    fn number(&mut self) -> Option<Number<'a>> {
        let start = self.rest;
        let whole = self.take_while(|c| c.is_ascii_digit());
        let separated = self.rest.starts_with('.')
            || (self.rest.starts_with(',')
                && self.rest[1..].starts_with(|c: char| c.is_ascii_digit()));
        let fraction = if separated {
            self.rest = &self.rest[1..];
            self.take_while(|c| c.is_ascii_digit())
        } else {
            ""
        };
        if whole.is_empty() && fraction.is_empty() {
            self.rest = start;
            return None;
        }
        Some(Number { whole, fraction })
    }
}

fn unit_nanos(label: &str) -> Option<u128> {
    // `µ` (micro sign) upper-cases to the Greek `Μ`, which lower-cases to
    // the Greek `μ`: both mean micro.
    let lower = label.to_lowercase().replace('μ', "µ");
    UNITS
        .iter()
        .find(|(_, labels)| labels.contains(&lower.as_str()))
        .map(|(nanos, _)| *nanos)
}

/// `1h30m`, `5 minutes`, `1 hour, 30 minutes`, or a bare number of seconds.
fn units(cursor: &mut Cursor<'_>, whole_text: &str) -> Result<(u128, bool), DurationError> {
    let not_a_duration = || DurationError::NotADuration {
        text: shorten(whole_text),
    };
    let too_long = || DurationError::TooLong {
        text: shorten(whole_text),
    };
    let mut total: u128 = 0;
    let mut parts = 0;
    loop {
        let Some(number) = cursor.number() else {
            return Err(not_a_duration());
        };
        cursor.skip_space();
        let label = cursor.take_while(|c| c.is_alphabetic());
        if label.is_empty() {
            if parts == 0 && cursor.rest.is_empty() {
                let nanos = number.times(NANOS_PER_SEC).ok_or_else(too_long)?;
                return Ok((nanos, false));
            }
            return Err(not_a_duration());
        }
        let unit = unit_nanos(label).ok_or_else(|| DurationError::UnknownUnit {
            unit: shorten(label),
        })?;
        let part = number.times(unit).ok_or_else(too_long)?;
        total = total.checked_add(part).ok_or_else(too_long)?;
        parts += 1;
        // `1 hour, 30 minutes`
        cursor.eat(',');
        cursor.skip_space();
        if cursor.rest.is_empty() {
            return Ok((total, true));
        }
    }
}

/// `HH:MM:SS[.fraction]`.
fn hms(cursor: &mut Cursor<'_>) -> Option<u128> {
    let hours: u128 = cursor.take_while(|c| c.is_ascii_digit()).parse().ok()?;
    if !cursor.eat(':') {
        return None;
    }
    let minutes: u128 = cursor.take_while(|c| c.is_ascii_digit()).parse().ok()?;
    if !cursor.eat(':') {
        return None;
    }
    let seconds = cursor.number()?;
    hours
        .checked_mul(3_600 * NANOS_PER_SEC)?
        .checked_add(minutes.checked_mul(60 * NANOS_PER_SEC)?)?
        .checked_add(seconds.times(NANOS_PER_SEC)?)
}

/// ISO 8601 after the `P`: `[nD][T[nH][nM][nS]]`, a fraction allowed on each.
fn iso(cursor: &mut Cursor<'_>) -> Option<u128> {
    let mut total: u128 = 0;
    let mut parts = 0;
    let mut in_time = false;
    loop {
        if !in_time && (cursor.eat('T') || cursor.eat('t')) {
            in_time = true;
            continue;
        }
        let Some(number) = cursor.number() else {
            break;
        };
        let designator = cursor.rest.chars().next()?;
        cursor.rest = &cursor.rest[designator.len_utf8()..];
        let unit = match (in_time, designator.to_ascii_uppercase()) {
            (false, 'D') => 86_400 * NANOS_PER_SEC,
            (true, 'H') => 3_600 * NANOS_PER_SEC,
            (true, 'M') => 60 * NANOS_PER_SEC,
            (true, 'S') => NANOS_PER_SEC,
            _ => return None,
        };
        total = total.checked_add(number.times(unit)?)?;
        parts += 1;
    }
    (parts > 0).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> u128 {
        parse_duration(text)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .as_millis()
    }

    #[test]
    fn what_the_chain_config_accepted() {
        assert_eq!(ms("250ms"), 250);
        assert_eq!(ms("2m"), 120_000);
        assert_eq!(ms("10s"), 10_000);
        assert_eq!(ms("1h"), 3_600_000);
        assert_eq!(ms("1.5"), 1_500);
        assert_eq!(ms("30"), 30_000);
        assert_eq!(ms(".5"), 500);
        assert_eq!(ms("1.5 m"), 90_000);
        assert_eq!(ms(" 0 "), 0);
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn what_the_rules_accepted() {
        assert_eq!(ms("5m"), 300_000);
        assert_eq!(ms("1 minute"), 60_000);
        assert_eq!(ms("5 minutes"), 300_000);
        assert_eq!(ms("2 hours"), 7_200_000);
        assert_eq!(ms("90 seconds"), 90_000);
        assert_eq!(ms("1d"), 86_400_000);
        assert_eq!(ms("3 days"), 259_200_000);
        assert_eq!(ms("5 Minutes"), 300_000);
        assert_eq!(ms("5M"), 300_000);
        assert_eq!(ms("10 secs"), 10_000);
        assert_eq!(ms("2 hrs"), 7_200_000);
    }

    #[test]
    fn what_the_alerting_config_accepted() {
        assert_eq!(ms("1h 30m"), 5_400_000);
        assert_eq!(ms("1h30m"), 5_400_000);
        assert_eq!(ms("1 hour, 30 minutes"), 5_400_000);
        assert_eq!(ms("10hrs 30mins"), 37_800_000);
        assert_eq!(ms("10:30:00"), 37_800_000);
        assert_eq!(ms("10.5 hours"), 37_800_000);
        assert_eq!(ms("0,5s"), 500);
        assert_eq!(ms("PT10M"), 600_000);
        assert_eq!(ms("pt1h30m"), 5_400_000);
        assert_eq!(ms("PT0.5S"), 500);
        assert_eq!(ms("+5s"), 5_000);
        assert_eq!(ms("-0s"), 0);
        assert_eq!(ms("0s ago"), 0);
        assert_eq!(
            parse_duration("3 mins 34s 123ms 456µs 789ns"),
            Ok(Duration::new(214, 123_456_789))
        );
        assert_eq!(ms("1 msec"), 1);
    }

    #[test]
    fn refusals_say_what_is_accepted() {
        let error = |text: &str| parse_duration(text).unwrap_err().to_string();
        assert!(
            error("soon").contains("not a duration"),
            "{}",
            error("soon")
        );
        assert!(error("soon").contains("5m"));
        assert!(error("5 fortnights").contains("not a unit of time"));
        assert!(error("1 month").contains("not a unit of time"));
        assert!(error("").contains("empty"));
        assert!(error("-1s").contains("negative"));
        assert!(error("1h ago").contains("negative"));
        assert!(error("99999999999999999999d").contains("too long"));
        assert!(error("m").contains("not a duration"));
        assert!(error("5m 3").contains("not a duration"));
        assert!(error("P1M").contains("not a duration"));
        assert!(error("P").contains("not a duration"));
        assert!(error("1:2").contains("not a duration"));
        assert!(error(".").contains("not a duration"));
    }

    #[test]
    fn windows_need_a_unit_and_a_length() {
        assert_eq!(parse_window_ms("5m"), Ok(300_000));
        assert_eq!(parse_window_ms("1.5s"), Ok(1_500));
        assert_eq!(
            parse_window("5"),
            Err(DurationError::NoUnit { text: "5".into() })
        );
        assert_eq!(parse_window("0s"), Err(DurationError::Zero));
        assert!(
            parse_window("0m")
                .unwrap_err()
                .to_string()
                .contains("longer than zero")
        );
        assert!(matches!(
            parse_window("500us"),
            Err(DurationError::BelowMillisecond { .. })
        ));
        assert!(matches!(
            parse_window("5124095576030432d"),
            Err(DurationError::TooLong { .. })
        ));
    }

    #[test]
    fn displayed_in_the_grammar() {
        let shown = |d: Duration| HumanDuration(d).to_string();
        assert_eq!(shown(Duration::ZERO), "0s");
        assert_eq!(shown(Duration::from_millis(250)), "250ms");
        assert_eq!(shown(Duration::from_secs(5_400)), "1h30m");
        assert_eq!(shown(Duration::from_secs(90_061)), "1d1h1m1s");
        assert_eq!(shown(Duration::new(1, 500_000_001)), "1s500ms1ns");
    }

    #[test]
    fn serde_reads_text_and_seconds() {
        #[derive(Deserialize)]
        struct Config {
            #[serde(deserialize_with = "deserialize")]
            timeout: Duration,
            #[serde(default, deserialize_with = "deserialize_option")]
            every: Option<Duration>,
        }
        let read = |json: &str| serde_json::from_str::<Config>(json);
        let config = read(r#"{"timeout": "3s"}"#).unwrap();
        assert_eq!(config.timeout, Duration::from_secs(3));
        assert_eq!(config.every, None);
        let config = read(r#"{"timeout": 0.5, "every": "1h30m"}"#).unwrap();
        assert_eq!(config.timeout, Duration::from_millis(500));
        assert_eq!(config.every, Some(Duration::from_secs(5_400)));
        let config = read(r#"{"timeout": 7, "every": null}"#).unwrap();
        assert_eq!(config.timeout, Duration::from_secs(7));
        assert_eq!(config.every, None);
        let error = read(r#"{"timeout": "soon"}"#).err().unwrap().to_string();
        assert!(error.contains("`soon` is not a duration"), "{error}");
        assert!(read(r#"{"timeout": -1}"#).is_err());
        assert!(read(r#"{"timeout": "1 fortnight"}"#).is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(text in "\\PC{0,40}") {
            let _ = parse_duration(&text);
            let _ = parse_window(&text);
        }

        #[test]
        fn never_panics_near_the_grammar(text in "[-+ .,:0-9a-zPTµ]{0,24}") {
            let _ = parse_duration(&text);
            let _ = parse_window(&text);
        }

        #[test]
        fn what_is_displayed_parses_back(secs in 0u64..=u64::MAX, nanos in 0u32..1_000_000_000) {
            let duration = Duration::new(secs, nanos);
            let shown = HumanDuration(duration).to_string();
            proptest::prop_assert_eq!(parse_duration(&shown), Ok(duration), "{}", shown);
        }

        #[test]
        fn every_unit_scales(n in 0u64..1_000_000, unit in 0usize..UNITS.len()) {
            let (nanos, labels) = UNITS[unit];
            for label in labels {
                let expected = u128::from(n) * nanos;
                proptest::prop_assert_eq!(
                    parse_duration(&format!("{n}{label}")).map(|d| d.as_nanos()),
                    Ok(expected)
                );
                proptest::prop_assert_eq!(
                    parse_duration(&format!("{n} {}", label.to_uppercase())).map(|d| d.as_nanos()),
                    Ok(expected)
                );
            }
        }
    }
}
