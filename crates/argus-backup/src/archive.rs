//! Packing and unpacking: a tar archive (manifest first) inside an age
//! stream, and the checks every member passes on the way out.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Component, Path, PathBuf};

use age::secrecy::SecretString;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::manifest::{FORMAT, MANIFEST_NAME, MAX_MANIFEST_BYTES, Manifest, ManifestFile, VERSION};
use crate::{BackupError, Encryption, private_dir};

/// Where `restore` puts the config and rule files, inside the new data
/// directory.
pub(crate) const RESTORED_CONFIG: &str = "restored-config";

/// What opens a backup.
pub enum Unlock {
    /// The text of an age identity file (`AGE-SECRET-KEY-1…` lines, as
    /// `age-keygen` writes).
    Identity(Zeroizing<String>),
    /// The passphrase it was encrypted with.
    Passphrase(Zeroizing<String>),
}

impl Unlock {
    /// The identity file at `path`, which must be a regular file of mode
    /// 0600 (as `age-keygen -o` writes it).
    pub fn identity_file(path: &Path) -> Result<Self, BackupError> {
        argus_vault::read_private_file(path)
            .map(Self::Identity)
            .map_err(BackupError::from)
    }
}

impl std::fmt::Debug for Unlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Identity(_) => "Identity(<redacted>)",
            Self::Passphrase(_) => "Passphrase(<redacted>)",
        })
    }
}

/// The members under `root/data` and `root/config`, sorted, hashed.
pub(crate) fn list_members(root: &Path) -> Result<Vec<ManifestFile>, BackupError> {
    let mut files = Vec::new();
    for top in ["data", "config"] {
        let dir = root.join(top);
        if dir.is_dir() {
            walk(root, &dir, &mut files)?;
        }
    }
    Ok(files)
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<ManifestFile>) -> Result<(), BackupError> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .map_err(BackupError::io("read", dir))?
        .collect::<Result<_, _>>()
        .map_err(BackupError::io("read", dir))?;
    entries.sort_by_key(fs::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        if path.is_dir() {
            walk(root, &path, out)?;
            continue;
        }
        let relative = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .to_string_lossy()
            .into_owned();
        out.push(ManifestFile {
            path: relative,
            source: None,
            size: fs::metadata(&path)
                .map_err(BackupError::io("read", &path))?
                .len(),
            sha256: file_sha256(&path)?,
        });
    }
    Ok(())
}

