//! `argus tokens create|list|revoke`: the HTTP API's bearer tokens.
//!
//! The token logic (format, Argon2id hashing, TOTP sealing, the queries)
//! is `argus_server::auth::tokens`; this module is what a command adds
//! around it: the vault for the TOTP sealing key (`argus.totp-key`, made
//! on first use), printing the token and the `otpauth://` URI once on
//! stdout (nothing else goes there; they are never logged), and an entry
//! in the audit log for each change (`token.create`, `token.revoke`,
//! security class), since a token is a way in. Without the master key a
//! viewer's or responder's token is still made and stderr says it is not
//! in the audit log; TOTP (and so every admin token) needs the key.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use argus_audit::{NewEntry, RetentionClass};
use argus_server::Role;
use argus_server::auth::tokens::{self, NewToken, TokenInfo};
use argus_server::auth::totp;
use argus_store::Store;
use argus_vault::Vault;
use jiff::Timestamp;
use serde_json::json;

use crate::cmd::records::{read_store, rfc3339};
use crate::{GlobalArgs, output, trail};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum TokensCommand {
    /// Make a token; prints it (and the TOTP URI) once on stdout.
    Create(CreateArgs),
    /// The tokens, newest first (never their secrets).
    List(ListArgs),
    /// Revoke the active tokens of an owner, or one token by id; the
    /// server refuses them from the next request on.
    Revoke(RevokeArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct CreateArgs {
    /// The owner (alice): the incident timeline and the audit log name
    /// them as `token:alice`.
    #[arg(long)]
    name: String,
    /// viewer (reads), responder (+ ack, notes, silences), admin (+
    /// approvals; always with TOTP).
    #[arg(long, value_parser = parse_role)]
    role: Role,
    /// Enroll a TOTP secret (an authenticator app); needs the master key.
    #[arg(long)]
    totp: bool,
    /// Expire after this long (90d, 12h); default never.
    #[arg(long, value_name = "DURATION", value_parser = argus_core::parse_window_ms)]
    expires: Option<u64>,
    #[command(flatten)]
    key: KeyArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ListArgs {
    /// One JSON document per line.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct RevokeArgs {
    /// An owner's name (all their active tokens) or a token id.
    what: String,
    /// Why (kept in the audit log).
    #[arg(long, value_name = "TEXT", default_value = "")]
    reason: String,
    #[command(flatten)]
    key: KeyArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct KeyArgs {
    /// Read the master key (the vault: TOTP, the audit log) from this file
    /// (mode 0600) instead of `ARGUS_MASTER_KEY`.
    #[arg(long, value_name = "FILE")]
    master_key_file: Option<PathBuf>,
}

fn parse_role(text: &str) -> Result<Role, String> {
    text.trim().to_ascii_lowercase().parse()
}

pub(crate) fn run(global: &GlobalArgs, command: TokensCommand) -> anyhow::Result<ExitCode> {
    match command {
        TokensCommand::Create(args) => create(global, &args),
        TokensCommand::List(args) => list(global, &args),
        TokensCommand::Revoke(args) => revoke(global, &args),
    }
}

fn create(global: &GlobalArgs, args: &CreateArgs) -> anyhow::Result<ExitCode> {
    let name = args.name.trim();
    if !tokens::valid_name(name) {
        bail!(
            "--name `{}`: use 1 to {} letters, digits, `.`, `_`, `-` or `@` (the owner, e.g. alice)",
            output::escape(name),
            tokens::MAX_NAME
        )
    }
    let with_totp = args.totp || args.role == Role::Admin;
    let key_given = trail::master_key_given(args.key.master_key_file.as_deref());
    if with_totp && !key_given {
        bail!(
            "{} needs the master key (ARGUS_MASTER_KEY or --master-key-file): the TOTP secret is \
             sealed under a key kept in the vault",
            if args.role == Role::Admin {
                "an admin token (always with TOTP)"
            } else {
                "--totp"
            }
        )
    }
    let now_ms = Timestamp::now().as_millisecond();
    let expires_at_ms = match args.expires {
        Some(ms) => Some(
            i64::try_from(ms)
                .ok()
                .and_then(|ms| now_ms.checked_add(ms))
                .filter(|&at| Timestamp::from_millisecond(at).is_ok())
                .context("--expires is too long a duration")?,
        ),
        None => None,
    };
    // The vault first: a wrong master key stops here, before anything changed.
    let mut vault = if key_given {
        Some(trail::open_vault(
            &global.data_dir,
            args.key.master_key_file.as_deref(),
            true,
        )?)
    } else {
        None
    };
    let totp_key = match (&mut vault, with_totp) {
        (Some(vault), true) => Some(trail::totp_key(vault)?),
        _ => None,
    };
    let store = open_writable(&global.data_dir)?;
    let conn = store.connect()?;
    let created_by = trail::actor();
    let made = tokens::create(
        &conn,
        NewToken {
            name,
            role: args.role,
            created_by: &created_by,
            expires_at_ms,
            totp_key: totp_key.as_deref(),
        },
        now_ms,
    )?;
    let info = &made.info;
    let details = json!({
        "token_id": info.id,
        "name": info.name,
        "role": info.role,
        "totp": info.totp,
        "expires_at": info.expires_at_ms.map(rfc3339),
    });
    let seq = audit(global, vault.as_mut(), "token.create", "", details)
        .with_context(|| format!("token {} was made", info.id))?;
    let uri = made
        .totp_secret
        .as_ref()
        .map(|secret| zeroize::Zeroizing::new(totp::otpauth_uri(&info.name, secret)));
    sh_eprintln!(
        "token {} for {} ({}{}){}: shown once below; store it now (a password manager, or the \
         dashboard's login){}",
        info.id,
        output::escape(&info.name),
        info.role,
        info.expires_at_ms
            .map_or_else(String::new, |at| format!(", expires {}", rfc3339(at))),
        seq.map_or_else(String::new, |seq| format!(" (audit log entry {seq})")),
        if uri.is_some() {
            "; the otpauth:// line is the TOTP secret: add it to an authenticator app, then \
             delete it"
        } else {
            ""
        },
    );
    if args.json {
        let mut doc = json!(info);
        doc["token"] = json!(made.token.as_str());
        doc["otpauth_uri"] = json!(uri.as_ref().map(|u| u.as_str()));
        doc["audit_seq"] = json!(seq);
        output::json(&doc)?;
    } else {
        sh_println!("{}", made.token.as_str())?;
        if let Some(uri) = &uri {
            sh_println!("{}", uri.as_str())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn list(global: &GlobalArgs, args: &ListArgs) -> anyhow::Result<ExitCode> {
    let conn = read_store(&global.data_dir)?;
    let now_ms = Timestamp::now().as_millisecond();
    let all = tokens::list(&conn)?;
    let mut out = String::new();
    for token in &all {
        if args.json {
            let mut doc = json!(token);
            doc["status"] = json!(status(token, now_ms));
            out.push_str(&doc.to_string());
        } else {
            out.push_str(&format!(
                "{}  {:<9}  {:<7}  {:<5}  {}  by {}  last used {}  {}",
                token.id,
                token.role.as_str(),
                status(token, now_ms),
                if token.totp { "totp" } else { "-" },
                rfc3339(token.created_at_ms),
                output::escape(&token.created_by),
                token
                    .last_used_at_ms
                    .map_or_else(|| "never".to_owned(), rfc3339),
                output::escape(&token.name),
            ));
        }
        out.push('\n');
    }
    if all.is_empty() && !args.json {
        sh_eprintln!("no tokens; `argus tokens create --name NAME --role viewer` makes one");
    }
    if args.json {
        output::json_text(&out)?;
    } else {
        output::stdout_text(&out)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn revoke(global: &GlobalArgs, args: &RevokeArgs) -> anyhow::Result<ExitCode> {
    let key_given = trail::master_key_given(args.key.master_key_file.as_deref());
    let mut vault = if key_given {
        Some(trail::open_vault(
            &global.data_dir,
            args.key.master_key_file.as_deref(),
            true,
        )?)
    } else {
        None
    };
    let store = open_writable(&global.data_dir)?;
    let conn = store.connect()?;
    let now_ms = Timestamp::now().as_millisecond();
    let revoked = tokens::revoke(&conn, args.what.trim(), now_ms)?;
    let details = json!({
        "tokens": revoked.iter().map(|t| json!({ "token_id": t.id, "name": t.name, "role": t.role })).collect::<Vec<_>>(),
    });
    let seq = audit(
        global,
        vault.as_mut(),
        "token.revoke",
        &args.reason,
        details,
    )
    .context("the tokens were revoked")?;
    for token in &revoked {
        sh_eprintln!(
            "revoked token {} of {} ({}){}",
            token.id,
            output::escape(&token.name),
            token.role,
            seq.map_or_else(String::new, |seq| format!(" (audit log entry {seq})"))
        );
    }
    if args.json {
        output::json(&json!({ "revoked": revoked, "audit_seq": seq }))?;
    } else {
        for token in &revoked {
            sh_println!("{}", token.id)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `active`, `revoked` or `expired`.
fn status(token: &TokenInfo, now_ms: i64) -> &'static str {
    if token.revoked_at_ms.is_some() {
        "revoked"
    } else if token.is_active(now_ms) {
        "active"
    } else {
        "expired"
    }
}

/// The data directory's database, made (and migrated) when missing: tokens
/// are often made before the daemon's first start.
fn open_writable(data_dir: &Path) -> anyhow::Result<Store> {
    let path = data_dir.join(argus_store::DATABASE_FILE);
    if !path.exists() {
        sh_eprintln!("notice: making the database {}", path.display());
    }
    Ok(crate::stores::open(data_dir)?)
}

/// Records a token change as a security entry; without a vault, warns that
/// it is not in the log. The entry's sequence number when recorded.
fn audit(
    global: &GlobalArgs,
    vault: Option<&mut Vault>,
    action: &str,
    reason: &str,
    details: serde_json::Value,
) -> anyhow::Result<Option<u64>> {
    let Some(vault) = vault else {
        sh_eprintln!(
            "warning: {action} is NOT recorded in the audit log: there is no master key (set \
             ARGUS_MASTER_KEY or pass --master-key-file); record it with `argus --data-dir {} \
             audit record --class security --component api --action {action}`",
            global.data_dir.display()
        );
        return Ok(None);
    };
    let entry = NewEntry::new(RetentionClass::Security, trail::actor(), action)
        .at(trail::host_name(), "api")
        .because(reason)
        .details(details);
    trail::append(vault, &global.data_dir, &entry).map(Some)
}
