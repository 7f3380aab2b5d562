//! `argus status`: is the monitor keeping up? An alert that is late or never
//! sent costs as much as one that was never made, so the watcher needs
//! watching too.
//!
//! It reads the data directory (each chain's checkpoint, the outbox, the
//! alerts, the audit log) and, with `-c argus.yaml`, asks each chain's nodes
//! for their head to say how far behind the daemon is. Exit status 1 when
//! something needs a person: a delivery refused for good, one pending for
//! longer than `--max-delivery-age`, a chain more than `--max-behind` blocks
//! behind or whose nodes do not answer, an audit log that does not verify.
//! That makes it a health check for cron, a systemd timer or a load
//! balancer.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use argus_alerting::{Clock, DeliveryStatus, stats};
use argus_audit::{AuditPaths, CheckpointVerifier};
use argus_chain::{BlockId, Confirmations, RpcPool};
use argus_core::ChainId;
use serde::Serialize;
use serde_json::json;

use crate::config;
use crate::{GlobalArgs, output};

#[derive(Debug, clap::Args)]
pub(crate) struct StatusArgs {
    /// The daemon's config: its data directory, and its chains' nodes to
    /// measure how far behind the daemon is.
    #[arg(short, long)]
    config: Option<PathBuf>,
    /// A chain further behind its nodes' head than this many blocks (beyond
    /// its confirmations) is unhealthy.
    #[arg(long, default_value_t = 20)]
    max_behind: u64,
    /// A delivery still pending after this long is unhealthy.
    #[arg(long, default_value = "5m", value_parser = argus_core::parse_duration)]
    max_delivery_age: Duration,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// One problem that needs a person.
#[derive(Debug, Serialize)]
struct Problem {
    what: String,
    fix: String,
}

#[derive(Debug, Serialize)]
struct ChainStatus {
    chain_id: u64,
    chain: String,
    /// The last block the daemon finished (alerts recorded, checkpoint moved).
    last_block: Option<u64>,
    last_block_hash: Option<String>,
    /// Seconds between that block's timestamp and now.
    last_block_age_s: Option<i64>,
    /// The nodes' head, when the config was given and a node answered.
    head: Option<u64>,
    /// Blocks between the head and the last block finished.
    behind: Option<u64>,
    confirmations: Option<String>,
}

#[derive(Debug, Default, Serialize)]
struct NotifierStatus {
    delivered: u64,
    pending: u64,
    failed: u64,
    last_delivered_at: Option<String>,
    last_error: Option<String>,
}

pub(crate) fn run(global: &GlobalArgs, args: StatusArgs) -> anyhow::Result<ExitCode> {
    let loaded = match &args.config {
        Some(path) => match config::load_for_reading(path, global) {
            Some(pair) => Some(pair),
            None => return Ok(ExitCode::from(2)),
        },
        None => None,
    };
    let data_dir = loaded
        .as_ref()
        .map_or_else(|| global.data_dir.clone(), |(_, dir)| dir.clone());
    let shared = loaded.as_ref().and_then(|(loaded, _)| loaded.store.clone());
    // The config's `store:` or `--store`: instances and leases are shown.
    let on_shared = shared.is_some() || crate::stores::is_shared();
    if !on_shared && !data_dir.join(argus_store::DATABASE_FILE).exists() {
        bail!(
            "no Argus database in {}; the daemon has not run here yet (or pass --data-dir / -c)",
            data_dir.display()
        );
    }
    // Read-only: status works on a data directory it may not write. A
    // shared PostgreSQL store is read through an ordinary connection.
    let store = match &shared {
        Some(config) => crate::cmd::store::open_configured(Some(config), &data_dir, None)?,
        None => crate::stores::open_read_only(&data_dir)?,
    };
    let conn = store.connect()?;
    let now_ms = Clock::system().now_ms();
    let mut problems = Vec::new();

    // Chains: every checkpoint in the store, plus the config's chains.
    let mut chain_ids: Vec<u64> = argus_chain::db::checkpointed_chains(&conn)
        .context("reading the chains' checkpoints")?
        .into_iter()
        .map(|chain| chain.0)
        .collect();
    if let Some((loaded, _)) = &loaded {
        for chain in &loaded.chains {
            if !chain_ids.contains(&chain.follower.chain.0) {
                chain_ids.push(chain.follower.chain.0);
            }
        }
    }
    let heads = match &loaded {
        Some((loaded, _)) => live_heads(&loaded.chains),
        None => BTreeMap::new(),
    };
    let mut chains = Vec::new();
    for id in chain_ids {
        let chain = ChainId(id);
        let cursor = argus_chain::db::load_cursor(&conn, chain)
            .with_context(|| format!("reading the checkpoint of chain {}", chain.name()))?;
        let tip = cursor.tip().copied();
        let setup = loaded
            .as_ref()
            .and_then(|(l, _)| l.chains.iter().find(|c| c.follower.chain == chain));
        let head = heads.get(&id).cloned();
        let mut status = ChainStatus {
            chain_id: id,
            chain: chain.name(),
            last_block: tip.map(|t| t.number),
            last_block_hash: tip.map(|t| format!("{:#x}", t.hash)),
            // The timestamp came from a node: a u64 past i64::MAX saturates.
            last_block_age_s: tip.map(|t| {
                (now_ms / 1000).saturating_sub(i64::try_from(t.timestamp).unwrap_or(i64::MAX))
            }),
            head: None,
            behind: None,
            confirmations: setup.map(|s| match s.follower.confirmations {
                Confirmations::Blocks(n) => n.to_string(),
                Confirmations::Safe => "safe".to_owned(),
                Confirmations::Finalized => "finalized".to_owned(),
            }),
        };
        match head {
            Some(Ok(head)) => {
                status.head = Some(head);
                let behind = head.saturating_sub(tip.map_or(0, |t| t.number));
                status.behind = Some(behind);
                // What the daemon waits for by design is not lag: its
                // confirmations (on Ethereum `safe` trails the head by about
                // 32 blocks and `finalized` by 64 to 96).
                let waits = setup.map_or(0, |s| match s.follower.confirmations {
                    Confirmations::Blocks(n) => n,
                    Confirmations::Safe => 64,
                    Confirmations::Finalized => 128,
                });
                let allowed = args.max_behind.saturating_add(waits);
                if behind > allowed {
                    problems.push(Problem {
                        what: format!(
                            "chain {} is {behind} blocks behind its nodes' head ({head})",
                            chain.name()
                        ),
                        fix: "check that `argus run` is running (`systemctl status argus`) and \
                              its log for errors"
                            .into(),
                    });
                }
            }
            Some(Err(error)) => problems.push(Problem {
                what: format!("no node of chain {} answered: {error}", chain.name()),
                fix: "check the chain's `rpc` endpoints in the config".into(),
            }),
            None => {}
        }
        chains.push(status);
    }

    // The outbox, per notifier.
    let notifiers: BTreeMap<String, NotifierStatus> = stats::deliveries_by_notifier(&conn)?
        .into_iter()
        .map(|n| {
            let status = NotifierStatus {
                delivered: n.counts.of(DeliveryStatus::Delivered),
                pending: n.counts.of(DeliveryStatus::Pending),
                failed: n.counts.of(DeliveryStatus::Failed),
                last_delivered_at: n.last_delivered_at_ms.map(format_ms),
                last_error: n.last_error,
            };
            (n.notifier, status)
        })
        .collect();
    for (name, notifier) in &notifiers {
        if notifier.failed > 0 {
            problems.push(Problem {
                what: format!(
                    "{} alert(s) to {name} were refused for good and never delivered{}",
                    notifier.failed,
                    notifier
                        .last_error
                        .as_ref()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default()
                ),
                fix: format!("`argus alerts list` shows them; fix the {name} notifier's config"),
            });
        }
    }
    let oldest_pending_ms = stats::oldest_pending_at_ms(&conn)?;
    // Measured from after the read: a delivery queued while the nodes were
    // being asked (above) is not younger than zero.
    let read_at_ms = Clock::system().now_ms().max(now_ms);
    let oldest_pending_age_ms = oldest_pending_ms.map(|at| read_at_ms.saturating_sub(at));
    let oldest_pending_age_s = oldest_pending_age_ms.map(|ms| ms as f64 / 1000.0);
    if let Some(age) = oldest_pending_age_ms
        && age > i64::try_from(args.max_delivery_age.as_millis()).unwrap_or(i64::MAX)
    {
        problems.push(Problem {
            what: format!(
                "an alert has waited {:.1} s for delivery",
                age as f64 / 1000.0
            ),
            fix: "the notifiers' last errors are below; check the sink, or that the daemon runs"
                .into(),
        });
    }

    // Alerts of the last day, by state.
    let alerts_24h: BTreeMap<String, u64> = stats::alerts_since(&conn, now_ms - 86_400_000)?
        .nonzero()
        .map(|(state, count)| (state.as_str().to_owned(), count))
        .collect();
    let last_alert_ms = stats::newest_alert_at_ms(&conn)?;

    // The audit log.
    let paths = AuditPaths::new(&data_dir);
    let audit = if !paths.exists() {
        json!({ "present": false })
    } else {
        match CheckpointVerifier::load(&paths.public_key)
            .and_then(|v| argus_audit::verify(&paths, &v))
        {
            Ok(report) => json!({
                "present": true,
                "verifies": true,
                "entries": report.entries,
                "checkpoints": report.checkpoints,
            }),
            Err(error) => {
                problems.push(Problem {
                    what: format!("the audit log does not verify: {error}"),
                    fix: "`argus audit verify` shows where; `argus audit recover` if it is a \
                          torn tail, otherwise keep it as evidence and open an incident"
                        .into(),
                });
                json!({ "present": true, "verifies": false, "error": error.to_string() })
            }
        }
    };

    // Instances sharing a PostgreSQL store, and who holds which lease.
    let (instances, leases) = if on_shared {
        let pending = stats::oldest_pending_by_notifier(&conn)?;
        let lags = Lags {
            chains: &chains,
            oldest_pending_ms: &pending,
            now_ms: read_at_ms,
        };
        instances_and_leases(&conn, &lags, &mut problems)?
    } else {
        (Vec::new(), Vec::new())
    };

    let healthy = problems.is_empty();
    if args.json {
        output::json_pretty(&json!({
                "healthy": healthy,
                "problems": problems,
                "chains": chains,
                "notifiers": notifiers,
                "oldest_pending_delivery_age_s": oldest_pending_age_s,
                "alerts_24h": alerts_24h,
                "last_alert_at": last_alert_ms.map(format_ms),
                "audit": audit,
                "instances": instances,
                "leases": leases,
        }))?;
    } else {
        if on_shared {
            output::stdout_text(&human_shared(&instances, &leases))?;
        }
        output::stdout_text(&human(
            &chains,
            &notifiers,
            &alerts_24h,
            last_alert_ms,
            &audit,
            &problems,
        ))?;
    }
    Ok(if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// An instance sharing the store, as it last reported itself.
#[derive(Debug, Serialize)]
struct InstanceStatus {
    id: String,
    host: String,
    pid: i64,
    version: String,
    /// Seconds since it last reported (by the database's clock).
    seen_s_ago: f64,
    /// Whether it reported within three lease times.
    alive: bool,
    /// The leases it holds now.
    leases: Vec<String>,
    /// Of the chains it follows, the most blocks behind the nodes' head
    /// (when `-c` gave the nodes and one answered).
    behind_blocks: Option<u64>,
    /// Of the chains it follows, the oldest last finished block's age.
    last_block_age_s: Option<i64>,
    /// Of the notifiers it dispatches for, the oldest pending delivery's
    /// age.
    oldest_pending_delivery_age_s: Option<f64>,
}

/// What an instance's lag is read from: the chains' status and each
/// notifier's oldest pending delivery.
struct Lags<'a> {
    chains: &'a [ChainStatus],
    oldest_pending_ms: &'a BTreeMap<String, i64>,
    now_ms: i64,
}

impl Lags<'_> {
    /// Fills `instance`'s lag from the work its leases name.
    #[allow(clippy::cast_precision_loss)]
    fn fill(&self, instance: &mut InstanceStatus) {
        for lease in &instance.leases {
            if let Some(id) = lease
                .strip_prefix("follow:")
                .and_then(|id| id.parse::<u64>().ok())
                && let Some(chain) = self.chains.iter().find(|c| c.chain_id == id)
            {
                if let Some(behind) = chain.behind {
                    instance.behind_blocks = instance.behind_blocks.max(Some(behind));
                }
                if let Some(age) = chain.last_block_age_s {
                    instance.last_block_age_s = instance.last_block_age_s.max(Some(age));
                }
            }
            if let Some(notifier) = lease.strip_prefix("dispatch:")
                && let Some(at) = self.oldest_pending_ms.get(notifier)
            {
                let age = self.now_ms.saturating_sub(*at) as f64 / 1000.0;
                instance.oldest_pending_delivery_age_s = Some(
                    instance
                        .oldest_pending_delivery_age_s
                        .map_or(age, |a| a.max(age)),
                );
            }
        }
    }
}

/// A lease: which instance runs what.
#[derive(Debug, Serialize)]
struct LeaseStatus {
    name: String,
    holder: String,
    epoch: i64,
    /// Seconds until it expires; negative: expired (its work waits for
    /// another instance to take it).
    expires_in_s: f64,
}

/// Instances seen within this long are alive (three renewals of the
/// default lease).
const INSTANCE_ALIVE_MS: i64 = 30_000;

#[allow(clippy::cast_precision_loss)]
fn instances_and_leases(
    conn: &argus_store::Connection,
    lags: &Lags<'_>,
    problems: &mut Vec<Problem>,
) -> anyhow::Result<(Vec<InstanceStatus>, Vec<LeaseStatus>)> {
    let mut instances: Vec<InstanceStatus> = argus_store::lease::instances(conn)
        .context("reading the instances")?
        .into_iter()
        .map(|i| InstanceStatus {
            id: i.id,
            host: i.host,
            pid: i.pid,
            version: i.version,
            seen_s_ago: i.seen_ms_ago as f64 / 1000.0,
            alive: i.seen_ms_ago <= INSTANCE_ALIVE_MS,
            leases: Vec::new(),
            behind_blocks: None,
            last_block_age_s: None,
            oldest_pending_delivery_age_s: None,
        })
        .collect();
    let leases: Vec<LeaseStatus> = argus_store::lease::list(conn)
        .context("reading the leases")?
        .into_iter()
        .map(|lease| LeaseStatus {
            name: lease.name,
            holder: lease.holder,
            epoch: lease.epoch,
            expires_in_s: lease.expires_in_ms as f64 / 1000.0,
        })
        .collect();
    for instance in &mut instances {
        instance.leases = leases
            .iter()
            .filter(|l| l.holder == instance.id && l.expires_in_s >= 0.0)
            .map(|l| l.name.clone())
            .collect();
        lags.fill(instance);
    }
    if !instances.iter().any(|i| i.alive) {
        problems.push(Problem {
            what: "no instance has reported within 30 s".into(),
            fix: "start `argus run` on at least one machine sharing this store".into(),
        });
    }
    for lease in leases.iter().filter(|l| l.expires_in_s < -10.0) {
        problems.push(Problem {
            what: format!(
                "the lease {} expired {:.0} s ago and no instance took it",
                lease.name, -lease.expires_in_s
            ),
            fix: "an instance that runs this work (its chain or notifier in its config) must be up"
                .into(),
        });
    }
    Ok((instances, leases))
}

fn human_shared(instances: &[InstanceStatus], leases: &[LeaseStatus]) -> String {
    use std::fmt::Write as _;
    let mut out = String::from("instances (shared store)\n");
    for i in instances {
        let _ = writeln!(
            out,
            "  {:<24} {:<16} pid {:<8} {:<8} seen {:.1} s ago{}",
            i.id,
            i.host,
            i.pid,
            i.version,
            i.seen_s_ago,
            if i.alive { "" } else { "  (gone)" }
        );
        if i.leases.is_empty() {
            continue;
        }
        let mut lag = Vec::new();
        if let Some(behind) = i.behind_blocks {
            lag.push(format!("{behind} blocks behind"));
        }
        if let Some(age) = i.last_block_age_s {
            lag.push(format!("last block {age} s old"));
        }
        if let Some(age) = i.oldest_pending_delivery_age_s {
            lag.push(format!("oldest pending delivery {age:.1} s"));
        }
        let _ = writeln!(
            out,
            "    holds {}{}",
            i.leases.join(", "),
            if lag.is_empty() {
                String::new()
            } else {
                format!("; {}", lag.join(", "))
            }
        );
    }
    out.push_str("leases\n");
    for l in leases {
        let _ = writeln!(
            out,
            "  {:<24} {:<24} epoch {:<4} {}",
            l.name,
            l.holder,
            l.epoch,
            if l.expires_in_s >= 0.0 {
                format!("expires in {:.1} s", l.expires_in_s)
            } else {
                format!("EXPIRED {:.1} s ago", -l.expires_in_s)
            }
        );
    }
    out.push('\n');
    out
}

/// Each configured chain's head, asked of its nodes (with failover, within
/// a few seconds).
fn live_heads(chains: &[argus_chain::ChainSetup]) -> BTreeMap<u64, Result<u64, String>> {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            return chains
                .iter()
                .map(|c| (c.follower.chain.0, Err(error.to_string())))
                .collect();
        }
    };
    runtime.block_on(async {
        let mut out = BTreeMap::new();
        for chain in chains {
            let id = chain.follower.chain;
            let head = match RpcPool::new(id, chain.endpoints.clone(), chain.pool.clone()) {
                Ok(pool) => {
                    match tokio::time::timeout(
                        Duration::from_secs(10),
                        pool.header(BlockId::Latest),
                    )
                    .await
                    {
                        Ok(Ok(Some(block))) => Ok(block.header.number),
                        Ok(Ok(None)) => Err("the node has no latest block".to_owned()),
                        Ok(Err(error)) => Err(error.to_string()),
                        Err(_) => Err("no answer within 10 s".to_owned()),
                    }
                }
                Err(error) => Err(error.to_string()),
            };
            out.insert(id.0, head);
        }
        out
    })
}

