//! The vault's directory on disk: its lock, `CURRENT` and the generations
//! it names, and the consistent copy a backup takes.

use std::fs;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::{CURRENT, FORMAT, METADATA, Metadata};
use crate::error::{Result, VaultError};

/// One consistent copy of a vault's files, for a backup: `CURRENT` and the
/// generation it names, read under the vault's lock (so no rotation or key
/// change runs half way through the copy). The paths are relative to the
/// keystore directory. The key files are encrypted under the master key and
/// `vault.json` holds no secret, so the copy holds nothing readable without
/// the master key; it is held in zeroizing buffers all the same.
pub fn snapshot(dir: &Path) -> Result<Vec<(PathBuf, Zeroizing<Vec<u8>>)>> {
    let _lock = lock(dir)?;
    let name = gen_name(read_current(dir)?);
    let current_path = dir.join(CURRENT);
    let current = fs::read(&current_path).map_err(VaultError::io("cannot read", &current_path))?;
    let mut files = vec![(PathBuf::from(CURRENT), Zeroizing::new(current))];
    let generation = dir.join(&name);
    let mut entries: Vec<_> = fs::read_dir(&generation)
        .map_err(VaultError::io("cannot read", &generation))?
        .collect::<std::result::Result<_, _>>()
        .map_err(VaultError::io("cannot read", &generation))?;
    entries.sort_by_key(fs::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        if !path.is_file() {
            continue;
        }
        let bytes = fs::read(&path).map_err(VaultError::io("cannot read", &path))?;
        files.push((
            Path::new(&name).join(entry.file_name()),
            Zeroizing::new(bytes),
        ));
    }
    Ok(files)
}

pub(super) fn lock(dir: &Path) -> Result<fs::File> {
    let path = dir.join("LOCK");
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(VaultError::io("cannot open", &path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(VaultError::Busy {
            dir: dir.to_path_buf(),
        }),
        Err(fs::TryLockError::Error(e)) => Err(VaultError::io("cannot lock", &path)(e)),
    }
}

pub(super) fn read_current(dir: &Path) -> Result<u64> {
    let path = dir.join(CURRENT);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(VaultError::Corrupted {
                dir: dir.to_path_buf(),
                reason: "there is no vault here; `argus keys create` starts one".into(),
            });
        }
        Err(e) => return Err(VaultError::io("cannot read", path)(e)),
    };
    parse_gen_name(text.trim()).ok_or_else(|| VaultError::Corrupted {
        dir: dir.to_path_buf(),
        reason: "CURRENT does not name a generation".into(),
    })
}

pub(super) fn read_metadata(dir: &Path, gen_dir: &Path, generation: u64) -> Result<Metadata> {
    let path = gen_dir.join(METADATA);
    let bytes = fs::read(&path).map_err(VaultError::io("cannot read", &path))?;
    let meta: Metadata = serde_json::from_slice(&bytes).map_err(|e| VaultError::Corrupted {
        dir: dir.to_path_buf(),
        reason: format!("{}: {e}", path.display()),
    })?;
    if meta.format != FORMAT || meta.generation != generation {
        return Err(VaultError::Corrupted {
            dir: dir.to_path_buf(),
            reason: format!(
                "{} is format {} generation {}, expected format {FORMAT} generation {generation}",
                path.display(),
                meta.format,
                meta.generation
            ),
        });
    }
    Ok(meta)
}

pub(super) fn generations(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).map_err(VaultError::io("cannot read", dir))? {
        let entry = entry.map_err(VaultError::io("cannot read", dir))?;
        if let Some(generation) = parse_gen_name(&entry.file_name().to_string_lossy()) {
            found.push((generation, entry.path()));
        }
    }
    Ok(found)
}

pub(super) fn gen_name(generation: u64) -> String {
    format!("gen-{generation:06}")
}

pub(super) fn parse_gen_name(name: &str) -> Option<u64> {
    name.strip_prefix("gen-")?.parse().ok()
}
