//! The alerting tests' own parts: SQLite files in a temp directory (or
//! PostgreSQL databases, with `ARGUS_TEST_POSTGRES`),
//! findings, a dispatcher over them. The HTTP receiver they post to is
//! `argus_testkit::Receiver`.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use alloy_primitives::B256;
use argus_core::{BlockRef, ChainId, ChainOrigin, Finding, Severity, finding_id};
use argus_store::{Connection, Store};

/// A database in a temp dir (a SQLite file), or a new PostgreSQL database
/// when `ARGUS_TEST_POSTGRES` is set; open it as often as needed.
pub struct Db {
    pub dir: tempfile::TempDir,
    /// The PostgreSQL store, when the tests run on PostgreSQL.
    postgres: Option<Store>,
}

impl Db {
    pub fn new() -> Self {
        let postgres = std::env::var(argus_store::testing::TEST_POSTGRES_ENV)
            .ok()
            .filter(|url| !url.is_empty())
            .map(|_| argus_store::testing::store().unwrap());
        Self {
            dir: tempfile::tempdir().unwrap(),
            postgres,
        }
    }
    /// The SQLite file (absent on PostgreSQL).
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("argus.db")
    }
    /// Whether the database is the SQLite file of [`Db::path`].
    pub fn is_sqlite(&self) -> bool {
        self.postgres.is_none()
    }
    /// The store handle, opened (and migrated) now.
    pub fn store(&self) -> Store {
        match &self.postgres {
            Some(store) => store.clone(),
            None => Store::open(&self.path()).unwrap(),
        }
    }
    /// A connection of its own to the database.
    pub fn open(&self) -> Connection {
        self.store().connect().unwrap()
    }
}

pub const T0: i64 = 1_800_000_000_000;

/// A chain finding of `rule` in block `block_byte` (its hash is that byte
/// repeated), log `log`.
pub fn finding(rule: &str, block_byte: u8, log: u64) -> Finding {
    let origin = ChainOrigin {
        chain: ChainId::LOCAL,
        block: BlockRef {
            number: u64::from(block_byte),
            hash: B256::repeat_byte(block_byte),
            parent_hash: B256::repeat_byte(block_byte.wrapping_sub(1)),
            timestamp: (T0 / 1000) as u64,
        },
        tx_hash: Some(B256::repeat_byte(0xee)),
        log_index: Some(log),
    };
    let id = finding_id(rule, Some(&origin), &[]);
    Finding {
        id,
        rule_id: rule.to_owned(),
        severity: Severity::High,
        title: format!("{rule} fired"),
        dedup_key: format!("{id:#x}"),
        origin: Some(origin),
        at_ms: T0,
        fields: serde_json::json!({"address": "0x00000000000000000000000000000000000000aa", "amount": "5000000"}).into(),
    }
}

/// Records findings in one committed transaction, like the daemon does.
pub fn record_all(
    store: &mut Connection,
    findings: &[Finding],
    routing: &argus_alerting::Routing,
    now: i64,
) -> Vec<argus_alerting::Recorded> {
    // As the daemon records a chain event's findings: one `Recording`.
    let tx = store.transaction().unwrap();
    let mut recording = argus_alerting::outbox::Recording::new(routing, now);
    let out = findings
        .iter()
        .map(|f| recording.record(&tx, f).unwrap())
        .collect();
    tx.commit().unwrap();
    out
}

/// Parses an `alerting:` section written in YAML.
pub fn config(yaml: &str) -> argus_alerting::AlertingConfig {
    serde_saphyr::from_str(yaml).unwrap()
}

/// A dispatcher over a fresh connection to `db`, secrets from `env`.
pub fn dispatcher(
    db: &Db,
    config: &argus_alerting::AlertingConfig,
    env: &[(&str, &str)],
    clock: &argus_alerting::Clock,
) -> argus_alerting::Dispatcher {
    let env: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let notifiers = argus_alerting::build_notifiers_with(
        config,
        &argus_alerting::Secrets {
            env: &|name| env.get(name).cloned(),
            vault: None,
        },
    )
    .unwrap();
    argus_alerting::Dispatcher::new(&db.store(), notifiers, config, clock.clone()).unwrap()
}

/// Records one finding, runs one pass, returns the stored deliveries.
pub async fn deliver_one(
    cfg: &argus_alerting::AlertingConfig,
    env: &[(&str, &str)],
    retract_after: bool,
) -> (Db, Vec<argus_alerting::Delivery>) {
    let db = Db::new();
    let mut store = db.open();
    let clock = argus_alerting::Clock::manual_ms(T0);
    let dispatcher = dispatcher(&db, cfg, env, &clock);
    let routing = argus_alerting::Routing::from_config(cfg).unwrap();
    let mut f = finding("token.big_transfer", 3, 0);
    f.dedup_key = "big-transfer:0xaa".to_owned();
    record_all(&mut store, &[f], &routing, T0);
    // Chat, pager and email notifiers hold a new group's first alert for
    // the default group wait.
    clock.advance_ms(argus_alerting::grouping::DEFAULT_GROUP_WAIT.as_millis() as i64);
    dispatcher.run_once().await.unwrap();
    if retract_after {
        let tx = store.transaction().unwrap();
        argus_alerting::outbox::retract_block(
            &tx,
            argus_core::ChainId::LOCAL,
            alloy_primitives::B256::repeat_byte(3),
            T0,
        )
        .unwrap();
        tx.commit().unwrap();
        dispatcher.run_once().await.unwrap();
    }
    let deliveries = argus_alerting::outbox::list_deliveries(&store, None).unwrap();
    (db, deliveries)
}