/// The SHA-256 of a file, hex.
pub(crate) fn file_sha256(path: &Path) -> Result<String, BackupError> {
    let mut file = fs::File::open(path).map_err(BackupError::io("read", path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf).map_err(BackupError::io("read", path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Writes the archive of `root` (manifest first, then its files in order),
/// encrypted, to `out`, and syncs it.
pub(crate) fn write(
    out: &Path,
    root: &Path,
    manifest: &Manifest,
    encryption: &Encryption,
) -> Result<(), BackupError> {
    let encryptor = match encryption {
        Encryption::Recipients(recipients) => {
            age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
                .map_err(|e| BackupError::Encrypt {
                    reason: e.to_string(),
                })?
        }
        Encryption::Passphrase(passphrase) => {
            age::Encryptor::with_user_passphrase(SecretString::from(passphrase.as_str()))
        }
    };
    let file = {
        use std::os::unix::fs::OpenOptionsExt as _;
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(out)
            .map_err(BackupError::io("create", out))?
    };
    let failed = BackupError::io("write", out);
    let written = (|| -> std::io::Result<fs::File> {
        let stream = encryptor.wrap_output(BufWriter::new(file))?;
        let mut tar = tar::Builder::new(stream);
        let mtime = jiff::Timestamp::strptime("%Y-%m-%dT%H:%M:%SZ", &manifest.created)
            .map_or(0, |t| t.as_second().max(0).cast_unsigned());
        let json = serde_json::to_vec_pretty(manifest).map_err(std::io::Error::other)?;
        tar.append_data(
            &mut header(json.len() as u64, mtime),
            MANIFEST_NAME,
            &json[..],
        )?;
        for member in &manifest.files {
            let path = root.join(&member.path);
            let input = fs::File::open(&path)?;
            tar.append_data(&mut header(member.size, mtime), &member.path, input)?;
        }
        let stream = tar.into_inner()?;
        let buffered = stream.finish()?;
        let file = buffered.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(file)
    })();
    written.map(drop).map_err(failed)
}

fn header(size: u64, mtime: u64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_size(size);
    header.set_mode(0o600);
    header.set_mtime(mtime);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    header
}

/// Decrypts the backup at `path`, reads the manifest, and checks every
/// member's size and SHA-256 against it; with `into`, writes `data/…` under
/// it and `config/…` under `into/restored-config/` (new files only, 0600).
/// Returns the manifest and the bytes of content checked.
pub fn open_backup(
    path: &Path,
    unlock: &Unlock,
    into: Option<&Path>,
) -> Result<(Manifest, u64), BackupError> {
    let file = fs::File::open(path).map_err(BackupError::io("read", path))?;
    let decrypt_error = |reason: String| BackupError::Decrypt {
        path: path.to_path_buf(),
        reason,
    };
    let damaged = |reason: String| BackupError::Damaged {
        path: path.to_path_buf(),
        reason,
    };
    let decryptor = age::Decryptor::new_buffered(BufReader::new(file)).map_err(|e| {
        decrypt_error(format!(
            "it is not a readable age file ({e}); is it an Argus backup?"
        ))
    })?;
    let scrypt = decryptor.is_scrypt();
    let reader = match unlock {
        Unlock::Identity(text) => {
            if scrypt {
                return Err(decrypt_error(
                    "it is encrypted with a passphrase, not to a recipient; give the passphrase"
                        .into(),
                ));
            }
            let identities = age::IdentityFile::from_buffer(text.as_bytes())
                .map_err(|_| decrypt_error("the identity file cannot be read as age identities".into()))?
                .into_identities()
                .map_err(|_| decrypt_error("the identity file holds an identity this argus cannot use (X25519 `AGE-SECRET-KEY-1…` only)".into()))?;
            if identities.is_empty() {
                return Err(decrypt_error("the identity file holds no identity".into()));
            }
            decryptor
                .decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity))
                .map_err(|e| decrypt_error(decrypt_reason(&e)))?
        }
        Unlock::Passphrase(passphrase) => {
            if !scrypt {
                return Err(decrypt_error(
                    "it is encrypted to recipients, not with a passphrase; give an identity file \
                     (--identity)"
                        .into(),
                ));
            }
            let identity = age::scrypt::Identity::new(SecretString::from(passphrase.as_str()));
            decryptor
                .decrypt(std::iter::once(&identity as &dyn age::Identity))
                .map_err(|e| decrypt_error(decrypt_reason(&e)))?
        }
    };
    let mut archive = tar::Archive::new(reader);
    let mut entries = archive
        .entries()
        .map_err(|e| damaged(format!("not a tar archive inside: {e}")))?;
    let manifest: Manifest = {
        let mut first = entries
            .next()
            .ok_or_else(|| damaged("the archive is empty".into()))?
            .map_err(|e| damaged(format!("cannot read the archive: {e}")))?;
        if entry_name(&first).as_deref() != Some(MANIFEST_NAME) {
            return Err(damaged(format!("its first member is not {MANIFEST_NAME}")));
        }
        let mut json = Vec::new();
        (&mut first)
            .take(MAX_MANIFEST_BYTES + 1)
            .read_to_end(&mut json)
            .map_err(|e| damaged(format!("cannot read the manifest: {e}")))?;
        if json.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(damaged("the manifest is larger than 16 MiB".into()));
        }
        serde_json::from_slice(&json)
            .map_err(|e| damaged(format!("the manifest does not parse: {e}")))?
    };
    if manifest.format != FORMAT || manifest.version != VERSION {
        return Err(damaged(format!(
            "it is `{}` version {}, this argus reads `{FORMAT}` version {VERSION}",
            manifest.format, manifest.version
        )));
    }
    let mut expected: HashMap<&str, &ManifestFile> = HashMap::new();
    for file in &manifest.files {
        if member_target(&file.path).is_none() {
            return Err(damaged(format!(
                "the manifest names `{}`, outside data/ and config/",
                file.path
            )));
        }
        if expected.insert(file.path.as_str(), file).is_some() {
            return Err(damaged(format!("the manifest names `{}` twice", file.path)));
        }
    }
    let mut seen: HashSet<String> = HashSet::new();
    let mut total = 0u64;
    for entry in entries {
        let mut entry = entry.map_err(|e| damaged(format!("cannot read the archive: {e}")))?;
        let name =
            entry_name(&entry).ok_or_else(|| damaged("a member's name is not UTF-8".into()))?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err(damaged(format!("`{name}` is not a regular file")));
        }
        let Some(meta) = expected.get(name.as_str()) else {
            return Err(damaged(format!("`{name}` is not in the manifest")));
        };
        if !seen.insert(name.clone()) {
            return Err(damaged(format!("`{name}` appears twice")));
        }
        let mut out = match (into, member_target(&name)) {
            (Some(into), Some(relative)) => {
                let target = into.join(relative);
                if let Some(parent) = target.parent() {
                    private_dir(parent)?;
                }
                use std::os::unix::fs::OpenOptionsExt as _;
                Some((
                    fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(0o600)
                        .open(&target)
                        .map_err(BackupError::io("create", &target))?,
                    target,
                ))
            }
            _ => None,
        };
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = entry
                .read(&mut buf)
                .map_err(|e| damaged(format!("cannot read `{name}`: {e}")))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            size += n as u64;
            if let Some((file, target)) = out.as_mut() {
                file.write_all(&buf[..n])
                    .map_err(BackupError::io("write", target.clone()))?;
            }
        }
        if size != meta.size || hex::encode(hasher.finalize()) != meta.sha256 {
            return Err(damaged(format!(
                "`{name}` does not match the manifest's size and SHA-256"
            )));
        }
        if let Some((file, target)) = out {
            file.sync_all().map_err(BackupError::io("write", target))?;
        }
        total += size;
    }
    if let Some(missing) = manifest.files.iter().find(|f| !seen.contains(&f.path)) {
        return Err(damaged(format!(
            "`{}` is in the manifest but not in the archive",
            missing.path
        )));
    }
    Ok((manifest, total))
}

