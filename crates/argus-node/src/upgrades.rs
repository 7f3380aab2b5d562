//! Upgrades followed and judged: the node itself (not a user's rule) sees a
//! registered contract's `Upgraded`, `AdminChanged` and `BeaconUpgraded`
//! events and reads the EIP-1967 slots of the registered proxies.
//!
//! - `Upgraded(implementation)` (and `BeaconUpgraded(beacon)`, followed to
//!   the beacon's `implementation()` by `eth_call` at that block) moves the
//!   registry's proxy link to the new implementation
//!   ([`Registry::follow_implementation`]: a `linked` row in the change feed
//!   with the block and transaction), so the directory the rules decode with
//!   is re-read from the registry. The alert: the implementation is a
//!   registered deployment on the chain → `upgrades.registered` (default
//!   high); it is not → critical, since code nobody registered now runs
//!   behind a watched address.
//! - `AdminChanged` → `upgrades.admin_changed` (default high).
//! - At the chain task's start (at the chain's head), and for each proxy
//!   that joins the registry while it runs (at the follower's tip), the
//!   EIP-1967 implementation and beacon slots are read (`eth_getStorageAt`):
//!   a link that moved while Argus was down is followed and judged the same
//!   way (`argus.upgrade.slot`; a first link of a proxy imported without
//!   one is `info` when the implementation is registered, critical when
//!   not). The backfill's `Upgraded` event for a move already judged from
//!   its slot raises nothing more.
//!   The admin slot is not kept in the registry, so an admin changed while
//!   Argus was down is not caught by this read.
//!
//! Reorgs: the alert of an orphaned upgrade block is retracted with the
//! block's other alerts (its origin is that block). The registry link is
//! put back: each proxy moved in an orphaned block has its slot read again
//! at the new tip and its link set to what the chain now says (or to the
//! link it had before, for a proxy without an EIP-1967 slot); that move is
//! audited in the change feed like any other (`"reverted": true`). If the
//! upgrade comes back on the new branch, its block is committed, followed
//! and alerted again (a new block hash, so a new finding).
//!
//! Findings have deterministic ids (rule, chain, block hash, transaction,
//! log index, proxy, implementation), so a block read twice records once.

use std::collections::{HashMap, HashSet};

use alloy_primitives::{Address, B256, U256, keccak256};
use argus_chain::{BlockId, RpcPool};
use argus_core::{Block, BlockRef, ChainId, ChainOrigin, Finding, Severity, finding_id};
use argus_registry::{Entry, ListFilter, Registry, Scope};
use serde::Deserialize;
use serde_json::json;

use crate::NodeError;

/// The `upgrades:` section: how an upgrade is judged.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpgradesConfig {
    /// Follow and judge upgrades at all (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// An upgrade to an implementation the registry has (default high).
    #[serde(default = "high")]
    pub registered: Severity,
    /// An `AdminChanged` (default high).
    #[serde(default = "high")]
    pub admin_changed: Severity,
}

fn yes() -> bool {
    true
}

fn high() -> Severity {
    Severity::High
}

impl Default for UpgradesConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            registered: Severity::High,
            admin_changed: Severity::High,
        }
    }
}

/// `keccak256("eip1967.proxy.implementation") - 1`, and so on.
fn eip1967_slot(name: &str) -> B256 {
    B256::from(U256::from_be_bytes(keccak256(name).0) - U256::from(1))
}

fn topic(signature: &str) -> B256 {
    keccak256(signature)
}

/// The upgrade events' topics.
struct Topics {
    upgraded: B256,
    admin_changed: B256,
    beacon_upgraded: B256,
}

impl Topics {
    fn new() -> Self {
        Self {
            upgraded: topic("Upgraded(address)"),
            admin_changed: topic("AdminChanged(address,address)"),
            beacon_upgraded: topic("BeaconUpgraded(address)"),
        }
    }
}

