//! Which deliveries a dispatcher claims, when several instances share the
//! store.
//!
//! Alone on its store (SQLite: one instance per data directory) a
//! dispatcher claims every delivery. Sharing a store (PostgreSQL), each
//! notifier's deliveries are one *duty*, held by one instance at a time
//! through its lease (`dispatch:<notifier>`), and so are the deliveries to
//! notifiers no instance has configured (`dispatch`: they are marked
//! failed, saying so). An instance's dispatcher runs for the node's whole
//! life and claims, folds and records only for the duties it holds now; the
//! node hands a duty in with its lease's fence ([`Dispatcher::hold`]) and
//! takes it back when the lease's term ends ([`Dispatcher::let_go`], or
//! [`Dispatcher::drain`] when it hands the duty to another instance: no new
//! claims, the sends in flight finish and their outcomes are written, so
//! the new holder sends nothing twice).
//!
//! Every pass checks each held duty's fence inside its transaction. A duty
//! whose fence refuses (its lease moved while this instance was paused, or
//! expired) is left out of that pass: the outcomes of its sends are not
//! written, its deliveries are neither claimed nor folded; the new holder
//! sends them again with the same idempotency key once their claims run
//! out. The other duties' work in the same pass goes on.
//!
//! [`Dispatcher::hold`]: super::Dispatcher::hold
//! [`Dispatcher::let_go`]: super::Dispatcher::let_go
//! [`Dispatcher::drain`]: super::Dispatcher::drain

use std::collections::{BTreeMap, BTreeSet};

use argus_store::{Connection, StoreError, Transaction, lease};

use super::FenceHook;
use crate::error::AlertError;

/// The lease of the deliveries to notifiers no instance has configured.
const UNCONFIGURED_LEASE: &str = "dispatch";

/// The prefix of a notifier's dispatch lease.
const NOTIFIER_LEASE_PREFIX: &str = "dispatch:";

/// A share of the dispatch work, held through a lease.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Duty {
    /// Every delivery to this notifier.
    Notifier(String),
    /// Deliveries to notifiers that no instance has configured.
    Unconfigured,
}

impl Duty {
    /// The name of this duty's lease: `dispatch:<notifier>`, or `dispatch`
    /// for the unconfigured notifiers.
    pub fn lease_name(&self) -> String {
        match self {
            Duty::Notifier(name) => format!("{NOTIFIER_LEASE_PREFIX}{name}"),
            Duty::Unconfigured => UNCONFIGURED_LEASE.to_owned(),
        }
    }
}

/// The duties of one dispatcher.
#[derive(Default, Clone)]
pub(super) enum Duties {
    /// Alone on the store: every delivery, no fence.
    #[default]
    All,
    /// Sharing the store: what it holds now, each with its lease's fence.
    Held(BTreeMap<Duty, Held>),
}

/// A duty held now.
#[derive(Clone)]
pub(super) struct Held {
    pub(super) fence: FenceHook,
    /// Being handed over: outcomes are still written, nothing new claimed.
    pub(super) draining: bool,
}

impl std::fmt::Debug for Duties {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Duties::All => f.write_str("All"),
            Duties::Held(held) => f.debug_set().entries(held.keys()).finish(),
        }
    }
}

/// What a pass may do, once the fences have been checked in its
/// transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Scope {
    /// Everything (alone on the store).
    All,
    /// Outcomes of `record`'s notifiers are written; `claim`'s (a subset:
    /// not those being handed over) are also folded and claimed. With
    /// `unconfigured` (`.0` record, `.1` claim), the same for deliveries to
    /// notifiers not in `known` (this instance's configured notifiers plus
    /// any other instance's live notifier leases).
    Some {
        record: BTreeSet<String>,
        claim: BTreeSet<String>,
        unconfigured: (bool, bool),
        known: Vec<String>,
    },
}

