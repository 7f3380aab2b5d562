//! Knowing as soon as possible that the chain moved.
//!
//! The follower sleeps until the head changes. A WebSocket `newHeads`
//! subscription tells within a millisecond; when no socket is up (none
//! configured, or one reconnecting) a task polls the latest header every
//! `poll_interval`. Both write the same `watch`, so the follower never knows
//! or cares which one woke it. The watch carries the head's hash as well as
//! its number: a reorg that keeps the height changes only the hash.

use std::sync::Weak;
use std::sync::atomic::Ordering;

use alloy_primitives::B256;
use serde::Serialize;
use tokio::sync::watch;

use crate::pool::{BlockId, PoolInner, RpcPool};

/// The newest head the pool has seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Head {
    pub number: u64,
    pub hash: Option<B256>,
    /// What reported it.
    pub source: HeadSource,
}

/// Where a head came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HeadSource {
    /// Nothing seen yet.
    None,
    WebSocket,
    Polling,
}

impl Head {
    pub(crate) const NONE: Head = Head {
        number: 0,
        hash: None,
        source: HeadSource::None,
    };
}

/// Publishes `head` when it differs from the current one; the source is
/// updated silently.
pub(crate) fn publish_head(sender: &watch::Sender<Head>, head: Head) {
    sender.send_if_modified(|current| {
        let changed = current.number != head.number || current.hash != head.hash;
        *current = head;
        changed
    });
}

impl RpcPool {
    /// A receiver of the newest head. The first call starts the WebSocket
    /// subscriptions of the endpoints that have one and the polling task that
    /// covers for them; both stop when the pool and every receiver are gone.
    pub fn heads(&self) -> watch::Receiver<Head> {
        let receiver = self.inner.heads.subscribe();
        for endpoint in &self.inner.endpoints {
            let _ = self.inner.heads_link(endpoint);
        }
        if !self.inner.poller_running.swap(true, Ordering::AcqRel) {
            tokio::spawn(poll_heads(
                std::sync::Arc::downgrade(&self.inner),
                self.inner.heads.clone(),
            ));
        }
        receiver
    }

    /// Whether some WebSocket currently delivers new heads.
    pub fn heads_via_websocket(&self) -> bool {
        self.inner.any_heads_socket_up()
    }
}

async fn poll_heads(pool: Weak<PoolInner>, sender: watch::Sender<Head>) {
    loop {
        let interval = {
            let Some(inner) = pool.upgrade() else { return };
            // Only the pool's own sender left: nobody listens any more.
            if sender.receiver_count() == 0 {
                inner.poller_running.store(false, Ordering::Release);
                return;
            }
            if !inner.any_heads_socket_up() {
                let pool = RpcPool {
                    inner: inner.clone(),
                };
                match pool.header(BlockId::Latest).await {
                    Ok(Some(block)) => publish_head(
                        &sender,
                        Head {
                            number: block.header.number,
                            hash: Some(block.header.hash),
                            source: HeadSource::Polling,
                        },
                    ),
                    Ok(None) => {}
                    Err(error) => tracing::debug!(%error, "polling the head failed"),
                }
            }
            inner.config.poll_interval
        };
        tokio::time::sleep(interval).await;
    }
}
