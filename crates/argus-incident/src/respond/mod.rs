//! Responders: what a playbook step does to the world.
//!
//! The runner claims a step and calls [`Responders::execute`] with a
//! [`StepJob`]; the responder acts and answers a JSON result for the
//! timeline and the report, or a [`StepFailure`] that says whether trying
//! again can help. One module per kind of act:
//!
//! - `contract`: pause and unpause contracts with a guardian key;
//! - `funds`: move funds to the safe address, revoke allowances;
//! - `tx`: the one path every transaction takes (simulate, sign, record,
//!   send, replace, confirm);
//! - `bot`: stop a bot through its kill switch, pid file and command;
//! - `command`: run a command (`run`, `rotate_keys`, a bot's `command`).
//!
//! # Exactly one signature per act
//!
//! A step may run more than once: its attempt failed, the node was killed
//! (`kill -9`) in the middle, the runner's lease ran out. A second signature
//! for the same act would be a second transaction on chain (a second
//! transfer of the same funds with the next nonce). So the transaction path
//! writes each signed transaction into `incident_transactions` and commits
//! *before* broadcasting it, and every run of a step first looks there: a
//! transaction this step already signed for the same target is followed
//! (re-broadcast, replaced with a higher fee, confirmed), never signed anew.
//! A transaction that was never broadcast is broadcast by the next run; one
//! that was is found by the node. The chain's own state is read first where
//! it answers the question (`paused()`, a balance, an allowance), so a step
//! whose effect is already there sends nothing.
//!
//! Responders hold no state of their own besides configuration: everything
//! they need to resume is in the store.

mod bot;
mod command;
mod contract;
mod funds;
mod tx;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use alloy_primitives::Address;
use argus_abi::decode::AbiIndex;
use argus_chain::{RpcError, RpcPool};
use argus_core::{ChainId, Clock};
use argus_store::Store;
use argus_vault::{AccessPolicy, Action, Permit, VaultSigner};

use crate::db;
use crate::error::IncidentError;
use crate::policy::{self, StepAction};

/// A signing key unsealed from the vault at start (decrypted from its file,
/// or opened in its PKCS#11 token), with its access policy. Its `Debug`
/// shows the address and the policy, never the key.
#[derive(Clone)]
pub struct GuardianKey {
    pub signer: VaultSigner,
    pub policy: AccessPolicy,
}

impl fmt::Debug for GuardianKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardianKey")
            .field("address", &self.signer.address())
            .field("policy", &self.policy)
            .finish()
    }
}

/// One run of one step, as the runner hands it out.
#[derive(Debug, Clone)]
pub struct StepJob {
    pub incident: db::Incident,
    pub step_id: String,
    pub action: policy::StepAction,
    /// The contracts the incident's alerts came from.
    pub affected: Vec<(ChainId, Address)>,
    /// This run's number, from 1.
    pub attempt: u32,
}

/// Why a step's run failed, and whether another run can succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StepFailure {
    pub message: String,
    pub retryable: bool,
}

