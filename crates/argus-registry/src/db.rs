//! Every SQL statement of the registry, and nothing else.
//!
//! Kept in one module so a PostgreSQL backend can replace it behind the same
//! functions. Addresses are stored EIP-55 checksummed, chain ids as the bits
//! of a `u64` in an `INTEGER`, times as RFC 3339 text.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use alloy_json_abi::JsonAbi;
use alloy_primitives::{Address, B256};
use argus_core::ChainId;
use argus_store::Connection;
use argus_store::sql::{OptionalExtension, Row, ToSql, params};

use crate::RegistryError;
use crate::model::{ContractKind, Source, SourceFormat};
use crate::registry::{AbiVersion, Change, ChangeKind, Entry};

pub(crate) fn chain_to_sql(chain: ChainId) -> i64 {
    chain.0 as i64
}

pub(crate) fn address_to_sql(address: Address) -> String {
    address.to_checksum(None)
}

const ENTRY_COLUMNS: &str = "e.id, e.chain_id, e.address, e.label, e.kind, e.source_format, \
     e.source_path, e.implementation, e.created_at, e.updated_at, e.removed_at, \
     v.version, v.abi_hash, v.abi_json";

const ENTRY_FROM: &str = "FROM registry_entries e JOIN registry_abi_versions v \
     ON v.entry_id = e.id AND v.version = \
        (SELECT MAX(version) FROM registry_abi_versions WHERE entry_id = e.id)";

struct RawEntry {
    id: i64,
    chain_id: Option<i64>,
    address: Option<String>,
    label: String,
    kind: String,
    source_format: String,
    source_path: String,
    implementation: Option<String>,
    created_at: String,
    updated_at: String,
    removed_at: Option<String>,
    version: u32,
    abi_hash: String,
    abi_json: String,
}

fn raw_entry(row: &Row<'_>) -> argus_store::sql::Result<RawEntry> {
    Ok(RawEntry {
        id: row.get(0)?,
        chain_id: row.get(1)?,
        address: row.get(2)?,
        label: row.get(3)?,
        kind: row.get(4)?,
        source_format: row.get(5)?,
        source_path: row.get(6)?,
        implementation: row.get(7)?,
        created_at: row.get(8)?,
        updated_at: row.get(9)?,
        removed_at: row.get(10)?,
        version: row.get(11)?,
        abi_hash: row.get(12)?,
        abi_json: row.get(13)?,
    })
}

fn corrupt(entry_id: i64, what: impl Into<String>) -> RegistryError {
    RegistryError::Corrupt {
        entry_id,
        what: what.into(),
    }
}

fn parse_stored_address(entry_id: i64, text: &str) -> Result<Address, RegistryError> {
    text.parse().map_err(|_| {
        corrupt(
            entry_id,
            format!("stored address `{text}` is not an address"),
        )
    })
}

fn parse_stored_abi(entry_id: i64, json: &str) -> Result<JsonAbi, RegistryError> {
    serde_json::from_str(json).map_err(|e| corrupt(entry_id, format!("stored ABI: {e}")))
}

fn parse_stored_hash(entry_id: i64, text: &str) -> Result<B256, RegistryError> {
    text.parse()
        .map_err(|_| corrupt(entry_id, format!("stored ABI hash `{text}`")))
}

fn parse_stored_source(entry_id: i64, format: &str, path: String) -> Result<Source, RegistryError> {
    let format: SourceFormat = format.parse().map_err(|e: String| corrupt(entry_id, e))?;
    Ok(Source {
        format,
        path: PathBuf::from(path),
    })
}

fn cook(raw: RawEntry, tags: BTreeSet<String>) -> Result<Entry, RegistryError> {
    let id = raw.id;
    let address = raw
        .address
        .as_deref()
        .map(|text| parse_stored_address(id, text))
        .transpose()?;
    let implementation = raw
        .implementation
        .as_deref()
        .map(|text| parse_stored_address(id, text))
        .transpose()?;
    let kind: ContractKind = raw.kind.parse().map_err(|e: String| corrupt(id, e))?;
    Ok(Entry {
        id,
        chain: raw.chain_id.map(|c| ChainId(c as u64)),
        address,
        label: raw.label,
        kind,
        source: parse_stored_source(id, &raw.source_format, raw.source_path)?,
        tags,
        implementation,
        abi_version: raw.version,
        abi_hash: parse_stored_hash(id, &raw.abi_hash)?,
        abi: parse_stored_abi(id, &raw.abi_json)?,
        created_at: raw.created_at,
        updated_at: raw.updated_at,
        removed_at: raw.removed_at,
    })
}

