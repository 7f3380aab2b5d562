//! What every handler shares: the store, the data directory (for the audit
//! log's files), the node's live view when there is a node, what the config
//! says (rules, the public allow-list, the readiness threshold) and the
//! clock.
//!
//! One `Arc` inside, so the state clones into each request for the price
//! of a counter. The rules are kept as summaries (id, kind, severity,
//! description) taken once from the loaded config: the API shows what a
//! rule is, never its conditions.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use argus_core::{Clock, Severity};
use argus_node::NodeView;
use argus_node::config::{DEFAULT_READY_MAX_LAG, PublicConfig};
use argus_rules::{ContractRef, Matcher, RuleSet};
use argus_store::{Connection, Store};
use serde::Serialize;
use tokio::sync::watch;

use crate::auth::{Auth, AuthConfig};
use crate::error::AppError;

/// What `/api/rules` shows of a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleSummary {
    pub id: String,
    /// event, call, transaction or signal.
    pub kind: &'static str,
    pub severity: Severity,
    pub description: Option<String>,
    /// Whether it counts or compares over a window.
    pub windowed: bool,
    /// The contracts it matches, as the rule names them: `any`, an
    /// address, a registry label or `tag:<tag>` (empty for a signal rule;
    /// for a transaction rule, its `from` and `to` lists together). The
    /// dashboard's registry page shows from this which rules watch each
    /// contract.
    pub watches: Vec<String>,
}

impl RuleSummary {
    /// The summaries of every rule of a set, in its order.
    pub fn of(rules: &RuleSet) -> Vec<Self> {
        rules
            .rules()
            .iter()
            .map(|rule| Self {
                id: rule.id.clone(),
                kind: match rule.matcher {
                    Matcher::Event { .. } => "event",
                    Matcher::Call { .. } => "call",
                    Matcher::Transaction { .. } => "transaction",
                    Matcher::Signal { .. } => "signal",
                    Matcher::State(_) => "state",
                },
                severity: rule.severity,
                description: rule.description.clone(),
                windowed: rule.aggregate.is_some(),
                watches: watches(&rule.matcher),
            })
            .collect()
    }
}

fn watches(matcher: &Matcher) -> Vec<String> {
    let name = |contract: &ContractRef| match contract {
        ContractRef::Any => "any".to_owned(),
        ContractRef::Address(address) => address.to_checksum(None),
        ContractRef::Label(label) => label.clone(),
        ContractRef::Tag(tag) => format!("tag:{tag}"),
    };
    match matcher {
        Matcher::Event { contract, .. } | Matcher::Call { contract, .. } => vec![name(contract)],
        Matcher::Transaction { from, to, .. } if from.is_empty() && to.is_empty() => {
            vec!["any".to_owned()]
        }
        Matcher::Transaction { from, to, .. } => from.iter().chain(to).map(name).collect(),
        Matcher::Signal { .. } => Vec::new(),
        Matcher::State(spec) => {
            let mut out: Vec<String> = Vec::new();
            for read in &spec.reads {
                let contract = match &read.kind {
                    argus_rules::StateReadKind::Call { contract, .. }
                    | argus_rules::StateReadKind::Storage { contract, .. } => contract,
                    argus_rules::StateReadKind::Balance { account } => account,
                };
                let watched = name(contract);
                if !out.contains(&watched) {
                    out.push(watched);
                }
            }
            out
        }
    }
}

/// The state of the API, cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    data_dir: PathBuf,
    node: Option<NodeView>,
    rules: Option<Vec<RuleSummary>>,
    /// The bots of the incident policy and their wallets: who may report
    /// submissions (`POST /api/bots/{bot}/submissions`).
    bots: Arc<std::collections::BTreeMap<String, Vec<alloy_primitives::Address>>>,
    public: PublicConfig,
    ready_max_lag: Duration,
    clock: Clock,
    /// Tokens, rate limits, the failure counter, the audit sink.
    auth: Arc<Auth>,
    /// Set when the server stops, so open event streams end and the
    /// graceful shutdown does not wait for them forever.
    stopping: watch::Sender<bool>,
    /// Read connections kept between requests (at most [`POOLED`]):
    /// opening one costs more than most reads, and a request reads twice
    /// (its token, then its data).
    pool: Arc<std::sync::Mutex<Vec<Connection>>>,
}

