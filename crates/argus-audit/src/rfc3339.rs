//! The audit log's times as text: the exact form entries are stamped with, and
//! the RFC 3339 reader for entries and for the times people type.
//!
//! Both are written out by hand rather than left to a general formatter: the
//! time string is hashed into the chain and signed, so the bytes written must
//! never drift with a dependency. An entry's time is always
//! `YYYY-MM-DDTHH:MM:SS.ffffff±HH:MM`: six fractional digits (truncated, not
//! rounded), a numeric offset (`+00:00`, never `Z`), the offset's seconds
//! dropped. This is the form the log has been written in since its first
//! version (it was produced by the `time` crate before Argus moved to
//! `jiff`), and reading accepts exactly what was accepted then, with the same
//! error messages.

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{Offset, TimeZone};
use jiff::{Timestamp, ZonedDateTime};

/// Formats a time as RFC 3339 with a numeric offset and microseconds, the
/// form every entry and checkpoint carries: `2026-11-05T10:00:00.000000+01:00`.
pub fn format_time(at: &ZonedDateTime) -> String {
    let dt = at.datetime();
    let mut out = String::with_capacity(32);
    let year = dt.year();
    if year < 0 {
        out.push('-');
    }
    push_digits(&mut out, u32::from(year.unsigned_abs()), 4);
    out.push('-');
    push_two(&mut out, dt.month());
    out.push('-');
    push_two(&mut out, dt.day());
    out.push('T');
    push_two(&mut out, dt.hour());
    out.push(':');
    push_two(&mut out, dt.minute());
    out.push(':');
    push_two(&mut out, dt.second());
    out.push('.');
    // Microseconds, truncated (never rounded up into the next second).
    push_digits(&mut out, dt.subsec_nanosecond().unsigned_abs() / 1000, 6);
    let offset = at.offset().seconds();
    out.push(if offset < 0 { '-' } else { '+' });
    let offset = offset.unsigned_abs();
    push_digits(&mut out, offset / 3600, 2);
    out.push(':');
    push_digits(&mut out, offset / 60 % 60, 2);
    out
}

fn push_two(out: &mut String, value: i8) {
    push_digits(out, u32::from(value.unsigned_abs()), 2);
}

/// Writes `value` in decimal, zero-padded to at least `width` digits.
fn push_digits(out: &mut String, value: u32, width: usize) {
    use std::fmt::Write as _;
    let _ = write!(out, "{value:0width$}");
}

/// Why a text is not an RFC 3339 time (worded as the log has always
/// worded it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TimeParseError {
    /// A part could not be read (`"year"`, `"month"`, ..., `"offset minute"`).
    #[error("the '{name}' component could not be parsed")]
    Component {
        /// The part.
        name: &'static str,
    },
    /// A `-` or `:` between the parts is missing.
    #[error("a character literal was not valid")]
    Literal,
    /// Something follows the offset.
    #[error("unexpected trailing characters; the end of input was expected")]
    Trailing,
    /// A part is out of range (31 February, hour 24, a leap second that is
    /// not at the end of a month in UTC).
    #[error("{name} was not in range")]
    Range {
        /// The part.
        name: &'static str,
    },
}

