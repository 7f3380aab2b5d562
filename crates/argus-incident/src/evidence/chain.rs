//! The chain's part of a bundle: for every chain event an incident's alerts
//! came from, what the node says about it, as it said it.
//!
//! Per block: the header (`eth_getBlockByHash`, by the hash the alert was
//! made from, so a reorg since shows as `null` rather than as another
//! block's header) and its logs (`eth_getLogs` by block hash). Per
//! transaction: the transaction, its receipt and a `callTracer` trace
//! (`debug_traceTransaction`; most public providers refuse it, which is
//! noted). Then balances at the block of the affected contracts (the
//! alert's log's emitter, else the transaction's recipient) and of the bots'
//! wallets, and the bots' wallets' transactions in the chain's latest
//! `recent_blocks` blocks. Answers are kept as JSON values from
//! `RpcPool::request` (object keys re-serialised in sorted order, content
//! unchanged); every failure is a note, never an error.

use std::collections::{BTreeMap, BTreeSet};

use alloy_primitives::{Address, U256};
use argus_alerting::AlertRecord;
use argus_chain::RpcPool;
use argus_core::ChainId;
use serde_json::{Value, json};

use super::{BalanceAt, BundleWriter, EvidenceError, EvidenceSources};

/// The most blocks searched for a bot's wallet transactions.
const MAX_RECENT_BLOCKS: u64 = 1_000;

/// One block an alert came from, with the transactions and logs named.
#[derive(Debug, Default)]
struct BlockEvents {
    hash: Option<String>,
    /// Transaction hash → log indices named by alerts (empty: the
    /// transaction itself).
    txs: BTreeMap<String, BTreeSet<u64>>,
}