/// What went wrong inside a responder; turned into a [`StepFailure`] at the
/// edge, where [`RespondError::is_retryable`] decides `retryable`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RespondError {
    /// The step names something this node was not given.
    #[error("{what}; fix the playbook or the node's configuration")]
    Config { what: String },
    /// The node could not be asked (worth another run).
    #[error("cannot {action} on chain {chain}: {source}")]
    Rpc {
        action: &'static str,
        chain: ChainId,
        #[source]
        source: Box<RpcError>,
    },
    #[error(transparent)]
    Store(#[from] IncidentError),
    /// The key's access policy refuses the signature.
    #[error("key `{key}` may not sign now: {reason}")]
    Policy { key: String, reason: String },
    /// The node serves another chain than the configured one.
    #[error(
        "the endpoints of chain `{name}` serve chain {found}, not {expected}; nothing was signed. Fix the chain's URLs"
    )]
    WrongChain {
        name: String,
        expected: u64,
        found: u64,
    },
    /// Simulating the call from the key's address reverted: sending it
    /// would revert too.
    #[error(
        "{target}: the call {function} from {sender} would revert: {reason}; nothing was signed"
    )]
    WouldRevert {
        target: String,
        function: String,
        sender: Address,
        reason: String,
    },
    /// A sent transaction was mined and reverted.
    #[error("{target}: transaction {tx_hash} reverted in block {block}")]
    Reverted {
        target: String,
        tx_hash: String,
        block: u64,
    },
    /// The nonce of a recorded transaction was used by a transaction that
    /// is not one of ours.
    #[error(
        "{target}: nonce {nonce} of {sender} was used by another transaction than the ones this step signed ({hashes}); check who else uses the key"
    )]
    NonceTaken {
        target: String,
        sender: Address,
        nonce: u64,
        hashes: String,
    },
    /// Still pending at the end of this run's wait; the next run follows
    /// the same transaction.
    #[error(
        "{target}: transaction {tx_hash} is not mined yet (fee {fee_gwei} gwei); still waiting"
    )]
    Pending {
        target: String,
        tx_hash: String,
        fee_gwei: String,
    },
    /// A stored transaction that does not decode.
    #[error("{target}: the recorded transaction {tx_hash} does not decode: {detail}")]
    BadRecord {
        target: String,
        tx_hash: String,
        detail: String,
    },
    /// A bot could not be stopped.
    #[error("bot `{bot}`: {what}")]
    Bot {
        bot: String,
        what: String,
        retryable: bool,
    },
    /// A command failed.
    #[error("command `{program}`: {what}")]
    Command {
        program: String,
        what: String,
        retryable: bool,
    },
    /// A vault key could not be rotated.
    #[error("cannot rotate key `{key}`: {reason}")]
    Rotate { key: String, reason: String },
}

impl RespondError {
    pub(crate) fn config(what: impl Into<String>) -> Self {
        Self::Config { what: what.into() }
    }

    pub(crate) fn rpc(action: &'static str, chain: ChainId) -> impl FnOnce(RpcError) -> Self {
        move |source| Self::Rpc {
            action,
            chain,
            source: Box::new(source),
        }
    }

    pub(crate) fn is_retryable(&self) -> bool {
        match self {
            Self::Rpc { .. } | Self::Store(_) | Self::Pending { .. } => true,
            Self::Bot { retryable, .. } | Self::Command { retryable, .. } => *retryable,
            Self::Config { .. }
            | Self::Policy { .. }
            | Self::WrongChain { .. }
            | Self::WouldRevert { .. }
            | Self::Reverted { .. }
            | Self::NonceTaken { .. }
            | Self::BadRecord { .. }
            | Self::Rotate { .. } => false,
        }
    }
}

impl From<RespondError> for StepFailure {
    fn from(error: RespondError) -> Self {
        StepFailure {
            retryable: error.is_retryable(),
            message: error.to_string(),
        }
    }
}

type ContractLookup = dyn Fn(ChainId, &str) -> Option<Address> + Send + Sync;
type KeyRotator = dyn Fn(&str) -> Result<String, String> + Send + Sync;

/// Everything a node's responders need, built once per node.
#[derive(Clone)]
pub struct Responders {
    store: Store,
    clock: Clock,
    chains: BTreeMap<String, (ChainId, RpcPool)>,
    keys: BTreeMap<String, GuardianKey>,
    bots: BTreeMap<String, policy::BotConfig>,
    contracts: Option<Arc<ContractLookup>>,
    rotator: Option<Arc<KeyRotator>>,
    abis: Arc<AbiIndex>,
}

impl fmt::Debug for Responders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let chains: BTreeMap<&str, u64> = self
            .chains
            .iter()
            .map(|(name, (id, _))| (name.as_str(), id.0))
            .collect();
        let keys: BTreeMap<&str, Address> = self
            .keys
            .iter()
            .map(|(label, key)| (label.as_str(), key.signer.address()))
            .collect();
        f.debug_struct("Responders")
            .field("chains", &chains)
            .field("keys", &keys)
            .field("bots", &self.bots.keys().collect::<Vec<_>>())
            .field("contracts", &self.contracts.is_some())
            .field("key_rotator", &self.rotator.is_some())
            .finish()
    }
}

impl Responders {
    pub fn new(store: Store, clock: Clock) -> Self {
        Self {
            store,
            clock,
            chains: BTreeMap::new(),
            keys: BTreeMap::new(),
            bots: BTreeMap::new(),
            contracts: None,
            rotator: None,
            abis: Arc::new(AbiIndex::new()),
        }
    }