/// An address in a 32-byte word (a topic, a slot, a return value); `None`
/// when the upper 12 bytes are not zero (not an address: malformed input).
fn word_address(word: &[u8]) -> Option<Address> {
    if word.len() != 32 || word[..12].iter().any(|b| *b != 0) {
        return None;
    }
    Some(Address::from_slice(&word[12..]))
}

/// One chain's upgrade watch, owned by its chain task.
#[derive(Debug)]
pub(crate) struct UpgradeWatch {
    chain: ChainId,
    config: UpgradesConfig,
    /// Live deployments of the registry on this chain: whose events count.
    registered: HashSet<Address>,
    /// Proxies whose slots were read since the task started.
    checked: HashSet<Address>,
    /// Links moved by a block, by block hash: what to put back on a revert.
    moved: HashMap<B256, Vec<(Address, Option<Address>)>>,
    /// Moves already judged from a slot read at start: the backfill's
    /// event for the same move is not alerted twice.
    by_slot: HashSet<(Address, Address)>,
}

/// A move of a proxy's link, seen on chain.
struct Upgrade {
    proxy: Address,
    implementation: Address,
    origin: ChainOrigin,
    /// `Upgraded`, `BeaconUpgraded` or `slot`.
    seen_as: &'static str,
    beacon: Option<Address>,
}

impl UpgradeWatch {
    pub(crate) fn new(chain: ChainId, config: UpgradesConfig) -> Self {
        Self {
            chain,
            config,
            registered: HashSet::new(),
            checked: HashSet::new(),
            moved: HashMap::new(),
            by_slot: HashSet::new(),
        }
    }

    fn entries(&self, registry: &Registry) -> Result<Vec<Entry>, NodeError> {
        Ok(registry.list(&ListFilter {
            chain: Some(self.chain),
            ..ListFilter::default()
        })?)
    }

    /// After the registry changed (and at start): the deployments whose
    /// events count, and the EIP-1967 slots of proxies not read yet, at
    /// `at` (at start the chain's head, so a move while Argus was down is
    /// judged before the backfill reaches it; later the follower's tip).
    /// Returns the findings of links that moved.
    pub(crate) async fn refresh(
        &mut self,
        pool: &RpcPool,
        registry: &mut Registry,
        at: Option<BlockRef>,
    ) -> Result<Vec<Finding>, NodeError> {
        if !self.config.enabled {
            return Ok(Vec::new());
        }
        let entries = self.entries(registry)?;
        self.registered = entries.iter().filter_map(|e| e.address).collect();
        let Some(at) = at else {
            return Ok(Vec::new());
        };
        let mut findings = Vec::new();
        for entry in entries.iter().filter(|e| looks_like_proxy(e)) {
            let Some(proxy) = entry.address else { continue };
            if !self.checked.insert(proxy) {
                continue;
            }
            let Some((implementation, beacon)) = self.read_slots(pool, proxy, at).await? else {
                continue;
            };
            if entry.implementation == Some(implementation) {
                continue;
            }
            let origin = ChainOrigin {
                chain: self.chain,
                block: at,
                tx_hash: None,
                log_index: None,
            };
            let upgrade = Upgrade {
                proxy,
                implementation,
                origin,
                seen_as: "slot",
                beacon,
            };
            findings.extend(self.follow(registry, &upgrade)?);
        }
        Ok(findings)
    }

    /// The implementation a proxy's EIP-1967 slots name at `at` (through
    /// its beacon when the beacon slot is set); `None` for a contract
    /// without them.
    async fn read_slots(
        &self,
        pool: &RpcPool,
        proxy: Address,
        at: BlockRef,
    ) -> Result<Option<(Address, Option<Address>)>, NodeError> {
        let block = BlockId::Hash(at.hash);
        let word = pool
            .storage_at(proxy, eip1967_slot("eip1967.proxy.implementation"), block)
            .await?;
        if let Some(implementation) = word_address(word.as_slice()).filter(|a| !a.is_zero()) {
            return Ok(Some((implementation, None)));
        }
        let word = pool
            .storage_at(proxy, eip1967_slot("eip1967.proxy.beacon"), block)
            .await?;
        let Some(beacon) = word_address(word.as_slice()).filter(|a| !a.is_zero()) else {
            return Ok(None);
        };
        Ok(beacon_implementation(pool, beacon, block)
            .await
            .map(|implementation| (implementation, Some(beacon))))
    }

