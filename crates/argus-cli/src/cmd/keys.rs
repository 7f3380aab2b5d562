//! `argus keys`: the key vault in `<data_dir>/keystore/`.
//!
//! Secrets never come from the command line (argv is visible to every user
//! of the machine through `ps`): the master key comes from `ARGUS_MASTER_KEY`
//! or a `--master-key-file` only its owner can read, and an imported
//! keystore's password from `ARGUS_KEYSTORE_PASSWORD` or a `--password-file`
//! likewise. Output is addresses, labels and policies only.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use alloy_primitives::hex;
use anyhow::{Context as _, bail};
use argus_audit::{NewEntry, RetentionClass};
use argus_vault::{
    AccessPolicy, Action, KeyEntry, Keystore, MasterKey, OutsideWindow, TimeWindow, Vault,
};
use serde_json::json;

use super::keys_hsm::{self, HsmArgs};
use crate::{GlobalArgs, output, trail};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum KeysCommand {
    /// Generate a new key in the vault (creating the vault if needed), or
    /// inside a PKCS#11 token with `--hsm TOKEN`.
    Create(CreateArgs),
    /// Import a Web3 Secret Storage v3 keystore (e.g. from `cast wallet new`),
    /// into the vault or, with `--to-hsm TOKEN`, into a PKCS#11 token.
    Import(ImportArgs),
    /// List the keys: labels, addresses, policies.
    List(CommonArgs),
    /// Print the address and public key of a key.
    ExportPublic(LabelArgs),
    /// Replace a key with a new one under the same label and policy; the old
    /// key is kept, retired (it no longer signs; an HSM key is also disabled
    /// in its token), until you move its funds and roles and `remove` it.
    Rotate(RotateKeyArgs),
    /// Sign a message with a key, under its policy; a use outside the key's
    /// window that the policy allows raises a critical alert.
    Sign(super::keys_sign::SignArgs),
    /// Remove a key from the vault and shred its file.
    Remove(LabelArgs),
    /// Replace the access policy of a key.
    Policy(PolicyCommandArgs),
    /// Other secrets sealed under the master key (notifier tokens, webhook
    /// secrets …).
    #[command(subcommand)]
    Secret(SecretCommand),
    /// Decrypt every key: proof that the vault opens whole with this master key.
    Verify(CommonArgs),
    /// Re-encrypt everything under a new master key from `ARGUS_NEW_MASTER_KEY`
    /// (or `--new-master-key-file`); crash-safe.
    RotateMaster(RotateArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub(crate) struct CommonArgs {
    /// Read the master key from this file (mode 0600) instead of
    /// `ARGUS_MASTER_KEY`.
    #[arg(long, value_name = "FILE")]
    master_key_file: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub(super) json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct CreateArgs {
    /// The key's label (letters, digits, `.`, `_`, `-`).
    #[arg(long)]
    label: String,
    /// Generate the key inside the PKCS#11 token with this label
    /// (non-extractable); the vault records where it is.
    #[arg(long, value_name = "TOKEN")]
    hsm: Option<String>,
    #[command(flatten)]
    hsm_args: HsmArgs,
    #[command(flatten)]
    policy: PolicyArgs,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ImportArgs {
    /// The keystore file.
    file: PathBuf,
    /// The key's label in the vault.
    #[arg(long)]
    label: String,
    /// Read the keystore's password from this file (mode 0600) instead of
    /// `ARGUS_KEYSTORE_PASSWORD`.
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// Put the key into the PKCS#11 token with this label (sensitive, not
    /// extractable) instead of the vault's directory.
    #[arg(long, value_name = "TOKEN")]
    to_hsm: Option<String>,
    #[command(flatten)]
    hsm_args: HsmArgs,
    /// Once the key is in the token, shred the keystore file it came from
    /// (kept by default: it may be your only backup).
    #[arg(long, requires = "to_hsm")]
    remove_file: bool,
    #[command(flatten)]
    policy: PolicyArgs,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum SecretCommand {
    /// Seal a secret read from `ARGUS_SECRET_VALUE` or `--value-file`.
    Set(SecretSetArgs),
    /// List the names of the sealed secrets.
    List(CommonArgs),
    /// Remove a sealed secret.
    Remove(LabelArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct SecretSetArgs {
    /// The secret's name.
    name: String,
    /// Read the value from this file (mode 0600) instead of `ARGUS_SECRET_VALUE`.
    #[arg(long, value_name = "FILE")]
    value_file: Option<PathBuf>,
    #[command(flatten)]
    common: CommonArgs,
}

/// The access policy, from flags.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct PolicyArgs {
    /// Actions the key may be used for (repeatable): sign-containment, sign-any.
    #[arg(
        long = "allow",
        value_name = "ACTION",
        default_value = "sign-containment"
    )]
    allow: Vec<Action>,
    /// Hours the key may be used, local time, e.g. `9-17` or `22-6`.
    #[arg(long, value_name = "START-END", requires = "time_zone")]
    hours: Option<String>,
    /// Days the key may be used, e.g. `mon-fri` or `mon,wed,sat` (default: every day).
    #[arg(long, value_name = "DAYS", requires = "hours")]
    days: Option<String>,
    /// IANA time zone of `--hours`, e.g. `Europe/Paris`.
    #[arg(long, value_name = "TZ", requires = "hours")]
    time_zone: Option<String>,
    /// What a use outside the hours gets.
    #[arg(long, value_enum, default_value = "refuse")]
    outside: Outside,
    /// How long a generation of the key lives before it is due for
    /// rotation, e.g. `30d` (default 90 days: the scheduled checks alert
    /// before the due date and when it is past).
    #[arg(long, value_name = "DURATION")]
    rotate_every: Option<String>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum Outside {
    /// Refuse the use.
    Refuse,
    /// Allow it and raise a critical signal.
    AllowWithCriticalSignal,
}

#[derive(Debug, clap::Args)]
pub(crate) struct PolicyCommandArgs {
    /// The key's label.
    label: String,
    #[command(flatten)]
    policy: PolicyArgs,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Debug, clap::Args)]
pub(crate) struct LabelArgs {
    /// The key's label.
    label: String,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Debug, clap::Args)]
pub(crate) struct RotateKeyArgs {
    /// The key's label.
    label: String,
    /// Destroy the old key at once (its token objects, or its file) instead
    /// of keeping it retired: whatever its address still holds or is
    /// allowed to do can then never be moved or revoked with it.
    #[arg(long)]
    destroy_old: bool,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Debug, clap::Args)]
pub(crate) struct RotateArgs {
    /// Read the new master key from this file (mode 0600) instead of
    /// `ARGUS_NEW_MASTER_KEY`.
    #[arg(long, value_name = "FILE")]
    new_master_key_file: Option<PathBuf>,
    #[command(flatten)]
    common: CommonArgs,
}

pub(crate) fn run(global: &GlobalArgs, cmd: KeysCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        KeysCommand::Create(args) => {
            let policy = policy(&args.policy)?;
            let mut vault = open(&global.data_dir, &args.common, true)?;
            let entry = match &args.hsm {
                None => vault.create(&args.label, policy)?.clone(),
                Some(token) => {
                    let token = args.hsm_args.token(token)?;
                    vault.create_in_hsm(&args.label, policy, &token)?.clone()
                }
            };
            audited(global, &mut vault, "key.create", &entry)?;
            print_entry(&entry, args.common.json, "created")
        }
        KeysCommand::Import(args) => {
            let bytes = argus_core::file::read_capped(
                &args.file,
                argus_core::file::MAX_KEY_BYTES,
                "keystore file",
            )?;
            let keystore =
                Keystore::parse(&bytes).with_context(|| format!("{}", args.file.display()))?;
            let password = trail::read_secret(
                args.password_file.as_deref(),
                "ARGUS_KEYSTORE_PASSWORD",
                "the keystore's password",
                "--password-file",
            )?;
            let policy = policy(&args.policy)?;
            let mut vault = open(&global.data_dir, &args.common, true)?;
            let imported = match &args.to_hsm {
                None => vault.import(&keystore, password.as_bytes(), &args.label, policy),
                Some(token) => {
                    let token = args.hsm_args.token(token)?;
                    vault.import_to_hsm(&keystore, password.as_bytes(), &args.label, policy, &token)
                }
            };
            let entry = imported
                .with_context(|| format!("cannot import {}", args.file.display()))?
                .clone();
            drop(password);
            audited(global, &mut vault, "key.import", &entry)?;
            if args.remove_file {
                argus_vault::shred(&args.file).with_context(|| {
                    format!(
                        "the key is in the token, but {} could not be removed",
                        args.file.display()
                    )
                })?;
                record(
                    global,
                    &mut vault,
                    "key.import-file-removed",
                    json!({ "label": entry.label, "address": entry.address, "file": args.file }),
                )?;
                sh_eprintln!(
                    "shredded {}",
                    output::escaped(&args.file.display().to_string())
                );
            }
            print_entry(&entry, args.common.json, "imported")
        }
        KeysCommand::List(args) => {
            let vault = open(&global.data_dir, &args, false)?;
            if args.json {
                let keys: Vec<_> = vault.keys().iter().map(entry_json).collect();
                written(output::json_pretty(&json!({ "keys": keys })))
            } else {
                let mut out = String::new();
                for key in vault.keys() {
                    out.push_str(&format!(
                        "{:<24} {}  {:<16} {}  {}\n",
                        output::escaped(&key.label),
                        key.address,
                        output::escaped(&keys_hsm::location(key)),
                        actions(&key.policy),
                        rotation_due(key)
                    ));
                }
                if vault.keys().is_empty() {
                    sh_eprintln!("the vault is empty; `argus keys create --label NAME` adds a key");
                }
                written(output::stdout_text(&out))
            }
        }
        KeysCommand::ExportPublic(args) => {
            let vault = open(&global.data_dir, &args.common, false)?;
            let entry = vault.key(&args.label)?;
            let public_key = format!("0x{}", hex::encode(vault.public_key(&args.label)?));
            if args.common.json {
                written(output::json_pretty(&json!({
                    "label": entry.label,
                    "address": entry.address,
                    "public_key": public_key,
                })))
            } else {
                written(sh_println!(
                    "address:    {}\npublic key: {public_key}",
                    entry.address
                ))
            }
        }
        KeysCommand::Rotate(args) => {
            let mut vault = open(&global.data_dir, &args.common, false)?;
            let (retired, new) = vault.rotate_key(&args.label)?;
            record(
                global,
                &mut vault,
                "key.rotate",
                json!({
                    "label": new.label,
                    "address": new.address,
                    "location": keys_hsm::location_json(&new),
                    "retired_label": retired.label,
                    "retired_address": retired.address,
                }),
            )?;
            if args.destroy_old {
                let removed = vault.remove(&retired.label)?;
                audited(global, &mut vault, "key.remove", &removed)?;
            }
            if args.common.json {
                written(output::json_pretty(&json!({
                    "label": new.label,
                    "address": new.address,
                    "location": keys_hsm::location_json(&new),
                    "retired": {
                        "label": retired.label,
                        "address": retired.address,
                        "destroyed": args.destroy_old,
                    },
                })))
            } else if args.destroy_old {
                written(sh_println!(
                    "rotated {}: new address {}\ndestroyed the old key ({})",
                    output::escaped(&new.label),
                    new.address,
                    retired.address,
                ))
            } else {
                written(sh_println!(
                    "rotated {}: new address {}\nretired {} ({}): it no longer signs; move its funds and roles to the new address, then `argus keys remove {}`",
                    output::escaped(&new.label),
                    new.address,
                    output::escaped(&retired.label),
                    retired.address,
                    output::escaped(&retired.label)
                ))
            }
        }
        KeysCommand::Sign(args) => super::keys_sign::run(global, args),
        KeysCommand::Remove(args) => {
            let mut vault = open(&global.data_dir, &args.common, false)?;
            let entry = vault.remove(&args.label)?;
            audited(global, &mut vault, "key.remove", &entry)?;
            print_entry(&entry, args.common.json, "removed")
        }
        KeysCommand::Policy(args) => {
            let policy = policy(&args.policy)?;
            let mut vault = open(&global.data_dir, &args.common, false)?;
            let entry = vault.set_policy(&args.label, policy)?.clone();
            audited(global, &mut vault, "key.policy", &entry)?;
            print_entry(&entry, args.common.json, "updated")
        }
        KeysCommand::Secret(command) => secret_command(global, command),
        KeysCommand::Verify(args) => {
            let mut vault = open(&global.data_dir, &args, false)?;
            let count = vault.verify()?;
            record(
                global,
                &mut vault,
                "key.verify",
                json!({ "keys": count, "note": "every private key was decrypted" }),
            )?;
            report(&vault, count, args.json, "every key decrypts")
        }
        KeysCommand::RotateMaster(args) => {
            let vault = open(&global.data_dir, &args.common, false)?;
            let new = master_key(
                args.new_master_key_file.as_deref(),
                "ARGUS_NEW_MASTER_KEY",
                "--new-master-key-file",
            )?;
            let mut vault = vault.rotate_master(&new)?;
            let details = json!({ "keys": vault.keys().len(), "generation": vault.generation() });
            record(global, &mut vault, "key.rotate-master", details)?;
            sh_eprintln!(
                "the vault now opens with the new master key only: put it in ARGUS_MASTER_KEY \
                 and destroy the old one"
            );
            report(&vault, vault.keys().len(), args.common.json, "re-encrypted")
        }
    }
}

/// Records a use or change of a key in the audit log (security class): the
/// seed asks for every private-key access and configuration change to be
/// there.
fn audited(
    global: &GlobalArgs,
    vault: &mut Vault,
    action: &str,
    entry: &KeyEntry,
) -> anyhow::Result<()> {
    record(
        global,
        vault,
        action,
        json!({
            "label": entry.label,
            "address": entry.address,
            "location": keys_hsm::location_json(entry),
        }),
    )
}

/// Records a key operation (security class), signed with the checkpoint key
/// of the vault the operation used.
pub(super) fn record(
    global: &GlobalArgs,
    vault: &mut Vault,
    action: &str,
    details: serde_json::Value,
) -> anyhow::Result<()> {
    record_why(global, vault, action, "", details)
}

/// [`record`] with the operator's reason as the entry's "why".
pub(super) fn record_why(
    global: &GlobalArgs,
    vault: &mut Vault,
    action: &str,
    reason: &str,
    details: serde_json::Value,
) -> anyhow::Result<()> {
    let entry = NewEntry::new(RetentionClass::Security, trail::actor(), action)
        .at(trail::host_name(), "keys")
        .because(reason)
        .details(details);
    trail::append(vault, &global.data_dir, &entry).map(|_| ())
}

fn secret_command(global: &GlobalArgs, command: SecretCommand) -> anyhow::Result<ExitCode> {
    let reserved = |name: &str| -> anyhow::Result<()> {
        if name == trail::CHECKPOINT_SECRET {
            bail!(
                "{name} is the audit log's checkpoint signing key; Argus manages it (replacing or \
                 removing it would leave the log unextendable)"
            )
        }
        Ok(())
    };
    match command {
        SecretCommand::Set(args) => {
            reserved(&args.name)?;
            let value = trail::read_secret(
                args.value_file.as_deref(),
                "ARGUS_SECRET_VALUE",
                "the secret's value",
                "--value-file",
            )?;
            let mut vault = open(&global.data_dir, &args.common, true)?;
            vault.set_secret(&args.name, value.as_bytes())?;
            drop(value);
            record(
                global,
                &mut vault,
                "secret.set",
                json!({ "name": args.name }),
            )?;
            sh_eprintln!("sealed secret {:?}", args.name);
            names(&vault, args.common.json)
        }
        SecretCommand::List(args) => names(&open(&global.data_dir, &args, false)?, args.json),
        SecretCommand::Remove(args) => {
            reserved(&args.label)?;
            let mut vault = open(&global.data_dir, &args.common, false)?;
            vault.remove_secret(&args.label)?;
            record(
                global,
                &mut vault,
                "secret.remove",
                json!({ "name": args.label }),
            )?;
            sh_eprintln!("removed secret {:?}", args.label);
            names(&vault, args.common.json)
        }
    }
}

fn names(vault: &Vault, as_json: bool) -> anyhow::Result<ExitCode> {
    if as_json {
        written(output::json_pretty(
            &json!({ "secrets": vault.secret_names() }),
        ))
    } else {
        let mut out = String::new();
        for name in vault.secret_names() {
            out.push_str(&format!("{}\n", output::escaped(name)));
        }
        written(output::stdout_text(&out))
    }
}

/// Opens the vault of `data_dir` with the master key `args` point to.
pub(super) fn open(data_dir: &Path, args: &CommonArgs, create: bool) -> anyhow::Result<Vault> {
    trail::open_vault(data_dir, args.master_key_file.as_deref(), create)
}

fn master_key(file: Option<&Path>, env: &str, flag: &str) -> anyhow::Result<MasterKey> {
    let secret = trail::read_secret(file, env, "the master key", flag)?;
    Ok(MasterKey::new(secret.to_string())?)
}

fn policy(args: &PolicyArgs) -> anyhow::Result<AccessPolicy> {
    let window = match &args.hours {
        None => None,
        Some(hours) => {
            let (start, end) = hours
                .split_once('-')
                .and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)))
                .with_context(|| format!("--hours {hours:?}: write START-END, e.g. 9-17"))?;
            Some(TimeWindow {
                time_zone: args.time_zone.clone().unwrap_or_default(),
                days: match &args.days {
                    Some(days) => parse_days(days)?,
                    None => Vec::new(),
                },
                start_hour: start,
                end_hour: end,
                outside: match args.outside {
                    Outside::Refuse => OutsideWindow::Refuse,
                    Outside::AllowWithCriticalSignal => OutsideWindow::AllowWithCriticalSignal,
                },
            })
        }
    };
    let policy = AccessPolicy {
        actions: args.allow.clone(),
        window,
        rotate_every_secs: match &args.rotate_every {
            None => None,
            Some(text) => {
                let every = argus_core::duration::parse_duration(text)
                    .map_err(|e| anyhow::anyhow!("--rotate-every {text:?}: {e}"))?;
                if every.as_secs() < 86_400 {
                    bail!("--rotate-every {text:?}: a rotation period is at least one day");
                }
                Some(every.as_secs())
            }
        },
    };
    policy
        .validate()
        .map_err(|reason| anyhow::anyhow!("invalid policy: {reason}"))?;
    Ok(policy)
}

