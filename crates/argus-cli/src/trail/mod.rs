//! The audit trail as the commands write it: the log in `<data_dir>/audit/`,
//! its checkpoints signed with a key sealed in the vault.
//!
//! The checkpoint key lives in the vault (sealed secret
//! [`CHECKPOINT_SECRET`], re-sealed by `rotate-master` like every other
//! secret) so whoever can write the log's directory still cannot re-sign a
//! rewritten log without the master key. Its public half is kept beside the
//! log (`checkpoint.pub`) for verifiers that have no secret, and is checked
//! against the vault's key each time the log is opened for writing. A key
//! left in `checkpoint.key` by an older Argus is moved into the vault and the
//! file shredded the first time a command writes the log.

use std::fs;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub(crate) mod daemon;
pub(crate) mod incidents;

use anyhow::{Context as _, bail};
use argus_audit::{AuditError, AuditLog, AuditPaths, CheckpointKey, Clock, NewEntry, read_log};
use argus_vault::{MasterKey, Vault, VaultError, read_private_file};

/// The vault's sealed secret holding the audit checkpoint key.
pub(crate) const CHECKPOINT_SECRET: &str = "argus.audit-checkpoint";

/// The variable the master key is read from when no file is given.
const MASTER_KEY_ENV: &str = "ARGUS_MASTER_KEY";

/// Where a command finds the master key: a 0600 file, or `ARGUS_MASTER_KEY`.
pub(crate) fn master_key(file: Option<&Path>) -> anyhow::Result<MasterKey> {
    let secret = read_secret(file, MASTER_KEY_ENV, "the master key", "--master-key-file")?;
    Ok(MasterKey::new(secret.to_string())?)
}

/// Whether a master key was given (a file, or a non-empty `ARGUS_MASTER_KEY`):
/// commands for which the vault is optional open it only then.
pub(crate) fn master_key_given(file: Option<&Path>) -> bool {
    // Set but not UTF-8 counts as given: opening then says what is wrong
    // instead of going on as if no key were set.
    file.is_some() || std::env::var_os(MASTER_KEY_ENV).is_some_and(|v| !v.is_empty())
}

/// A secret from a 0600 file, or else from the environment variable `env`;
/// never from the command line, which every user sees through `ps`.
pub(crate) fn read_secret(
    file: Option<&Path>,
    env: &str,
    what: &str,
    flag: &str,
) -> anyhow::Result<zeroize::Zeroizing<String>> {
    if let Some(path) = file {
        return Ok(read_private_file(path)?);
    }
    match std::env::var(env) {
        Ok(value) if !value.is_empty() => Ok(zeroize::Zeroizing::new(value)),
        Err(std::env::VarError::NotUnicode(raw)) => {
            // The bytes are a secret even when they are not text.
            zeroize::Zeroize::zeroize(&mut raw.into_encoded_bytes());
            bail!(
                "{env} is set but is not UTF-8 text; set {what} as text, or pass {flag} with a file of mode 0600"
            )
        }
        _ => bail!("{what} is needed: set {env} or pass {flag} with a file of mode 0600"),
    }
}

/// The vault's directory under a data directory.
pub(crate) fn vault_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("keystore")
}

/// Opens the vault (creating an empty one when `create`), printing what
/// opening had to repair.
pub(crate) fn open_vault(
    data_dir: &Path,
    master_key_file: Option<&Path>,
    create: bool,
) -> anyhow::Result<Vault> {
    let dir = vault_dir(data_dir);
    if !create && !Vault::exists(&dir) {
        bail!(
            "there is no vault in {}; `argus keys create --label NAME` or `argus keys import` \
             starts one (or pass --data-dir)",
            dir.display()
        )
    }
    let master = master_key(master_key_file)?;
    let vault = patiently(
        "the vault",
        || {
            if create {
                Vault::open_or_init(&dir, &master)
            } else {
                Vault::open(&dir, &master)
            }
        },
        |e| matches!(e, VaultError::Busy { .. }),
    )?;
    for notice in vault.notices() {
        sh_eprintln!("notice: {notice}");
    }
    Ok(vault)
}

