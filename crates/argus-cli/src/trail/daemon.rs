//! What the daemon takes from the vault and leaves in the audit log.
//!
//! With the master key (`ARGUS_MASTER_KEY` or `--master-key-file`) the daemon
//! opens the vault once, at start: it unseals the notifier secrets the
//! config names as `{ vault: NAME }` and the audit checkpoint key, then
//! closes the vault (so `argus keys` keeps working while it runs). It records
//! `system.start` (with the hashes of the config and the rule files), a
//! `config.change` when those hashes differ from the previous start's, and
//! `system.stop` or `system.error` when it ends. Each write opens the log,
//! appends and closes it: the daemon never holds the log's lock for long.
//!
//! Witnesses (`audit: { witnesses: [ { file: … } ] }` in the config): after
//! each append the daemon appends the new signed head, one JSON line, to
//! every witness file; at start, before anything is recorded, it refuses to
//! run when the log does not extend the last head of the first witness file
//! ([`check_witness`]). `head` beside the log is the last checkpoint byte for
//! byte, so cutting the log back to a checkpoint and copying it there passes
//! every local check; a witness on another mount does not roll back with it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use argus_alerting::{Routing, Secret};
use argus_audit::{
    AuditPaths, CheckpointKey, CheckpointVerifier, Clock, NewEntry, RetentionClass, WitnessError,
    WitnessedHead, append_witness, check_extends, read_head, read_log, read_witness,
};
use argus_core::{Finding, Severity, finding_id};
use argus_store::Store;
use argus_vault::{AccessPolicy, Action, VaultSigner};
use serde_json::json;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::trail;

/// The rule id of the heads sent to witness notifiers (never silenced:
/// `argus_alerting::silence::NEVER_SILENCED`).
pub(crate) const HEAD_NOTICE: &str = "argus.audit.head";

/// Queues `head` for `notifiers` in the alert outbox: one alert per head
/// (its identity is the head's last entry and root, so a head queued twice
/// is sent once), delivered and retried like any alert. The message's
/// `alert.fields` is exactly what `argus audit head --json` prints, so the
/// receiver can keep it for `argus audit verify --head`.
fn queue_head(store: &Store, notifiers: &[String], head: &WitnessedHead) -> anyhow::Result<()> {
    let checkpoint = &head.checkpoint;
    let root = alloy_primitives::hex::encode(checkpoint.root);
    let identity = format!("audit-head:{}:{root}", checkpoint.last_seq);
    let now_ms = Clock::system().now_ms();
    let finding = Finding {
        id: finding_id(HEAD_NOTICE, None, identity.as_bytes()),
        rule_id: HEAD_NOTICE.to_owned(),
        severity: Severity::Info,
        title: format!(
            "Audit log head: entries {}..={} signed, root {}",
            checkpoint.first_seq,
            checkpoint.last_seq,
            &root[..root.len().min(16)]
        ),
        dedup_key: identity,
        origin: None,
        at_ms: now_ms,
        fields: head.to_json().into(),
    };
    let names: Vec<&str> = notifiers.iter().map(String::as_str).collect();
    let conn = store.connect()?;
    argus_alerting::outbox::record(&conn, &finding, &Routing::to_all(&names, 0), now_ms)?;
    Ok(())
}

/// What the daemon unsealed at start.
#[derive(Default)]
pub(crate) struct Unsealed {
    /// Notifier secrets by vault name.
    pub(crate) secrets: BTreeMap<String, Secret>,
    /// The responders' signing keys by label, each with its access policy
    /// (checked again at every use: the key is held for the run).
    pub(crate) keys: BTreeMap<String, (VaultSigner, AccessPolicy)>,
    /// The audit log writer, when the master key was given.
    pub(crate) audit: Option<DaemonAudit>,
    /// The API tokens' TOTP sealing key, when the vault has one.
    pub(crate) totp_key: Option<Zeroizing<[u8; 32]>>,
}

impl std::fmt::Debug for Unsealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unsealed")
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .field("audit", &self.audit)
            .finish()
    }
}

