//! A full block and a block's receipts, parsed one transaction at a time.
//!
//! alloy's `Block` flattens its header into the block object and takes its
//! transactions as an untagged enum, so serde buffers the whole answer as
//! generic content (for a block of a thousand transactions, megabytes of
//! it) and then holds every alloy transaction before the first one is
//! converted; a receipt list is held whole as alloy receipts the same way.
//! Here the block object is split into its members, borrowed from the
//! answer's text: the header is parsed on its own, and the transactions (or
//! receipts) one after another, each converted and dropped before the next.
//!
//! Only the well-formed case is handled here. Anything else (an error, a
//! duplicated member, hashes in place of transactions, `null`) gives `None`
//! and the caller parses the answer the whole-value way, so what is
//! rejected, and how, is exactly what it was.

use std::fmt;

use alloy_network::AnyRpcTransaction;
use alloy_network::AnyTransactionReceipt;
use alloy_rpc_types_eth::Header;
use argus_core::{Block, BlockRef, ChainId, Transaction};
use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::ReceiptWithLogs;

/// A JSON object's members, their values unparsed and borrowed.
struct Members<'a>(Vec<(String, &'a RawValue)>);

impl<'de> serde::Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Object;
        impl<'de> Visitor<'de> for Object {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, &'de RawValue>()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(Object)
    }
}

/// `eth_getBlockByNumber(_, true)`'s answer (not `null`), as
/// [`super::full_block`] makes it; `None` when the answer is not a plain
/// well-formed block.
pub(super) fn full_block(raw: &RawValue, chain: ChainId, verify_hash: bool) -> Option<Block> {
    let Members(members) = serde_json::from_str(raw.get()).ok()?;
    let mut keys: Vec<&str> = members.iter().map(|(key, _)| key.as_str()).collect();
    keys.sort_unstable();
    if keys.windows(2).any(|pair| pair[0] == pair[1]) {
        return None;
    }
    // The block without its transactions: a couple of kilobytes, parsed
    // by alloy as before (header, uncles, withdrawals).
    let mut transactions = None;
    let mut rest = String::with_capacity(4096);
    rest.push('{');
    for (key, value) in &members {
        if key == "transactions" {
            transactions = Some(*value);
            continue;
        }
        if rest.len() > 1 {
            rest.push(',');
        }
        rest.push_str(&serde_json::to_string(key).ok()?);
        rest.push(':');
        rest.push_str(value.get());
    }
    rest.push('}');
    let shell: alloy_rpc_types_eth::Block<(), Header> = serde_json::from_str(&rest).ok()?;
    let mut out = super::shell_of(&shell.header, chain, verify_hash).ok()?;
    let header = out.header;
    let mut deserializer = serde_json::Deserializer::from_str(transactions?.get());
    Transactions {
        block: &header,
        out: &mut out.transactions,
    }
    .deserialize(&mut deserializer)
    .ok()?;
    deserializer.end().ok()?;
    Some(out)
}

/// The `transactions` array, each converted as it is read.
struct Transactions<'a> {
    block: &'a BlockRef,
    out: &'a mut Vec<Transaction>,
}

impl<'de> DeserializeSeed<'de> for Transactions<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Transactions<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of transactions")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.out.reserve(seq.size_hint().unwrap_or(0));
        while let Some(tx) = seq.next_element::<AnyRpcTransaction>()? {
            let position = self.out.len() as u64;
            let converted = super::transaction(&tx, position, self.block)
                .map_err(|error| A::Error::custom(error.to_string()))?;
            self.out.push(converted);
        }
        Ok(())
    }
}

/// `eth_getBlockReceipts`' answer (asked by hash or by number) as
/// [`super::receipts`] makes it from a list that belongs to `block`; `None`
/// when it is anything else (`null`, another block's, malformed).
pub(super) fn receipt_list(raw: &RawValue, block: &BlockRef) -> Option<Vec<ReceiptWithLogs>> {
    let mut out = Vec::new();
    let mut deserializer = serde_json::Deserializer::from_str(raw.get());
    Receipts {
        block,
        out: &mut out,
    }
    .deserialize(&mut deserializer)
    .ok()?;
    deserializer.end().ok()?;
    Some(out)
}

/// A receipt list, each receipt checked and converted as it is read.
struct Receipts<'a> {
    block: &'a BlockRef,
    out: &'a mut Vec<ReceiptWithLogs>,
}

impl<'de> DeserializeSeed<'de> for Receipts<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Receipts<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of receipts")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.out.reserve(seq.size_hint().unwrap_or(0));
        while let Some(r) = seq.next_element::<AnyTransactionReceipt>()? {
            let position = self.out.len() as u64;
            let receipt = super::receipt_of(&r, self.block)
                .map_err(|error| A::Error::custom(error.to_string()))?;
            if receipt.tx_index != position {
                return Err(A::Error::custom("receipt out of place"));
            }
            self.out.push(receipt);
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
