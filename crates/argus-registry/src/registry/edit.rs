//! The registry's edits after import: relabel ([`Registry::set_label`]),
//! tag ([`Registry::add_tags`], [`Registry::remove_tags`]), link a proxy to
//! its implementation ([`Registry::link_implementation`]) and soft-delete
//! ([`Registry::remove`]). Each runs in one transaction and leaves a row in
//! the change feed. The label and tag rules ([`validate_label`]) live here
//! too: these are the writes that take a name from a person.

use alloy_primitives::Address;
use argus_core::{ChainId, parse_address};
use serde_json::json;

use super::{ChangeKind, Entry, Registry, Scope, now};
use crate::db;
use crate::error::RegistryError;

/// Labels are names people type: no blanks, nothing that reads as an address.
pub fn validate_label(label: &str) -> Result<(), RegistryError> {
    match label_rule_broken(label) {
        None => Ok(()),
        Some(reason) => Err(RegistryError::InvalidLabel {
            label: crate::error::shown(&label.chars().take(80).collect::<String>()),
            reason: reason.to_owned(),
        }),
    }
}

/// The rule of [`validate_label`] that `label` breaks, if any: one rule for
/// a label a person types and one read from a file.
pub(crate) fn label_rule_broken(label: &str) -> Option<&'static str> {
    if label.is_empty() {
        return Some("it is empty");
    }
    if label.chars().count() > crate::model::MAX_LABEL_CHARS {
        return Some("it is longer than 128 characters");
    }
    if label
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || crate::error::is_bidi_control(c))
    {
        return Some("it contains blanks, control or bidi characters");
    }
    if parse_address(label).is_ok() || label.starts_with("0x") {
        return Some("it looks like an address");
    }
    None
}

impl Registry {
    /// Renames an entry. Labels stay unique per chain (and among artifacts).
    pub fn set_label(
        &mut self,
        target: &str,
        scope: Scope,
        label: &str,
    ) -> Result<Entry, RegistryError> {
        validate_label(label)?;
        let entry = self.find(target, scope)?;
        if entry.label == label {
            return Ok(entry);
        }
        let tx = self.conn.transaction()?;
        let holder = match entry.chain {
            Some(chain) => db::label_holder(&tx, chain, label)?,
            None => db::id_by_artifact_label(&tx, label)?,
        };
        if let Some(holder) = holder {
            let holder = db::entry_by_id(&tx, holder)?;
            return Err(RegistryError::LabelTaken {
                label: label.to_owned(),
                holder: holder.describe(),
            });
        }
        let now = now();
        db::set_label(&tx, entry.id, label, &now)?;
        db::record_change(
            &tx,
            &now,
            ChangeKind::Relabeled,
            entry.id,
            &json!({
                "from": entry.label, "to": label,
            }),
        )?;
        let updated = db::entry_by_id(&tx, entry.id)?;
        tx.commit()?;
        Ok(updated)
    }

    /// Adds tags to an entry.
    pub fn add_tags(
        &mut self,
        target: &str,
        scope: Scope,
        tags: &[String],
    ) -> Result<Entry, RegistryError> {
        self.change_tags(target, scope, tags, true)
    }

    /// Removes tags from an entry.
    pub fn remove_tags(
        &mut self,
        target: &str,
        scope: Scope,
        tags: &[String],
    ) -> Result<Entry, RegistryError> {
        self.change_tags(target, scope, tags, false)
    }

    fn change_tags(
        &mut self,
        target: &str,
        scope: Scope,
        tags: &[String],
        add: bool,
    ) -> Result<Entry, RegistryError> {
        for tag in tags {
            validate_tag(tag)?;
        }
        let entry = self.find(target, scope)?;
        let tx = self.conn.transaction()?;
        let now = now();
        let (changed, kind) = if add {
            (db::add_tags(&tx, entry.id, tags)?, ChangeKind::Tagged)
        } else {
            (db::remove_tags(&tx, entry.id, tags)?, ChangeKind::Untagged)
        };
        if !changed.is_empty() {
            db::record_change(&tx, &now, kind, entry.id, &json!({ "tags": changed }))?;
        }
        let updated = db::entry_by_id(&tx, entry.id)?;
        tx.commit()?;
        Ok(updated)
    }

