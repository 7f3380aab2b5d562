//! Durable file operations: private permissions, write-then-rename, fsync of
//! files and of the directories that name them, best-effort shredding, and
//! the crash points the rotation test kills the process at.

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

use crate::error::{Result, VaultError};

/// Creates `dir` (and parents) with mode 0700, and tightens it if it exists.
pub(crate) fn private_dir(dir: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(VaultError::io("cannot create", dir))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .map_err(VaultError::io("cannot chmod 700", dir))
}

/// Writes a new file with mode 0600 and fsyncs it. Fails if it exists.
pub(crate) fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(VaultError::io("cannot create", path))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(VaultError::io("cannot write", path))
}

/// Replaces `path` atomically: write `path.tmp`, fsync, rename, fsync dir.
pub(crate) fn replace(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    write_new(&tmp, bytes)?;
    fs::rename(&tmp, path).map_err(VaultError::io("cannot rename into", path))?;
    sync_parent(path)
}

/// Fsyncs the directory itself (so the names in it are durable).
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(VaultError::io("cannot fsync", dir))
}

fn sync_parent(path: &Path) -> Result<()> {
    match path.parent() {
        Some(parent) => sync_dir(parent),
        None => Ok(()),
    }
}

/// Overwrites a file with zeros, fsyncs, then unlinks it. On flash storage
/// and copy-on-write filesystems the old blocks may survive: this is best
/// effort, and the files it removes are still encrypted.
pub fn shred(path: &Path) -> Result<()> {
    if let Ok(meta) = fs::metadata(path) {
        let len = usize::try_from(meta.len()).unwrap_or(0);
        if let Ok(mut file) = OpenOptions::new().write(true).open(path) {
            let _ = file
                .write_all(&vec![0u8; len])
                .and_then(|()| file.sync_all());
        }
    }
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(VaultError::io("cannot remove", path)(e)),
    }
}

/// Shreds every file in `dir`, then removes it.
pub(crate) fn shred_dir(dir: &Path) -> Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(VaultError::io("cannot read", dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(VaultError::io("cannot read", dir))?;
        shred(&entry.path())?;
        crash_point("shredded an old file");
    }
    fs::remove_dir(dir).map_err(VaultError::io("cannot remove", dir))?;
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

/// Reads a secret from a file that only its owner can read (mode 0600 or
/// stricter), refusing it otherwise; the trailing newline is dropped.
pub fn read_private_file(path: &Path) -> Result<zeroize::Zeroizing<String>> {
    check_private_file(path)?;
    // Regular files only (a FIFO or a device is refused, not waited on), and
    // no secret is larger than a few hundred bytes.
    let bytes = zeroize::Zeroizing::new(argus_core::file::read_capped(
        path,
        argus_core::file::MAX_KEY_BYTES,
        "secret file",
    )?);
    let text = std::str::from_utf8(&bytes).map_err(|_| VaultError::Io {
        action: "not UTF-8:",
        path: path.to_path_buf(),
        source: std::io::Error::from(std::io::ErrorKind::InvalidData),
    })?;
    Ok(zeroize::Zeroizing::new(
        text.trim_end_matches(['\n', '\r']).to_string(),
    ))
}

/// Refuses a secret file that group or others can read.
pub fn check_private_file(path: &Path) -> Result<()> {
    let meta = fs::metadata(path).map_err(VaultError::io("cannot read", path))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(VaultError::InsecurePermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

/// Test hook: in debug builds, `ARGUS_TEST_CRASH_AT=<n>` kills the process
/// with SIGKILL (through `kill -9`, since this crate has no unsafe code; an
/// abort if that fails) at the n-th crash point it passes: no destructors,
/// no flushing. Release builds compile this to nothing.
pub(crate) fn crash_point(step: &str) {
    #[cfg(debug_assertions)]
    {
        use std::sync::atomic::{AtomicU32, Ordering};
        static PASSED: AtomicU32 = AtomicU32::new(0);
        if let Some(target) = std::env::var("ARGUS_TEST_CRASH_AT")
            .ok()
            .and_then(|v| v.parse::<u32>().ok())
        {
            let n = PASSED.fetch_add(1, Ordering::SeqCst) + 1;
            if n == target {
                eprintln!("ARGUS_TEST_CRASH_AT: crashing at point {n} ({step})");
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", &std::process::id().to_string()])
                    .status();
                std::process::abort();
            }
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = step;
}