/// Opens the vault when a master key is at hand (or the config needs it)
/// and takes what the daemon needs from it: the notifier secrets, the
/// signing keys the playbooks name (`key_labels`) and every key whose
/// policy is containment only (an operator's `incidents unpause` may name
/// one), and the audit checkpoint key.
pub(crate) fn unseal(
    data_dir: &Path,
    master_key_file: Option<&Path>,
    vault_names: &[String],
    key_labels: &[String],
    witnesses: &[PathBuf],
) -> anyhow::Result<Unsealed> {
    if !trail::master_key_given(master_key_file) {
        if !vault_names.is_empty() {
            bail!(
                "the notifiers take secrets from the vault ({}): set ARGUS_MASTER_KEY (or pass \
                 --master-key-file) so the daemon can unseal them",
                vault_names.join(", ")
            )
        }
        if !key_labels.is_empty() {
            bail!(
                "the incident playbooks sign with vault keys ({}): set ARGUS_MASTER_KEY (or pass \
                 --master-key-file) so the daemon can unseal them",
                key_labels.join(", ")
            )
        }
        return Ok(Unsealed::default());
    }
    let mut vault = trail::open_vault(data_dir, master_key_file, true)?;
    let mut secrets = BTreeMap::new();
    for name in vault_names {
        let mut bytes = vault.secret(name).with_context(|| {
            format!("the notifiers need vault secret {name}: `argus keys secret set {name}`")
        })?;
        let text = String::from_utf8(std::mem::take(&mut *bytes)).map_err(|error| {
            let mut raw = error.into_bytes();
            zeroize::Zeroize::zeroize(&mut raw);
            anyhow::anyhow!("vault secret {name} is not UTF-8 text; seal it again")
        })?;
        secrets.insert(name.clone(), Secret::new(text));
    }
    let mut keys = BTreeMap::new();
    for label in key_labels {
        let held = vault
            .signer_held(label, Action::SignContainment)
            .with_context(|| {
                format!(
                    "the incident playbooks sign with vault key {label}: create or import it \
                     (`argus keys create --label {label}`) with a policy that allows \
                     sign-containment; a key in a PKCS#11 token must be reachable at start, \
                     with its PIN"
                )
            })?;
        keys.insert(label.clone(), held);
    }
    let containment_only: Vec<String> = vault
        .keys()
        .iter()
        .filter(|k| {
            k.retired_at.is_none()
                && k.policy.actions == [Action::SignContainment]
                && !keys.contains_key(&k.label)
        })
        .map(|k| k.label.clone())
        .collect();
    for label in containment_only {
        if let Ok(held) = vault.signer_held(&label, Action::SignContainment) {
            keys.insert(label, held);
        }
    }
    let key = trail::checkpoint_key(&mut vault, &AuditPaths::new(data_dir))?;
    let totp_key = trail::existing_totp_key(&vault)?;
    drop(vault);
    Ok(Unsealed {
        keys,
        secrets,
        totp_key,
        audit: Some(DaemonAudit {
            data_dir: data_dir.to_path_buf(),
            key: key.secret_bytes(),
            witnesses: witnesses.to_vec(),
            notifiers: None,
            segments: argus_audit::SegmentPolicy::default(),
        }),
    })
}

/// Writes the daemon's entries, signing with the key unsealed at start.
pub(crate) struct DaemonAudit {
    data_dir: PathBuf,
    key: Zeroizing<[u8; 32]>,
    /// Witness files each new head is appended to.
    witnesses: Vec<PathBuf>,
    /// The notifiers each new head is sent through (by the alert outbox),
    /// with the store the outbox lives in.
    notifiers: Option<(Store, Vec<String>)>,
    /// When the active log is sealed into a segment (`audit.segments`).
    segments: argus_audit::SegmentPolicy,
}

impl std::fmt::Debug for DaemonAudit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DaemonAudit")
            .field("data_dir", &self.data_dir)
            .field("witnesses", &self.witnesses)
            .field(
                "notifiers",
                &self.notifiers.as_ref().map(|(_, names)| names),
            )
            .finish_non_exhaustive()
    }
}

/// The HTTP server's audit entries (failed authentications, silences made
/// over the API) through the daemon's writer: security class, component
/// `api`, the actor the server names (`token:<owner>`, `client:<address>`).
pub(crate) struct ApiAudit(pub(crate) std::sync::Arc<DaemonAudit>);

