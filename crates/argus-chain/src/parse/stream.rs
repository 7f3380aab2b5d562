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
use argus_core::{Block, BlockRef, ChainId};
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
    let block = out.header;
    each(
        transactions?,
        &mut out.transactions,
        |tx: AnyRpcTransaction, position| {
            super::transaction(&tx, position, &block).map_err(|error| error.to_string())
        },
    )?;
    Some(out)
}

/// `eth_getBlockReceipts`' answer (asked by hash or by number) as
/// [`super::receipts`] makes it from a list that belongs to `block`; `None`
/// when it is anything else (`null`, another block's, malformed).
pub(super) fn receipt_list(raw: &RawValue, block: &BlockRef) -> Option<Vec<ReceiptWithLogs>> {
    let mut out = Vec::new();
    each(raw, &mut out, |r: AnyTransactionReceipt, position| {
        let receipt = super::receipt_of(&r, block).map_err(|error| error.to_string())?;
        if receipt.tx_index != position {
            return Err("receipt out of place".to_owned());
        }
        Ok(receipt)
    })?;
    Some(out)
}

/// Reads the JSON array `raw` one element at a time into `out`, each
/// converted by `convert` (given its position) before the next is read;
/// `None` when the array is malformed or `convert` refuses an element.
fn each<In, Out>(
    raw: &RawValue,
    out: &mut Vec<Out>,
    convert: impl FnMut(In, u64) -> Result<Out, String>,
) -> Option<()>
where
    In: for<'de> serde::Deserialize<'de>,
{
    let mut deserializer = serde_json::Deserializer::from_str(raw.get());
    Each {
        out,
        convert,
        item: std::marker::PhantomData,
    }
    .deserialize(&mut deserializer)
    .ok()?;
    deserializer.end().ok()
}

/// A JSON array, each element converted as it is read (see [`each`]).
struct Each<'a, In, Out, F> {
    out: &'a mut Vec<Out>,
    convert: F,
    item: std::marker::PhantomData<fn() -> In>,
}

impl<'de, In, Out, F> DeserializeSeed<'de> for Each<'_, In, Out, F>
where
    In: serde::Deserialize<'de>,
    F: FnMut(In, u64) -> Result<Out, String>,
{
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, In, Out, F> Visitor<'de> for Each<'_, In, Out, F>
where
    In: serde::Deserialize<'de>,
    F: FnMut(In, u64) -> Result<Out, String>,
{
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array")
    }
    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        self.out.reserve(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element::<In>()? {
            let position = self.out.len() as u64;
            let converted = (self.convert)(item, position).map_err(A::Error::custom)?;
            self.out.push(converted);
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