/// Read connections kept open between requests: one per blocking read at
/// once on the 2-core machines the figures come from, with room to spare.
const POOLED: usize = 8;

impl AppState {
    /// An API over `store`, whose audit log lives in `data_dir`; no node,
    /// no config, the system clock.
    pub fn new(store: Store, data_dir: impl Into<PathBuf>) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                data_dir: data_dir.into(),
                node: None,
                rules: None,
                bots: Arc::default(),
                public: PublicConfig::default(),
                ready_max_lag: DEFAULT_READY_MAX_LAG,
                clock: Clock::system(),
                auth: Arc::new(Auth::new(AuthConfig::default())),
                stopping: watch::channel(false).0,
                pool: Arc::default(),
            }),
        }
    }

    fn with(self, change: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = Arc::try_unwrap(self.inner).unwrap_or_else(|shared| Inner {
            store: shared.store.clone(),
            data_dir: shared.data_dir.clone(),
            node: shared.node.clone(),
            rules: shared.rules.clone(),
            bots: shared.bots.clone(),
            public: shared.public.clone(),
            ready_max_lag: shared.ready_max_lag,
            clock: shared.clock.clone(),
            auth: shared.auth.clone(),
            stopping: watch::channel(*shared.stopping.borrow()).0,
            pool: Arc::default(),
        });
        change(&mut inner);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Inside the daemon: live tips, endpoint figures and events.
    pub fn with_node(self, node: NodeView) -> Self {
        self.with(|inner| inner.node = Some(node))
    }

    /// The loaded config's rules, for `/api/rules`.
    pub fn with_rules(self, rules: &RuleSet) -> Self {
        let summaries = RuleSummary::of(rules);
        self.with(|inner| inner.rules = Some(summaries))
    }

    /// What the public status page may show.
    pub fn with_public(self, public: PublicConfig) -> Self {
        self.with(|inner| inner.public = public)
    }

    /// A chain whose newest block is older than this is not ready (and
    /// degraded on the status page).
    pub fn with_ready_max_lag(self, lag: Duration) -> Self {
        self.with(|inner| inner.ready_max_lag = lag)
    }

    /// The clock times are measured with (tests drive a manual one).
    pub fn with_clock(self, clock: Clock) -> Self {
        self.with(|inner| inner.clock = clock)
    }

    /// Authentication's settings: rate limits, the TOTP key, the audit
    /// sink, the node's signal inlet. Without it every route still needs a
    /// token; the defaults limit rates, check no TOTP and audit nothing.
    pub fn with_auth(self, config: AuthConfig) -> Self {
        self.with(|inner| inner.auth = Arc::new(Auth::new(config)))
    }

    pub(crate) fn auth(&self) -> &Auth {
        &self.inner.auth
    }

    /// Runs `write` in a transaction of its own on the blocking pool; 503
    /// `read_only` when the store was opened read-only (`argus serve`).
    pub(crate) async fn write<T, F>(&self, write: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, AppError> + Send + 'static,
    {
        if self.inner.store.is_read_only() {
            return Err(AppError::ReadOnly);
        }
        let store = self.inner.store.clone();
        self.blocking(move || {
            let mut conn = store.connect()?;
            let tx = conn.transaction()?;
            let out = write(&tx)?;
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    /// Ends every open event stream: called when the server stops.
    pub fn stop_streams(&self) {
        self.inner.stopping.send_replace(true);
    }

    pub(crate) fn stopping(&self) -> watch::Receiver<bool> {
        self.inner.stopping.subscribe()
    }

    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    pub(crate) fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    pub(crate) fn node(&self) -> Option<&NodeView> {
        self.inner.node.as_ref()
    }

    /// The bots that may report their submissions, with their wallets
    /// (`incidents.bots`; none: the route answers 404 for every bot).
    pub fn with_bots(
        self,
        bots: impl IntoIterator<Item = (String, Vec<alloy_primitives::Address>)>,
    ) -> Self {
        let bots = Arc::new(bots.into_iter().collect());
        self.with(|inner| inner.bots = bots)
    }

    pub(crate) fn bot_wallets(&self, bot: &str) -> Option<&[alloy_primitives::Address]> {
        self.inner.bots.get(bot).map(Vec::as_slice)
    }

    pub(crate) fn rules(&self) -> Option<&[RuleSummary]> {
        self.inner.rules.as_deref()
    }

    pub(crate) fn public(&self) -> &PublicConfig {
        &self.inner.public
    }

    pub(crate) fn ready_max_lag(&self) -> Duration {
        self.inner.ready_max_lag
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// Runs `read` on the blocking pool, on a connection no other request
    /// uses meanwhile: one kept from an earlier read, or a new one. A read
    /// that needs one consistent view takes `Connection::read_snapshot`,
    /// which ends with it, so a kept connection sees every commit since,
    /// like a new one.
    pub(crate) async fn read<T, F>(&self, read: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, AppError> + Send + 'static,
    {
        let store = self.inner.store.clone();
        let pool = self.inner.pool.clone();
        self.blocking(move || {
            let kept = lock(&pool).pop();
            let conn = match kept {
                Some(conn) => conn,
                None => store.connect()?,
            };
            let out = read(&conn);
            // A read's snapshot (`Connection::read_snapshot`) ends when it
            // is dropped, failed or not, before the closure returns: the
            // connection is back in autocommit and sees every later commit.
            let mut kept = lock(&pool);
            if kept.len() < POOLED {
                kept.push(conn);
            }
            drop(kept);
            out
        })
        .await
    }

    /// Runs `work` (file reads, the registry's own connection) on the
    /// blocking pool.
    pub(crate) async fn blocking<T, F>(&self, work: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, AppError> + Send + 'static,
    {
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|error| AppError::Task {
                detail: error.to_string(),
            })?
    }
}

fn lock(pool: &std::sync::Mutex<Vec<Connection>>) -> std::sync::MutexGuard<'_, Vec<Connection>> {
    match pool.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    async fn count(state: &AppState) -> Result<i64, AppError> {
        state
            .read(|conn| {
                Ok(conn.query_row("SELECT count(*) FROM api_tokens", [], |row| row.get(0))?)
            })
            .await
    }

    /// A kept connection sees later commits, and one a failed read left
    /// inside a transaction (on an old snapshot) is not kept.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn kept_connections_see_every_commit_even_after_a_read_failed_mid_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let store = argus_store::testing::store().unwrap();
        let state = AppState::new(store.clone(), dir.path());
        assert_eq!(count(&state).await.unwrap(), 0);
        let failed = state
            .read(|conn| {
                let snapshot = conn.read_snapshot()?;
                let seen: i64 =
                    snapshot.query_row("SELECT count(*) FROM api_tokens", [], |row| row.get(0))?;
                assert_eq!(seen, 0);
                Err::<(), _>(AppError::BadRequest {
                    param: "test".into(),
                    detail: "a read that fails inside its transaction".into(),
                })
            })
            .await;
        assert!(failed.is_err());
        store
            .connect()
            .unwrap()
            .execute(
                "INSERT INTO api_tokens (id, name, role, secret_hash, created_at_ms, created_by) \
                 VALUES ('0123456789ab', 'a', 'viewer', 'x', 1, 'test')",
                [],
            )
            .unwrap();
        for _ in 0..(POOLED + 2) {
            assert_eq!(count(&state).await.unwrap(), 1);
        }
        assert!(lock(&state.inner.pool).len() <= POOLED);
    }
}