/// Reads an RFC 3339 time: `YYYY-MM-DD`, any one separator byte (`T`, `t`, a
/// space), `HH:MM:SS`, optional fractional seconds (any number of digits,
/// those past the ninth ignored), and `Z`, `z` or `±HH:MM`. A leap second
/// (`:60`) stands for the last nanosecond before it and is accepted only at
/// the end of a month in UTC. The result keeps the offset as a fixed time
/// zone.
pub fn parse_time(text: &str) -> Result<ZonedDateTime, TimeParseError> {
    use TimeParseError::Trailing;
    let unreadable = |name| TimeParseError::Component { name };
    let out_of_range = |name| TimeParseError::Range { name };

    let mut input = Input(text.as_bytes());
    let year = input.digits(4).ok_or(unreadable("year"))?;
    input.literal(b'-')?;
    let month = input
        .digits(2)
        .filter(|m| *m != 0)
        .ok_or(unreadable("month"))?;
    input.literal(b'-')?;
    let day = input.digits(2).ok_or(unreadable("day"))?;
    input.skip_one().ok_or(unreadable("separator"))?;
    let hour = input.digits(2).ok_or(unreadable("hour"))?;
    input.literal(b':')?;
    let minute = input.digits(2).ok_or(unreadable("minute"))?;
    input.literal(b':')?;
    let mut second = input.digits(2).ok_or(unreadable("second"))?;
    let mut nanosecond = 0u32;
    if input.eat(b'.') {
        let first = input.digit().ok_or(unreadable("subsecond"))?;
        nanosecond = first * 100_000_000;
        let mut multiplier = 10_000_000;
        while let Some(digit) = input.digit() {
            nanosecond += digit * multiplier;
            multiplier /= 10;
        }
    }
    let offset_seconds = if input.eat(b'Z') || input.eat(b'z') {
        0
    } else {
        let negative = if input.eat(b'-') {
            true
        } else if input.eat(b'+') {
            false
        } else {
            return Err(unreadable("offset hour"));
        };
        let hours = input
            .digits(2)
            .filter(|h| *h <= 23)
            .ok_or(unreadable("offset hour"))?;
        input.literal(b':')?;
        let minutes = input.digits(2).ok_or(unreadable("offset minute"))?;
        if minutes > 59 {
            return Err(out_of_range("offset minute"));
        }
        let seconds =
            i32::try_from(hours * 3600 + minutes * 60).map_err(|_| out_of_range("offset hour"))?;
        if negative { -seconds } else { seconds }
    };
    if !input.0.is_empty() {
        return Err(Trailing);
    }

    // Leap seconds stand for the nanosecond before them (checked below).
    let leap_second = second == 60;
    if leap_second {
        second = 59;
        nanosecond = 999_999_999;
    }
    if !(1..=12).contains(&month) {
        return Err(out_of_range("month"));
    }
    // Four digits and two digits: these conversions cannot fail.
    let year = i16::try_from(year).map_err(|_| out_of_range("year"))?;
    let small = |v: u32, name: &'static str| i8::try_from(v).map_err(|_| out_of_range(name));
    let date = Date::new(year, small(month, "month")?, small(day, "day")?)
        .map_err(|_| out_of_range("day"))?;
    if hour > 23 {
        return Err(out_of_range("hour"));
    }
    if minute > 59 {
        return Err(out_of_range("minute"));
    }
    if second > 59 {
        return Err(out_of_range("second"));
    }
    let nanosecond = i32::try_from(nanosecond).map_err(|_| out_of_range("nanosecond"))?;
    let time = Time::new(
        small(hour, "hour")?,
        small(minute, "minute")?,
        small(second, "second")?,
        nanosecond,
    )
    .map_err(|_| out_of_range("second"))?;
    let offset = Offset::from_seconds(offset_seconds).map_err(|_| out_of_range("offset hour"))?;
    // Only the very end of year 9999 is beyond what jiff represents.
    let at: Timestamp = offset
        .to_timestamp(DateTime::from_parts(date, time))
        .map_err(|_| out_of_range("year"))?;
    if leap_second {
        let utc = Offset::UTC.to_datetime(at);
        let last_of_month = utc.day() == utc.date().days_in_month();
        if !(utc.hour() == 23 && utc.minute() == 59 && utc.second() == 59 && last_of_month) {
            return Err(out_of_range("second"));
        }
    }
    Ok(at.to_zoned_datetime(TimeZone::fixed(offset)))
}

/// The bytes left to read.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn digit(&mut self) -> Option<u32> {
        match self.0 {
            [d @ b'0'..=b'9', rest @ ..] => {
                self.0 = rest;
                Some(u32::from(d - b'0'))
            }
            _ => None,
        }
    }

    /// Exactly `n` ASCII digits; nothing is consumed when there are fewer.
    fn digits(&mut self, n: usize) -> Option<u32> {
        let digits = self.0.get(..n)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.0 = &self.0[n..];
        Some(
            digits
                .iter()
                .fold(0, |acc, d| acc * 10 + u32::from(d - b'0')),
        )
    }

    fn eat(&mut self, byte: u8) -> bool {
        match self.0 {
            [first, rest @ ..] if *first == byte => {
                self.0 = rest;
                true
            }
            _ => false,
        }
    }

    fn literal(&mut self, byte: u8) -> Result<(), TimeParseError> {
        if self.eat(byte) {
            Ok(())
        } else {
            Err(TimeParseError::Literal)
        }
    }

    fn skip_one(&mut self) -> Option<()> {
        self.0 = self.0.get(1..)?;
        Some(())
    }
}
