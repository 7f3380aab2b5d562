//! What the rules' expressions see of a block, a transaction, a revert and
//! decoded arguments, as [`Fact`]s.

use alloy_primitives::U256;
use argus_core::{Block, ChainId, Transaction};

use super::Engine;
use crate::exact_int::ExactInt;
use crate::expression::{Fact, Number};

pub(super) fn number_fact(n: Number) -> Fact {
    match n {
        Number::Exact(e) => Fact::Exact(e),
        Number::Double(d) => Fact::Double(d),
    }
}

impl Engine {
    /// What a failed transaction reverted with, decoded with the ABI of the
    /// contract it called: `kind` is `reason`, `panic`, `custom`, `empty` or
    /// `undecoded` (the raw `data` is always there).
    pub(super) fn revert_fact(&self, chain: ChainId, tx: &Transaction) -> Option<Fact> {
        let data = tx.receipt.as_ref()?.revert_data.as_ref()?;
        let mut entries = vec![("data", Fact::Bytes(data.to_vec()))];
        let decoded = match (tx.to, self.bindings.abi.get(&chain)) {
            (Some(to), Some(index)) => index.decode_revert(to, data).ok(),
            _ => None,
        };
        match decoded {
            Some(argus_abi::DecodedRevert::Empty) => entries.push(("kind", Fact::str("empty"))),
            Some(argus_abi::DecodedRevert::Reason(reason)) => {
                entries.push(("kind", Fact::str("reason")));
                entries.push(("reason", Fact::str(reason)));
            }
            Some(argus_abi::DecodedRevert::Panic { code, meaning }) => {
                entries.push(("kind", Fact::str("panic")));
                entries.push(("code", Fact::Exact(ExactInt::from_u256(code))));
                entries.push(("reason", Fact::str(meaning)));
            }
            Some(argus_abi::DecodedRevert::Custom {
                name,
                signature,
                args,
            }) => {
                entries.push(("kind", Fact::str("custom")));
                entries.push(("name", Fact::str(name)));
                entries.push(("signature", Fact::str(signature)));
                entries.push(("args", args_fact(&args)));
            }
            None => entries.push(("kind", Fact::str("undecoded"))),
        }
        Some(Fact::map(entries))
    }
}

/// Decoded arguments (or return values) as a map: by name where they have
/// one, and by position as `_0`, `_1`…
pub(crate) fn args_fact(args: &[argus_abi::DecodedArg]) -> Fact {
    let mut entries = Vec::with_capacity(args.len() * 2);
    for (i, arg) in args.iter().enumerate() {
        let value = Fact::from_abi(&arg.value);
        if !arg.name.is_empty() {
            entries.push((arg.name.clone(), value.clone()));
        }
        entries.push((format!("_{i}"), value));
    }
    Fact::Map(entries)
}

pub(crate) fn tx_fact(tx: &Transaction) -> Fact {
    let mut entries = vec![
        ("hash", Fact::str(tx.hash.to_string())),
        ("index", Fact::UInt(tx.index)),
        ("from", Fact::str(format!("{:#x}", tx.from))),
        (
            "to",
            tx.to
                .map(|t| Fact::str(format!("{t:#x}")))
                .unwrap_or(Fact::Null),
        ),
        ("value", Fact::Exact(ExactInt::from_u256(tx.value))),
        (
            "gas_price",
            Fact::Exact(ExactInt::from_u256(U256::from(tx.gas_price))),
        ),
        ("gas", Fact::UInt(tx.gas)),
        ("nonce", Fact::UInt(tx.nonce)),
        ("input", Fact::Bytes(tx.input.to_vec())),
    ];
    if let Some(receipt) = &tx.receipt {
        entries.push((
            "status",
            Fact::str(if receipt.success { "success" } else { "failed" }),
        ));
        entries.push(("success", Fact::Bool(receipt.success)));
        entries.push(("gas_used", Fact::UInt(receipt.gas_used)));
    }
    Fact::map(entries)
}

pub(super) fn block_fact(block: &Block) -> Fact {
    Fact::map(vec![
        ("number", Fact::UInt(block.header.number)),
        ("hash", Fact::str(block.header.hash.to_string())),
        ("timestamp", Fact::UInt(block.header.timestamp)),
        (
            "base_fee",
            block
                .base_fee_per_gas
                .map(|f| Fact::Exact(ExactInt::from_u256(U256::from(f))))
                .unwrap_or(Fact::Null),
        ),
        ("chain", Fact::UInt(block.chain.0)),
    ])
}
