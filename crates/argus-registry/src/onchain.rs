//! The registry following the chain: contracts the daemon enrolled from a
//! block (with the block, so a reorg takes them back), planned
//! deterministic deployments (filed before any code is at the address),
//! and creations by deployers nobody watches (remembered, not enrolled).
//!
//! The daemon calls these inside the transaction that records the block's
//! alerts and moves its checkpoint, so an enrolment, its alert and the
//! checkpoint are one commit: a crash redoes all three, a replay finds them
//! done. Every SQL statement of these three tables is here.

use alloy_json_abi::JsonAbi;
use alloy_primitives::{Address, B256};
use argus_core::ChainId;
use argus_store::sql::{OptionalExtension, Params, params};
use argus_store::{Connection, Transaction};
use serde::Serialize;
use serde_json::json;

use crate::db::{self, address_to_sql, chain_to_sql};
use crate::error::RegistryError;
use crate::model::{Contract, Deployment, Source, SourceFormat};
use crate::registry::{ChangeKind, Entry, ImportOutcome, Registry, import_in, now};

/// Where on chain a contract was enrolled from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnrolledAt {
    /// The chain.
    pub chain: ChainId,
    /// The block that created it (or announced it).
    pub block_number: u64,
    /// That block's hash: a reorg orphaning it removes the entry.
    pub block_hash: B256,
    /// The transaction.
    pub tx_hash: B256,
}

/// One contract to enrol.
#[derive(Debug, Clone)]
pub struct Enrolment {
    /// Its address.
    pub address: Address,
    /// The label wanted (a free one is taken if it is held: `label_2`).
    pub label: String,
    /// Tags to attach.
    pub tags: std::collections::BTreeSet<String>,
    /// The ABI (another entry's).
    pub abi: JsonAbi,
    /// The policy's name (`registry.enrol[i]`, or its `name`).
    pub policy: String,
    /// keccak256 of its runtime code, when read.
    pub code_hash: Option<B256>,
}

/// How many contracts `policy` enrolled on `chain` (live or not): the `{n}`
/// of a label pattern is this plus one.
pub fn enrolled_count(
    conn: &Connection,
    chain: ChainId,
    policy: &str,
) -> Result<u64, RegistryError> {
    let count: i64 = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM registry_enrolments WHERE chain_id = ?1 AND policy = ?2",
        )?
        .query_row(params![chain_to_sql(chain), policy], |row| row.get(0))?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// The live entry at an address on a chain, if any.
pub fn live_at(
    conn: &Connection,
    chain: ChainId,
    address: Address,
) -> Result<Option<Entry>, RegistryError> {
    Ok(db::live_by_address(conn, address, Some(chain))?
        .into_iter()
        .next())
}

/// Files `enrolment` as a deployment (source `on-chain`) and remembers the
/// block it came from. A replay of the same block changes nothing; an entry
/// a reorg removed comes back. The change feed gets `added` (or `revived`)
/// like any import, so the rules watch it from the next block.
pub fn enrol(
    tx: &Transaction<'_>,
    at: EnrolledAt,
    enrolment: &Enrolment,
) -> Result<ImportOutcome, RegistryError> {
    let conn: &Connection = tx;
    let contract = Contract {
        deployment: Some(Deployment {
            chain: at.chain,
            address: enrolment.address,
        }),
        label: enrolment.label.clone(),
        abi: enrolment.abi.clone(),
        source: Source {
            format: SourceFormat::OnChain,
            path: format!("on-chain:{}:{}", at.chain.0, enrolment.policy).into(),
        },
        tags: enrolment.tags.clone(),
        implementation: None,
        label_given: true,
        runtime_code_hash: None,
    };
    let outcome = import_in(conn, &contract, &now())?;
    conn.prepare_cached(
        "INSERT INTO registry_enrolments \
         (chain_id, address, entry_id, block_number, block_hash, tx_hash, policy, code_hash) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
         ON CONFLICT (chain_id, address) DO UPDATE SET entry_id = excluded.entry_id, \
         block_number = excluded.block_number, block_hash = excluded.block_hash, \
         tx_hash = excluded.tx_hash, policy = excluded.policy, code_hash = excluded.code_hash",
    )?
    .execute(params![
        chain_to_sql(at.chain),
        address_to_sql(enrolment.address),
        outcome.entry_id,
        i64::try_from(at.block_number).unwrap_or(i64::MAX),
        at.block_hash.to_string(),
        at.tx_hash.to_string(),
        enrolment.policy,
        enrolment.code_hash.map(|h| h.to_string()),
    ])?;
    Ok(outcome)
}