fn format_ms(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| ms.to_string())
}

fn human(
    chains: &[ChainStatus],
    notifiers: &BTreeMap<String, NotifierStatus>,
    alerts_24h: &BTreeMap<String, u64>,
    last_alert_ms: Option<i64>,
    audit: &serde_json::Value,
    problems: &[Problem],
) -> String {
    let mut out = String::new();
    out.push_str("chains\n");
    if chains.is_empty() {
        out.push_str("  none followed yet\n");
    }
    for c in chains {
        let last = c.last_block.map_or_else(
            || "nothing delivered yet".to_owned(),
            |n| format!("block {n}"),
        );
        let age = c
            .last_block_age_s
            .map(|a| format!(" ({a} s old)"))
            .unwrap_or_default();
        let behind = match (c.head, c.behind) {
            (Some(head), Some(behind)) => format!(", head {head}, {behind} behind"),
            _ => String::new(),
        };
        out.push_str(&format!("  {:<12} {last}{age}{behind}\n", c.chain));
    }
    out.push_str("notifiers\n");
    if notifiers.is_empty() {
        out.push_str("  nothing queued yet\n");
    }
    for (name, n) in notifiers {
        out.push_str(&format!(
            "  {name:<12} {} delivered, {} pending, {} failed{}{}\n",
            n.delivered,
            n.pending,
            n.failed,
            n.last_delivered_at
                .as_ref()
                .map(|t| format!("; last delivered {t}"))
                .unwrap_or_default(),
            n.last_error
                .as_ref()
                .map(|e| format!("; last error: {}", output::escaped(e)))
                .unwrap_or_default()
        ));
    }
    let counts: Vec<String> = alerts_24h.iter().map(|(s, n)| format!("{n} {s}")).collect();
    out.push_str(&format!(
        "alerts (24 h): {}{}\n",
        if counts.is_empty() {
            "none".to_owned()
        } else {
            counts.join(", ")
        },
        last_alert_ms
            .map(|ms| format!("; last at {}", format_ms(ms)))
            .unwrap_or_default()
    ));
    out.push_str(&format!(
        "audit log: {}\n",
        match (audit["present"].as_bool(), audit["verifies"].as_bool()) {
            (Some(false), _) => "none".to_owned(),
            (_, Some(true)) => format!("verifies ({} entries)", audit["entries"]),
            _ => "DOES NOT VERIFY".to_owned(),
        }
    ));
    if problems.is_empty() {
        out.push_str("healthy\n");
    } else {
        for p in problems {
            out.push_str(&format!("PROBLEM  {}\n         fix: {}\n", p.what, p.fix));
        }
    }
    out
}
