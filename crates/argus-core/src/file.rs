//! The one way Argus reads a file a user named (cargo feature `fs`, off by
//! default).
//!
//! Every file that comes from outside (the config, rule files, registry
//! imports, signature lists and allow-lists, key and secret files, the audit
//! trail's files) is read through [`read_capped`] or [`read_to_string_capped`]:
//!
//! - **Only regular files.** A FIFO would block the read forever, a device
//!   such as `/dev/zero` or `/dev/urandom` never ends, a socket or directory is
//!   not a document. The file is opened non-blocking (so opening a FIFO
//!   without a writer does not hang) and its type is checked on the opened
//!   handle, not on the path, so nothing can be swapped in between.
//! - **A cap per kind of file** (the `MAX_*` constants). The size in the
//!   metadata is not trusted alone: `/proc` files say 0 and a file can grow
//!   while it is read, so at most `cap + 1` bytes are ever read and one more
//!   than the cap is a refusal.
//! - **Errors that name the path, what it was for, and what is wrong**, so a
//!   caller only adds its own context.
//!
//! It lives in core because it is the one crate every reader reaches (the
//! node, the rules, the registry, the vault, the audit trail, the CLI); it
//! is std-only besides `libc` for the open flag, and behind a feature like
//! `tls` so core stays free of I/O for the crates that never read a
//! file.

use std::fmt;
use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

const MIB: u64 = 1024 * 1024;

/// A daemon config file. Real ones are a few KiB.
pub const MAX_CONFIG_BYTES: u64 = 4 * MIB;
/// A rule file, or a rule test file and the data files it names.
pub const MAX_RULES_BYTES: u64 = 8 * MIB;
/// One file of a registry import (a build artifact, a deployment, a
/// broadcast, an ABI). No build artifact comes near it.
pub const MAX_IMPORT_BYTES: u64 = 64 * MIB;
/// A signature list or an allow-list for the linter: a dump of a whole
/// signature database is a few million lines.
pub const MAX_SIGNATURE_LIST_BYTES: u64 = 256 * MIB;
/// A key, a key file, a secret file, a public key or a trail head: a few
/// hundred bytes each.
pub const MAX_KEY_BYTES: u64 = MIB;

/// What kind of thing a path turned out to be, when it is not a regular file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Directory,
    Fifo,
    CharacterDevice,
    BlockDevice,
    Socket,
    Other,
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Directory => "a directory",
            Self::Fifo => "a FIFO (named pipe)",
            Self::CharacterDevice => "a character device",
            Self::BlockDevice => "a block device",
            Self::Socket => "a socket",
            Self::Other => "not a regular file",
        })
    }
}

/// Why a file could not be read. Displayed as "cannot read the {what}
/// {path}: {reason}"; [`ReadFileError::reason`] is the part after the path,
/// for callers that already name the file.
#[derive(Debug)]
pub enum ReadFileError {
    /// The path is not a regular file.
    NotRegular {
        what: String,
        path: PathBuf,
        kind: FileKind,
    },
    /// The file is larger than the cap for its kind.
    TooLarge {
        what: String,
        path: PathBuf,
        /// The size found (or, when `at_least`, how much was read before stopping).
        size: u64,
        at_least: bool,
        cap: u64,
    },
    /// The file is not UTF-8 text.
    NotUtf8 {
        what: String,
        path: PathBuf,
        offset: usize,
    },
    /// The operating system refused (missing, no permission, I/O error).
    Io {
        what: String,
        path: PathBuf,
        source: io::Error,
    },
}

impl fmt::Display for ReadFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, path) = self.subject();
        write!(
            f,
            "cannot read the {what} {}: {}",
            path.display(),
            self.reason()
        )
    }
}

impl std::error::Error for ReadFileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl ReadFileError {
    fn subject(&self) -> (&str, &Path) {
        match self {
            Self::NotRegular { what, path, .. }
            | Self::TooLarge { what, path, .. }
            | Self::NotUtf8 { what, path, .. }
            | Self::Io { what, path, .. } => (what, path),
        }
    }

    /// What is wrong and what to do, without the path.
    pub fn reason(&self) -> String {
        match self {
            Self::NotRegular { kind, .. } => {
                format!("it is {kind}, not a regular file; point at a regular file")
            }
            Self::TooLarge {
                what,
                size,
                at_least,
                cap,
                ..
            } => {
                let size = if *at_least {
                    format!("at least {size}")
                } else {
                    size.to_string()
                };
                format!(
                    "it is {size} bytes, more than the {cap}-byte limit for a {what}; check \
                     that this is the right file"
                )
            }
            Self::NotUtf8 { offset, .. } => {
                format!("it is not UTF-8 text (invalid byte at offset {offset}); save it as UTF-8")
            }
            Self::Io { source, .. } => source.to_string(),
        }
    }

    /// The I/O error underneath, when the operating system refused.
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        match self {
            Self::Io { source, .. } => Some(source.kind()),
            _ => None,
        }
    }

    /// The file does not exist (callers that treat a missing file as empty).
    pub fn is_not_found(&self) -> bool {
        self.io_kind() == Some(io::ErrorKind::NotFound)
    }
}