impl Scope {
    /// Checks each held duty's fence inside `tx` and keeps those that hold.
    /// A refused fence only drops its duty (logged); any other error is the
    /// pass's.
    pub(super) fn check(
        duties: &Duties,
        tx: &Transaction<'_>,
        configured: &[String],
    ) -> Result<Scope, AlertError> {
        let Duties::Held(held) = duties else {
            return Ok(Scope::All);
        };
        let (mut record, mut claim) = (BTreeSet::new(), BTreeSet::new());
        let mut unconfigured = (false, false);
        for (duty, Held { fence, draining }) in held {
            match fence(tx) {
                Ok(()) => match duty {
                    Duty::Notifier(name) => {
                        record.insert(name.clone());
                        if !draining {
                            claim.insert(name.clone());
                        }
                    }
                    Duty::Unconfigured => unconfigured = (true, !draining),
                },
                Err(StoreError::Fenced { lease, detail }) => {
                    tracing::warn!(%lease, "this instance no longer holds the lease ({detail}); its deliveries are left to the new holder");
                }
                Err(error) => return Err(AlertError::db("check a dispatch lease")(error)),
            }
        }
        let known = if unconfigured.0 {
            known_notifiers(tx, configured)?
        } else {
            Vec::new()
        };
        Ok(Scope::Some {
            record,
            claim,
            unconfigured,
            known,
        })
    }

    /// Whether this pass writes the outcomes of sends to `notifier`.
    pub(super) fn records(&self, notifier: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Some {
                record,
                unconfigured,
                known,
                ..
            } => {
                record.contains(notifier)
                    || (unconfigured.0 && !known.iter().any(|k| k == notifier))
            }
        }
    }

    /// Whether this pass may claim (and fold) for `notifier`, one of this
    /// instance's configured notifiers.
    pub(super) fn claims(&self, notifier: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Some { claim, .. } => claim.contains(notifier),
        }
    }

    /// Whether deliveries to unconfigured notifiers may be claimed.
    pub(super) fn unconfigured(&self) -> bool {
        match self {
            Scope::All => true,
            Scope::Some { unconfigured, .. } => unconfigured.1,
        }
    }

    /// The notifiers the unconfigured claim must leave alone: on a shared
    /// store, also every notifier another instance holds a live lease for
    /// (its configuration may be newer than this one's).
    pub(super) fn known<'a>(&'a self, configured: &'a [String]) -> &'a [String] {
        match self {
            Scope::All => configured,
            Scope::Some { known, .. } => known,
        }
    }

    /// The notifiers whose groups and backlogs this pass may fold (`None`:
    /// all of them).
    pub(super) fn foldable(&self) -> Option<&BTreeSet<String>> {
        match self {
            Scope::All => None,
            Scope::Some { claim, .. } => Some(claim),
        }
    }
}

/// This instance's configured notifiers plus those named by any live
/// `dispatch:<notifier>` lease.
fn known_notifiers(conn: &Connection, configured: &[String]) -> Result<Vec<String>, AlertError> {
    let mut known: BTreeSet<String> = configured.iter().cloned().collect();
    for row in lease::list(conn).map_err(AlertError::db("read the dispatch leases"))? {
        if row.expires_in_ms > 0
            && let Some(name) = row.name.strip_prefix(NOTIFIER_LEASE_PREFIX)
        {
            known.insert(name.to_owned());
        }
    }
    Ok(known.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_names_are_per_notifier_and_one_for_the_unconfigured() {
        assert_eq!(
            Duty::Notifier("ops-webhook".into()).lease_name(),
            "dispatch:ops-webhook"
        );
        assert_eq!(Duty::Unconfigured.lease_name(), "dispatch");
    }

    #[test]
    fn a_scope_records_and_claims_its_notifiers_and_only_unknown_ones_with_the_unconfigured_duty() {
        let scope = Scope::Some {
            record: BTreeSet::from(["hook".to_owned(), "slack".to_owned()]),
            claim: BTreeSet::from(["hook".to_owned()]),
            unconfigured: (true, true),
            known: vec!["hook".to_owned(), "slack".to_owned(), "pager".to_owned()],
        };
        assert!(scope.records("hook") && scope.claims("hook"));
        assert!(
            scope.records("slack"),
            "being handed over: outcomes still written"
        );
        assert!(
            !scope.claims("slack"),
            "being handed over: nothing new claimed"
        );
        assert!(!scope.records("pager"), "another instance's notifier");
        assert!(scope.records("gone"), "no one has it configured");
        let scope = Scope::Some {
            record: BTreeSet::new(),
            claim: BTreeSet::new(),
            unconfigured: (false, false),
            known: Vec::new(),
        };
        assert!(!scope.records("gone") && !scope.unconfigured());
        assert!(Scope::All.records("anything") && Scope::All.claims("anything"));
    }
}