/// What a reorg took back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unwound {
    /// Entries enrolled from the orphaned block, now removed.
    pub removed: Vec<Address>,
    /// Planned entries whose code was seen in it, planned again.
    pub replanned: Vec<Address>,
}

/// Takes back what the orphaned block `block_hash` made: its enrolments are
/// soft-removed (change `removed`, `reason: reorg`) and forgotten, planned
/// entries seen deployed in it are `planned` again, its foreign creations
/// are forgotten. If the new branch deploys the contract again, it is
/// enrolled again (the entry revived).
pub fn unwind_block(
    tx: &Transaction<'_>,
    chain: ChainId,
    block_hash: B256,
) -> Result<Unwound, RegistryError> {
    let conn: &Connection = tx;
    let now = now();
    let mut unwound = Unwound::default();
    let enrolled: Vec<(i64, String)> = conn
        .prepare_cached(
            "SELECT entry_id, address FROM registry_enrolments \
             WHERE chain_id = ?1 AND block_hash = ?2 ORDER BY address",
        )?
        .query_map(
            params![chain_to_sql(chain), block_hash.to_string()],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?
        .collect::<Result<_, _>>()?;
    for (entry_id, address) in enrolled {
        let entry = db::entry_by_id(conn, entry_id)?;
        if entry.removed_at.is_none() {
            db::set_removed(conn, entry_id, Some(&now), &now)?;
            db::record_change(
                conn,
                &now,
                ChangeKind::Removed,
                entry_id,
                &json!({
                    "label": entry.label,
                    "chain_id": chain.0,
                    "address": address,
                    "reason": "reorg",
                    "block_hash": block_hash.to_string(),
                }),
            )?;
        }
        if let Some(address) = entry.address {
            unwound.removed.push(address);
        }
    }
    conn.prepare_cached("DELETE FROM registry_enrolments WHERE chain_id = ?1 AND block_hash = ?2")?
        .execute(params![chain_to_sql(chain), block_hash.to_string()])?;
    let replanned: Vec<String> = conn
        .prepare_cached(
            "UPDATE registry_planned SET status = 'planned', seen_block_number = NULL, \
             seen_block_hash = NULL, seen_code_hash = NULL \
             WHERE chain_id = ?1 AND seen_block_hash = ?2 RETURNING address",
        )?
        .query_map(
            params![chain_to_sql(chain), block_hash.to_string()],
            |row| row.get(0),
        )?
        .collect::<Result<_, _>>()?;
    for address in replanned {
        if let Ok(address) = address.parse() {
            unwound.replanned.push(address);
        }
    }
    conn.prepare_cached(
        "DELETE FROM registry_foreign_creations WHERE chain_id = ?1 AND block_hash = ?2",
    )?
    .execute(params![chain_to_sql(chain), block_hash.to_string()])?;
    Ok(unwound)
}

/// Whether a planned address has seen code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlannedStatus {
    /// No code seen yet.
    Planned,
    /// Code seen (at `seen_block_number`).
    Deployed,
}

/// A planned deployment.
#[derive(Debug, Clone, Serialize)]
pub struct Planned {
    /// The registry entry (label, tags, ABI).
    pub entry_id: i64,
    /// Its label.
    pub label: String,
    /// The chain.
    pub chain: ChainId,
    /// The address derived.
    pub address: Address,
    /// How the address was derived (`{"kind":"create2",...}`).
    pub derivation: serde_json::Value,
    /// keccak256 of the runtime code expected there.
    pub expected_code_hash: Option<B256>,
    /// Planned or deployed.
    pub status: PlannedStatus,
    /// The block code was first seen at.
    pub seen_block_number: Option<u64>,
    /// keccak256 of the code seen.
    pub seen_code_hash: Option<B256>,
}

/// What `argus registry plan` files.
#[derive(Debug, Clone)]
pub struct PlanRequest {
    /// The chain.
    pub chain: ChainId,
    /// The derived address.
    pub address: Address,
    /// The label.
    pub label: String,
    /// Tags.
    pub tags: std::collections::BTreeSet<String>,
    /// The ABI it will have (empty when not known yet).
    pub abi: JsonAbi,
    /// How the address was derived.
    pub derivation: serde_json::Value,
    /// keccak256 of the runtime code expected.
    pub expected_code_hash: Option<B256>,
}