fn tags_of(
    conn: &Connection,
    ids: &[i64],
) -> Result<HashMap<i64, BTreeSet<String>>, RegistryError> {
    let mut tags: HashMap<i64, BTreeSet<String>> = HashMap::new();
    if ids.is_empty() {
        return Ok(tags);
    }
    let mut stmt = conn.prepare_cached("SELECT tag FROM registry_tags WHERE entry_id = ?1")?;
    for &id in ids {
        let rows = stmt.query_map([id], |row| row.get::<_, String>(0))?;
        let set = tags.entry(id).or_default();
        for tag in rows {
            set.insert(tag?);
        }
    }
    Ok(tags)
}

fn load_entries(
    conn: &Connection,
    condition: &str,
    params: &[&dyn ToSql],
) -> Result<Vec<Entry>, RegistryError> {
    let sql = format!(
        "SELECT {ENTRY_COLUMNS} {ENTRY_FROM} WHERE {condition} \
         ORDER BY e.kind DESC, e.chain_id, e.label, e.id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let raws = stmt
        .query_map(params, raw_entry)?
        .collect::<Result<Vec<_>, _>>()?;
    let ids: Vec<i64> = raws.iter().map(|r| r.id).collect();
    let mut tags = tags_of(conn, &ids)?;
    raws.into_iter()
        .map(|raw| {
            let entry_tags = tags.remove(&raw.id).unwrap_or_default();
            cook(raw, entry_tags)
        })
        .collect()
}

/// Every entry, live ones only unless `include_removed`.
pub(crate) fn list_entries(
    conn: &Connection,
    include_removed: bool,
) -> Result<Vec<Entry>, RegistryError> {
    if include_removed {
        load_entries(conn, "1 = 1", &[])
    } else {
        load_entries(conn, "e.removed_at IS NULL", &[])
    }
}

pub(crate) fn entry_by_id(conn: &Connection, id: i64) -> Result<Entry, RegistryError> {
    load_entries(conn, "e.id = ?1", &[&id])?
        .pop()
        .ok_or_else(|| corrupt(id, "the entry has no ABI version"))
}

/// Live entries matching an address, optionally on one chain.
pub(crate) fn live_by_address(
    conn: &Connection,
    address: Address,
    chain: Option<ChainId>,
) -> Result<Vec<Entry>, RegistryError> {
    let address = address_to_sql(address);
    match chain {
        Some(chain) => load_entries(
            conn,
            "e.removed_at IS NULL AND e.address = ?1 AND e.chain_id = ?2",
            &[&address, &chain_to_sql(chain)],
        ),
        None => load_entries(conn, "e.removed_at IS NULL AND e.address = ?1", &[&address]),
    }
}

/// Live deployments with a label, optionally on one chain.
pub(crate) fn live_deployments_by_label(
    conn: &Connection,
    label: &str,
    chain: Option<ChainId>,
) -> Result<Vec<Entry>, RegistryError> {
    match chain {
        Some(chain) => load_entries(
            conn,
            "e.removed_at IS NULL AND e.kind = 'deployment' AND e.label = ?1 AND e.chain_id = ?2",
            &[&label, &chain_to_sql(chain)],
        ),
        None => load_entries(
            conn,
            "e.removed_at IS NULL AND e.kind = 'deployment' AND e.label = ?1",
            &[&label],
        ),
    }
}

/// The live artifact with a label.
pub(crate) fn live_artifacts_by_label(
    conn: &Connection,
    label: &str,
) -> Result<Vec<Entry>, RegistryError> {
    load_entries(
        conn,
        "e.removed_at IS NULL AND e.kind = 'artifact' AND e.label = ?1",
        &[&label],
    )
}

/// The entry (live or removed) for a deployment.
pub(crate) fn id_by_deployment(
    conn: &Connection,
    chain: ChainId,
    address: Address,
) -> Result<Option<i64>, RegistryError> {
    Ok(conn
        .prepare_cached(
            "SELECT id FROM registry_entries \
             WHERE kind = 'deployment' AND chain_id = ?1 AND address = ?2",
        )?
        .query_row(params![chain_to_sql(chain), address_to_sql(address)], |r| {
            r.get(0)
        })
        .optional()?)
}

/// The entry (live or removed) for an artifact label.
pub(crate) fn id_by_artifact_label(
    conn: &Connection,
    label: &str,
) -> Result<Option<i64>, RegistryError> {
    Ok(conn
        .prepare_cached("SELECT id FROM registry_entries WHERE kind = 'artifact' AND label = ?1")?
        .query_row([label], |r| r.get(0))
        .optional()?)
}

/// The live deployment holding `label` on `chain`, if any.
pub(crate) fn label_holder(
    conn: &Connection,
    chain: ChainId,
    label: &str,
) -> Result<Option<i64>, RegistryError> {
    Ok(conn
        .prepare_cached(
            "SELECT id FROM registry_entries WHERE kind = 'deployment' AND removed_at IS NULL \
             AND chain_id = ?1 AND label = ?2",
        )?
        .query_row(params![chain_to_sql(chain), label], |r| r.get(0))
        .optional()?)
}

/// The fields of a new entry.
pub(crate) struct NewEntry<'a> {
    pub(crate) chain: Option<ChainId>,
    pub(crate) address: Option<Address>,
    pub(crate) label: &'a str,
    pub(crate) kind: ContractKind,
    pub(crate) source: &'a Source,
    pub(crate) implementation: Option<Address>,
    pub(crate) now: &'a str,
}

