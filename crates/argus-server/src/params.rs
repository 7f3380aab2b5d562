//! Query strings, read by hand and checked strictly.
//!
//! Each route names the parameters it takes; [`Params::parse`] refuses any
//! other (a typo such as `?severty=high` would otherwise be ignored and
//! return everything), a parameter given twice, and values longer than
//! [`MAX_VALUE`]. The typed getters turn each value into what the stage
//! query wants or a 400 that names the parameter and says what would be
//! accepted. Nothing here panics on any input: the values come from
//! anyone who can reach the port.

use std::str::FromStr;

use argus_core::{ChainId, Severity};
use jiff::Timestamp;

use crate::error::AppError;

/// The longest value accepted (a rule id, an RFC 3339 time, an alert id
/// are all far shorter).
pub(crate) const MAX_VALUE: usize = 256;

/// The parameters of one request.
#[derive(Debug, Default)]
pub(crate) struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Parses `raw` (the part after `?`), allowing only `allowed`.
    pub(crate) fn parse(raw: Option<&str>, allowed: &[&str]) -> Result<Self, AppError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (key, value) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            if key.is_empty() && value.is_empty() {
                continue;
            }
            if !allowed.contains(&key.as_ref()) {
                let accepted = if allowed.is_empty() {
                    "this route takes no parameters".to_owned()
                } else {
                    format!("this route takes {}", allowed.join(", "))
                };
                return Err(AppError::bad(
                    &shorten(&key),
                    format!("unknown parameter; {accepted}"),
                ));
            }
            if pairs.iter().any(|(k, _)| *k == key) {
                return Err(AppError::bad(&key, "given more than once"));
            }
            if value.chars().count() > MAX_VALUE {
                return Err(AppError::bad(
                    &key,
                    format!("longer than {MAX_VALUE} characters"),
                ));
            }
            pairs.push((key.into_owned(), value.into_owned()));
        }
        Ok(Self { pairs })
    }

    /// The raw value, trimmed; an empty value counts as absent.
    pub(crate) fn text(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// The value through `parse`, whose error becomes the 400's detail.
    pub(crate) fn get<T>(
        &self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, AppError> {
        self.text(name)
            .map(|text| parse(text).map_err(|why| AppError::bad(name, why)))
            .transpose()
    }

    /// `limit`: 1 to `max`, `default` when absent.
    pub(crate) fn limit(&self, default: usize, max: usize) -> Result<usize, AppError> {
        let limit = self
            .get("limit", |text| {
                text.parse::<usize>()
                    .map_err(|_| format!("`{}` is not a whole number", shorten(text)))
            })?
            .unwrap_or(default);
        if limit == 0 || limit > max {
            return Err(AppError::bad(
                "limit",
                format!("give 1 to {max} (default {default})"),
            ));
        }
        Ok(limit)
    }

    /// A flag: `true`/`false`/`1`/`0`; absent is false.
    pub(crate) fn flag(&self, name: &str) -> Result<bool, AppError> {
        Ok(self
            .get(name, |text| match text {
                "true" | "1" | "yes" => Ok(true),
                "false" | "0" | "no" => Ok(false),
                other => Err(format!("`{}` is not true or false", shorten(other))),
            })?
            .unwrap_or(false))
    }

    /// A time: RFC 3339, or a duration before `now_ms` (`90m`, `2h`, `1d`),
    /// as milliseconds since the epoch.
    pub(crate) fn since(&self, name: &str, now_ms: i64) -> Result<Option<i64>, AppError> {
        self.get(name, |text| parse_since(text, now_ms))
    }

    /// A chain by name or id (any id, since reading files nothing).
    pub(crate) fn chain(&self, name: &str) -> Result<Option<ChainId>, AppError> {
        self.get(name, |text| {
            ChainId::parse(text, true).map_err(|error| error.to_string())
        })
    }

    /// A severity (critical, high, medium, low, info).
    pub(crate) fn severity(&self, name: &str) -> Result<Option<Severity>, AppError> {
        self.get(name, |text| {
            Severity::from_str(&text.to_ascii_lowercase()).map_err(|_| {
                format!(
                    "`{}` is not a severity; use critical, high, medium, low or info",
                    shorten(text)
                )
            })
        })
    }
}

/// A time or a duration ago, as the CLI's `--since` reads it.
pub(crate) fn parse_since(text: &str, now_ms: i64) -> Result<i64, String> {
    if let Ok(ms) = argus_core::parse_window_ms(text) {
        return Ok(now_ms.saturating_sub(i64::try_from(ms).unwrap_or(i64::MAX)));
    }
    text.parse::<Timestamp>()
        .map(Timestamp::as_millisecond)
        .map_err(|_| {
            format!(
                "`{}` is neither an RFC 3339 time (2026-11-05T10:00:00Z) nor a duration ago (90m, 2h, 1d)",
                shorten(text)
            )
        })
}

/// At most 60 characters of a value for a message, controls dropped.
pub(crate) fn shorten(text: &str) -> String {
    let mut short: String = text.chars().filter(|c| !c.is_control()).take(60).collect();
    if text.chars().count() > 60 {
        short.push('…');
    }
    short
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn unknown_repeated_and_long_parameters_are_refused() {
        assert!(Params::parse(Some("limit=5"), &["limit"]).is_ok());
        assert!(Params::parse(Some("limt=5"), &["limit"]).is_err());
        assert!(Params::parse(Some("limit=5&limit=6"), &["limit"]).is_err());
        let long = format!("rule={}", "a".repeat(MAX_VALUE + 1));
        assert!(Params::parse(Some(&long), &["rule"]).is_err());
        assert!(Params::parse(Some("&&"), &[]).is_ok());
    }

    #[test]
    fn limits_and_times_are_checked() {
        let p = Params::parse(Some("limit=0"), &["limit"]).unwrap();
        assert!(p.limit(20, 100).is_err());
        let p = Params::parse(Some("limit=101"), &["limit"]).unwrap();
        assert!(p.limit(20, 100).is_err());
        let p = Params::parse(None, &["limit"]).unwrap();
        assert_eq!(p.limit(20, 100).unwrap(), 20);
        assert_eq!(parse_since("2h", 10_000_000).unwrap(), 2_800_000);
        assert_eq!(
            parse_since("2026-11-05T10:00:00Z", 0).unwrap(),
            1_793_872_800_000
        );
        assert!(parse_since("soon", 0).is_err());
    }
}
