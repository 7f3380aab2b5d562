//! The registry following the chain, one chain task's part of it:
//!
//! - **Enrolment**: a new contract made by a watched deployer (a receipt's
//!   `contractAddress`), announced by a watched factory's event, or created
//!   through a known CREATE2 deployer joins the registry under its policy's
//!   label, tags and ABI, and raises an alert. Deployers and factories are
//!   named by address, or by a registry tag (the live entries carrying it,
//!   re-read whenever the chain task reloads the registry); a policy keyed
//!   by `code_hash` alone claims any account's creation whose runtime code
//!   hashes to it, after the deployer policies had their turn. Written in the transaction
//!   that records the block (and moves the checkpoint), so the registry's
//!   change feed moves with it and the rules watch the contract from the
//!   next block on.
//! - **Planned addresses**: each committed batch, the plans still waiting
//!   for code are read with `eth_getCode` at the batch's last block; code
//!   there is an alert (`info` when its hash is the expected one, `high`
//!   when nothing was expected, `critical` when it differs) and the plan
//!   becomes a deployment.
//! - **Unknown callers**: contracts created by anybody else are remembered
//!   (not enrolled); a transaction to one of them (or creating one) in which
//!   one of our contracts emits a log is reported.
//! - **Reorgs**: what an orphaned block enrolled is removed from the
//!   registry again (and its alert retracted by the record step), a plan
//!   seen deployed in it waits again.
//!
//! Every alert's id is deterministic (rule, block, transaction, address),
//! so a replay of a block records nothing twice.

use std::collections::{BTreeMap, HashSet};

use alloy_json_abi::JsonAbi;
use alloy_primitives::{Address, B256, keccak256};
use argus_abi::decode::{AbiIndex, AbiValue};
use argus_chain::{BlockId, RpcPool};
use argus_core::{Block, ChainId, ChainOrigin, Finding, Severity, finding_id};
use argus_registry::onchain::{self, EnrolledAt, Enrolment};
use argus_registry::{Registry, Scope};
use argus_store::Connection;
use serde_json::json;

use crate::NodeError;
use crate::config::{EnrolConfig, EnrolPolicy, Trigger};

mod work;

pub(crate) use work::{Work, unwind};

/// Rule ids of the alerts this module raises.
pub const RULE_ENROLLED: &str = "argus.registry.enrolled";
/// A watched deployer or factory made a contract whose code is not the
/// policy's `code_hash`: alerted, not enrolled.
pub const RULE_UNEXPECTED_CODE: &str = "argus.registry.unexpected-code";
/// Code appeared at a planned address.
pub const RULE_PLANNED_DEPLOYED: &str = "argus.registry.planned-deployed";
/// Code at a planned address is not the expected code.
pub const RULE_PLANNED_MISMATCH: &str = "argus.registry.planned-code-mismatch";
/// A contract created by an unknown deployer called one of ours.
pub const RULE_UNKNOWN_CALLER: &str = "argus.registry.unknown-caller";

/// How many blocks a foreign creation is remembered (about 30 days at 12 s).
const FOREIGN_MEMORY_BLOCKS: u64 = 216_000;

/// One chain's enrolment: its policies and what it needs to apply them.
#[derive(Debug)]
pub(crate) struct Enroller {
    chain: ChainId,
    policies: Vec<(EnrolPolicy, Option<AbiIndex>)>,
    unknown_callers: bool,
    /// The first policy keyed by `code_hash` alone: it stands for all of
    /// them until the code is read.
    code_hash_policy: Option<usize>,
    /// Per tag a policy follows: this chain's live registry entries
    /// carrying it.
    tagged: BTreeMap<String, HashSet<Address>>,
}

/// The address a factory policy's event is indexed under: the factory's,
/// or, for a tag, this placeholder (the log's address is checked first).
fn event_key(trigger: &Trigger) -> Address {
    match trigger {
        Trigger::Factory { factory, .. } => *factory,
        _ => Address::ZERO,
    }
}

/// A new contract a policy claims, before its code is read.
#[derive(Debug)]
struct Candidate {
    /// Index into the policies.
    policy: usize,
    address: Address,
    at: EnrolledAt,
    origin: ChainOrigin,
    by: Address,
}