    /// The upgrade events of committed blocks, followed and judged.
    pub(crate) async fn on_blocks(
        &mut self,
        pool: &RpcPool,
        registry: &mut Registry,
        blocks: &[Block],
    ) -> Result<Vec<Finding>, NodeError> {
        if !self.config.enabled || self.registered.is_empty() {
            return Ok(Vec::new());
        }
        let topics = Topics::new();
        let mut findings = Vec::new();
        for block in blocks {
            for log in &block.logs {
                if !self.registered.contains(&log.address) {
                    continue;
                }
                let Some(first) = log.topics.first() else {
                    continue;
                };
                let origin = ChainOrigin {
                    chain: self.chain,
                    block: block.header,
                    tx_hash: Some(log.tx_hash),
                    log_index: Some(log.log_index),
                };
                let at_ms = block_ms(&block.header);
                if *first == topics.upgraded {
                    let Some(implementation) =
                        log.topics.get(1).and_then(|t| word_address(t.as_slice()))
                    else {
                        continue;
                    };
                    let upgrade = Upgrade {
                        proxy: log.address,
                        implementation,
                        origin,
                        seen_as: "Upgraded",
                        beacon: None,
                    };
                    findings.extend(self.follow(registry, &upgrade)?);
                } else if *first == topics.beacon_upgraded {
                    let Some(beacon) = log.topics.get(1).and_then(|t| word_address(t.as_slice()))
                    else {
                        continue;
                    };
                    match beacon_implementation(pool, beacon, BlockId::Hash(block.header.hash))
                        .await
                    {
                        Some(implementation) => {
                            let upgrade = Upgrade {
                                proxy: log.address,
                                implementation,
                                origin,
                                seen_as: "BeaconUpgraded",
                                beacon: Some(beacon),
                            };
                            findings.extend(self.follow(registry, &upgrade)?);
                        }
                        None => findings.push(self.beacon_unreadable(
                            log.address,
                            beacon,
                            origin,
                            at_ms,
                        )),
                    }
                } else if *first == topics.admin_changed {
                    findings.push(self.admin_changed(
                        registry,
                        log.address,
                        &log.data,
                        origin,
                        at_ms,
                    ));
                }
            }
        }
        Ok(findings)
    }

    /// Blocks left the canonical chain: the links they moved are set to
    /// what the chain says at `tip` (the follower's new tip).
    pub(crate) async fn on_revert(
        &mut self,
        pool: &RpcPool,
        registry: &mut Registry,
        reverted: &[BlockRef],
        tip: Option<BlockRef>,
    ) -> Result<(), NodeError> {
        for block in reverted {
            let Some(moves) = self.moved.remove(&block.hash) else {
                continue;
            };
            for (proxy, previous) in moves.into_iter().rev() {
                let now_says = match tip {
                    Some(tip) => self.read_slots(pool, proxy, tip).await?.map(|(a, _)| a),
                    None => None,
                };
                registry.follow_implementation(
                    self.chain,
                    proxy,
                    now_says.or(previous),
                    json!({
                        "reverted": true,
                        "orphaned_block": block.number,
                        "orphaned_block_hash": block.hash.to_string(),
                    }),
                )?;
            }
        }
        Ok(())
    }