/// The checkpoint key from `vault`: made and sealed on first use, moved in
/// from a legacy `checkpoint.key` file, and always matched against
/// `checkpoint.pub`.
pub(crate) fn checkpoint_key(
    vault: &mut Vault,
    paths: &AuditPaths,
) -> anyhow::Result<CheckpointKey> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&paths.dir)
        .with_context(|| format!("cannot create {}", paths.dir.display()))?;
    let legacy = paths.key.exists();
    let key = match vault.secret(CHECKPOINT_SECRET) {
        Ok(bytes) => {
            let Ok(secret) = <[u8; 32]>::try_from(bytes.as_slice()) else {
                bail!(
                    "the vault's audit checkpoint key is not 32 bytes; restore the vault from a \
                     backup"
                )
            };
            let secret = zeroize::Zeroizing::new(secret);
            let key = CheckpointKey::from_bytes(&secret);
            if legacy {
                let file_key = CheckpointKey::load(&paths.key)?;
                if file_key.verifying_key() != key.verifying_key() {
                    bail!(
                        "{} holds a different checkpoint key than the vault; one of them was \
                         replaced: keep both as evidence, check `argus audit verify`, then \
                         remove the file",
                        paths.key.display()
                    )
                }
                argus_vault::shred(&paths.key)?;
            }
            key
        }
        Err(VaultError::UnknownSecret { .. }) => {
            let key = if legacy {
                let key = CheckpointKey::load(&paths.key)?;
                sh_eprintln!(
                    "notice: moved the audit checkpoint key from {} into the vault",
                    paths.key.display()
                );
                key
            } else {
                if paths.exists() && read_log(paths)?.last_checkpoint().is_some() {
                    bail!(
                        "the audit log at {} has signed checkpoints, but its key is neither in \
                         the vault nor in {}: the log still verifies with checkpoint.pub, but \
                         it cannot be extended; restore the vault (or the key file) from a \
                         backup, or move the log aside as evidence to start a new one",
                        paths.log.display(),
                        paths.key.display()
                    )
                }
                CheckpointKey::generate()?
            };
            vault.set_secret(CHECKPOINT_SECRET, key.secret_bytes().as_slice())?;
            if legacy {
                argus_vault::shred(&paths.key)?;
            }
            key
        }
        Err(other) => return Err(other.into()),
    };
    let public = key.verifier().to_hex();
    let read = argus_core::file::read_to_string_capped(
        &paths.public_key,
        argus_core::file::MAX_KEY_BYTES,
        "public key file",
    );
    match read {
        Ok(text) if text.trim() == public => {}
        Ok(_) => bail!(
            "{} is not the public half of the vault's checkpoint key: it was replaced, or the \
             vault belongs to another log; `argus audit verify --public-key {public}` checks the \
             log against the vault's key",
            paths.public_key.display()
        ),
        Err(e) if e.is_not_found() => {
            fs::write(&paths.public_key, format!("{public}\n"))
                .with_context(|| format!("cannot write {}", paths.public_key.display()))?;
        }
        Err(e) => return Err(e.into()),
    }
    Ok(key)
}

/// The key the API tokens' TOTP secrets are sealed under: the vault's
/// `argus.totp-key`, made on first use (`argus tokens create --totp`).
pub(crate) fn totp_key(vault: &mut Vault) -> anyhow::Result<zeroize::Zeroizing<[u8; 32]>> {
    let name = argus_server::auth::tokens::TOTP_KEY_SECRET;
    match vault.secret(name) {
        Ok(bytes) => {
            let Ok(key) = <[u8; 32]>::try_from(bytes.as_slice()) else {
                bail!("the vault's {name} is not 32 bytes; restore the vault from a backup")
            };
            Ok(zeroize::Zeroizing::new(key))
        }
        Err(VaultError::UnknownSecret { .. }) => {
            let mut key = zeroize::Zeroizing::new([0u8; 32]);
            getrandom::fill(key.as_mut_slice())
                .map_err(|e| anyhow::anyhow!("the system's random generator failed: {e}"))?;
            vault.set_secret(name, key.as_slice())?;
            Ok(key)
        }
        Err(other) => Err(other.into()),
    }
}

