//! The daemon's records as the commands that read or act on them open
//! them (`alerts`, `incidents`, `metrics`): the database of the data
//! directory, refused where there is none rather than created, and the
//! times they take and print (`--since`, RFC 3339).

use std::path::Path;

use anyhow::bail;
use argus_store::Connection;
use jiff::Timestamp;

use crate::output;

/// A connection to the daemon's database; refuses to create one where none is.
pub(crate) fn open_store(data_dir: &Path) -> anyhow::Result<Connection> {
    require_database(data_dir)?;
    Ok(crate::stores::open(data_dir)?.connect()?)
}

/// A read-only connection, for the subcommands that write nothing: they
/// work on a data directory the user may read but not write.
pub(crate) fn read_store(data_dir: &Path) -> anyhow::Result<Connection> {
    require_database(data_dir)?;
    Ok(crate::stores::open_read_only(data_dir)?.connect()?)
}

pub(crate) fn require_database(data_dir: &Path) -> anyhow::Result<()> {
    let path = data_dir.join(argus_store::DATABASE_FILE);
    if !crate::stores::exists(data_dir) {
        bail!(
            "there is no Argus database at {}: alerts, silences and incidents live in the daemon's data \
             directory; start the daemon once (`argus run -c argus.yaml`), or point --data-dir \
             (or ARGUS_DATA_DIR) at the directory it uses",
            path.display()
        )
    }
    Ok(())
}

/// RFC 3339 in UTC, to the second.
pub(crate) fn rfc3339(ms: i64) -> String {
    match Timestamp::from_millisecond(ms) {
        Ok(at) => at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Err(_) => format!("{ms} ms after the epoch"),
    }
}

pub(crate) fn shorten(text: &str) -> String {
    let mut short: String = text.chars().take(70).collect();
    if text.chars().count() > 70 {
        short.push('…');
    }
    output::escape(&short).into_owned()
}

/// `--since`: a time, or a duration before now.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Since {
    At(Timestamp),
    Ago { ms: u64 },
}

impl Since {
    pub(crate) fn at_ms(self, now_ms: i64) -> i64 {
        match self {
            Since::At(at) => at.as_millisecond(),
            Since::Ago { ms } => now_ms.saturating_sub(i64::try_from(ms).unwrap_or(i64::MAX)),
        }
    }
}

pub(crate) fn parse_since(text: &str) -> Result<Since, String> {
    if let Ok(ms) = argus_core::parse_window_ms(text) {
        return Ok(Since::Ago { ms });
    }
    parse_time(text).map(Since::At).map_err(|_| {
        format!(
            "`{}` is neither an RFC 3339 time (2026-11-05T10:00:00Z) nor a duration ago (90m, \
             2h, 1d)",
            shorten(text)
        )
    })
}

pub(crate) fn parse_time(text: &str) -> Result<Timestamp, String> {
    text.trim().parse::<Timestamp>().map_err(|_| {
        format!(
            "`{}` is not an RFC 3339 time; write e.g. 2026-11-05T10:00:00Z or \
             2026-11-05T11:00:00+01:00",
            shorten(text)
        )
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn since_takes_a_duration_or_a_time() {
        assert!(matches!(
            parse_since("2h"),
            Ok(Since::Ago { ms: 7_200_000 })
        ));
        assert!(matches!(
            parse_since("1d"),
            Ok(Since::Ago { ms: 86_400_000 })
        ));
        let at = parse_since("2026-11-05T10:00:00Z").unwrap();
        assert_eq!(at.at_ms(0), 1_793_872_800_000);
        assert_eq!(parse_since("90m").unwrap().at_ms(6_000_000), 600_000);
        for bad in ["", "soon", "2h later", "2026-11-05", "-5m", "0m"] {
            assert!(parse_since(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn times_print_as_utc_to_the_second() {
        assert_eq!(rfc3339(1_793_872_800_123), "2026-11-05T10:00:00Z");
    }
}
