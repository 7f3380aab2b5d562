//! The `backup:` section: who backups are encrypted to, where copies go,
//! how many are kept.
//!
//! ```yaml
//! backup:
//!   recipients: [age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p]
//!   # or, instead of recipients (age cannot mix them):
//!   # passphrase: { env: ARGUS_BACKUP_PASSPHRASE }   # or { vault: backup-passphrase }
//!   destinations:
//!     - dir: /mnt/offsite/argus            # a folder on another disk or a mounted remote
//!     - command: "aws s3 cp - s3://acme-argus-backups/{name}"   # fed the file on stdin
//!   retention: { keep_last: 14, max_age: 90d }   # in folder destinations
//!   identity: /etc/argus/backup-identity.txt   # 0600; what the daily restore check decrypts with
//! ```
//!
//! Argus makes a backup when `argus backup create` runs: from a systemd
//! timer or cron (docs/operations.md has both), beside the daemon; the
//! daily `backup` check proves the newest one restores.
//!
//! A command is split on whitespace, with `{name}` replaced by the backup's
//! file name, and run without a shell. A folder inside the data directory is
//! refused: a backup there is lost with what it backs up.

use std::path::Path;
use std::time::Duration;

use argus_backup::{Destination, Retention};
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::{Collector, ConfigDocument};

/// The typed `backup:` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupConfig {
    /// The `age1…` recipients (checked), when the backups are encrypted to
    /// public keys.
    pub recipients: Vec<String>,
    /// Where the passphrase is, when they are encrypted to one.
    pub passphrase: Option<PassphraseSource>,
    /// Where copies go, in order; the first folder is where `list`, `verify`
    /// and the daily check look.
    pub destinations: Vec<Destination>,
    /// How many are kept in folders.
    pub retention: Retention,
    /// An age identity file (0600) that opens the backups, for the daily
    /// restore check and `argus backup verify -c` (resolved against the
    /// config's folder; best off the data disk).
    pub identity: Option<std::path::PathBuf>,
}

impl BackupConfig {
    /// The first folder destination.
    pub fn first_dir(&self) -> Option<&Path> {
        self.destinations.iter().find_map(|d| match d {
            Destination::Dir(dir) => Some(dir.as_path()),
            Destination::Command(_) => None,
        })
    }
}

