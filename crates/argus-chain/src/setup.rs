//! One chain as a config names it: the follower's settings and the pool of
//! endpoints it reads through. The node follows it; the signal sources probe
//! the same endpoints and read wallets through them.

use argus_core::ChainId;

use crate::{EndpointConfig, FollowerConfig, PoolConfig, PoolError, RpcPool};

/// One chain to follow.
#[derive(Debug, Clone)]
pub struct ChainSetup {
    pub follower: FollowerConfig,
    pub endpoints: Vec<EndpointConfig>,
    pub pool: PoolConfig,
}

impl ChainSetup {
    /// The chain followed.
    pub fn chain(&self) -> ChainId {
        self.follower.chain
    }

    /// A pool over the chain's endpoints.
    pub fn connect(&self) -> Result<RpcPool, PoolError> {
        RpcPool::new(self.chain(), self.endpoints.clone(), self.pool.clone())
    }
}