/// What a batch asks of the node before it can be judged: read from the
/// blocks and the store, without holding the store across the RPC calls.
#[derive(Debug, Default)]
pub(crate) struct Prepared {
    /// Per block (same order as the batch): its candidates.
    candidates: Vec<Vec<Candidate>>,
    /// Per block: contracts created there by deployers nobody watches.
    foreign: Vec<Vec<(EnrolledAt, Address, Address)>>,
    /// Plans waiting for code.
    waiting: Vec<onchain::Planned>,
}

/// The code read for a [`Prepared`] batch.
#[derive(Debug, Default)]
pub(crate) struct Codes {
    candidates: Vec<Vec<alloy_primitives::Bytes>>,
    waiting: Vec<alloy_primitives::Bytes>,
}

impl Enroller {
    pub(crate) fn new(chain: ChainId, config: &EnrolConfig) -> Self {
        let policies = config
            .for_chain(chain)
            .into_iter()
            .map(|policy| {
                let index = match &policy.trigger {
                    Trigger::Factory { event, .. } | Trigger::FactoryTag { event, .. } => {
                        let mut index = AbiIndex::new();
                        let mut abi = JsonAbi::new();
                        abi.events
                            .entry(event.name.clone())
                            .or_default()
                            .push(event.clone());
                        let _skipped = index.insert(event_key(&policy.trigger), &abi);
                        Some(index)
                    }
                    _ => None,
                };
                (policy, index)
            })
            .collect::<Vec<_>>();
        let code_hash_policy = policies
            .iter()
            .position(|(p, _)| matches!(p.trigger, Trigger::CodeHash(_)));
        let tagged = policies
            .iter()
            .filter_map(|(p, _)| p.trigger.tag())
            .map(|tag| (tag.to_owned(), HashSet::new()))
            .collect();
        Self {
            chain,
            policies,
            unknown_callers: config.unknown_callers,
            code_hash_policy,
            tagged,
        }
    }

    /// Follows the registry: the entries carrying the tags the policies
    /// name, from `directory` (the live registry, reloaded by the chain task
    /// when it changes). A contract tagged later is a factory or deployer
    /// from the next block on; an untagged or removed one stops being one.
    pub(crate) fn follow_registry(&mut self, directory: &argus_rules::ContractDirectory) {
        let chain = self.chain;
        for (tag, members) in &mut self.tagged {
            *members = directory
                .entries
                .iter()
                .filter(|e| e.chain == chain && e.tags.iter().any(|t| t == tag))
                .map(|e| e.address)
                .collect();
        }
    }

    fn is_tagged(&self, tag: &str, address: Address) -> bool {
        self.tagged
            .get(tag)
            .is_some_and(|members| members.contains(&address))
    }

    /// Whether it has anything to do on this chain besides planned
    /// addresses.
    fn watches_creations(&self) -> bool {
        !self.policies.is_empty() || self.unknown_callers
    }

    /// First step for `blocks` (committed, ascending): what they claim
    /// (candidates, foreign creations) and the plans waiting for code.
    pub(crate) fn prepare(
        &self,
        blocks: &[Block],
        conn: &Connection,
        ours: &HashSet<Address>,
    ) -> Result<Prepared, NodeError> {
        let mut prepared = Prepared::default();
        if self.watches_creations() {
            for block in blocks {
                let (candidates, foreign) = self.claims(block, ours);
                prepared.candidates.push(candidates);
                prepared.foreign.push(foreign);
            }
        }
        if !blocks.is_empty() {
            prepared.waiting = onchain::planned_waiting(conn, self.chain)?;
        }
        Ok(prepared)
    }

