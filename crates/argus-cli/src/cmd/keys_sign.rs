//! `argus keys sign`: sign a message with a vault key, under its policy.
//!
//! Every use is a security-class audit entry. A use outside the key's time
//! window that the policy allows "with a critical signal" raises that signal
//! for real: a critical alert (`argus.key-outside-window`) is recorded in the
//! alert outbox of the data directory, routed by the daemon's config when
//! `-c` names it, and sent by the running daemon's dispatcher (which looks
//! at the outbox at least every second); the audit entry says so too. A use
//! the policy refuses is refused, and audited as refused.

use std::path::PathBuf;
use std::process::ExitCode;

use alloy_signer::SignerSync as _;
use anyhow::Context as _;
use argus_alerting::{AlertingConfig, Routing, outbox};
use argus_core::{Finding, Severity, finding_id};
use argus_vault::{Action, Permit};
use serde_json::json;

use super::keys::{CommonArgs, open, record_why};
use crate::config;
use crate::{GlobalArgs, output};

#[derive(Debug, clap::Args)]
pub(crate) struct SignArgs {
    /// The key's label.
    label: String,
    /// What the signature is for (checked against the key's policy).
    #[arg(long, default_value = "sign-containment")]
    action: Action,
    /// The message to sign (EIP-191 personal message).
    #[arg(long)]
    message: String,
    /// Why: an incident or alert id, or free text (kept in the audit log).
    #[arg(long)]
    reason: Option<String>,
    /// The daemon's config: routes the critical alert of a use outside the
    /// key's window to its notifiers.
    #[arg(short, long)]
    config: Option<PathBuf>,
    #[command(flatten)]
    common: CommonArgs,
}

pub(crate) fn run(global: &GlobalArgs, args: SignArgs) -> anyhow::Result<ExitCode> {
    let mut vault = open(&global.data_dir, &args.common, false)?;
    let now = jiff::Timestamp::now();
    let reason = args.reason.clone().unwrap_or_default();
    let (signer, permit) = match vault.signer_at(&args.label, args.action, now) {
        Ok(granted) => granted,
        Err(error) => {
            record_why(
                global,
                &mut vault,
                "key.use-refused",
                &reason,
                json!({ "label": args.label, "action": args.action.as_str(), "error": error.to_string() }),
            )?;
            return Err(error.into());
        }
    };
    let address = signer.address();
    let signer_location = signer.location();
    let signature = signer
        .sign_message_sync(args.message.as_bytes())
        .context("signing the message")?;
    drop(signer);
    let outside = permit == Permit::OutsideWindow;
    record_why(
        global,
        &mut vault,
        if outside {
            "key.use-outside-window"
        } else {
            "key.use"
        },
        &reason,
        json!({
            "label": args.label,
            "address": address,
            "location": signer_location,
            "action": args.action.as_str(),
            "critical_signal": outside,
        }),
    )?;
    if outside {
        let (data_dir, routing) = match &args.config {
            Some(path) => {
                let loaded =
                    config::load_without_secrets(path).map_err(|d| anyhow::anyhow!("{d}"))?;
                let data_dir = loaded.data_dir.unwrap_or_else(|| global.data_dir.clone());
                (data_dir, Routing::from_config(&loaded.alerting)?)
            }
            None => (
                global.data_dir.clone(),
                Routing::from_config(&AlertingConfig::default())?,
            ),
        };
        let deliveries = raise_outside_window(&data_dir, &routing, &args, address, &reason)?;
        sh_eprintln!(
            "CRITICAL key {} ({address}) used outside its time window for {}; {}",
            output::escaped(&args.label),
            args.action.as_str(),
            if deliveries == 0 {
                "the alert is stored, but no notifier is configured (pass -c argus.yaml)".to_owned()
            } else {
                format!("the alert is queued for {deliveries} notifier(s)")
            }
        );
    }
    let hex = alloy_primitives::hex::encode_prefixed(signature.as_bytes());
    if args.common.json {
        output::json(
            &json!({ "label": args.label, "address": address, "signature": hex, "outside_window": outside }),
        )?;
    } else {
        sh_println!("{hex}")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Records the critical alert of a use outside the window; the number of
/// deliveries queued.
fn raise_outside_window(
    data_dir: &std::path::Path,
    routing: &Routing,
    args: &SignArgs,
    address: alloy_primitives::Address,
    reason: &str,
) -> anyhow::Result<usize> {
    let at_ms = jiff::Timestamp::now().as_millisecond();
    let rule_id = "argus.key-outside-window";
    let actor = std::env::var("USER").unwrap_or_else(|_| "unknown".to_owned());
    let finding = Finding {
        id: finding_id(
            rule_id,
            None,
            &[args.label.as_bytes(), &at_ms.to_be_bytes()].concat(),
        ),
        rule_id: rule_id.to_owned(),
        severity: Severity::Critical,
        title: format!(
            "key {} ({address}) used outside its time window for {} by {actor}",
            args.label,
            args.action.as_str()
        ),
        dedup_key: format!("key-outside-window:{}:{at_ms}", args.label),
        origin: None,
        at_ms,
        fields: json!({
            "label": args.label,
            "address": address,
            "action": args.action.as_str(),
            "actor": actor,
            "host": crate::trail::host_name(),
            "reason": reason,
        })
        .into(),
    };
    let mut conn = crate::stores::open(data_dir)?.connect()?;
    let tx = conn.transaction()?;
    let recorded = outbox::record(&tx, &finding, routing, at_ms)?;
    tx.commit()?;
    Ok(recorded.deliveries)
}