/// `mon-fri`, `sat,sun`, `1-5`: weekdays numbered 1 (Monday) to 7 (Sunday).
fn parse_days(text: &str) -> anyhow::Result<Vec<u8>> {
    const NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let day = |d: &str| -> anyhow::Result<u8> {
        let d = d.trim().to_ascii_lowercase();
        if let Some(i) = NAMES.iter().position(|n| d.starts_with(n)) {
            return Ok(u8::try_from(i + 1).unwrap_or(1));
        }
        match d.parse::<u8>() {
            Ok(n @ 1..=7) => Ok(n),
            _ => bail!("--days: {d:?} is not a weekday (mon … sun or 1 … 7)"),
        }
    };
    let mut days = Vec::new();
    for part in text.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (day(a)?, day(b)?);
                let mut d = a;
                loop {
                    days.push(d);
                    if d == b {
                        break;
                    }
                    d = d % 7 + 1;
                }
            }
            None => days.push(day(part)?),
        }
    }
    days.sort_unstable();
    days.dedup();
    Ok(days)
}

fn actions(policy: &AccessPolicy) -> String {
    let names: Vec<&str> = policy.actions.iter().map(|a| a.as_str()).collect();
    let mut text = names.join(",");
    if let Some(w) = &policy.window {
        text.push_str(&format!(
            " {:02}-{:02}h {}{}",
            w.start_hour,
            w.end_hour,
            w.time_zone,
            if w.days.is_empty() {
                String::new()
            } else {
                format!(" days {:?}", w.days)
            }
        ));
    }
    text
}