    /// Second step: the runtime code of every candidate (at its block) and
    /// of every waiting plan (at the batch's last block), batched.
    pub(crate) async fn read_codes(
        &self,
        blocks: &[Block],
        prepared: &Prepared,
        pool: &RpcPool,
    ) -> Result<Codes, NodeError> {
        let mut codes = Codes::default();
        for (block, candidates) in blocks.iter().zip(&prepared.candidates) {
            if candidates.is_empty() {
                codes.candidates.push(Vec::new());
                continue;
            }
            let addresses: Vec<Address> = candidates.iter().map(|c| c.address).collect();
            codes.candidates.push(
                pool.codes(&addresses, BlockId::Number(block.header.number))
                    .await?,
            );
        }
        if let Some(last) = blocks.last()
            && !prepared.waiting.is_empty()
        {
            let addresses: Vec<Address> = prepared.waiting.iter().map(|p| p.address).collect();
            codes.waiting = pool
                .codes(&addresses, BlockId::Number(last.header.number))
                .await?;
        }
        Ok(codes)
    }

    /// Last step: the alerts and the registry writes.
    pub(crate) fn finish(
        &self,
        blocks: &[Block],
        prepared: Prepared,
        codes: Codes,
        conn: &Connection,
        registry: &Registry,
        ours: &HashSet<Address>,
    ) -> Result<Work, NodeError> {
        let mut work = Work::default();
        let mut counted: BTreeMap<usize, u64> = BTreeMap::new();
        for (i, block) in blocks.iter().enumerate() {
            let candidates = prepared
                .candidates
                .get(i)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let block_codes = codes
                .candidates
                .get(i)
                .map(Vec::as_slice)
                .unwrap_or_default();
            // Remembered before the callers are looked for: a contract
            // created earlier in the same batch calls ours in a later block.
            work.foreign
                .extend(prepared.foreign.get(i).cloned().unwrap_or_default());
            self.judge(
                block,
                candidates,
                block_codes,
                conn,
                registry,
                ours,
                &mut counted,
                &mut work,
            )?;
            if self.unknown_callers {
                self.unknown_callers(block, conn, ours, &mut work)?;
            }
        }
        if let Some(last) = blocks.last() {
            self.planned(last, &prepared.waiting, &codes.waiting, &mut work);
            if self.unknown_callers && last.header.number % 1000 == 0 {
                work.forget_before = last.header.number.checked_sub(FOREIGN_MEMORY_BLOCKS);
            }
        }
        Ok(work)
    }

    /// What one block claims: new contracts of watched deployers, factories
    /// and CREATE2 deployers, and creations by anybody else.
    #[allow(clippy::type_complexity)]
    fn claims(
        &self,
        block: &Block,
        ours: &HashSet<Address>,
    ) -> (Vec<Candidate>, Vec<(EnrolledAt, Address, Address)>) {
        let chain = self.chain;
        let at = |tx_hash| EnrolledAt {
            chain,
            block_number: block.header.number,
            block_hash: block.header.hash,
            tx_hash,
        };
        let origin = |tx_hash, log_index| ChainOrigin {
            chain,
            block: block.header,
            tx_hash: Some(tx_hash),
            log_index,
        };
        let mut candidates: Vec<Candidate> = Vec::new();
        let mut foreign = Vec::new();
        for tx in &block.transactions {
            let Some(receipt) = tx.receipt.as_ref().filter(|r| r.success) else {
                continue;
            };
            if let Some(created) = receipt.contract_address {
                let claimed = self.policies.iter().position(|(p, _)| match &p.trigger {
                    Trigger::Deployer(d) => *d == tx.from,
                    Trigger::DeployerTag(tag) => self.is_tagged(tag, tx.from),
                    _ => false,
                });
                // Watched deployers first; then any code-hash policy (its
                // code is read with the others and judged in `judge`).
                if let Some(policy) = claimed.or(self.code_hash_policy) {
                    candidates.push(Candidate {
                        policy,
                        address: created,
                        at: at(tx.hash),
                        origin: origin(tx.hash, None),
                        by: tx.from,
                    });
                }
                // Not a watched deployer's: remembered as foreign unless a
                // code-hash policy enrolls it (`judge` takes it back then).
                if claimed.is_none() && self.unknown_callers && !ours.contains(&created) {
                    foreign.push((at(tx.hash), created, tx.from));
                }
            }
            if let Some(to) = tx.to {
                for (i, (policy, _)) in self.policies.iter().enumerate() {
                    if let Trigger::Create2Deployer(proxy) = policy.trigger
                        && proxy == to
                        && tx.input.len() > 32
                    {
                        let salt = B256::from_slice(&tx.input[..32]);
                        let address = proxy.create2(salt, keccak256(&tx.input[32..]));
                        candidates.push(Candidate {
                            policy: i,
                            address,
                            at: at(tx.hash),
                            origin: origin(tx.hash, None),
                            by: tx.from,
                        });
                    }
                }
            }
        }
        for log in &block.logs {
            for (i, (policy, index)) in self.policies.iter().enumerate() {
                let (event, field, from_factory) = match &policy.trigger {
                    Trigger::Factory {
                        factory,
                        event,
                        field,
                    } => (event, field, log.address == *factory),
                    Trigger::FactoryTag { tag, event, field } => {
                        (event, field, self.is_tagged(tag, log.address))
                    }
                    _ => continue,
                };
                let Some(index) = index else {
                    continue;
                };
                if !from_factory || log.topics.first() != Some(&event.selector()) {
                    continue;
                }
                let key = event_key(&policy.trigger);
                let Ok(decoded) = index.decode_log(key, &log.topics, &log.data) else {
                    tracing::warn!(
                        chain = chain.0,
                        "a {} log in {} does not decode as `{}`; skipped",
                        event.name,
                        log.tx_hash,
                        event.signature()
                    );
                    continue;
                };
                if let Some(AbiValue::Address(address)) =
                    decoded.args.get(*field).map(|arg| &arg.value)
                {
                    candidates.push(Candidate {
                        policy: i,
                        address: *address,
                        at: at(log.tx_hash),
                        origin: origin(log.tx_hash, Some(log.log_index)),
                        by: log.address,
                    });
                }
            }
        }
        candidates.retain(|c| !ours.contains(&c.address));
        (candidates, foreign)
    }