impl Registry {
    /// Files a planned deployment: a registry entry at the derived address
    /// (so the rules bind to it before it exists) and its plan. Planning the
    /// same address again replaces the plan (expected hash, derivation).
    pub fn plan(&mut self, request: &PlanRequest) -> Result<Planned, RegistryError> {
        let tx = self.conn.transaction()?;
        let conn: &Connection = &tx;
        let now = now();
        let contract = Contract {
            deployment: Some(Deployment {
                chain: request.chain,
                address: request.address,
            }),
            label: request.label.clone(),
            abi: request.abi.clone(),
            source: Source {
                format: SourceFormat::Planned,
                path: format!("planned:{}", request.label).into(),
            },
            tags: request.tags.clone(),
            implementation: None,
            label_given: true,
            runtime_code_hash: None,
        };
        let outcome = import_in(conn, &contract, &now)?;
        conn.prepare_cached(
            "INSERT INTO registry_planned \
             (entry_id, chain_id, address, derivation, expected_code_hash, status, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, 'planned', ?6) \
             ON CONFLICT (entry_id) DO UPDATE SET derivation = excluded.derivation, \
             expected_code_hash = excluded.expected_code_hash",
        )?
        .execute(params![
            outcome.entry_id,
            chain_to_sql(request.chain),
            address_to_sql(request.address),
            request.derivation.to_string(),
            request.expected_code_hash.map(|h| h.to_string()),
            now,
        ])?;
        let planned = planned_where(conn, "p.entry_id = ?1", params![outcome.entry_id])?
            .into_iter()
            .next()
            .ok_or_else(|| RegistryError::Corrupt {
                entry_id: outcome.entry_id,
                what: "the plan just written is not there".to_owned(),
            })?;
        tx.commit()?;
        Ok(planned)
    }

    /// Every plan of live entries, by chain and label.
    pub fn planned(&self) -> Result<Vec<Planned>, RegistryError> {
        planned_where(self.conn(), "1 = 1", params![])
    }
}

/// The plans on `chain` still waiting for code (of live entries).
pub fn planned_waiting(conn: &Connection, chain: ChainId) -> Result<Vec<Planned>, RegistryError> {
    planned_where(
        conn,
        "p.chain_id = ?1 AND p.status = 'planned'",
        params![chain_to_sql(chain)],
    )
}

/// Marks a plan deployed: code hashing to `code_hash` was seen at `block`.
pub fn mark_deployed(
    tx: &Transaction<'_>,
    entry_id: i64,
    block_number: u64,
    block_hash: B256,
    code_hash: B256,
) -> Result<(), RegistryError> {
    tx.prepare_cached(
        "UPDATE registry_planned SET status = 'deployed', seen_block_number = ?2, \
             seen_block_hash = ?3, seen_code_hash = ?4 WHERE entry_id = ?1",
    )?
    .execute(params![
        entry_id,
        i64::try_from(block_number).unwrap_or(i64::MAX),
        block_hash.to_string(),
        code_hash.to_string(),
    ])?;
    Ok(())
}

fn planned_where(
    conn: &Connection,
    condition: &str,
    args: impl Params,
) -> Result<Vec<Planned>, RegistryError> {
    let sql = format!(
        "SELECT p.entry_id, e.label, p.chain_id, p.address, p.derivation, p.expected_code_hash, \
         p.status, p.seen_block_number, p.seen_code_hash \
         FROM registry_planned p JOIN registry_entries e ON e.id = p.entry_id \
         WHERE e.removed_at IS NULL AND {condition} ORDER BY p.chain_id, e.label"
    );
    type Row = (
        i64,
        String,
        i64,
        String,
        String,
        Option<String>,
        String,
        Option<i64>,
        Option<String>,
    );
    let rows: Vec<Row> = conn
        .prepare_cached(&sql)?
        .query_map(args, |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
                row.get(5)?,
                row.get(6)?,
                row.get(7)?,
                row.get(8)?,
            ))
        })?
        .collect::<Result<_, _>>()?;
    rows.into_iter()
        .map(
            |(id, label, chain, address, derivation, expected, status, seen, seen_hash)| {
                let corrupt = |what: &str| RegistryError::Corrupt {
                    entry_id: id,
                    what: what.to_owned(),
                };
                let hash = |text: Option<String>, what: &str| {
                    text.map(|t| t.parse::<B256>().map_err(|_| corrupt(what)))
                        .transpose()
                };
                Ok(Planned {
                    entry_id: id,
                    label,
                    chain: ChainId(chain as u64),
                    address: address
                        .parse()
                        .map_err(|_| corrupt("the planned address is not an address"))?,
                    derivation: serde_json::from_str(&derivation)
                        .map_err(|_| corrupt("the plan's derivation is not JSON"))?,
                    expected_code_hash: hash(expected, "the expected code hash is not a hash")?,
                    status: if status == "deployed" {
                        PlannedStatus::Deployed
                    } else {
                        PlannedStatus::Planned
                    },
                    seen_block_number: seen.and_then(|n| u64::try_from(n).ok()),
                    seen_code_hash: hash(seen_hash, "the seen code hash is not a hash")?,
                })
            },
        )
        .collect()
}