/// The TOTP sealing key when the vault has one (the daemon reads it at
/// start; no token with TOTP exists before it does).
pub(crate) fn existing_totp_key(
    vault: &Vault,
) -> anyhow::Result<Option<zeroize::Zeroizing<[u8; 32]>>> {
    let name = argus_server::auth::tokens::TOTP_KEY_SECRET;
    match vault.secret(name) {
        Ok(bytes) => {
            let Ok(key) = <[u8; 32]>::try_from(bytes.as_slice()) else {
                bail!("the vault's {name} is not 32 bytes; restore the vault from a backup")
            };
            Ok(Some(zeroize::Zeroizing::new(key)))
        }
        Err(VaultError::UnknownSecret { .. }) => Ok(None),
        Err(other) => Err(other.into()),
    }
}

/// Opens the log under `data_dir` for appending, signing with the vault's key.
pub(crate) fn open_log(
    vault: &mut Vault,
    data_dir: &Path,
    clock: Clock,
) -> anyhow::Result<AuditLog> {
    let key = checkpoint_key(vault, &AuditPaths::new(data_dir))?.secret_bytes();
    open_log_signed(data_dir, &key, clock)
}

/// Opens the log under `data_dir` for appending, signing with `key` (the
/// checkpoint key's bytes, unsealed earlier), waiting for another writer.
pub(crate) fn open_log_signed(
    data_dir: &Path,
    key: &[u8; 32],
    clock: Clock,
) -> anyhow::Result<AuditLog> {
    let paths = AuditPaths::new(data_dir);
    Ok(patiently(
        "the audit log",
        || AuditLog::open_with_key(paths.clone(), CheckpointKey::from_bytes(key), clock.clone()),
        |e| matches!(e, AuditError::Locked { .. }),
    )?)
}

/// How long a command waits for another argus process to release the vault
/// or the audit log (each holds them for a moment: a key operation, an
/// append).
const WAIT_FOR_LOCK: Duration = Duration::from_secs(30);

/// Runs `attempt` until it succeeds, fails otherwise than `busy`, or
/// [`WAIT_FOR_LOCK`] has passed; says once that it waits.
fn patiently<T, E>(
    what: &str,
    mut attempt: impl FnMut() -> Result<T, E>,
    busy: impl Fn(&E) -> bool,
) -> Result<T, E> {
    let started = Instant::now();
    let mut told = false;
    loop {
        match attempt() {
            Err(error) if busy(&error) && started.elapsed() < WAIT_FOR_LOCK => {
                if !told {
                    sh_eprintln!("waiting for another argus process to release {what}…");
                    told = true;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

/// Appends one entry now. The action it records has happened when this runs;
/// a log that cannot take the entry is an error the operator must see.
pub(crate) fn append(vault: &mut Vault, data_dir: &Path, entry: &NewEntry) -> anyhow::Result<u64> {
    let action = entry.payload.action.clone();
    open_log(vault, data_dir, Clock::system())
        .and_then(|mut log| Ok(log.append(entry)?))
        .with_context(|| {
            format!(
                "{action} happened but could not be recorded in the audit log; run `argus audit \
                 verify` and record it by hand with `argus audit record`"
            )
        })
}

/// Who runs this process, for entries that name no actor: `$USER`,
/// `$LOGNAME`, or the numeric user id (services often have neither).
pub(crate) fn actor() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
        .or_else(|| {
            let status = fs::read_to_string("/proc/self/status").ok()?;
            let uid = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
            Some(format!("uid:{}", uid.split_whitespace().next()?))
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// This machine's name, for entries that do not give one.
pub(crate) fn host_name() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}
