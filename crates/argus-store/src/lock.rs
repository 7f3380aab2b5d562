//! The daemon's claim on its data directory.
//!
//! SQLite lets two processes write one file (they take turns), so two
//! `argus run` on one data directory would both follow the chains and both
//! deliver every alert. The daemon therefore holds an exclusive `flock` on
//! `run.lock` in the data directory for its whole life, with its pid written
//! in the file so the second one can say who holds it. The lock, not the
//! file, decides: the kernel drops it when the holder exits however it
//! exits (`kill -9` included), so a file left by a dead process blocks
//! nothing. The file is never removed (removing a lock file races with the
//! next one to open it); its pid is cleared when the lock is let go.
//!
//! Until several daemons can share one store (on PostgreSQL), one data
//! directory has one daemon.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use crate::StoreError;

/// The lock file's name inside the data directory.
pub const RUN_LOCK_FILE: &str = "run.lock";

/// The exclusive claim of one running daemon on a data directory, from
/// [`RunLock::acquire`]; let go when dropped (or when the process dies).
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
}

impl RunLock {
    /// Takes the data directory's run lock (creating the directory, mode
    /// 0700, when it does not exist) and writes this process's pid in it.
    /// Fails at once with [`StoreError::Locked`], naming the holder's pid,
    /// when another process holds it.
    pub fn acquire(data_dir: &Path) -> Result<Self, StoreError> {
        crate::create_private_dir(data_dir)?;
        let path = data_dir.join(RUN_LOCK_FILE);
        let failed = |source| StoreError::Lock {
            path: path.clone(),
            source,
        };
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut file = options.open(&path).map_err(failed)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(StoreError::Locked {
                    dir: data_dir.to_owned(),
                    pid: read_pid(&mut file),
                });
            }
            Err(TryLockError::Error(source)) => return Err(failed(source)),
        }
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| writeln!(file, "{}", std::process::id()))
            .and_then(|()| file.sync_data())
            .map_err(failed)?;
        Ok(Self { file, path })
    }

    /// The pid written in `data_dir`'s lock file when a process holds the
    /// lock now; `None` when nobody does (a file left by a dead process
    /// included) or there is no such file.
    pub fn holder(data_dir: &Path) -> Option<u32> {
        let mut file = File::open(data_dir.join(RUN_LOCK_FILE)).ok()?;
        // A shared lock is refused only while the exclusive one is held.
        match file.try_lock_shared() {
            Ok(()) => {
                let _ = file.unlock();
                None
            }
            Err(TryLockError::WouldBlock) => read_pid(&mut file),
            Err(TryLockError::Error(_)) => None,
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Still held here: nobody reads a half-cleared file. Closing the
        // file lets the lock go.
        let _ = self.file.set_len(0);
    }
}

/// The pid in a lock file, if one is written there yet.
fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.take(64).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::fs;

    #[test]
    fn the_second_claim_is_refused_with_the_holders_pid_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let first = RunLock::acquire(&data).unwrap();
        assert!(data.is_dir(), "the data directory is created");
        let pid = std::process::id();
        assert_eq!(
            fs::read_to_string(first.path()).unwrap().trim(),
            pid.to_string()
        );
        assert_eq!(RunLock::holder(&data), Some(pid));
        let error = RunLock::acquire(&data).unwrap_err();
        assert!(
            matches!(&error, StoreError::Locked { pid: Some(p), dir } if *p == pid && *dir == data),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(
            message.contains(&format!(
                "another argus run (pid {pid}) holds {}",
                data.display()
            )) && message.contains("stop it first"),
            "{message}"
        );
        drop(first);
        assert_eq!(RunLock::holder(&data), None);
        let again = RunLock::acquire(&data).unwrap();
        drop(again);
    }

    #[test]
    fn a_file_left_by_a_dead_process_does_not_block() {
        let dir = tempfile::tempdir().unwrap();
        // A pid that is not ours and a file nobody locks.
        fs::write(dir.path().join(RUN_LOCK_FILE), "4194303\n").unwrap();
        assert_eq!(RunLock::holder(dir.path()), None);
        let lock = RunLock::acquire(dir.path()).unwrap();
        assert_eq!(
            fs::read_to_string(lock.path()).unwrap().trim(),
            std::process::id().to_string()
        );
    }

    #[test]
    fn the_lock_is_held_across_threads() {
        fn is<T: Send + Sync>() {}
        is::<RunLock>();
    }
}