    /// Moves the link and makes the alert.
    fn follow(
        &mut self,
        registry: &mut Registry,
        upgrade: &Upgrade,
    ) -> Result<Option<Finding>, NodeError> {
        let previous = registry
            .find(&upgrade.proxy.to_checksum(None), Scope::Chain(self.chain))
            .ok()
            .and_then(|e| e.implementation);
        let pair = (upgrade.proxy, upgrade.implementation);
        if upgrade.seen_as == "slot" {
            self.by_slot.insert(pair);
        } else if previous == Some(upgrade.implementation) && self.by_slot.remove(&pair) {
            return Ok(None);
        }
        let target = registry
            .find(
                &upgrade.implementation.to_checksum(None),
                Scope::Chain(self.chain),
            )
            .ok();
        let Some(proxy) = registry.follow_implementation(
            self.chain,
            upgrade.proxy,
            Some(upgrade.implementation),
            json!({
                "seen_as": upgrade.seen_as,
                "block": upgrade.origin.block.number,
                "block_hash": upgrade.origin.block.hash.to_string(),
                "tx_hash": upgrade.origin.tx_hash.map(|h| h.to_string()),
                "beacon": upgrade.beacon.map(|b| b.to_checksum(None)),
            }),
        )?
        else {
            return Ok(None);
        };
        if previous != Some(upgrade.implementation) {
            self.moved
                .entry(upgrade.origin.block.hash)
                .or_default()
                .push((upgrade.proxy, previous));
        }
        let (severity, judged) = match (&target, previous) {
            (Some(_), None) if upgrade.seen_as == "slot" => (Severity::Info, "registered"),
            (Some(_), _) => (self.config.registered, "registered"),
            (None, _) => (Severity::Critical, "NOT in the registry"),
        };
        let shown = |a: Address| {
            registry
                .find(&a.to_checksum(None), Scope::Chain(self.chain))
                .map_or_else(
                    |_| a.to_checksum(None),
                    |e| format!("{} ({})", e.label, a.to_checksum(None)),
                )
        };
        let how = match upgrade.seen_as {
            "slot" => "its EIP-1967 slot names",
            "BeaconUpgraded" => "its beacon now gives",
            _ => "upgraded to",
        };
        let rule_id = if upgrade.seen_as == "slot" {
            "argus.upgrade.slot"
        } else {
            "argus.upgrade.implementation"
        };
        let title = format!(
            "{}: {how} implementation {}, {judged}",
            proxy.label,
            shown(upgrade.implementation)
        );
        let mut extra = upgrade.proxy.to_vec();
        extra.extend_from_slice(upgrade.implementation.as_slice());
        Ok(Some(Finding {
            id: finding_id(rule_id, Some(&upgrade.origin), &extra),
            rule_id: rule_id.to_owned(),
            severity,
            title,
            dedup_key: format!(
                "upgrade:{}:{:#x}:{:#x}",
                self.chain.0, upgrade.proxy, upgrade.implementation
            ),
            origin: Some(upgrade.origin),
            at_ms: block_ms(&upgrade.origin.block),
            fields: json!({
                "proxy": upgrade.proxy.to_checksum(None),
                "proxy_label": proxy.label,
                "implementation": upgrade.implementation.to_checksum(None),
                "implementation_label": target.as_ref().map(|e| e.label.clone()),
                "registered": target.is_some(),
                "previous": previous.map(|a| a.to_checksum(None)),
                "beacon": upgrade.beacon.map(|b| b.to_checksum(None)),
                "seen_as": upgrade.seen_as,
            })
            .into(),
        }))
    }

    fn admin_changed(
        &self,
        registry: &Registry,
        proxy: Address,
        data: &[u8],
        origin: ChainOrigin,
        at_ms: i64,
    ) -> Finding {
        let (previous, new) = match (
            data.get(..32).and_then(word_address),
            data.get(32..64).and_then(word_address),
        ) {
            (Some(previous), Some(new)) if data.len() == 64 => (Some(previous), Some(new)),
            _ => (None, None),
        };
        let label = registry
            .find(&proxy.to_checksum(None), Scope::Chain(self.chain))
            .map_or_else(|_| proxy.to_checksum(None), |e| e.label);
        let title = match new {
            Some(new) => format!("{label}: proxy admin changed to {}", new.to_checksum(None)),
            None => format!("{label}: proxy admin changed (the event's data is not two addresses)"),
        };
        let rule_id = "argus.upgrade.admin";
        Finding {
            id: finding_id(rule_id, Some(&origin), proxy.as_slice()),
            rule_id: rule_id.to_owned(),
            severity: self.config.admin_changed,
            title,
            dedup_key: format!("upgrade-admin:{}:{proxy:#x}", self.chain.0),
            origin: Some(origin),
            at_ms,
            fields: json!({
                "proxy": proxy.to_checksum(None),
                "proxy_label": label,
                "previous_admin": previous.map(|a| a.to_checksum(None)),
                "new_admin": new.map(|a| a.to_checksum(None)),
            })
            .into(),
        }
    }