impl argus_server::AuditSink for ApiAudit {
    fn record(&self, record: &argus_server::AuditRecord) -> Result<(), String> {
        let entry = NewEntry::new(
            RetentionClass::Security,
            record.actor.as_str(),
            record.action.as_str(),
        )
        .at(trail::host_name(), "api")
        .because(record.reason.as_str())
        .details(record.details.clone());
        self.0
            .append(std::slice::from_ref(&entry))
            .map_err(|error| format!("{error:#}"))
    }
}

/// What a start records about the configuration.
#[derive(Debug)]
pub(crate) struct StartFacts<'a> {
    pub(crate) config: &'a Path,
    pub(crate) rule_files: &'a [PathBuf],
    pub(crate) chains: Vec<String>,
    pub(crate) rules: usize,
    pub(crate) notifiers: Vec<String>,
}

impl DaemonAudit {
    /// Appends entries, signing with the key unsealed at start, then
    /// publishes the new head to the witnesses.
    pub(crate) fn append(&self, entries: &[NewEntry]) -> anyhow::Result<()> {
        let mut log = trail::open_log_signed(&self.data_dir, &self.key, Clock::system())?
            .with_segments(self.segments);
        log.append_batch(entries)?;
        drop(log);
        self.publish_head()
    }

    /// The verifier of the key the daemon signs with.
    pub(crate) fn verifier(&self) -> CheckpointVerifier {
        CheckpointKey::from_bytes(&self.key).verifier()
    }

    /// Sends each new head through these notifiers too (`audit.witnesses`
    /// items `{ notifier: NAME }`), by the alert outbox in `store`.
    pub(crate) fn send_heads_to(&mut self, store: Store, notifiers: Vec<String>) {
        self.notifiers = (!notifiers.is_empty()).then_some((store, notifiers));
    }

    /// Seals the active log into a segment by these limits (the config's
    /// `audit.segments`) at the daemon's commits.
    pub(crate) fn seal_segments(&mut self, policy: argus_audit::SegmentPolicy) {
        self.segments = policy;
    }

    /// Appends the log's current head to every witness file and queues it
    /// for every witness notifier.
    fn publish_head(&self) -> anyhow::Result<()> {
        if self.witnesses.is_empty() && self.notifiers.is_none() {
            return Ok(());
        }
        let paths = AuditPaths::new(&self.data_dir);
        let Some(checkpoint) = read_head(&paths)? else {
            return Ok(());
        };
        let head = WitnessedHead::new(checkpoint, &self.verifier());
        for witness in &self.witnesses {
            append_witness(witness, &head).with_context(|| {
                format!(
                    "the audit entry is recorded but its head could not be published to the \
                     witness file {}",
                    witness.display()
                )
            })?;
        }
        if let Some((store, notifiers)) = &self.notifiers {
            queue_head(store, notifiers, &head).with_context(|| {
                format!(
                    "the audit entry is recorded but its head could not be queued for the \
                     witness notifier(s) {}",
                    notifiers.join(", ")
                )
            })?;
        }
        Ok(())
    }

    /// `system.start`, preceded by `config.change` when the config or rule
    /// files differ from the previous start's.
    pub(crate) fn started(&self, facts: &StartFacts<'_>) -> anyhow::Result<()> {
        let config_hash = file_hash(facts.config)?;
        let mut rules = Sha256::new();
        for file in facts.rule_files {
            rules.update(file_hash(file)?.as_bytes());
        }
        let rules_hash = alloy_primitives::hex::encode(rules.finalize());
        let previous = self.previous_start()?;
        let mut entries = Vec::new();
        if let Some((old_config, old_rules)) = previous
            && (old_config != config_hash || old_rules != rules_hash)
        {
            entries.push(
                entry(RetentionClass::Audit, "config.change")
                    .because(
                        "the daemon started with a configuration that differs from its last start",
                    )
                    .details(json!({
                        "config": facts.config,
                        "config_sha256": { "before": old_config, "after": config_hash },
                        "rules_sha256": { "before": old_rules, "after": rules_hash },
                    })),
            );
        }
        entries.push(
            entry(RetentionClass::System, "system.start").details(json!({
                "version": env!("CARGO_PKG_VERSION"),
                "pid": std::process::id(),
                "config": facts.config,
                "config_sha256": config_hash,
                "rule_files": facts.rule_files,
                "rules_sha256": rules_hash,
                "rules": facts.rules,
                "chains": facts.chains,
                "notifiers": facts.notifiers,
            })),
        );
        self.append(&entries)
    }

