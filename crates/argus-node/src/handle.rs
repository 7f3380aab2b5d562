//! The running node as the outside sees it: [`NodeHandle`] (events, live
//! figures, a clean stop) and its cloneable, read-only [`NodeView`].

use super::*;

/// How long the tasks have to end by themselves at a stop.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// A running node.
#[derive(Debug)]
pub struct NodeHandle {
    pub(crate) store: Store,
    pub(crate) events: broadcast::Sender<NodeEvent>,
    pub(crate) shutdown: watch::Sender<bool>,
    pub(crate) tasks: JoinSet<Result<(), NodeError>>,
    pub(crate) live: Arc<Live>,
    pub(crate) dispatch: DispatchHandle,
    /// The signal task's inlet, when it runs.
    pub(crate) signals: Option<mpsc::Sender<Sample>>,
    /// Let go when the handle is dropped: the last field, so after the
    /// tasks (and their connections) are gone.
    pub(crate) _run_lock: Option<RunLock>,
}

impl NodeHandle {
    /// The node's events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<NodeEvent> {
        self.events.subscribe()
    }

    /// A cloneable, read-only view of the node for the tasks that live
    /// beside it (the HTTP server): its events, tips and endpoint figures,
    /// and its store. The handle itself stays with whoever stops the node.
    pub fn view(&self) -> NodeView {
        NodeView {
            store: self.store.clone(),
            events: self.events.clone(),
            live: Arc::clone(&self.live),
            signals: self.signals.clone(),
        }
    }

    /// The store the node writes: what the stages' read queries (the
    /// outbox's figures, silences, the registry) take.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Each followed chain's newest recorded block (`None` before the first).
    pub fn tips(&self) -> BTreeMap<ChainId, Option<BlockRef>> {
        self.live.tips()
    }

    /// Each chain's endpoints with their figures (latency, errors, benching).
    pub fn endpoint_stats(&self) -> BTreeMap<ChainId, Vec<EndpointStats>> {
        self.live.endpoint_stats()
    }

    /// Blocks each chain task recorded since the node started.
    pub fn block_counts(&self) -> BTreeMap<ChainId, BlockCounts> {
        self.live.block_counts()
    }

    /// Asks the dispatcher to look at the outbox now (after another process
    /// recorded alerts, or after a test moved the clock).
    pub fn wake_dispatcher(&self) {
        self.dispatch.wake();
    }

    /// Runs until `stop` completes (then stops cleanly) or a task fails for
    /// good (then stops the rest and returns its error).
    pub async fn run_until(
        mut self,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<(), NodeError> {
        tokio::pin!(stop);
        let outcome = loop {
            tokio::select! {
                () = &mut stop => break Ok(()),
                joined = self.tasks.join_next() => match joined {
                    None => break Ok(()),
                    Some(Ok(Ok(()))) => {}
                    Some(Ok(Err(error))) => break Err(error),
                    Some(Err(error)) => break Err(NodeError::Task { detail: error.to_string() }),
                },
            }
        };
        self.shutdown().await;
        outcome
    }

    /// Stops every task and waits for them.
    pub async fn stop(mut self) {
        self.shutdown().await;
    }

    async fn shutdown(&mut self) {
        let _ = self.shutdown.send(true);
        // The tasks end by themselves on the signal (a leased one gives its
        // lease back, so another instance takes the work at once); the
        // few that do not within the grace are cut short. A delivery cut
        // short is sent again after its lease under the same idempotency
        // key; a chain or signal batch cut short before its commit is read
        // again at the next start.
        let tasks = &mut self.tasks;
        let _ = tokio::time::timeout(STOP_GRACE, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        self.tasks.shutdown().await;
    }
}

/// What a running node shows to readers beside it, without the power to
/// stop it: cloned into every request of the HTTP server. It stays valid
/// after the node stopped (the figures then no longer move and no event
/// comes).
#[derive(Debug, Clone)]
pub struct NodeView {
    store: Store,
    events: broadcast::Sender<NodeEvent>,
    live: Arc<Live>,
    signals: Option<mpsc::Sender<Sample>>,
}

impl NodeView {
    /// The node's events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<NodeEvent> {
        self.events.subscribe()
    }

    /// The store the node writes.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Each followed chain's newest recorded block (`None` before the first).
    pub fn tips(&self) -> BTreeMap<ChainId, Option<BlockRef>> {
        self.live.tips()
    }

    /// Each chain's endpoints with their figures (latency, errors, benching).
    pub fn endpoint_stats(&self) -> BTreeMap<ChainId, Vec<EndpointStats>> {
        self.live.endpoint_stats()
    }

    /// The signal task's inlet (`None` when neither a source nor a rule
    /// uses signals): the HTTP server sends `authentication_failures`
    /// here, so signal rules see them like any source's samples.
    pub fn signals(&self) -> Option<mpsc::Sender<Sample>> {
        self.signals.clone()
    }

    /// Blocks each chain task recorded since the node started.
    pub fn block_counts(&self) -> BTreeMap<ChainId, BlockCounts> {
        self.live.block_counts()
    }
}