/// A contract created by a deployer no policy watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignCreation {
    /// Who sent the creating transaction.
    pub deployer: Address,
    /// The block it was created in.
    pub block_number: u64,
    /// The creating transaction.
    pub tx_hash: B256,
}

/// Remembers a foreign creation (a replay writes the same row).
pub fn remember_foreign(
    tx: &Transaction<'_>,
    at: EnrolledAt,
    address: Address,
    deployer: Address,
) -> Result<(), RegistryError> {
    tx.prepare_cached(
        "INSERT INTO registry_foreign_creations \
             (chain_id, address, deployer, block_number, block_hash, tx_hash) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT (chain_id, address) DO UPDATE SET deployer = excluded.deployer, \
             block_number = excluded.block_number, block_hash = excluded.block_hash, \
             tx_hash = excluded.tx_hash",
    )?
    .execute(params![
        chain_to_sql(at.chain),
        address_to_sql(address),
        address_to_sql(deployer),
        i64::try_from(at.block_number).unwrap_or(i64::MAX),
        at.block_hash.to_string(),
        at.tx_hash.to_string(),
    ])?;
    Ok(())
}

/// The foreign creation at `address`, if one was seen.
pub fn foreign_creation(
    conn: &Connection,
    chain: ChainId,
    address: Address,
) -> Result<Option<ForeignCreation>, RegistryError> {
    let row: Option<(String, i64, String)> = conn
        .prepare_cached(
            "SELECT deployer, block_number, tx_hash FROM registry_foreign_creations \
             WHERE chain_id = ?1 AND address = ?2",
        )?
        .query_row(
            params![chain_to_sql(chain), address_to_sql(address)],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .optional()?;
    Ok(row.and_then(|(deployer, block, tx)| {
        Some(ForeignCreation {
            deployer: deployer.parse().ok()?,
            block_number: u64::try_from(block).ok()?,
            tx_hash: tx.parse().ok()?,
        })
    }))
}

/// Forgets foreign creations older than `before_block` on `chain`: the
/// table would otherwise hold every contract a busy chain ever created.
pub fn forget_foreign_before(
    tx: &Transaction<'_>,
    chain: ChainId,
    before_block: u64,
) -> Result<usize, RegistryError> {
    Ok(tx
        .prepare_cached(
            "DELETE FROM registry_foreign_creations WHERE chain_id = ?1 AND block_number < ?2",
        )?
        .execute(params![
            chain_to_sql(chain),
            i64::try_from(before_block).unwrap_or(i64::MAX)
        ])?)
}

/// Live entries (artifacts, and deployments on `chain`) whose build output's
/// runtime code hashes to `code_hash`, artifacts first.
pub fn by_code_hash(
    conn: &Connection,
    chain: ChainId,
    code_hash: B256,
) -> Result<Vec<Entry>, RegistryError> {
    let ids: Vec<i64> = conn
        .prepare_cached(
            "SELECT e.id FROM registry_code_hashes h JOIN registry_entries e ON e.id = h.entry_id \
             WHERE h.code_hash = ?1 AND e.removed_at IS NULL \
             AND (e.kind = 'artifact' OR e.chain_id = ?2) \
             ORDER BY e.kind = 'deployment', e.label",
        )?
        .query_map(params![code_hash.to_string(), chain_to_sql(chain)], |row| {
            row.get(0)
        })?
        .collect::<Result<_, _>>()?;
    ids.into_iter()
        .map(|id| db::entry_by_id(conn, id))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{ImportHints, ImportOptions, load_path};
    use alloy_primitives::{Bytes, keccak256};

    #[test]
    fn imported_build_output_is_found_by_its_runtime_code_hash() {
        let project = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata/foundry-project");
        let contracts = load_path(&project, &ImportHints::default()).unwrap();
        let mut registry = Registry::open(&argus_store::testing::store().unwrap()).unwrap();
        registry
            .import(&contracts, ImportOptions::default())
            .unwrap();
        let artifact: serde_json::Value = serde_json::from_slice(
            &std::fs::read(project.join("out/Token.sol/Token.json")).unwrap(),
        )
        .unwrap();
        let runtime: Bytes = artifact["deployedBytecode"]["object"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let conn = registry.store().connect().unwrap();
        let found = by_code_hash(&conn, ChainId(31337), keccak256(&runtime)).unwrap();
        assert!(
            found.iter().any(|e| e.label == "Token"),
            "{:?}",
            found.iter().map(|e| &e.label).collect::<Vec<_>>()
        );
        assert!(
            by_code_hash(&conn, ChainId(31337), B256::ZERO)
                .unwrap()
                .is_empty()
        );
    }
}
