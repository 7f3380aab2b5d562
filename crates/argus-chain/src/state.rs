//! Reading contract state at one block: `eth_call`, `eth_getBalance` and
//! `eth_getStorageAt` for the state rules, in one JSON-RPC batch.
//!
//! Every read names the block by hash (EIP-1898 `{"blockHash": …}`), so the
//! reads of one evaluation all see the same state even when a reorg
//! replaces the block at that height meanwhile: the node then answers
//! "unknown block" instead of mixing two chains' states. A read that the
//! node refuses (a revert, an unknown block) is that read's `Err`; only a
//! failure of the whole exchange (every endpoint down) is the call's.

use alloy_primitives::{Address, B256, Bytes, U256};
use serde_json::json;

use crate::error::RpcError;
use crate::parse;
use crate::pool::{BlockId, RpcPool};

/// One read of state.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StateRead {
    /// `eth_call` of `data` on `to`.
    Call { to: Address, data: Bytes },
    /// `eth_getBalance`, in wei.
    Balance { address: Address },
    /// `eth_getStorageAt` of one slot.
    Storage { address: Address, slot: U256 },
}

/// What a read gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateValue {
    /// The return data of a call.
    Returned(Bytes),
    /// A balance in wei.
    Balance(U256),
    /// A storage slot's 32 bytes.
    Slot(B256),
}

impl RpcPool {
    /// Reads every entry of `reads` at block `at` in one JSON-RPC batch
    /// (split by the pool's `batch_size`), in order. The outer `Err` is a
    /// failure of the exchange itself after retries and failover; an inner
    /// `Err` is the node's refusal of that one read (a revert carries its
    /// data in [`RpcError::revert_data`]).
    pub async fn read_state(
        &self,
        reads: &[StateRead],
        at: BlockId,
    ) -> Result<Vec<Result<StateValue, RpcError>>, RpcError> {
        if reads.is_empty() {
            return Ok(Vec::new());
        }
        let tag = at.tag_param();
        let requests: Vec<(&'static str, String)> = reads
            .iter()
            .map(|read| match read {
                StateRead::Call { to, data } => {
                    let call = json!({ "to": format!("{to:#x}"), "data": data.to_string() });
                    ("eth_call", format!("[{call},{tag}]"))
                }
                StateRead::Balance { address } => {
                    ("eth_getBalance", format!("[\"{address:#x}\",{tag}]"))
                }
                StateRead::Storage { address, slot } => (
                    "eth_getStorageAt",
                    format!("[\"{address:#x}\",\"{slot:#x}\",{tag}]"),
                ),
            })
            .collect();
        self.call_mixed_batch(&requests, |at, raw| match reads.get(at) {
            Some(StateRead::Call { .. }) => parse::bytes(raw).map(StateValue::Returned),
            Some(StateRead::Balance { .. }) => parse::quantity_u256(raw).map(StateValue::Balance),
            Some(StateRead::Storage { .. }) | None => parse::hash(raw).map(StateValue::Slot),
        })
        .await
    }
}
