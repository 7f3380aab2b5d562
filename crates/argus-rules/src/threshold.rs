//! The small language of thresholds, as operators write them.
//!
//! The seed procedure says `>5 in 5 minutes`, `>200% of normal`, `>90% for 1
//! minute`; rules say `> 5 in 5m` and `> 200% of 1h median`. Both parse here,
//! into [`Threshold`]; numbers stay exact (counts are integers, percentages are
//! kept in thousandths), so a threshold never depends on float rounding.
//! Windows are read by the one duration grammar, [`argus_core::parse_window`]:
//! a unit is required (in `> 5 in 5` the bare number is ambiguous) and a
//! window is longer than zero.

use std::fmt;

use argus_core::parse_window_ms;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
}

impl Comparison {
    /// Whether `ordering` (of the measured value against the limit) passes.
    pub fn holds(self, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            Comparison::Greater => ordering == Greater,
            Comparison::GreaterOrEqual => ordering != Less,
            Comparison::Less => ordering == Less,
            Comparison::LessOrEqual => ordering != Greater,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Comparison::Greater => ">",
            Comparison::GreaterOrEqual => ">=",
            Comparison::Less => "<",
            Comparison::LessOrEqual => "<=",
        }
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed threshold.
#[derive(Debug, Clone, PartialEq)]
pub enum Threshold {
    /// `> 5 in 5m`: how many matches (or the sum of `value`) in a sliding
    /// window.
    Count {
        op: Comparison,
        limit: u64,
        within_ms: u64,
    },
    /// `> 200% of 1h median`: a value against the median of the same value
    /// over a baseline window. `of normal` leaves the window to the caller
    /// (`None`).
    Baseline {
        op: Comparison,
        percent_milli: u64,
        baseline_ms: Option<u64>,
    },
    /// `> 5 seconds`, `> 90%`, optionally `for 1 minute`: a value against a
    /// fixed limit, the number as written (a unit word is dropped, `%` too).
    Value {
        op: Comparison,
        limit: f64,
        sustained_ms: Option<u64>,
    },
}

/// A window in milliseconds, e.g. `5m`, `1 minute`, `1h30m`.
pub fn window_ms(text: &str) -> Result<u64, String> {
    parse_window_ms(text).map_err(|e| e.to_string())
}

fn shorten(text: &str) -> String {
    text.chars().take(60).collect()
}

fn parse_comparison(text: &str) -> Result<(Comparison, &str), String> {
    let text = text.trim_start();
    for (prefix, op) in [
        (">=", Comparison::GreaterOrEqual),
        ("<=", Comparison::LessOrEqual),
        (">", Comparison::Greater),
        ("<", Comparison::Less),
    ] {
        if let Some(rest) = text.strip_prefix(prefix) {
            return Ok((op, rest.trim_start()));
        }
    }
    Err(format!(
        "`{}` does not start with a comparison: write >, >=, < or <=, e.g. \"> 5 in 5m\"",
        shorten(text)
    ))
}

/// Parses a decimal with at most three decimals into thousandths.
fn parse_milli(text: &str) -> Result<u64, String> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let valid = !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
        && fraction.len() <= 3;
    if !valid {
        return Err(format!(
            "`{}` is not a percentage: write a number with at most three decimals",
            shorten(text)
        ));
    }
    let padded = format!("{whole}{fraction:0<3}");
    padded
        .parse()
        .map_err(|_| format!("`{}` is too large", shorten(text)))
}

/// Parses a threshold (see [`Threshold`] for the forms).
pub fn parse_threshold(text: &str) -> Result<Threshold, String> {
    let (op, rest) = parse_comparison(text)?;
    let split = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (number, rest) = rest.split_at(split);
    if number.is_empty() {
        return Err(format!("`{}` has no number after `{op}`", shorten(text)));
    }
    let rest = rest.trim_start();
    // Percent of a baseline.
    if let Some(after) = rest.strip_prefix('%') {
        let after = after.trim_start();
        if let Some(baseline) = after.strip_prefix("of ") {
            let percent_milli = parse_milli(number)?;
            let baseline = baseline.trim();
            let baseline_ms = if baseline == "normal" || baseline == "median" {
                None
            } else {
                let window = baseline.strip_suffix("median").unwrap_or(baseline);
                Some(window_ms(window)?)
            };
            return Ok(Threshold::Baseline {
                op,
                percent_milli,
                baseline_ms,
            });
        }
        return value_threshold(op, number, after);
    }
    let lower = rest.to_ascii_lowercase();
    if let Some(window) = lower.strip_prefix("in ") {
        let limit = number.parse::<u64>().map_err(|_| {
            format!(
                "`{}` is not a whole count: a count window counts whole events",
                shorten(number)
            )
        })?;
        return Ok(Threshold::Count {
            op,
            limit,
            within_ms: window_ms(window)?,
        });
    }
    value_threshold(op, number, rest)
}

