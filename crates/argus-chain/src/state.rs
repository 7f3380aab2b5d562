//! Reading contract state at one block: `eth_call`, `eth_getBalance` and
//! `eth_getStorageAt` for the state rules, in one JSON-RPC batch.
//!
//! Every read names the block by hash (EIP-1898 `{"blockHash": …}`), so the
//! reads of one evaluation all see the same state even when a reorg
//! replaces the block at that height meanwhile: the node then answers
//! "unknown block" instead of mixing two chains' states. A read that the
//! node refuses (a revert, an unknown block) is that read's `Err`; only a
//! failure of the whole exchange (every endpoint down) is the call's.

use alloy_primitives::{B256, Bytes, U256};
use argus_core::StateQuery;
use serde_json::json;

use crate::error::RpcError;
use crate::parse;
use crate::pool::{BlockId, RpcPool};

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
        reads: &[StateQuery],
        at: BlockId,
    ) -> Result<Vec<Result<StateValue, RpcError>>, RpcError> {
        if reads.is_empty() {
            return Ok(Vec::new());
        }
        let tag = at.tag_param();
        let requests: Vec<(&'static str, String)> = reads
            .iter()
            .map(|read| match read {
                StateQuery::Call { to, data } => {
                    let call = json!({ "to": format!("{to:#x}"), "data": data.to_string() });
                    ("eth_call", format!("[{call},{tag}]"))
                }
                StateQuery::Balance { address } => {
                    ("eth_getBalance", format!("[\"{address:#x}\",{tag}]"))
                }
                StateQuery::Storage { address, slot } => (
                    "eth_getStorageAt",
                    format!("[\"{address:#x}\",\"{slot:#x}\",{tag}]"),
                ),
            })
            .collect();
        self.call_mixed_batch(&requests, |at, raw| match reads.get(at) {
            Some(StateQuery::Call { .. }) => parse::bytes(raw).map(StateValue::Returned),
            Some(StateQuery::Balance { .. }) => parse::quantity_u256(raw).map(StateValue::Balance),
            Some(StateQuery::Storage { .. }) | None => parse::hash(raw).map(StateValue::Slot),
        })
        .await
    }
}