/// Where a backup passphrase is read from; never the file itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassphraseSource {
    /// An environment variable.
    Env(String),
    /// A sealed secret in the vault (needs the master key).
    Vault(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BackupSection {
    #[serde(default)]
    recipients: Vec<String>,
    #[serde(default)]
    passphrase: Option<PassphraseSection>,
    #[serde(default)]
    destinations: Vec<DestinationSection>,
    #[serde(default)]
    retention: Option<RetentionSection>,
    #[serde(default)]
    identity: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PassphraseSection {
    #[serde(default)]
    env: Option<String>,
    #[serde(default)]
    vault: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DestinationSection {
    #[serde(default)]
    dir: Option<String>,
    #[serde(default)]
    command: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RetentionSection {
    #[serde(default)]
    keep_last: Option<u32>,
    #[serde(default, deserialize_with = "argus_core::duration::deserialize_option")]
    max_age: Option<Duration>,
}

/// Types and checks the section; every problem is reported at the section.
pub(super) fn backup_config(
    out: &mut Collector,
    doc: &ConfigDocument,
    raw: &Spanned<serde_json::Value>,
    data_dir: Option<&Path>,
) -> Option<BackupConfig> {
    let section = out.item::<BackupSection>("backup", raw)?;
    let before = out.diagnostics.len();
    let passphrase = match &section.passphrase {
        None => None,
        Some(PassphraseSection {
            env: Some(name),
            vault: None,
        }) if !name.trim().is_empty() => Some(PassphraseSource::Env(name.trim().to_owned())),
        Some(PassphraseSection {
            env: None,
            vault: Some(name),
        }) if !name.trim().is_empty() => Some(PassphraseSource::Vault(name.trim().to_owned())),
        Some(_) => {
            out.at(raw, "backup.passphrase: give exactly one of `env: VARIABLE` or `vault: SECRET_NAME` (never the passphrase itself)");
            None
        }
    };
    match (section.recipients.is_empty(), &section.passphrase) {
        (true, None) => out.at(raw, "backup: give `recipients` (age1… public keys, from `age-keygen`) or a `passphrase`"),
        (false, Some(_)) => out.at(raw, "backup: give `recipients` or a `passphrase`, not both (the age format cannot mix them)"),
        _ => {}
    }
    for (i, recipient) in section.recipients.iter().enumerate() {
        if let Err(e) = argus_backup::check_recipient(recipient) {
            out.at(raw, format!("backup.recipients[{i}]: {e}"));
        }
    }
    if section.destinations.is_empty() {
        out.at(raw, "backup.destinations is empty; give at least one `dir: PATH` (best on another disk) or `command: …`");
    }
    let mut destinations = Vec::new();
    for (i, destination) in section.destinations.iter().enumerate() {
        match (&destination.dir, &destination.command) {
            (Some(dir), None) if !dir.trim().is_empty() => {
                let path = doc.resolve(dir.trim());
                if let Some(data_dir) = data_dir
                    && path.starts_with(data_dir)
                {
                    out.at(raw, format!("backup.destinations[{i}].dir: {} is inside the data directory, so a backup there is lost with it; put it on another disk or host", path.display()));
                }
                destinations.push(Destination::Dir(path));
            }
            (None, Some(command)) => match Destination::command(command) {
                Ok(d) => destinations.push(d),
                Err(e) => out.at(raw, format!("backup.destinations[{i}].command: {e}")),
            },
            (Some(_), Some(_)) => out.at(raw, format!("backup.destinations[{i}] names both a dir and a command; make them two destinations")),
            _ => out.at(raw, format!("backup.destinations[{i}] is empty; give `dir: PATH` or `command: \"PROGRAM ARGS… {{name}}\"`")),
        }
    }
    let retention = section.retention.as_ref().map_or_else(Retention::default, |r| {
        if r.keep_last == Some(0) {
            out.at(raw, "backup.retention.keep_last is 0; keep at least 1 (the newest is never removed)");
        }
        Retention {
            keep_last: r.keep_last,
            max_age: r
                .max_age
                .and_then(|d| argus_backup::SignedDuration::try_from(d).ok()),
        }
    });
    let identity = section
        .identity
        .as_deref()
        .map(|file| doc.resolve(file.trim()));
    if let Some(file) = identity.as_ref().filter(|f| !f.is_file()) {
        out.at(raw, format!("backup.identity: {} is not a file; give the age identity file (`age-keygen -o FILE`, mode 0600) that opens the backups", file.display()));
    }
    (out.diagnostics.len() == before).then_some(BackupConfig {
        recipients: section.recipients,
        passphrase,
        destinations,
        retention,
        identity,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::unwrap_used)]
    use std::path::PathBuf;

    use crate::config::load;

    use super::*;

    const CHAINS: &str = "chains: [{ chain: anvil, rpc: [ws://127.0.0.1:8545] }]\ndata_dir: data\n";
    const RECIPIENT: &str = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";

    fn write(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join("argus.yaml");
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn a_backup_section_types_its_destinations_and_retention() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            &format!(
                "{CHAINS}backup:\n  recipients: [{RECIPIENT}]\n  destinations:\n    - dir: offsite\n    - command: \"aws s3 cp - s3://b/{{name}}\"\n  retention: {{ keep_last: 7, max_age: 90d }}\n"
            ),
        );
        let backup = load(&path).expect("loads").backup.expect("a section");
        assert_eq!(
            backup.first_dir(),
            Some(dir.path().join("offsite").as_path())
        );
        assert_eq!(
            backup.destinations[1],
            Destination::Command(vec![
                "aws".into(),
                "s3".into(),
                "cp".into(),
                "-".into(),
                "s3://b/{name}".into()
            ])
        );
        assert_eq!(backup.retention.keep_last, Some(7));
        assert_eq!(
            backup.retention.max_age,
            Some(argus_backup::SignedDuration::from_hours(90 * 24))
        );
    }

    #[test]
    fn bad_backup_sections_are_all_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            &format!(
                "{CHAINS}backup:\n  recipients: [age1nope, {RECIPIENT}]\n  passphrase: {{ env: X }}\n  destinations:\n    - dir: data/backups\n    - {{}}\n    - command: \"  \"\n  retention: {{ keep_last: 0 }}\n"
            ),
        );
        let error = load(&path).expect_err("refused");
        let text = error.to_string();
        assert!(text.contains("not both"), "{text}");
        assert!(text.contains("recipients[0]"), "{text}");
        assert!(text.contains("inside the data directory"), "{text}");
        assert!(text.contains("destinations[1] is empty"), "{text}");
        assert!(
            text.contains("destinations[2].command: the command is empty"),
            "{text}"
        );
        assert!(text.contains("keep_last is 0"), "{text}");
        assert!(error.0.iter().all(|d| d.line == 4), "{text}");
    }
}
