//! What one committed batch's enrolment writes: the registry rows it adds
//! inside the record step's transaction, and what a reorg takes back.

use alloy_primitives::{Address, B256};
use argus_core::{ChainId, Finding};
use argus_registry::onchain::{self, EnrolledAt, Enrolment};
use argus_store::Transaction;

use crate::NodeError;

/// What one committed batch makes: alerts, and the registry writes done in
/// the record step's transaction.
#[derive(Debug, Default)]
pub(crate) struct Work {
    pub(crate) findings: Vec<Finding>,
    pub(super) enrolments: Vec<(EnrolledAt, Enrolment)>,
    pub(super) deployed: Vec<(i64, u64, B256, B256)>,
    pub(super) foreign: Vec<(EnrolledAt, Address, Address)>,
    pub(super) forget_before: Option<u64>,
}

impl Work {
    /// Whether a contract was enrolled in the block `hash`.
    pub(crate) fn enrolled_in(&self, hash: B256) -> bool {
        self.enrolments.iter().any(|(at, _)| at.block_hash == hash)
    }

    /// The contracts enrolled, as the rules see them.
    pub(crate) fn directory_entries(&self, chain: ChainId) -> Vec<argus_rules::ContractEntry> {
        self.enrolments
            .iter()
            .map(|(_, enrolment)| argus_rules::ContractEntry {
                chain,
                address: enrolment.address,
                label: enrolment.label.clone(),
                tags: enrolment.tags.iter().cloned().collect(),
                abi: enrolment.abi.clone(),
            })
            .collect()
    }

    /// The registry writes, inside the record step's transaction.
    pub(crate) fn write(&self, tx: &Transaction<'_>, chain: ChainId) -> Result<(), NodeError> {
        for (at, enrolment) in &self.enrolments {
            onchain::enrol(tx, *at, enrolment)?;
        }
        for (entry_id, number, hash, code_hash) in &self.deployed {
            onchain::mark_deployed(tx, *entry_id, *number, *hash, *code_hash)?;
        }
        for (at, address, deployer) in &self.foreign {
            onchain::remember_foreign(tx, *at, *address, *deployer)?;
        }
        if let Some(before) = self.forget_before {
            onchain::forget_foreign_before(tx, chain, before)?;
        }
        Ok(())
    }
}

/// Takes back what orphaned blocks enrolled (inside the record step's
/// transaction).
pub(crate) fn unwind(
    tx: &Transaction<'_>,
    chain: ChainId,
    reverted: &[argus_core::BlockRef],
) -> Result<(), NodeError> {
    for block in reverted {
        let unwound = onchain::unwind_block(tx, chain, block.hash)?;
        if !unwound.removed.is_empty() || !unwound.replanned.is_empty() {
            tracing::info!(
                chain = chain.0,
                block = block.number,
                removed = unwound.removed.len(),
                replanned = unwound.replanned.len(),
                "a reorg took back contracts enrolled from an orphaned block"
            );
        }
    }
    Ok(())
}