fn decrypt_reason(error: &age::DecryptError) -> String {
    match error {
        age::DecryptError::NoMatchingKeys => {
            "none of the identities given opens it (the wrong identity file, or a backup made for \
             other recipients)"
                .into()
        }
        age::DecryptError::DecryptionFailed | age::DecryptError::KeyDecryptionFailed => {
            "the passphrase or identity does not open it".into()
        }
        other => other.to_string(),
    }
}

fn entry_name<R: Read>(entry: &tar::Entry<'_, R>) -> Option<String> {
    std::str::from_utf8(&entry.path_bytes())
        .ok()
        .map(str::to_owned)
}

/// Where a member goes, relative to the restored data directory: `data/X`
/// to `X`, `config/X` to `restored-config/X`. `None` for anything else, or a
/// path that is absolute or climbs (`..`).
fn member_target(name: &str) -> Option<PathBuf> {
    let path = Path::new(name);
    if !path.components().all(|c| matches!(c, Component::Normal(_))) {
        return None;
    }
    if let Ok(rest) = path.strip_prefix("data")
        && rest.components().next().is_some()
    {
        return Some(rest.to_path_buf());
    }
    if let Ok(rest) = path.strip_prefix("config")
        && rest.components().next().is_some()
    {
        return Some(Path::new(RESTORED_CONFIG).join(rest));
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// An age file (to a fresh identity) around a hand-made tar.
    fn sealed(members: &[(&str, &[u8])]) -> (tempfile::TempDir, PathBuf, Unlock) {
        let identity = age::x25519::Identity::generate();
        let recipient = identity.to_public();
        let mut tar = tar::Builder::new(Vec::new());
        for (name, bytes) in members {
            let mut header = header(bytes.len() as u64, 0);
            // `append_data` refuses `..`; write the name as an attacker would.
            let raw = header.as_old_mut();
            raw.name = [0; 100];
            raw.name[..name.len()].copy_from_slice(name.as_bytes());
            header.set_cksum();
            tar.append(&header, *bytes).unwrap();
        }
        let plain = tar.into_inner().unwrap();
        let encryptor =
            age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
                .unwrap();
        let mut out = Vec::new();
        let mut writer = encryptor.wrap_output(&mut out).unwrap();
        writer.write_all(&plain).unwrap();
        writer.finish().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("backup.tar.age");
        fs::write(&path, out).unwrap();
        let unlock = Unlock::Identity(Zeroizing::new(
            age::secrecy::ExposeSecret::expose_secret(&identity.to_string()).to_owned(),
        ));
        (dir, path, unlock)
    }

    fn manifest(files: &[(&str, &[u8])]) -> Vec<u8> {
        serde_json::to_vec(&Manifest {
            format: FORMAT.into(),
            version: VERSION,
            created: "2026-12-01T00:00:00Z".into(),
            host: "h".into(),
            argus_version: "0".into(),
            schema_version: 1,
            audit: None,
            files: files
                .iter()
                .map(|(path, bytes)| ManifestFile {
                    path: (*path).into(),
                    source: None,
                    size: bytes.len() as u64,
                    sha256: hex::encode(Sha256::digest(bytes)),
                })
                .collect(),
        })
        .unwrap()
    }

    fn refused(members: &[(&str, &[u8])], why: &str) {
        let (dir, path, unlock) = sealed(members);
        let into = dir.path().join("into");
        fs::create_dir(&into).unwrap();
        let err = open_backup(&path, &unlock, Some(&into)).unwrap_err();
        assert!(matches!(err, BackupError::Damaged { .. }), "{err}");
        assert!(err.to_string().contains(why), "{err}");
        assert!(!dir.path().join("evil").exists(), "nothing written outside");
    }

    #[test]
    fn hostile_archives_are_refused_and_write_nothing_outside() {
        let m = manifest(&[("data/argus.db", b"db")]);
        // A member outside the manifest, one climbing out, one twice, one
        // missing, one altered, no manifest first.
        refused(
            &[
                (MANIFEST_NAME, &m),
                ("data/argus.db", b"db"),
                ("data/x", b"x"),
            ],
            "not in the manifest",
        );
        refused(
            &[
                (MANIFEST_NAME, &manifest(&[("data/../../evil", b"x")])),
                ("data/../../evil", b"x"),
            ],
            "outside data/ and config/",
        );
        refused(
            &[
                (MANIFEST_NAME, &m),
                ("data/argus.db", b"db"),
                ("data/argus.db", b"db"),
            ],
            "appears twice",
        );
        refused(
            &[(MANIFEST_NAME, &m)],
            "in the manifest but not in the archive",
        );
        refused(
            &[(MANIFEST_NAME, &m), ("data/argus.db", b"DB")],
            "does not match the manifest",
        );
        refused(
            &[("data/argus.db", b"db")],
            "first member is not manifest.json",
        );
        refused(&[(MANIFEST_NAME, b"{not json")], "does not parse");
    }

    #[test]
    fn a_well_formed_archive_opens() {
        let m = manifest(&[("data/argus.db", b"db"), ("config/0-argus.yaml", b"c")]);
        let (dir, path, unlock) = sealed(&[
            (MANIFEST_NAME, &m),
            ("data/argus.db", b"db"),
            ("config/0-argus.yaml", b"c"),
        ]);
        let into = dir.path().join("into");
        let (_, bytes) = open_backup(&path, &unlock, Some(&into)).unwrap();
        assert_eq!(bytes, 3);
        assert_eq!(fs::read(into.join("argus.db")).unwrap(), b"db");
        assert_eq!(
            fs::read(into.join("restored-config/0-argus.yaml")).unwrap(),
            b"c"
        );
    }
}
