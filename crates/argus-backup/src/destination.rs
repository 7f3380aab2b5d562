//! Where copies go: folders (with retention) and commands fed the file on
//! standard input (an object-store client, `ssh`, anything), and the
//! listing of the backups in a folder.
//!
//! A command is split on whitespace into a program and its arguments, and
//! `{name}` in any argument is replaced by the backup's file name. No shell
//! runs it: no quoting, globbing, pipes or variables; a command that needs
//! them is a script named here.

use std::fs;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::BackupError;

/// File names of backups: `argus-backup-<UTC time>-<host>.tar.age`.
pub const PREFIX: &str = "argus-backup-";
/// The backups' extension: a tar archive in the age format.
pub const SUFFIX: &str = ".tar.age";
/// The most of a failed command's standard error kept in the error.
const MAX_STDERR: usize = 2048;

/// One place copies go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A folder (on another disk or a mounted remote): the file is written
    /// as `<name>.partial`, synced, then renamed, so a folder never holds
    /// half a backup under a backup's name. Retention applies here.
    Dir(PathBuf),
    /// A program and its arguments, fed the file on standard input; `{name}`
    /// is replaced by the file name.
    Command(Vec<String>),
}

impl Destination {
    /// Splits a command template on whitespace (see the module docs).
    pub fn command(template: &str) -> Result<Self, String> {
        let argv: Vec<String> = template.split_whitespace().map(str::to_owned).collect();
        if argv.is_empty() {
            return Err("the command is empty".into());
        }
        Ok(Self::Command(argv))
    }

    /// How it is shown: the folder, or the command's program (its arguments
    /// may hold a bucket or host name, not secrets, but are kept short).
    pub fn describe(&self) -> String {
        match self {
            Self::Dir(dir) => dir.display().to_string(),
            Self::Command(argv) => format!("command {}", argv.join(" ")),
        }
    }
}

/// How many old backups a folder keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// Keep at most this many (the newest).
    pub keep_last: Option<u32>,
    /// Remove backups older than this.
    pub max_age: Option<SignedDuration>,
}

/// A backup file found in a folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupFile {
    /// Its file name.
    pub name: String,
    /// Its path.
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// When it was taken, from its name.
    #[serde(serialize_with = "rfc3339")]
    pub created: Timestamp,
}

fn rfc3339<S: serde::Serializer>(at: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// The file name of a backup taken at `at` on `host`.
pub fn backup_name(at: Timestamp, host: &str) -> String {
    let host: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{PREFIX}{}-{host}{SUFFIX}", at.strftime("%Y%m%dT%H%M%SZ"))
}

/// The time in a backup's file name, if it is one.
fn created_from_name(name: &str) -> Option<Timestamp> {
    let rest = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    let stamp = rest.get(..16)?;
    jiff::civil::DateTime::strptime("%Y%m%dT%H%M%SZ", stamp)
        .ok()?
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp())
}

/// The backups in `dir`, oldest first. Other files are ignored.
pub fn list(dir: &Path) -> Result<Vec<BackupFile>, BackupError> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).map_err(BackupError::io("read", dir))? {
        let entry = entry.map_err(BackupError::io("read", dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(created) = created_from_name(&name) else {
            continue;
        };
        let meta = entry
            .metadata()
            .map_err(BackupError::io("read", entry.path()))?;
        if !meta.is_file() {
            continue;
        }
        found.push(BackupFile {
            name,
            path: entry.path(),
            bytes: meta.len(),
            created,
        });
    }
    found.sort_by(|a, b| (a.created, &a.name).cmp(&(b.created, &b.name)));
    Ok(found)
}

/// Delivers `file` (named `name`) to `destination`; returns where it went.
pub(crate) fn deliver(
    destination: &Destination,
    file: &Path,
    name: &str,
) -> Result<String, BackupError> {
    let failed = |reason: String| BackupError::Destination {
        destination: destination.describe(),
        reason,
    };
    match destination {
        Destination::Dir(dir) => {
            let target = dir.join(name);
            if target.exists() {
                return Err(failed(format!("{} exists already", target.display())));
            }
            let partial = dir.join(format!("{name}.partial"));
            let mut out = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&partial)
                .map_err(|e| failed(format!("cannot create {}: {e}", partial.display())))?;
            let mut input = fs::File::open(file).map_err(BackupError::io("read", file))?;
            let copied = std::io::copy(&mut input, &mut out).and_then(|_| out.sync_all());
            if let Err(e) = copied {
                let _ = fs::remove_file(&partial);
                return Err(failed(format!("cannot write {}: {e}", partial.display())));
            }
            fs::rename(&partial, &target)
                .map_err(|e| failed(format!("cannot rename into {}: {e}", target.display())))?;
            if let Ok(d) = fs::File::open(dir) {
                let _ = d.sync_all();
            }
            Ok(target.display().to_string())
        }
        Destination::Command(argv) => {
            let argv: Vec<String> = argv.iter().map(|a| a.replace("{name}", name)).collect();
            let (program, args) = argv
                .split_first()
                .ok_or_else(|| failed("the command is empty".into()))?;
            let mut child = Command::new(program)
                .args(args)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| failed(format!("cannot start {program}: {e}")))?;
            let mut input = fs::File::open(file).map_err(BackupError::io("read", file))?;
            let fed = match child.stdin.take() {
                Some(mut stdin) => std::io::copy(&mut input, &mut stdin)
                    .and_then(|_| stdin.flush())
                    .map(|_| ()),
                None => Ok(()),
            };
            let mut stderr = Vec::new();
            if let Some(err) = child.stderr.take() {
                let _ = err.take(MAX_STDERR as u64).read_to_end(&mut stderr);
            }
            let status = child
                .wait()
                .map_err(|e| failed(format!("cannot wait for {program}: {e}")))?;
            let said = String::from_utf8_lossy(&stderr).trim().to_owned();
            if !status.success() {
                return Err(failed(format!("{program} failed ({status}): {said}")));
            }
            fed.map_err(|e| failed(format!("{program} did not read the whole file: {e}")))?;
            Ok(format!("{program} (stdin)"))
        }
    }
}

/// Applies retention to a folder: removes the backups past `keep_last` and
/// older than `max_age`, never the newest. Returns the files removed.
pub fn apply_retention(
    dir: &Path,
    retention: &Retention,
    now: Timestamp,
) -> Result<Vec<PathBuf>, BackupError> {
    let backups = list(dir)?;
    let count = backups.len();
    let mut removed = Vec::new();
    for (i, backup) in backups.iter().enumerate() {
        let newer = count - i - 1;
        if newer == 0 {
            break;
        }
        let too_many = retention
            .keep_last
            .is_some_and(|keep| newer >= keep.max(1) as usize);
        let too_old = retention
            .max_age
            .is_some_and(|max| now.duration_since(backup.created) > max);
        if too_many || too_old {
            fs::remove_file(&backup.path).map_err(BackupError::io("remove", &backup.path))?;
            removed.push(backup.path.clone());
        }
    }
    Ok(removed)
}