pub(crate) fn insert_entry(conn: &Connection, new: &NewEntry<'_>) -> Result<i64, RegistryError> {
    conn.prepare_cached(
        "INSERT INTO registry_entries (chain_id, address, label, kind, source_format, \
         source_path, implementation, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
    )?
    .execute(params![
        new.chain.map(chain_to_sql),
        new.address.map(address_to_sql),
        new.label,
        new.kind.as_str(),
        new.source.format.as_str(),
        new.source.path.to_string_lossy(),
        new.implementation.map(address_to_sql),
        new.now,
    ])?;
    Ok(conn.last_insert_rowid()?)
}

/// The latest version number and hash of an entry's ABI.
pub(crate) fn latest_version(
    conn: &Connection,
    entry_id: i64,
) -> Result<Option<(u32, B256)>, RegistryError> {
    let row: Option<(u32, String)> = conn
        .prepare_cached(
            "SELECT version, abi_hash FROM registry_abi_versions WHERE entry_id = ?1 \
             ORDER BY version DESC LIMIT 1",
        )?
        .query_row([entry_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    row.map(|(version, hash)| Ok((version, parse_stored_hash(entry_id, &hash)?)))
        .transpose()
}

pub(crate) fn insert_version(
    conn: &Connection,
    entry_id: i64,
    version: u32,
    hash: B256,
    abi_json: &str,
    source: &Source,
    now: &str,
) -> Result<(), RegistryError> {
    conn.prepare_cached(
        "INSERT INTO registry_abi_versions (entry_id, version, abi_hash, abi_json, \
         source_format, source_path, imported_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        entry_id,
        version,
        hash.to_string(),
        abi_json,
        source.format.as_str(),
        source.path.to_string_lossy(),
        now,
    ])?;
    Ok(())
}

pub(crate) fn versions(conn: &Connection, entry_id: i64) -> Result<Vec<AbiVersion>, RegistryError> {
    let mut stmt = conn.prepare_cached(
        "SELECT version, abi_hash, abi_json, source_format, source_path, imported_at \
         FROM registry_abi_versions WHERE entry_id = ?1 ORDER BY version",
    )?;
    let rows = stmt
        .query_map([entry_id], |r| {
            Ok((
                r.get::<_, u32>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(version, hash, json, format, path, imported_at)| {
            Ok(AbiVersion {
                version,
                abi_hash: parse_stored_hash(entry_id, &hash)?,
                abi: parse_stored_abi(entry_id, &json)?,
                source: parse_stored_source(entry_id, &format, path)?,
                imported_at,
            })
        })
        .collect()
}

/// Adds tags; returns those that were new.
pub(crate) fn add_tags<'t>(
    conn: &Connection,
    entry_id: i64,
    tags: impl IntoIterator<Item = &'t String>,
) -> Result<Vec<String>, RegistryError> {
    let mut stmt =
        conn.prepare_cached("INSERT OR IGNORE INTO registry_tags (entry_id, tag) VALUES (?1, ?2)")?;
    let mut added = Vec::new();
    for tag in tags {
        if stmt.execute(params![entry_id, tag])? > 0 {
            added.push(tag.clone());
        }
    }
    Ok(added)
}

/// Removes tags; returns those that were there.
pub(crate) fn remove_tags<'t>(
    conn: &Connection,
    entry_id: i64,
    tags: impl IntoIterator<Item = &'t String>,
) -> Result<Vec<String>, RegistryError> {
    let mut stmt =
        conn.prepare_cached("DELETE FROM registry_tags WHERE entry_id = ?1 AND tag = ?2")?;
    let mut removed = Vec::new();
    for tag in tags {
        if stmt.execute(params![entry_id, tag])? > 0 {
            removed.push(tag.clone());
        }
    }
    Ok(removed)
}

pub(crate) fn set_label(
    conn: &Connection,
    entry_id: i64,
    label: &str,
    now: &str,
) -> Result<(), RegistryError> {
    conn.prepare_cached("UPDATE registry_entries SET label = ?2, updated_at = ?3 WHERE id = ?1")?
        .execute(params![entry_id, label, now])?;
    Ok(())
}

pub(crate) fn set_implementation(
    conn: &Connection,
    entry_id: i64,
    implementation: Option<Address>,
    now: &str,
) -> Result<(), RegistryError> {
    conn.prepare_cached(
        "UPDATE registry_entries SET implementation = ?2, updated_at = ?3 WHERE id = ?1",
    )?
    .execute(params![entry_id, implementation.map(address_to_sql), now])?;
    Ok(())
}

pub(crate) fn set_source(
    conn: &Connection,
    entry_id: i64,
    source: &Source,
    now: &str,
) -> Result<(), RegistryError> {
    conn.prepare_cached(
        "UPDATE registry_entries SET source_format = ?2, source_path = ?3, updated_at = ?4 \
         WHERE id = ?1",
    )?
    .execute(params![
        entry_id,
        source.format.as_str(),
        source.path.to_string_lossy(),
        now
    ])?;
    Ok(())
}

/// Remembers the runtime code hash of an entry's build output.
pub(crate) fn set_code_hash(
    conn: &Connection,
    entry_id: i64,
    code_hash: B256,
) -> Result<(), RegistryError> {
    conn.prepare_cached(
        "INSERT INTO registry_code_hashes (entry_id, code_hash) VALUES (?1, ?2) \
         ON CONFLICT (entry_id) DO UPDATE SET code_hash = excluded.code_hash",
    )?
    .execute(params![entry_id, code_hash.to_string()])?;
    Ok(())
}

/// Sets or clears `removed_at` (soft delete / revival).
pub(crate) fn set_removed(
    conn: &Connection,
    entry_id: i64,
    removed_at: Option<&str>,
    now: &str,
) -> Result<(), RegistryError> {
    conn.prepare_cached(
        "UPDATE registry_entries SET removed_at = ?2, updated_at = ?3 WHERE id = ?1",
    )?
    .execute(params![entry_id, removed_at, now])?;
    Ok(())
}

/// Live deployments on `chain` whose implementation is `address`.
pub(crate) fn proxies_of(
    conn: &Connection,
    chain: ChainId,
    address: Address,
) -> Result<Vec<Address>, RegistryError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, address FROM registry_entries WHERE removed_at IS NULL \
         AND chain_id = ?1 AND implementation = ?2 ORDER BY address",
    )?;
    let rows = stmt
        .query_map(params![chain_to_sql(chain), address_to_sql(address)], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(id, text)| parse_stored_address(id, &text))
        .collect()
}

pub(crate) fn record_change(
    conn: &Connection,
    now: &str,
    kind: ChangeKind,
    entry_id: i64,
    details: &serde_json::Value,
) -> Result<(), RegistryError> {
    conn.prepare_cached(
        "INSERT INTO registry_changes (time, kind, entry_id, details) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![now, kind.as_str(), entry_id, details.to_string()])?;
    Ok(())
}

pub(crate) fn changes_since(conn: &Connection, after: i64) -> Result<Vec<Change>, RegistryError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, time, kind, entry_id, details FROM registry_changes WHERE id > ?1 ORDER BY id",
    )?;
    let rows = stmt
        .query_map([after], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(id, time, kind, entry_id, details)| {
            Ok(Change {
                id,
                time,
                kind: kind.parse().map_err(|e: String| corrupt(entry_id, e))?,
                entry_id,
                details: serde_json::from_str(&details)
                    .map_err(|e| corrupt(entry_id, format!("change {id} details: {e}")))?,
            })
        })
        .collect()
}