    fn beacon_unreadable(
        &self,
        proxy: Address,
        beacon: Address,
        origin: ChainOrigin,
        at_ms: i64,
    ) -> Finding {
        let rule_id = "argus.upgrade.beacon";
        Finding {
            id: finding_id(rule_id, Some(&origin), proxy.as_slice()),
            rule_id: rule_id.to_owned(),
            severity: Severity::Critical,
            title: format!(
                "{}: beacon upgraded to {}, whose implementation() cannot be read",
                proxy.to_checksum(None),
                beacon.to_checksum(None)
            ),
            dedup_key: format!("upgrade-beacon:{}:{proxy:#x}", self.chain.0),
            origin: Some(origin),
            at_ms,
            fields: json!({
                "proxy": proxy.to_checksum(None),
                "beacon": beacon.to_checksum(None),
            })
            .into(),
        }
    }
}

/// A registered proxy: linked to an implementation, or an ABI that speaks
/// of upgrades.
fn looks_like_proxy(entry: &Entry) -> bool {
    entry.implementation.is_some()
        || entry.abi.events.contains_key("Upgraded")
        || entry.abi.events.contains_key("BeaconUpgraded")
        || entry.abi.functions.contains_key("upgradeTo")
        || entry.abi.functions.contains_key("upgradeToAndCall")
        || entry.abi.functions.contains_key("implementation")
}

/// A beacon's `implementation()` at `at`; `None` when the call fails or
/// answers something that is not an address.
async fn beacon_implementation(pool: &RpcPool, beacon: Address, at: BlockId) -> Option<Address> {
    // `implementation()`
    let answer = pool
        .eth_call(beacon, &[0x5c, 0x60, 0xda, 0x1b], at)
        .await
        .ok()?;
    word_address(answer.get(..32)?).filter(|a| !a.is_zero())
}

fn block_ms(block: &BlockRef) -> i64 {
    i64::try_from(block.timestamp)
        .unwrap_or(i64::MAX)
        .saturating_mul(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eip1967_slots_and_topics_are_the_standard_ones() {
        assert_eq!(
            eip1967_slot("eip1967.proxy.implementation").to_string(),
            "0x360894a13ba1a3210667c828492db98dca3e2076cc3735a920a3ca505d382bbc"
        );
        assert_eq!(
            eip1967_slot("eip1967.proxy.beacon").to_string(),
            "0xa3f0ad74e5423aebfd80d3ef4346578335a9a72aeaee59ff6cb3582b35133d50"
        );
        let topics = Topics::new();
        assert_eq!(
            topics.upgraded.to_string(),
            "0xbc7cd75a20ee27fd9adebab32041f755214dbc6bffa90cc0225b39da2e5c2d3b"
        );
        assert_eq!(
            topics.admin_changed.to_string(),
            "0x7e644d79422f17c01e4894b5f4f588d331ebfa28653d42ae832dc59e38c9798f"
        );
        assert_eq!(
            topics.beacon_upgraded.to_string(),
            "0x1cf3b03a6cf19fa2baba4df148e9dcabedea7f8a5c07840e207e5c089be95d3e"
        );
    }

    #[test]
    fn a_word_with_dirty_upper_bytes_is_no_address() {
        let mut word = [0u8; 32];
        word[31] = 1;
        assert_eq!(word_address(&word), Some(Address::with_last_byte(1)));
        word[0] = 1;
        assert_eq!(word_address(&word), None);
        assert_eq!(word_address(&word[..31]), None);
    }
}