    /// Enrolls each candidate with code, or alerts on code the policy does
    /// not expect.
    #[allow(clippy::too_many_arguments)]
    fn judge(
        &self,
        block: &Block,
        candidates: &[Candidate],
        codes: &[alloy_primitives::Bytes],
        conn: &Connection,
        registry: &Registry,
        ours: &HashSet<Address>,
        counted: &mut BTreeMap<usize, u64>,
        work: &mut Work,
    ) -> Result<(), NodeError> {
        let mut seen: HashSet<Address> = HashSet::new();
        for (candidate, code) in candidates.iter().zip(codes) {
            if code.is_empty() || ours.contains(&candidate.address) {
                // Created and destroyed in the block, or a CREATE2 call that
                // reverted inside: nothing to watch.
                continue;
            }
            let code_hash = keccak256(code);
            // A creation claimed for the code-hash policies goes to the
            // first whose hash it has; other code is nobody's.
            let index = match self.policies.get(candidate.policy) {
                Some((policy, _)) if matches!(policy.trigger, Trigger::CodeHash(_)) => {
                    match self.policies.iter().position(
                        |(p, _)| matches!(p.trigger, Trigger::CodeHash(h) if h == code_hash),
                    ) {
                        Some(index) => index,
                        None => continue,
                    }
                }
                Some(_) => candidate.policy,
                None => continue,
            };
            let Some((policy, _)) = self.policies.get(index) else {
                continue;
            };
            if !seen.insert(candidate.address)
                || onchain::live_at(conn, self.chain, candidate.address)?.is_some()
            {
                continue;
            }
            let address = candidate.address;
            let fields = |label: Option<&str>, abi_note: Option<&str>| {
                json!({
                    "chain": self.chain.name(),
                    "address": address.to_checksum(None),
                    "label": label,
                    "policy": policy.name,
                    "via": policy.trigger.describe(),
                    "by": candidate.by.to_checksum(None),
                    "code_hash": code_hash.to_string(),
                    "expected_code_hash": policy.code_hash.map(|h| h.to_string()),
                    "abi": policy.abi,
                    "abi_note": abi_note,
                })
            };
            if let Some(expected) = policy.code_hash
                && expected != code_hash
            {
                work.findings.push(finding(
                    RULE_UNEXPECTED_CODE,
                    Severity::High,
                    format!(
                        "{} made {} with unexpected code (hash {code_hash}, expected {expected}); not enrolled",
                        policy.trigger.describe(),
                        address.to_checksum(None)
                    ),
                    &candidate.origin,
                    address,
                    fields(None, None),
                ));
                continue;
            }
            let before = counted.entry(index).or_insert(0);
            *before += 1;
            let n = onchain::enrolled_count(conn, self.chain, &policy.name)? + *before;
            let label = policy.label_for(n, address, block.header.number);
            let (abi, abi_note) = self.abi_of(policy, registry, conn, code_hash)?;
            work.findings.push(finding(
                RULE_ENROLLED,
                policy.severity,
                format!(
                    "new contract {label} ({}) on {} from {}: enrolled and watched from the next block{}",
                    address.to_checksum(None),
                    self.chain.name(),
                    policy.trigger.describe(),
                    abi_note
                        .as_deref()
                        .map(|note| format!("; {note}"))
                        .unwrap_or_default()
                ),
                &candidate.origin,
                address,
                fields(Some(&label), abi_note.as_deref()),
            ));
            // Enrolled, so not a stranger's contract any more.
            work.foreign.retain(|(_, other, _)| *other != address);
            work.enrolments.push((
                candidate.at,
                Enrolment {
                    address,
                    label,
                    tags: policy.tags.clone(),
                    abi,
                    policy: policy.name.clone(),
                    code_hash: Some(code_hash),
                },
            ));
        }
        Ok(())
    }

