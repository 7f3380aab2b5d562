//! What the chain follower hands to the rest of the pipeline.
//!
//! These are plain data: the follower (`argus-chain`) fills them from a node's
//! answers after checking them, the rules (`argus-rules`) read them, and the
//! alert pipeline keeps a block's hash beside every alert it made so that a
//! reorg can retract exactly those alerts.

use alloy_primitives::{Address, B256, Bytes, U256};
use serde::{Deserialize, Serialize};

use crate::ChainId;

/// A block's place in a chain: enough to detect a reorg (the parent hash) and
/// to order events in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BlockRef {
    pub number: u64,
    pub hash: B256,
    pub parent_hash: B256,
    /// Seconds since the Unix epoch, as the block header says.
    pub timestamp: u64,
}

impl BlockRef {
    /// Milliseconds from the block's timestamp to `now_ms`: how far behind
    /// a follower whose newest block this is lags. 0 for a block stamped
    /// ahead of the clock (skew); a timestamp past `i64` saturates.
    pub fn age_ms(&self, now_ms: i64) -> i64 {
        let at_ms = i64::try_from(self.timestamp)
            .unwrap_or(i64::MAX)
            .saturating_mul(1000);
        now_ms.saturating_sub(at_ms).max(0)
    }
}

/// One log a contract emitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Log {
    pub address: Address,
    /// Up to four topics; `topics[0]` is the event's topic unless the event is
    /// anonymous.
    pub topics: Vec<B256>,
    pub data: Bytes,
    /// The log's index in its block.
    pub log_index: u64,
    /// The index of the transaction that emitted it, in its block.
    pub tx_index: u64,
    pub tx_hash: B256,
}

/// One transaction of a block, with what its receipt says when the follower
/// fetched receipts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    pub hash: B256,
    /// The index in its block.
    pub index: u64,
    pub from: Address,
    /// `None` for a contract creation.
    pub to: Option<Address>,
    pub value: U256,
    pub input: Bytes,
    pub nonce: u64,
    /// The gas limit the sender set.
    pub gas: u64,
    /// The price per gas actually paid (the receipt's `effectiveGasPrice`),
    /// or the legacy `gasPrice` / `maxFeePerGas` when there is no receipt.
    pub gas_price: u128,
    pub receipt: Option<Receipt>,
}

/// What the receipt of a transaction says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// `true` when the transaction succeeded (status 1).
    pub success: bool,
    pub gas_used: u64,
    pub effective_gas_price: u128,
    /// The address of the created contract, for a creation.
    pub contract_address: Option<Address>,
    /// What a failed transaction reverted with (a reason, a panic code, a
    /// custom error), when the follower could learn it from the node's call
    /// trace; `None` for a success or when the node does not trace.
    #[serde(default)]
    pub revert_data: Option<Bytes>,
}

/// A block as the follower delivers it: its header fields, its logs in order
/// and, when the follower was asked for them, its transactions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    pub chain: ChainId,
    pub header: BlockRef,
    pub base_fee_per_gas: Option<u128>,
    pub gas_used: u64,
    pub gas_limit: u64,
    /// Every log of the block that the follower was asked for, in log-index
    /// order.
    pub logs: Vec<Log>,
    /// Empty unless the follower fetches full blocks.
    pub transactions: Vec<Transaction>,
}

impl Block {
    /// The transaction at `index`, when the block carries transactions.
    pub fn transaction(&self, index: u64) -> Option<&Transaction> {
        // Transactions are kept in index order, so the position is the index;
        // check rather than trust it.
        let at = usize::try_from(index).ok()?;
        self.transactions
            .get(at)
            .filter(|tx| tx.index == index)
            .or_else(|| self.transactions.iter().find(|tx| tx.index == index))
    }
}

#[cfg(test)]
mod age_tests {
    use super::*;

    #[test]
    fn a_block_s_age_is_never_negative_and_never_overflows() {
        let block = |timestamp| BlockRef {
            number: 1,
            hash: B256::ZERO,
            parent_hash: B256::ZERO,
            timestamp,
        };
        assert_eq!(block(10).age_ms(12_500), 2_500);
        assert_eq!(block(20).age_ms(12_500), 0, "ahead of the clock");
        assert_eq!(block(u64::MAX).age_ms(12_500), 0);
    }
}