/// `5 seconds`, `5`, `90` then maybe `for 1 minute`.
fn value_threshold(op: Comparison, number: &str, rest: &str) -> Result<Threshold, String> {
    let limit: f64 = number
        .parse()
        .map_err(|_| format!("`{}` is not a number", shorten(number)))?;
    let lower = rest.trim().to_ascii_lowercase();
    let (unit, sustained) = match lower.split_once("for ") {
        Some((unit, duration)) => (unit.trim().to_owned(), Some(window_ms(duration)?)),
        None => (lower.clone(), None),
    };
    let limit = match unit.as_str() {
        "" | "s" | "sec" | "secs" | "second" | "seconds" | "%" | "percent" => limit,
        "ms" | "millisecond" | "milliseconds" => limit / 1000.0,
        other => {
            return Err(format!(
                "`{}` is not a threshold: expected `in <duration>`, `of <duration> median`, `for <duration>` or a unit (seconds, ms, %)",
                shorten(other)
            ));
        }
    };
    Ok(Threshold::Value {
        op,
        limit,
        sustained_ms: sustained,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let parse_duration = window_ms;
        assert_eq!(parse_duration("5m"), Ok(300_000));
        assert_eq!(parse_duration("1 minute"), Ok(60_000));
        assert_eq!(parse_duration("5 minutes"), Ok(300_000));
        assert_eq!(parse_duration("1h"), Ok(3_600_000));
        assert_eq!(parse_duration("30s"), Ok(30_000));
        assert_eq!(parse_duration("250ms"), Ok(250));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("5 fortnights").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }

    #[test]
    fn the_seed_thresholds_as_written() {
        assert_eq!(
            parse_threshold(">5 in 5 minutes"),
            Ok(Threshold::Count {
                op: Comparison::Greater,
                limit: 5,
                within_ms: 300_000
            })
        );
        assert_eq!(
            parse_threshold(">3 in 1 minute"),
            Ok(Threshold::Count {
                op: Comparison::Greater,
                limit: 3,
                within_ms: 60_000
            })
        );
        assert_eq!(
            parse_threshold(">200% of normal"),
            Ok(Threshold::Baseline {
                op: Comparison::Greater,
                percent_milli: 200_000,
                baseline_ms: None
            })
        );
        assert_eq!(
            parse_threshold(">5 seconds"),
            Ok(Threshold::Value {
                op: Comparison::Greater,
                limit: 5.0,
                sustained_ms: None
            })
        );
        assert_eq!(
            parse_threshold(">90% for 1 minute"),
            Ok(Threshold::Value {
                op: Comparison::Greater,
                limit: 90.0,
                sustained_ms: Some(60_000)
            })
        );
    }

    #[test]
    fn rule_forms() {
        assert_eq!(
            parse_threshold("> 200% of 1h median"),
            Ok(Threshold::Baseline {
                op: Comparison::Greater,
                percent_milli: 200_000,
                baseline_ms: Some(3_600_000)
            })
        );
        assert_eq!(
            parse_threshold(">= 2 in 30s"),
            Ok(Threshold::Count {
                op: Comparison::GreaterOrEqual,
                limit: 2,
                within_ms: 30_000
            })
        );
        assert_eq!(
            parse_threshold("<= 150.5% of 2h median"),
            Ok(Threshold::Baseline {
                op: Comparison::LessOrEqual,
                percent_milli: 150_500,
                baseline_ms: Some(7_200_000)
            })
        );
        assert_eq!(
            parse_threshold("< 250ms"),
            Ok(Threshold::Value {
                op: Comparison::Less,
                limit: 0.25,
                sustained_ms: None
            })
        );
        assert!(parse_threshold("5 in 5m").is_err());
        assert!(parse_threshold("> in 5m").is_err());
        assert!(parse_threshold("> 5.5 in 5m").is_err());
        assert!(parse_threshold("> 5 bananas").is_err());
        assert!(parse_threshold("> 1.0001% of normal").is_err());
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(text in ".{0,40}") {
            let _ = window_ms(&text);
            let _ = parse_threshold(&text);
        }

        #[test]
        fn durations_round_trip(n in 1u64..100_000, unit in 0usize..4) {
            let (suffix, ms) = [("s", 1_000), ("m", 60_000), ("h", 3_600_000), (" minutes", 60_000)][unit];
            proptest::prop_assert_eq!(window_ms(&format!("{n}{suffix}")), Ok(n * ms));
        }

        #[test]
        fn counts_round_trip(n in 0u64..1_000_000, m in 1u64..1000) {
            proptest::prop_assert_eq!(
                parse_threshold(&format!("> {n} in {m}m")),
                Ok(Threshold::Count { op: Comparison::Greater, limit: n, within_ms: m * 60_000 })
            );
        }
    }
}