pub(super) async fn capture(
    sources: &EvidenceSources,
    alerts: &[AlertRecord],
    writer: &mut BundleWriter,
) -> Result<Vec<BalanceAt>, EvidenceError> {
    let mut blocks: BTreeMap<(u64, u64), BlockEvents> = BTreeMap::new();
    for alert in alerts {
        let (Some(chain), Some(number)) = (alert.chain_id, alert.block_number) else {
            continue;
        };
        let entry = blocks.entry((chain, number)).or_default();
        if entry.hash.is_none() {
            entry.hash.clone_from(&alert.block_hash);
        }
        if let Some(tx) = &alert.tx_hash {
            let logs = entry.txs.entry(tx.clone()).or_default();
            if let Some(index) = alert.log_index {
                logs.insert(index);
            }
        }
    }
    if blocks.is_empty() && !alerts.is_empty() {
        writer.note("no alert of the incident came from a chain event: no chain records captured");
    }

    let bots = resolve_bots(sources, writer);
    let alert_chains: BTreeSet<u64> = blocks.keys().map(|(chain, _)| *chain).collect();
    let mut balances = Vec::new();
    for ((chain, number), events) in &blocks {
        let Some(pool) = sources.chains.get(&ChainId(*chain)) else {
            writer.note(format!(
                "chain {chain}: no RPC endpoint configured, block {number} not captured"
            ));
            continue;
        };
        let prefix = format!("chain-{chain}-block-{number}");
        let header = match &events.hash {
            Some(hash) => {
                fetch(
                    pool,
                    writer,
                    "eth_getBlockByHash",
                    json!([hash, false]),
                    &format!("{prefix}.json"),
                    format!("header of block {number} ({hash}) of chain {chain}"),
                )
                .await?
            }
            None => {
                fetch(
                    pool,
                    writer,
                    "eth_getBlockByNumber",
                    json!([format!("{number:#x}"), false]),
                    &format!("{prefix}.json"),
                    format!("header of block {number} of chain {chain}"),
                )
                .await?
            }
        };
        let block_hash = events.hash.clone().or_else(|| {
            header
                .as_ref()
                .and_then(|h| h.get("hash"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        if let Some(hash) = &block_hash {
            fetch(
                pool,
                writer,
                "eth_getLogs",
                json!([{ "blockHash": hash }]),
                &format!("{prefix}-logs.json"),
                format!("every log of block {number} of chain {chain} (eth_getLogs by block hash)"),
            )
            .await?;
        }

        let mut affected = BTreeSet::new();
        for (tx, log_indices) in &events.txs {
            let tx_name = format!("chain-{chain}-tx-{}", super::safe_name(tx));
            let transaction = fetch(
                pool,
                writer,
                "eth_getTransactionByHash",
                json!([tx]),
                &format!("{tx_name}.json"),
                format!("transaction {tx} of chain {chain}"),
            )
            .await?;
            let receipt = fetch(
                pool,
                writer,
                "eth_getTransactionReceipt",
                json!([tx]),
                &format!("{tx_name}-receipt.json"),
                format!("receipt of transaction {tx} of chain {chain}, with its logs"),
            )
            .await?;
            trace(pool, writer, *chain, tx, &format!("{tx_name}-trace.json")).await?;
            affected.extend(affected_addresses(
                transaction.as_ref(),
                receipt.as_ref(),
                log_indices,
            ));
        }

        let mut wanted: Vec<(Address, String)> = affected
            .into_iter()
            .map(|a| (a, "affected contract".to_owned()))
            .collect();
        for (bot, wallet) in wallets_on(&bots, *chain, &alert_chains) {
            wanted.push((wallet, format!("wallet of bot {bot}")));
        }
        for (address, role) in wanted {
            let params = json!([format!("{address:#x}"), format!("{number:#x}")]);
            match pool.request("eth_getBalance", params).await {
                Ok(answer) => match answer.as_str().and_then(parse_quantity) {
                    Some(wei) => balances.push(BalanceAt {
                        chain: *chain,
                        block: *number,
                        address: format!("{address:#x}"),
                        role,
                        wei: wei.to_string(),
                    }),
                    None => writer.note(format!(
                        "chain {chain}: eth_getBalance of {address:#x} at block {number} gave no \
                         quantity: {}",
                        shorten(&answer.to_string())
                    )),
                },
                Err(e) => writer.note(format!(
                    "chain {chain}: balance of {address:#x} at block {number} not read: {e}"
                )),
            }
        }
    }
    if !balances.is_empty() {
        writer.add_json(
            "balances.json",
            "balances in wei at each alert's block of the affected contracts and the bots' \
             wallets (eth_getBalance)",
            &balances,
        )?;
    }
    bot_transactions(sources, &bots, &alert_chains, writer).await?;
    Ok(balances)
}

/// Calls `method` and writes its answer as `name`; a failure is a note.
async fn fetch(
    pool: &RpcPool,
    writer: &mut BundleWriter,
    method: &str,
    params: Value,
    name: &str,
    what: String,
) -> Result<Option<Value>, EvidenceError> {
    match pool.request(method, params).await {
        Ok(answer) => {
            if answer.is_null() {
                writer.note(format!("{what}: the node answered {method} with null"));
            }
            writer.add_json(
                name,
                format!("{what} ({method}, as the node returned it)"),
                &answer,
            )?;
            Ok(Some(answer))
        }
        Err(e) => {
            writer.note(format!("{what}: {method} failed: {e}"));
            Ok(None)
        }
    }
}

async fn trace(
    pool: &RpcPool,
    writer: &mut BundleWriter,
    chain: u64,
    tx: &str,
    name: &str,
) -> Result<(), EvidenceError> {
    let params = json!([tx, { "tracer": "callTracer" }]);
    match pool.request("debug_traceTransaction", params).await {
        Ok(answer) => writer.add_json(
            name,
            format!(
                "call trace of transaction {tx} of chain {chain} (debug_traceTransaction, \
                 callTracer, as the node returned it)"
            ),
            &answer,
        ),
        Err(e) => {
            let why = if e.is_method_unsupported() {
                "the node does not offer it".to_owned()
            } else {
                e.to_string()
            };
            writer.note(format!(
                "chain {chain}: no call trace of {tx}: debug_traceTransaction refused: {why}"
            ));
            Ok(())
        }
    }
}

/// The contracts an alert is about: the emitters of the logs it named, else
/// the transaction's recipient (or the contract it created).
fn affected_addresses(
    transaction: Option<&Value>,
    receipt: Option<&Value>,
    log_indices: &BTreeSet<u64>,
) -> BTreeSet<Address> {
    let mut out = BTreeSet::new();
    if let Some(logs) = receipt
        .and_then(|r| r.get("logs"))
        .and_then(Value::as_array)
    {
        for log in logs {
            let index = log
                .get("logIndex")
                .and_then(Value::as_str)
                .and_then(parse_quantity)
                .and_then(|i| u64::try_from(i).ok());
            if index.is_some_and(|i| log_indices.contains(&i))
                && let Some(address) = address_at(log, "address")
            {
                out.insert(address);
            }
        }
    }
    if out.is_empty() {
        for source in [receipt, transaction].into_iter().flatten() {
            for key in ["to", "contractAddress"] {
                if let Some(address) = address_at(source, key) {
                    out.insert(address);
                }
            }
        }
    }
    out
}

fn address_at(value: &Value, key: &str) -> Option<Address> {
    value.get(key)?.as_str()?.parse().ok()
}

/// A `0x…` quantity.
pub(super) fn parse_quantity(text: &str) -> Option<U256> {
    let digits = text.strip_prefix("0x")?;
    if digits.is_empty() || digits.len() > 64 {
        return None;
    }
    U256::from_str_radix(digits, 16).ok()
}

/// A bot's wallets and the chain they are on (`None`: the chains the
/// alerts came from).
type BotWallets = Vec<(String, Option<u64>, Vec<Address>)>;

/// Reads each bot's chain (its name or number); a bot whose chain cannot be
/// read is noted once and left out.
fn resolve_bots(sources: &EvidenceSources, writer: &mut BundleWriter) -> BotWallets {
    let mut out = Vec::new();
    for (name, bot) in &sources.bots {
        if bot.wallets.is_empty() {
            continue;
        }
        let chain = match &bot.chain {
            Some(text) => match ChainId::parse(text, true) {
                Ok(id) => Some(id.0),
                Err(_) => {
                    writer.note(format!(
                        "bot {name}: chain `{}` is neither a known chain name nor a number; its \
                         wallets were not read",
                        shorten(text)
                    ));
                    continue;
                }
            },
            None => None,
        };
        out.push((name.clone(), chain, bot.wallets.clone()));
    }
    out
}

/// The wallets of the bots on `chain`.
fn wallets_on(
    bots: &BotWallets,
    chain: u64,
    alert_chains: &BTreeSet<u64>,
) -> Vec<(String, Address)> {
    bots.iter()
        .filter(|(_, on, _)| on.map_or_else(|| alert_chains.contains(&chain), |c| c == chain))
        .flat_map(|(name, _, wallets)| wallets.iter().map(|w| (name.clone(), *w)))
        .collect()
}

/// The bots' wallets' transactions in each chain's latest blocks.
async fn bot_transactions(
    sources: &EvidenceSources,
    bots: &BotWallets,
    alert_chains: &BTreeSet<u64>,
    writer: &mut BundleWriter,
) -> Result<(), EvidenceError> {
    let mut per_chain: BTreeMap<u64, Vec<(String, Address)>> = BTreeMap::new();
    for chain in sources.chains.keys() {
        let wallets = wallets_on(bots, chain.0, alert_chains);
        if !wallets.is_empty() {
            per_chain.insert(chain.0, wallets);
        }
    }
    let span = sources.config.recent_blocks.min(MAX_RECENT_BLOCKS);
    if sources.config.recent_blocks > MAX_RECENT_BLOCKS {
        writer.note(format!(
            "evidence.recent_blocks is {}; the bots' wallets were searched in the latest \
             {MAX_RECENT_BLOCKS} blocks only",
            sources.config.recent_blocks
        ));
    }
    for (chain, wallets) in per_chain {
        let Some(pool) = sources.chains.get(&ChainId(chain)) else {
            continue;
        };
        let head = match pool.block_number().await {
            Ok(head) => head,
            Err(e) => {
                writer.note(format!(
                    "chain {chain}: the bots' recent transactions were not read: {e}"
                ));
                continue;
            }
        };
        let from = head.saturating_sub(span.saturating_sub(1));
        let watched: BTreeMap<Address, &str> =
            wallets.iter().map(|(bot, w)| (*w, bot.as_str())).collect();
        let mut found = Vec::new();
        for number in from..=head {
            let params = json!([format!("{number:#x}"), true]);
            let block = match pool.request("eth_getBlockByNumber", params).await {
                Ok(block) => block,
                Err(e) => {
                    writer.note(format!(
                        "chain {chain}: block {number} not read for the bots' transactions: {e}"
                    ));
                    continue;
                }
            };
            let txs = block.get("transactions").and_then(Value::as_array);
            for tx in txs.into_iter().flatten() {
                let party = [address_at(tx, "from"), address_at(tx, "to")]
                    .into_iter()
                    .flatten()
                    .find_map(|a| watched.get(&a).map(|bot| (a, *bot)));
                if let Some((wallet, bot)) = party {
                    found.push(json!({
                        "bot": bot,
                        "wallet": format!("{wallet:#x}"),
                        "block": number,
                        "transaction": tx,
                    }));
                }
            }
        }
        writer.add_json(
            &format!("chain-{chain}-bot-transactions.json"),
            format!(
                "transactions from or to the bots' wallets in blocks {from}..={head} of chain \
                 {chain} (eth_getBlockByNumber with transactions, as the node returned them)"
            ),
            &json!({ "from_block": from, "to_block": head, "transactions": found }),
        )?;
    }
    Ok(())
}

/// At most 200 characters of something from outside, for a note.
pub(super) fn shorten(text: &str) -> String {
    let mut out: String = text.chars().take(200).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_affected_contract_is_the_named_logs_emitter_else_the_recipient() {
        let receipt = json!({
            "to": "0x00000000000000000000000000000000000000aa",
            "logs": [
                { "logIndex": "0x0", "address": "0x00000000000000000000000000000000000000bb" },
                { "logIndex": "0x1", "address": "0x00000000000000000000000000000000000000cc" },
            ]
        });
        let named: BTreeSet<u64> = [1].into();
        let found = affected_addresses(None, Some(&receipt), &named);
        assert_eq!(
            found.into_iter().collect::<Vec<_>>(),
            vec![
                "0x00000000000000000000000000000000000000cc"
                    .parse::<Address>()
                    .unwrap()
            ]
        );
        let found = affected_addresses(None, Some(&receipt), &BTreeSet::new());
        assert_eq!(
            found.into_iter().collect::<Vec<_>>(),
            vec![
                "0x00000000000000000000000000000000000000aa"
                    .parse::<Address>()
                    .unwrap()
            ]
        );
        // Malformed answers give nothing rather than a panic.
        assert!(affected_addresses(Some(&json!(7)), Some(&json!("x")), &named).is_empty());
    }

    #[test]
    fn quantities_parse_only_when_well_formed() {
        assert_eq!(parse_quantity("0x10"), Some(U256::from(16)));
        assert_eq!(parse_quantity("10"), None);
        assert_eq!(parse_quantity("0x"), None);
        assert_eq!(parse_quantity(&format!("0x{}", "f".repeat(65))), None);
        assert_eq!(parse_quantity("0xzz"), None);
    }
}