/// Reads the regular file at `path`, at most `cap` bytes; `what` names the
/// file in errors ("config file", "rule file").
pub fn read_capped(path: &Path, cap: u64, what: &str) -> Result<Vec<u8>, ReadFileError> {
    let io = |source: io::Error| ReadFileError::Io {
        what: what.to_owned(),
        path: path.to_owned(),
        source,
    };
    let file = open_regular(path, what)?;
    let size = file.metadata().map_err(io)?.len();
    let too_large = |size: u64, at_least: bool| ReadFileError::TooLarge {
        what: what.to_owned(),
        path: path.to_owned(),
        size,
        at_least,
        cap,
    };
    if size > cap {
        return Err(too_large(size, false));
    }
    // The metadata is a hint only (`/proc` says 0, files grow): read one byte
    // past the cap and refuse if it is there.
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    let read = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if read > cap {
        return Err(too_large(read, true));
    }
    Ok(bytes)
}

/// [`read_capped`], as UTF-8 text.
pub fn read_to_string_capped(path: &Path, cap: u64, what: &str) -> Result<String, ReadFileError> {
    let bytes = read_capped(path, cap, what)?;
    String::from_utf8(bytes).map_err(|error| ReadFileError::NotUtf8 {
        what: what.to_owned(),
        path: path.to_owned(),
        offset: error.utf8_error().valid_up_to(),
    })
}

/// Opens `path` for reading without blocking on a FIFO, and refuses anything
/// but a regular file, judged on the opened handle. For readers that seek
/// and read in parts (the log tailer); whole files go through
/// [`read_capped`].
pub fn open_regular(path: &Path, what: &str) -> Result<File, ReadFileError> {
    let io = |source: io::Error| ReadFileError::Io {
        what: what.to_owned(),
        path: path.to_owned(),
        source,
    };
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        // Non-blocking: opening a FIFO without a writer returns at once
        // (and is refused below); a terminal never becomes ours.
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    #[cfg(not(unix))]
    {
        // No non-blocking open: check the path first.
        let metadata = std::fs::metadata(path).map_err(io)?;
        check_regular(&metadata, path, what)?;
    }
    let file = options.open(path).map_err(io)?;
    let metadata = file.metadata().map_err(io)?;
    check_regular(&metadata, path, what)?;
    Ok(file)
}

fn check_regular(metadata: &Metadata, path: &Path, what: &str) -> Result<(), ReadFileError> {
    if metadata.is_file() {
        return Ok(());
    }
    Err(ReadFileError::NotRegular {
        what: what.to_owned(),
        path: path.to_owned(),
        kind: kind_of(metadata),
    })
}

fn kind_of(metadata: &Metadata) -> FileKind {
    let file_type = metadata.file_type();
    if file_type.is_dir() {
        return FileKind::Directory;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if file_type.is_fifo() {
            return FileKind::Fifo;
        }
        if file_type.is_char_device() {
            return FileKind::CharacterDevice;
        }
        if file_type.is_block_device() {
            return FileKind::BlockDevice;
        }
        if file_type.is_socket() {
            return FileKind::Socket;
        }
    }
    FileKind::Other
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "argus-core-file-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn reads_a_regular_file_up_to_the_cap() {
        let dir = temp_dir("regular");
        let path = dir.join("a.yaml");
        std::fs::write(&path, "0123456789").unwrap();
        assert_eq!(
            read_to_string_capped(&path, 10, "test file").unwrap(),
            "0123456789"
        );
        let error = read_capped(&path, 9, "test file").unwrap_err();
        let message = error.to_string();
        assert!(
            matches!(
                error,
                ReadFileError::TooLarge {
                    size: 10,
                    cap: 9,
                    ..
                }
            ),
            "{message}"
        );
        assert!(
            message.contains("a.yaml") && message.contains("10 bytes"),
            "{message}"
        );
        assert!(
            message.contains("9-byte limit for a test file"),
            "{message}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn refuses_a_directory_and_names_it() {
        let dir = temp_dir("directory");
        let error = read_capped(&dir, 10, "config file").unwrap_err();
        assert!(matches!(
            error,
            ReadFileError::NotRegular {
                kind: FileKind::Directory,
                ..
            }
        ));
        assert!(error.to_string().contains("is a directory"), "{error}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn refuses_devices_without_reading_them() {
        let error = read_capped(Path::new("/dev/zero"), 10, "rule file").unwrap_err();
        assert!(
            matches!(
                error,
                ReadFileError::NotRegular {
                    kind: FileKind::CharacterDevice,
                    ..
                }
            ),
            "{error}"
        );
        let message = error.to_string();
        assert!(
            message.contains("/dev/zero") && message.contains("character device"),
            "{message}"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_proc_file_with_size_zero_is_still_capped() {
        // /proc/self/status reports 0 bytes in its metadata and has ~1 KiB.
        let error = read_capped(Path::new("/proc/self/status"), 16, "status").unwrap_err();
        assert!(
            matches!(
                error,
                ReadFileError::TooLarge {
                    size: 17,
                    at_least: true,
                    ..
                }
            ),
            "{error}"
        );
        assert!(error.to_string().contains("at least 17 bytes"), "{error}");
        assert!(read_capped(Path::new("/proc/self/status"), MIB, "status").is_ok());
    }

    #[test]
    fn not_utf8_and_missing_say_so() {
        let dir = temp_dir("utf8");
        let path = dir.join("bad.txt");
        std::fs::write(&path, b"ok\xff").unwrap();
        let error = read_to_string_capped(&path, 10, "signature list").unwrap_err();
        assert!(
            matches!(error, ReadFileError::NotUtf8 { offset: 2, .. }),
            "{error}"
        );
        let missing = read_capped(&dir.join("none"), 10, "key file").unwrap_err();
        assert!(missing.is_not_found(), "{missing}");
        assert!(
            missing.to_string().starts_with("cannot read the key file "),
            "{missing}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