    /// The ABI a policy names: a deployment's on this chain, else an
    /// artifact's. Without a name, the ABI of the registered build output
    /// whose runtime code has the same hash. A name the registry does not
    /// hold, or no build output with that code, enrolls the contract without
    /// an ABI (its events still match `contract: tag:…` rules with a
    /// signature) and the alert says so.
    fn abi_of(
        &self,
        policy: &EnrolPolicy,
        registry: &Registry,
        conn: &Connection,
        code_hash: B256,
    ) -> Result<(JsonAbi, Option<String>), NodeError> {
        let Some(name) = &policy.abi else {
            let found = onchain::by_code_hash(conn, self.chain, code_hash)?;
            return Ok(match found.first() {
                Some(entry) => (
                    entry.abi.clone(),
                    Some(format!(
                        "ABI of {} (the same runtime code){}",
                        entry.label,
                        if found.len() > 1 {
                            format!("; {} entries have this code", found.len())
                        } else {
                            String::new()
                        }
                    )),
                ),
                None => (
                    JsonAbi::new(),
                    Some(
                        "no ABI: no registered build output has this runtime code; name one with `abi:`"
                            .to_owned(),
                    ),
                ),
            });
        };
        let found = registry
            .find(name, Scope::Chain(self.chain))
            .or_else(|_| registry.find(name, Scope::Artifacts));
        Ok(match found {
            Ok(entry) => (entry.abi, None),
            Err(error) => (
                JsonAbi::new(),
                Some(format!(
                    "no ABI: the policy's abi `{name}` is not usable ({error})"
                )),
            ),
        })
    }