    /// Links a proxy to its implementation on the same chain. The
    /// implementation may be an entry (label or address) or any address.
    pub fn link_implementation(
        &mut self,
        proxy: &str,
        implementation: &str,
        scope: Scope,
    ) -> Result<Entry, RegistryError> {
        let proxy = self.find(proxy, scope)?;
        let bad = |reason: &str| RegistryError::BadLink {
            proxy: proxy.describe(),
            implementation: implementation.to_owned(),
            reason: reason.to_owned(),
        };
        let Some(chain) = proxy.chain else {
            return Err(bad(
                "the proxy is an artifact; only deployments have implementations",
            ));
        };
        let address = match parse_address(implementation.trim()) {
            Ok(address) => address,
            Err(_) => {
                let target = self.find(implementation, Scope::Chain(chain))?;
                target
                    .address
                    .ok_or_else(|| bad("the implementation has no address"))?
            }
        };
        if Some(address) == proxy.address {
            return Err(bad("a proxy cannot be its own implementation"));
        }
        if proxy.implementation == Some(address) {
            return Ok(proxy);
        }
        let tx = self.conn.transaction()?;
        let now = now();
        db::set_implementation(&tx, proxy.id, Some(address), &now)?;
        db::record_change(
            &tx,
            &now,
            ChangeKind::Linked,
            proxy.id,
            &json!({
                "chain_id": chain.0,
                "implementation": address.to_checksum(None),
                "previous": proxy.implementation.map(|a| a.to_checksum(None)),
            }),
        )?;
        let updated = db::entry_by_id(&tx, proxy.id)?;
        tx.commit()?;
        Ok(updated)
    }

    /// Moves a proxy's link to the implementation the chain says it has
    /// (an `Upgraded` event, an EIP-1967 slot read, a reorg that undid
    /// one): the change feed row (`linked`) carries `evidence` (block,
    /// transaction, how it was seen) besides the old and new address.
    /// `implementation` `None` unlinks (a reorg undid the only link seen).
    /// `None` when `proxy` is no live deployment on `chain`; the entry
    /// unchanged when the link already says so.
    pub fn follow_implementation(
        &mut self,
        chain: ChainId,
        proxy: Address,
        implementation: Option<Address>,
        evidence: serde_json::Value,
    ) -> Result<Option<Entry>, RegistryError> {
        let Ok(entry) = self.find(&proxy.to_checksum(None), Scope::Chain(chain)) else {
            return Ok(None);
        };
        if entry.implementation == implementation
            || (implementation.is_some() && implementation == entry.address)
        {
            return Ok(Some(entry));
        }
        let tx = self.conn.transaction()?;
        let now = now();
        db::set_implementation(&tx, entry.id, implementation, &now)?;
        db::record_change(
            &tx,
            &now,
            ChangeKind::Linked,
            entry.id,
            &json!({
                "chain_id": chain.0,
                "implementation": implementation.map(|a| a.to_checksum(None)),
                "previous": entry.implementation.map(|a| a.to_checksum(None)),
                "on_chain": evidence,
            }),
        )?;
        let updated = db::entry_by_id(&tx, entry.id)?;
        tx.commit()?;
        Ok(Some(updated))
    }

    /// Soft-deletes an entry: hidden from list, export and lint, kept in the
    /// database with its versions; importing it again revives it.
    pub fn remove(&mut self, target: &str, scope: Scope) -> Result<Entry, RegistryError> {
        let entry = self.find(target, scope)?;
        let tx = self.conn.transaction()?;
        let now = now();
        db::set_removed(&tx, entry.id, Some(&now), &now)?;
        db::record_change(
            &tx,
            &now,
            ChangeKind::Removed,
            entry.id,
            &json!({
                "label": entry.label,
                "chain_id": entry.chain.map(|c| c.0),
                "address": entry.address.map(|a| a.to_checksum(None)),
            }),
        )?;
        let updated = db::entry_by_id(&tx, entry.id)?;
        tx.commit()?;
        Ok(updated)
    }
}

fn validate_tag(tag: &str) -> Result<(), RegistryError> {
    if tag.is_empty()
        || tag.chars().count() > 64
        || tag
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ',')
    {
        return Err(RegistryError::InvalidLabel {
            label: tag.chars().take(80).collect(),
            reason: "a tag must be 1 to 64 characters without blanks or commas".to_owned(),
        });
    }
    Ok(())
}