fn entry_json(entry: &KeyEntry) -> serde_json::Value {
    json!({
        "label": entry.label,
        "address": entry.address,
        "created_at": entry.created_at,
        "actions": entry.policy.actions,
        "window": entry.policy.window,
        "rotate_every_secs": entry.policy.rotate_every(),
        "rotation_due_at": argus_checks::rotation::due_at(entry).map(|t| t.to_string()),
        "location": keys_hsm::location_json(entry),
        "retired_at": entry.retired_at,
    })
}

/// `due 2027-03-01` (or `retired`) for the key list.
fn rotation_due(entry: &KeyEntry) -> String {
    if entry.retired_at.is_some() {
        return "retired".to_owned();
    }
    match argus_checks::rotation::due_at(entry) {
        Some(due) => format!(
            "rotation due {}",
            due.to_zoned_datetime(jiff::tz::TimeZone::UTC).date()
        ),
        None => "rotation due: unknown".to_owned(),
    }
}

fn print_entry(entry: &KeyEntry, as_json: bool, verb: &str) -> anyhow::Result<ExitCode> {
    if as_json {
        let mut doc = entry_json(entry);
        doc["result"] = verb.into();
        written(output::json_pretty(&doc))
    } else {
        sh_eprintln!("{verb} key {:?}", entry.label);
        written(sh_println!(
            "{}  {}",
            output::escaped(&entry.label),
            entry.address
        ))
    }
}

fn report(vault: &Vault, count: usize, as_json: bool, what: &str) -> anyhow::Result<ExitCode> {
    if as_json {
        written(output::json_pretty(&json!({
            "generation": vault.generation(),
            "keys": count,
        })))
    } else {
        written(sh_println!(
            "{count} keys, {what} (generation {})",
            vault.generation()
        ))
    }
}

/// The command's exit code once its result is written.
fn written(result: anyhow::Result<()>) -> anyhow::Result<ExitCode> {
    result.map(|()| ExitCode::SUCCESS)
}