    /// A transaction to a contract an unknown deployer created (earlier, or
    /// in this batch), or creating one, in which a contract of ours
    /// emits a log: the unknown contract called ours.
    fn unknown_callers(
        &self,
        block: &Block,
        conn: &Connection,
        ours: &HashSet<Address>,
        work: &mut Work,
    ) -> Result<(), NodeError> {
        // Our contracts' logs by transaction: usually few, so the block's
        // other transactions cost one lookup each.
        let mut touched_by: BTreeMap<B256, Vec<Address>> = BTreeMap::new();
        for log in block.logs.iter().filter(|log| ours.contains(&log.address)) {
            let touched = touched_by.entry(log.tx_hash).or_default();
            if !touched.contains(&log.address) {
                touched.push(log.address);
            }
        }
        if touched_by.is_empty() {
            return Ok(());
        }
        for tx in &block.transactions {
            let Some(touched) = touched_by.get(&tx.hash) else {
                continue;
            };
            let caller = match (tx.to, tx.receipt.as_ref().and_then(|r| r.contract_address)) {
                (Some(to), _) => to,
                (None, Some(created)) => created,
                (None, None) => continue,
            };
            if ours.contains(&caller) {
                continue;
            }
            let Some(first) = touched.first() else {
                continue;
            };
            // Created in this batch (not stored yet), or before.
            let here = work
                .foreign
                .iter()
                .find(|(_, address, _)| *address == caller)
                .map(|(at, _, deployer)| (*deployer, at.block_number));
            let deployer = if here.is_some() {
                here
            } else {
                onchain::foreign_creation(conn, self.chain, caller)?
                    .map(|f| (f.deployer, f.block_number))
            };
            let Some((deployer, created_at)) = deployer else {
                continue;
            };
            let origin = ChainOrigin {
                chain: self.chain,
                block: block.header,
                tx_hash: Some(tx.hash),
                log_index: None,
            };
            work.findings.push(finding(
                RULE_UNKNOWN_CALLER,
                Severity::High,
                format!(
                    "{} (created by {} at block {created_at}, not in the registry) called {} on {}",
                    caller.to_checksum(None),
                    deployer.to_checksum(None),
                    first.to_checksum(None),
                    self.chain.name()
                ),
                &origin,
                caller,
                json!({
                    "chain": self.chain.name(),
                    "caller": caller.to_checksum(None),
                    "deployer": deployer.to_checksum(None),
                    "created_at_block": created_at,
                    "called": touched.iter().map(|a| a.to_checksum(None)).collect::<Vec<_>>(),
                    "from": tx.from.to_checksum(None),
                }),
            ));
        }
        Ok(())
    }

    /// The plans waiting for code, read at `block`.
    fn planned(
        &self,
        block: &Block,
        waiting: &[onchain::Planned],
        codes: &[alloy_primitives::Bytes],
        work: &mut Work,
    ) {
        let origin = ChainOrigin {
            chain: self.chain,
            block: block.header,
            tx_hash: None,
            log_index: None,
        };
        for (plan, code) in waiting.iter().zip(codes) {
            if code.is_empty() {
                continue;
            }
            let code_hash = keccak256(code);
            let (rule, severity, verdict) = match plan.expected_code_hash {
                Some(expected) if expected == code_hash => (
                    RULE_PLANNED_DEPLOYED,
                    Severity::Info,
                    "the expected code".to_owned(),
                ),
                Some(expected) => (
                    RULE_PLANNED_MISMATCH,
                    Severity::Critical,
                    format!("code hashing to {code_hash}, NOT the expected {expected}"),
                ),
                None => (
                    RULE_PLANNED_DEPLOYED,
                    Severity::High,
                    format!("code hashing to {code_hash} (no expected hash was planned)"),
                ),
            };
            work.findings.push(finding(
                rule,
                severity,
                format!(
                    "planned {} ({}) on {} now holds {verdict}",
                    plan.label,
                    plan.address.to_checksum(None),
                    self.chain.name()
                ),
                &origin,
                plan.address,
                json!({
                    "chain": self.chain.name(),
                    "address": plan.address.to_checksum(None),
                    "label": plan.label,
                    "code_hash": code_hash.to_string(),
                    "expected_code_hash": plan.expected_code_hash.map(|h| h.to_string()),
                    "derivation": plan.derivation,
                }),
            ));
            work.deployed.push((
                plan.entry_id,
                block.header.number,
                block.header.hash,
                code_hash,
            ));
        }
    }
}

fn finding(
    rule: &str,
    severity: Severity,
    title: String,
    origin: &ChainOrigin,
    address: Address,
    fields: serde_json::Value,
) -> Finding {
    Finding {
        id: finding_id(rule, Some(origin), address.as_slice()),
        rule_id: rule.to_owned(),
        severity,
        title,
        dedup_key: format!("{rule}:{}:{}", origin.chain.0, address.to_checksum(None)),
        origin: Some(*origin),
        at_ms: i64::try_from(origin.block.timestamp)
            .unwrap_or(i64::MAX)
            .saturating_mul(1000),
        fields: fields.into(),
    }
}