    /// `system.stop` on a clean stop, `system.error` when the daemon failed.
    pub(crate) fn stopped(&self, outcome: &anyhow::Result<()>) -> anyhow::Result<()> {
        let entry = match outcome {
            Ok(()) => entry(RetentionClass::System, "system.stop").because("signal"),
            Err(error) => entry(RetentionClass::Security, "system.error")
                .because("the daemon stopped on an error")
                .details(json!({ "error": format!("{error:#}") })),
        };
        self.append(std::slice::from_ref(&entry))
    }

    /// The config and rule hashes of the last `system.start` in the log.
    fn previous_start(&self) -> anyhow::Result<Option<(String, String)>> {
        let paths = AuditPaths::new(&self.data_dir);
        if !paths.exists() {
            return Ok(None);
        }
        let log = read_log(&paths)?;
        Ok(log
            .entries()
            .rev()
            .filter_map(|e| e.payload.as_ref())
            .find(|p| p.action == "system.start" && p.component == "daemon")
            .and_then(|p| {
                let details = p.details.as_ref()?;
                Some((
                    details["config_sha256"].as_str()?.to_owned(),
                    details["rules_sha256"].as_str()?.to_owned(),
                ))
            }))
    }
}

/// Refuses a start when the audit log does not extend the last head
/// published to `witness` (a rollback of the log and its head file, which
/// local checks cannot see). No head there yet (a new witness) passes.
/// `verifier` is the key the daemon signs with, else `checkpoint.pub`.
pub(crate) fn check_witness(
    data_dir: &Path,
    witness: &Path,
    verifier: Option<CheckpointVerifier>,
) -> anyhow::Result<()> {
    let refuse = |why: String| {
        anyhow::anyhow!(
            "argus will not start: the audit log in {} does not extend the last head published to \
             the witness file {}: {why}. If the log was restored from a backup on purpose, record \
             that with the incident and start a new witness file (keep the old one as evidence)",
            data_dir.join("audit").display(),
            witness.display()
        )
    };
    let head = read_witness(witness).map_err(|e| refuse(e.to_string()))?;
    let Some(head) = head else {
        return Ok(());
    };
    let paths = AuditPaths::new(data_dir);
    if !paths.exists() {
        return Err(refuse(
            WitnessError::Behind {
                log_entries: 0,
                head_entries: head.entries(),
            }
            .to_string(),
        ));
    }
    let verifier = match verifier {
        Some(verifier) => verifier,
        None => CheckpointVerifier::load(&paths.public_key).map_err(|e| refuse(e.to_string()))?,
    };
    let log = argus_audit::read_log_bytes(&paths)
        .with_context(|| format!("cannot read the audit log {}", paths.log.display()))?;
    check_extends(&log, &head, &verifier).map_err(|e| refuse(e.to_string()))?;
    Ok(())
}

fn entry(class: RetentionClass, action: &str) -> NewEntry {
    NewEntry::new(class, trail::actor(), action).at(trail::host_name(), "daemon")
}

/// The hash of the config or a rule file, read as the loader read it.
fn file_hash(path: &Path) -> anyhow::Result<String> {
    let bytes = argus_core::file::read_capped(
        path,
        argus_core::file::MAX_RULES_BYTES,
        "config or rule file",
    )?;
    Ok(alloy_primitives::hex::encode(Sha256::digest(&bytes)))
}

/// Rotates a vault key for a playbook's `rotate_keys` step: opens the vault
/// with the master key the daemon was started with (the file, or the
/// variable), rotates, closes. The new address, or why not.
pub(crate) fn key_rotator(
    data_dir: &Path,
    master_key_file: Option<&Path>,
) -> impl Fn(&str) -> Result<String, String> + Send + Sync + 'static {
    let data_dir = data_dir.to_path_buf();
    let master_key_file = master_key_file.map(Path::to_path_buf);
    move |label: &str| {
        let mut vault = trail::open_vault(&data_dir, master_key_file.as_deref(), false)
            .map_err(|e| format!("{e:#}"))?;
        let (_old, new) = vault.rotate_key(label).map_err(|e| e.to_string())?;
        Ok(format!("{:#x}", new.address))
    }
}
