//! `argus doctor`: checks that this deployment matches the hardening of the
//! security procedures, and says for each problem the command that fixes it.
//! `argus doctor systemd-unit` prints a hardened service unit.
//!
//! Exit status: 0 when no critical check fails, 1 when one does, 2 when the
//! checks could not run.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use argus_audit::{
    AuditPaths, CheckpointVerifier, WitnessError, check_extends, read_witness, verify,
};
use argus_node::config::Witness;
use serde::Serialize;

use crate::{GlobalArgs, output};

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct DoctorArgs {
    #[command(subcommand)]
    command: Option<DoctorCommand>,
    /// A configuration file to check (must be 0600; repeat).
    #[arg(long, value_name = "FILE")]
    config: Vec<PathBuf>,
    /// An environment file with secrets to check (must be 0600; repeat).
    #[arg(long, value_name = "FILE")]
    env_file: Vec<PathBuf>,
    /// The keystore directory (must be 0700); default `<data_dir>/keystore`
    /// when it exists.
    #[arg(long, value_name = "DIR")]
    keystore: Option<PathBuf>,
    /// An RPC endpoint to check: not loopback means https:// or wss://
    /// (repeat).
    #[arg(long, value_name = "URL")]
    rpc: Vec<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum DoctorCommand {
    /// Print a systemd service unit with the procedures' hardening.
    SystemdUnit(UnitArgs),
}

#[derive(Debug, clap::Args)]
struct UnitArgs {
    /// The account the service runs as.
    #[arg(long, default_value = "argus")]
    user: String,
    /// The argus binary.
    #[arg(long, default_value = "/usr/local/bin/argus")]
    binary: PathBuf,
    /// The configuration file.
    #[arg(long, default_value = "/etc/argus/argus.yaml")]
    config: PathBuf,
    /// The environment file (notifier secrets taken with `{ env: NAME }`).
    #[arg(long, default_value = "/etc/argus/argus.env")]
    env_file: PathBuf,
    /// The master key's file (0600, root's): handed to the daemon as a
    /// systemd credential, never through its environment.
    #[arg(long, default_value = "/etc/argus/master.key")]
    master_key_file: PathBuf,
    /// The data directory on the target machine (the only writable path).
    #[arg(long, default_value = "/var/lib/argus")]
    state_dir: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Ok,
    Warn,
    Fail,
    Skip,
}

#[derive(Debug, Serialize)]
struct Check {
    id: &'static str,
    status: Status,
    critical: bool,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<String>,
}

impl Check {
    fn new(id: &'static str, status: Status, message: impl Into<String>) -> Self {
        Self {
            id,
            status,
            critical: false,
            message: message.into(),
            fix: None,
        }
    }
    fn critical(mut self) -> Self {
        self.critical = true;
        self
    }
    fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
}

pub(crate) fn run(global: &GlobalArgs, args: DoctorArgs) -> anyhow::Result<ExitCode> {
    if let Some(DoctorCommand::SystemdUnit(unit)) = &args.command {
        output::stdout_text(&systemd_unit(unit))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut checks = Vec::new();
    checks.push(mode_check("data-dir", &global.data_dir, 0o700, true));
    for path in &args.config {
        checks.push(mode_check("config-file", path, 0o600, true));
        checks.extend(daemon_config_checks(path, &global.data_dir));
    }
    if !checks.iter().any(|c| c.id == "audit-witness") {
        checks.push(
            Check::new(
                "audit-witness",
                Status::Warn,
                "no daemon config given (--config) names an audit witness: a rollback of the \
                 audit log together with its head file passes every local check and cannot be \
                 caught without a head kept elsewhere",
            )
            .fix(WITNESS_FIX),
        );
    }
    for path in &args.env_file {
        checks.push(mode_check("env-file", path, 0o600, true));
    }
    let keystore = args.keystore.clone().or_else(|| {
        let default = global.data_dir.join("keystore");
        default.exists().then_some(default)
    });
    if let Some(keystore) = keystore {
        checks.push(mode_check("keystore", &keystore, 0o700, true));
        checks.push(tree_check("keystore-files", &keystore, 0o077));
    }
    checks.push(match std::env::var("ARGUS_MASTER_KEY") {
        Err(std::env::VarError::NotUnicode(raw)) => {
            zeroize::Zeroize::zeroize(&mut raw.into_encoded_bytes());
            Check::new(
                "master-key",
                Status::Fail,
                "ARGUS_MASTER_KEY is set but is not UTF-8 text: no command can use it",
            )
            .critical()
            .fix("generate one with `openssl rand -base64 32` and put it in the 0600 env file")
        }
        key => master_key_check(key.ok().as_deref()),
    });
    checks.extend(audit_checks(&global.data_dir));
    for url in &args.rpc {
        checks.push(rpc_check(url));
    }

    let failed = checks
        .iter()
        .any(|c| c.critical && c.status == Status::Fail);
    if args.json {
        output::json(&serde_json::json!({"ok": !failed, "checks": checks}))?;
    } else {
        let mut out = String::new();
        for check in &checks {
            let mark = match check.status {
                Status::Ok => "ok  ",
                Status::Warn => "WARN",
                Status::Fail => "FAIL",
                Status::Skip => "skip",
            };
            out.push_str(&format!("{mark}  {:<12} {}\n", check.id, check.message));
            if let Some(fix) = &check.fix {
                out.push_str(&format!("      {:<12} fix: {fix}\n", ""));
            }
        }
        output::stdout_text(&out)?;
        sh_eprintln!(
            "{}",
            if failed {
                "critical checks failed"
            } else {
                "no critical check failed"
            }
        );
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The path must exist and grant nothing beyond `wanted` (0700 or 0600):
/// no access for group or others.
fn mode_check(id: &'static str, path: &Path, wanted: u32, critical: bool) -> Check {
    let shown = path.display();
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let check = Check::new(id, Status::Warn, format!("{shown} does not exist yet"));
            return if wanted == 0o700 {
                check.fix(format!("mkdir -m 700 -p {shown}"))
            } else {
                check
            };
        }
        Err(e) => {
            return Check::new(id, Status::Fail, format!("cannot read {shown}: {e}")).critical();
        }
    };
    let mode = meta.permissions().mode() & 0o777;
    let check = if mode & 0o077 == 0 {
        Check::new(id, Status::Ok, format!("{shown} is {mode:03o}"))
    } else {
        let who = if mode & 0o007 != 0 {
            "everyone"
        } else {
            "its group"
        };
        Check::new(
            id,
            Status::Fail,
            format!("{shown} is {mode:03o}: {who} can reach it"),
        )
        .fix(format!("chmod {wanted:o} {shown}"))
    };
    if critical { check.critical() } else { check }
}

/// Every file and folder under `dir` (its own mode is checked on its own)
/// must grant none of the `forbidden` bits: a key file at 0644 inside a 0700
/// folder is one `chmod 755` of the folder away from being read.
fn tree_check(id: &'static str, dir: &Path, forbidden: u32) -> Check {
    tree_check_with(id, dir, |_| forbidden)
}

/// The audit log's folder: the log, its head and its lock are private
/// (group and others get nothing); `checkpoint.pub` is public by design but
/// writable by its owner only.
fn audit_files_check(dir: &Path) -> Check {
    tree_check_with("audit-files", dir, |path| {
        if path.file_name().is_some_and(|n| n == "checkpoint.pub") {
            0o022
        } else {
            0o077
        }
    })
}

fn tree_check_with(id: &'static str, dir: &Path, forbidden: impl Fn(&Path) -> u32) -> Check {
    const MOST_SHOWN: usize = 5;
    let mut loose = Vec::new();
    let mut seen = 0usize;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let entries = match fs::read_dir(&folder) {
            Ok(entries) => entries,
            Err(error) => {
                return Check::new(
                    id,
                    Status::Fail,
                    format!("cannot list {}: {error}", folder.display()),
                )
                .critical();
            }
        };
        for entry in entries.flatten() {
            let path = entry.path();
            // Not followed: a link's own mode means nothing, and following
            // one could leave the folder.
            let Ok(meta) = fs::symlink_metadata(&path) else {
                continue;
            };
            seen += 1;
            let mode = meta.permissions().mode() & 0o777;
            if mode & forbidden(&path) != 0 {
                loose.push(format!("{} is {mode:03o}", path.display()));
            }
            if meta.is_dir() {
                pending.push(path);
            }
        }
    }
    if loose.is_empty() {
        return Check::new(
            id,
            Status::Ok,
            format!(
                "{} entries under {}, none open to group or others",
                seen,
                dir.display()
            ),
        );
    }
    loose.sort();
    let count = loose.len();
    let mut message = loose
        .into_iter()
        .take(MOST_SHOWN)
        .collect::<Vec<_>>()
        .join(", ");
    if count > MOST_SHOWN {
        message.push_str(&format!(" and {} more", count - MOST_SHOWN));
    }
    Check::new(
        id,
        Status::Fail,
        format!("{message}: group or others can reach them"),
    )
    .critical()
    .fix(format!("chmod -R go-rwx {}", dir.display()))
}

/// The vault's own strength check ([`argus_vault::check_master_key`]), so
/// doctor accepts exactly the keys `argus keys create` accepts. Length and
/// estimated entropy, never the key itself.
fn master_key_check(key: Option<&str>) -> Check {
    let Some(key) = key else {
        return Check::new(
            "master-key",
            Status::Skip,
            "ARGUS_MASTER_KEY is not set in this environment",
        );
    };
    let fix = "generate one with `openssl rand -base64 32` and put it in the 0600 env file";
    match argus_vault::check_master_key(key) {
        Ok(strength) => Check::new(
            "master-key",
            Status::Ok,
            format!(
                "ARGUS_MASTER_KEY: {} characters, about {:.0} bits of entropy",
                strength.chars, strength.bits
            ),
        ),
        Err(argus_vault::VaultError::WeakMasterKey { reason }) => Check::new(
            "master-key",
            Status::Fail,
            format!("ARGUS_MASTER_KEY is too weak: {reason}"),
        )
        .critical()
        .fix(fix),
        Err(other) => Check::new("master-key", Status::Fail, other.to_string())
            .critical()
            .fix(fix),
    }
}

fn audit_checks(data_dir: &Path) -> Vec<Check> {
    let paths = AuditPaths::new(data_dir);
    if !paths.exists() {
        return vec![
            Check::new(
                "audit-log",
                Status::Fail,
                format!("no audit log at {}: audit logging is off", paths.log.display()),
            )
            .critical()
            .fix(format!(
                "with ARGUS_MASTER_KEY set, run the daemon, or start the log now: argus --data-dir {} audit record --action audit.enable --reason 'enable audit logging'",
                data_dir.display()
            )),
        ];
    }
    let mut checks = vec![checkpoint_key_check(&paths)];
    if let Some(dir) = paths.log.parent() {
        checks.push(audit_files_check(dir));
    }
    let verifier = if paths.public_key.exists() {
        CheckpointVerifier::load(&paths.public_key).ok()
    } else {
        argus_audit::CheckpointKey::load(&paths.key)
            .ok()
            .map(|k| k.verifier())
    };
    let check = match verifier.map(|v| verify(&paths, &v)) {
        None => Check::new(
            "audit-log",
            Status::Fail,
            "the checkpoint public key is missing or unreadable",
        )
        .critical()
        .fix("restore checkpoint.pub from a backup, then `argus audit verify`"),
        Some(Ok(report)) => Check::new(
            "audit-log",
            Status::Ok,
            format!(
                "the audit log verifies: {} entries, {} checkpoints",
                report.entries, report.checkpoints
            ),
        ),
        Some(Err(error)) => Check::new("audit-log", Status::Fail, format!("{error}"))
            .critical()
            .fix(
                "`argus audit verify` shows where; keep the file as evidence and open an incident",
            ),
    };
    checks.push(check);
    checks
}

/// The checkpoint signing key belongs in the vault: a key file beside the log
/// lets whoever can write the directory re-sign a rewritten log.
fn checkpoint_key_check(paths: &AuditPaths) -> Check {
    if !paths.key.exists() {
        return Check::new(
            "audit-key",
            Status::Ok,
            "the checkpoint signing key is sealed in the vault",
        );
    }
    let mode = mode_check("audit-key", &paths.key, 0o600, true);
    if mode.status != Status::Ok {
        return mode;
    }
    Check::new(
        "audit-key",
        Status::Warn,
        format!(
            "the checkpoint signing key is a file beside the log ({}), not sealed in the vault: \
             whoever can write the directory can re-sign a rewritten log",
            paths.key.display()
        ),
    )
    .fix(
        "with ARGUS_MASTER_KEY set, `argus audit record --action audit.key-sealed --reason 'seal \
         the checkpoint key'` moves it into the vault and shreds the file",
    )
}

const WITNESS_FIX: &str = "add `audit: { witnesses: [ { file: /mnt/other/argus-heads.jsonl } ] }` \
     (a file on another mount or host; `{ notifier: NAME }` sends heads off the host too) to argus.yaml and pass it with --config; by hand, keep \
     `argus audit head --json` somewhere else and check with `argus audit verify --head FILE`";

/// `audit-witness`: the config names a witness, and the log extends the
/// highest head of each witness file.
fn witness_checks(shown: &str, witnesses: &[Witness], data_dir: &Path) -> Vec<Check> {
    if witnesses.is_empty() {
        return vec![
            Check::new(
                "audit-witness",
                Status::Warn,
                format!(
                    "{shown} names no audit witness: a rollback of the audit log together with \
                     its head file cannot be caught"
                ),
            )
            .fix(WITNESS_FIX),
        ];
    }
    let paths = AuditPaths::new(data_dir);
    let mut checks = Vec::new();
    for witness in witnesses {
        if let Witness::Notifier(name) = witness {
            checks.push(Check::new(
                "audit-witness",
                Status::Ok,
                format!(
                    "each new audit head is sent to notifier {name}; whoever keeps those checks the \
                     log with `argus audit verify --head FILE`"
                ),
            ));
        }
    }
    if witnesses.iter().all(|w| w.file().is_none()) {
        checks.push(
            Check::new(
                "audit-witness",
                Status::Warn,
                format!(
                    "{shown} names no witness file: heads leave the host, but `argus run` cannot \
                     read a notifier back, so no start checks the log against a witnessed head"
                ),
            )
            .fix(WITNESS_FIX),
        );
    }
    for file in witnesses.iter().filter_map(Witness::file) {
        let name = file.display();
        let failed = |why: String| {
            Check::new(
                "audit-witness",
                Status::Fail,
                format!("witness file {name}: {why}"),
            )
            .critical()
        };
        let head = match read_witness(file) {
            Ok(Some(head)) => head,
            Ok(None) => {
                checks.push(Check::new(
                    "audit-witness",
                    Status::Ok,
                    format!("witness file {name} has no head yet; the daemon publishes one with its next audit entry"),
                ));
                continue;
            }
            Err(error) => {
                checks.push(failed(error.to_string()).fix(
                    "check the witness mount and the file's permissions; `argus audit verify \
                     --head FILE` reads it the same way",
                ));
                continue;
            }
        };
        let extended = if paths.exists() {
            CheckpointVerifier::load(&paths.public_key)
                .map_err(WitnessError::from)
                .and_then(|verifier| {
                    let log = argus_audit::read_log_bytes(&paths)?;
                    check_extends(&log, &head, &verifier)
                })
        } else {
            Err(WitnessError::Behind {
                log_entries: 0,
                head_entries: head.entries(),
            })
        };
        checks.push(match extended {
            Ok(extension) => Check::new(
                "audit-witness",
                Status::Ok,
                format!(
                    "the audit log extends the head of witness file {name} ({} of {} entries)",
                    extension.head_entries, extension.log_entries
                ),
            ),
            Err(error) => failed(error.to_string()).fix(
                "`argus audit verify --head FILE` shows it; keep the log, its head file and the \
                 witness as evidence and open an incident (argus run refuses to start on this log)",
            ),
        });
    }
    checks
}

/// What an `argus run` config says about secrets and endpoints: notifier
/// secrets written in the file rather than taken from the environment,
/// every chain endpoint's transport, and its audit witnesses. A config that does not load is one
/// failed check (`argus validate` says why); a file that is not an
/// `argus run` config is skipped.
fn daemon_config_checks(path: &std::path::Path, data_dir: &Path) -> Vec<Check> {
    let looks_like_daemon_config = argus_core::file::read_to_string_capped(
        path,
        argus_core::file::MAX_CONFIG_BYTES,
        "config file",
    )
    .map(|text| text.contains("chains:") || text.contains("\"chains\""))
    .unwrap_or(false);
    if !looks_like_daemon_config {
        return Vec::new();
    }
    let shown = path.display();
    let loaded = match crate::config::load(path) {
        Ok(loaded) => loaded,
        Err(diagnostics) => {
            return vec![
                Check::new(
                    "config-valid",
                    Status::Fail,
                    format!("{shown} has {} problem(s)", diagnostics.0.len()),
                )
                .critical()
                .fix(format!("argus validate -c {shown}")),
            ];
        }
    };
    let mut checks = Vec::new();
    let mut plain = Vec::new();
    for (name, notifier) in &loaded.alerting.notifiers {
        for field in notifier.literal_secrets() {
            plain.push(format!("{name}.{field}"));
        }
    }
    checks.push(if plain.is_empty() {
        Check::new(
            "notifier-secrets",
            Status::Ok,
            format!("{shown}: notifier secrets come from the vault or the environment"),
        )
    } else {
        Check::new(
            "notifier-secrets",
            Status::Fail,
            format!(
                "{shown} holds notifier secrets in plain text: {}",
                plain.join(", ")
            ),
        )
        .fix(
            "seal each in the vault (`argus keys secret set NAME`) and write it as `{ vault: NAME \
             }`, or as `{ env: NAME }` exported from a 0600 environment file",
        )
    });
    for chain in &loaded.chains {
        for endpoint in &chain.endpoints {
            checks.push(rpc_check(&endpoint.url));
            if let Some(ws) = &endpoint.ws_url {
                checks.push(rpc_check(ws));
            }
        }
    }
    let data_dir = loaded.data_dir.as_deref().unwrap_or(data_dir);
    checks.extend(witness_checks(
        &shown.to_string(),
        &loaded.audit.witnesses,
        data_dir,
    ));
    checks
}

/// Scheme and host only: RPC URLs often carry an API key in the path.
fn rpc_check(url: &str) -> Check {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    let host = if let Some(stripped) = host_port.strip_prefix('[') {
        stripped.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    let shown = format!("{scheme}://{host}");
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    let scheme = scheme.to_ascii_lowercase();
    match scheme.as_str() {
        "https" | "wss" => Check::new("rpc-tls", Status::Ok, format!("{shown} uses TLS")),
        "http" | "ws" if loopback => {
            Check::new("rpc-tls", Status::Ok, format!("{shown} is loopback"))
        }
        "http" | "ws" => Check::new(
            "rpc-tls",
            Status::Fail,
            format!("{shown} is not loopback and does not use TLS"),
        )
        .critical()
        .fix(format!(
            "use {}://{host}… (or reach the node through a loopback tunnel)",
            if scheme == "ws" { "wss" } else { "https" }
        )),
        _ => Check::new(
            "rpc-tls",
            Status::Fail,
            format!("{shown}: not an http(s) or ws(s) URL"),
        )
        .critical()
        .fix("write the endpoint as https://host/… or wss://host/…"),
    }
}

fn systemd_unit(args: &UnitArgs) -> String {
    format!(
        "\
# Generated by `argus doctor systemd-unit`. Install as
# /etc/systemd/system/argus.service, then: systemctl daemon-reload && systemctl enable --now argus
[Unit]
Description=Argus operational security
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User={user}
Group={user}
EnvironmentFile={env}
# The allocator hands freed memory back to the kernel at once instead of
# after a delay: a burst of alerts then peaks about 10 MiB lower, for a
# little more CPU (docs/deploy.md, Memory).
Environment=MIMALLOC_PURGE_DELAY=0
# The master key (it unseals the vault's notifier secrets and the audit
# log's signing key) arrives as a credential: a file only this service can
# read, kept out of its environment.
LoadCredential=master-key:{master_key}
ExecStart={binary} --data-dir {data} run -c {config} --master-key-file ${{CREDENTIALS_DIRECTORY}}/master-key
Restart=on-failure
RestartSec=5
UMask=0077
NoNewPrivileges=yes
PrivateTmp=yes
ProtectSystem=strict
ProtectHome=yes
ReadWritePaths={data}
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictNamespaces=yes
RestrictRealtime=yes
LockPersonality=yes
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
CapabilityBoundingSet=
AmbientCapabilities=
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources

[Install]
WantedBy=multi-user.target
",
        user = args.user,
        env = args.env_file.display(),
        master_key = args.master_key_file.display(),
        binary = args.binary.display(),
        data = args.state_dir.display(),
        config = args.config.display(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_keys_are_judged_by_the_vault() {
        // What `entropy_separates_random_from_repeated_keys` checked here is
        // now argus-vault's test of the one estimate.
        assert_eq!(master_key_check(Some(&"a".repeat(64))).status, Status::Fail);
        assert_eq!(
            master_key_check(Some("abababababababababababababababababab")).status,
            Status::Fail
        );
        assert_eq!(
            master_key_check(Some("q7Xk2pR9vLm3Tz8WcYb1Nf6Hd4Gs0JeUaK5Vw+Q=")).status,
            Status::Ok
        );
        assert_eq!(master_key_check(None).status, Status::Skip);
    }

    #[test]
    fn rpc_urls_are_judged_without_showing_their_secrets() {
        assert_eq!(rpc_check("http://127.0.0.1:8545").status, Status::Ok);
        assert_eq!(rpc_check("ws://[::1]:8546").status, Status::Ok);
        assert_eq!(rpc_check("http://localhost:8545").status, Status::Ok);
        assert_eq!(
            rpc_check("https://eth.example/v2/SECRET").status,
            Status::Ok
        );
        let bad = rpc_check("http://user:pw@node.example:8545/v2/SECRET");
        assert_eq!(bad.status, Status::Fail);
        assert!(!bad.message.contains("SECRET") && !bad.message.contains("pw"));
        assert_eq!(rpc_check("ftp://x").status, Status::Fail);
    }
}
