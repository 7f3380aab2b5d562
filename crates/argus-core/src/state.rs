//! One read of contract state at a block: what a state rule asks for (the
//! rules' engine plans it) and what a node answers (the chain's pool
//! performs it as `eth_call`, `eth_getBalance` or `eth_getStorageAt`).

use alloy_primitives::{Address, Bytes, U256};

/// One read of state.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StateQuery {
    /// `eth_call` of `data` on `to`.
    Call { to: Address, data: Bytes },
    /// `eth_getBalance`, in wei.
    Balance { address: Address },
    /// `eth_getStorageAt` of one slot.
    Storage { address: Address, slot: U256 },
}