    /// A chain, by its name in the `chains:` section.
    pub fn chain(mut self, name: &str, id: ChainId, pool: RpcPool) -> Self {
        self.chains.insert(name.to_owned(), (id, pool));
        self
    }

    /// A signing key, by its vault label.
    pub fn key(mut self, label: &str, key: GuardianKey) -> Self {
        self.keys.insert(label.to_owned(), key);
        self
    }

    /// The `bots:` section.
    pub fn bots(mut self, bots: BTreeMap<String, policy::BotConfig>) -> Self {
        self.bots = bots;
        self
    }

    /// The registry: a label on a chain to its address.
    pub fn contracts(
        mut self,
        lookup: impl Fn(ChainId, &str) -> Option<Address> + Send + Sync + 'static,
    ) -> Self {
        self.contracts = Some(Arc::new(lookup));
        self
    }

    /// Rotates a vault key by label and answers its new address.
    pub fn key_rotator(
        mut self,
        rotate: impl Fn(&str) -> Result<String, String> + Send + Sync + 'static,
    ) -> Self {
        self.rotator = Some(Arc::new(rotate));
        self
    }

    /// The registry's ABIs, to decode custom errors of a refused simulation
    /// (`Error(string)` and `Panic` decode without them).
    pub fn abis(mut self, index: AbiIndex) -> Self {
        self.abis = Arc::new(index);
        self
    }

    /// Runs one step; the result describes what was done.
    pub async fn execute(&self, job: &StepJob) -> Result<serde_json::Value, StepFailure> {
        let result = match &job.action {
            StepAction::Pause(step) => contract::call(self, job, step, "pause()", true).await,
            StepAction::Unpause(step) => contract::call(self, job, step, "unpause()", false).await,
            StepAction::StopBot(step) => bot::stop(self, job, &step.bot).await,
            StepAction::MoveFunds(step) => funds::move_funds(self, job, step).await,
            StepAction::RevokeAllowances(step) => funds::revoke(self, job, step).await,
            StepAction::RotateKeys(step) => command::rotate(self, job, step).await,
            StepAction::Run(step) => command::run_step(job, step).await,
            StepAction::Notify(_) => Err(RespondError::config(
                "a notify step is sent by the runner through the alert outbox, not by a responder",
            )),
        };
        result.map_err(StepFailure::from)
    }

    pub(crate) fn clock(&self) -> &Clock {
        &self.clock
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    pub(crate) fn abi_index(&self) -> &AbiIndex {
        &self.abis
    }

    pub(crate) fn bot(&self, name: &str) -> Option<&policy::BotConfig> {
        self.bots.get(name)
    }

    pub(crate) fn rotator(&self) -> Option<Arc<KeyRotator>> {
        self.rotator.clone()
    }

    /// The chain named in a step.
    pub(crate) fn chain_by_name(&self, name: &str) -> Result<(ChainId, &RpcPool), RespondError> {
        self.chains
            .get(name)
            .map(|(id, pool)| (*id, pool))
            .ok_or_else(|| {
                RespondError::config(format!(
                    "the step names chain `{name}`, which this node does not follow"
                ))
            })
    }

    /// The signing key named in a step.
    pub(crate) fn key_by_label(&self, label: &str) -> Result<&GuardianKey, RespondError> {
        self.keys.get(label).ok_or_else(|| {
            RespondError::config(format!(
                "the step names key `{label}`, which was not unsealed from the vault (is the daemon running with the master key?)"
            ))
        })
    }

    /// Whether `key` may sign now, by the injected clock.
    pub(crate) fn permit(&self, label: &str, key: &GuardianKey) -> Result<Permit, RespondError> {
        key.policy
            .check(Action::SignContainment, self.clock.now().timestamp())
            .map_err(|reason| RespondError::Policy {
                key: label.to_owned(),
                reason,
            })
    }

    /// A registry label or an address on `chain`.
    pub(crate) fn resolve(&self, chain: ChainId, target: &str) -> Result<Address, RespondError> {
        if target.starts_with("0x") {
            return argus_core::parse_address(target)
                .map_err(|e| RespondError::config(format!("`{target}` is not an address: {e}")));
        }
        self.contracts
            .as_ref()
            .and_then(|lookup| lookup(chain, target))
            .ok_or_else(|| {
                RespondError::config(format!(
                    "no contract is labelled `{target}` on chain {chain} in the registry"
                ))
            })
    }
}
