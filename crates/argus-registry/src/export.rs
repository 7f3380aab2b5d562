//! What the registry gives other tools: one JSON document (`export`) and the
//! list of ABIs the interface linter reads (`abi_sources`).

use std::collections::{BTreeSet, HashMap};

use alloy_json_abi::JsonAbi;
use alloy_primitives::{Address, B256};
use argus_core::ChainId;
use serde::{Deserialize, Serialize};

use crate::error::RegistryError;
use crate::model::{Contract, ContractKind, Source};
use crate::registry::{Entry, ListFilter, Registry};

/// The `format` field of an export.
pub const EXPORT_FORMAT: &str = "argus-registry/1";

/// The whole registry as one JSON document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportDocument {
    /// Always [`EXPORT_FORMAT`].
    pub format: String,
    /// Every live entry.
    pub contracts: Vec<ExportContract>,
}

/// One entry of an export.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportContract {
    /// The EIP-155 chain id (deployments).
    pub chain_id: Option<u64>,
    /// The chain's name (deployments).
    pub chain: Option<String>,
    /// Checksummed (deployments).
    pub address: Option<String>,
    /// The label.
    pub label: String,
    /// `deployment` or `artifact`.
    pub kind: ContractKind,
    /// The latest ABI.
    pub abi: JsonAbi,
    /// The latest ABI's version number.
    pub abi_version: u32,
    /// keccak256 of the latest ABI's canonical JSON.
    pub abi_hash: B256,
    /// Where the latest ABI came from.
    pub source: Source,
    /// Tags, sorted.
    pub tags: BTreeSet<String>,
    /// The implementation's checksummed address, for a proxy.
    pub implementation: Option<String>,
    /// Checksummed addresses of the entries whose implementation this is.
    pub proxies: Vec<String>,
    /// Every ABI version, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versions: Option<Vec<ExportVersion>>,
}

/// One ABI version in an export.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportVersion {
    /// 1, 2, ...
    pub version: u32,
    /// keccak256 of the canonical JSON.
    pub abi_hash: B256,
    /// The file it came from.
    pub source: Source,
    /// RFC 3339.
    pub imported_at: String,
    /// The ABI.
    pub abi: JsonAbi,
}

/// One ABI for the linter, with where it lives and where it came from.
#[derive(Debug, Clone)]
pub struct AbiSource {
    /// The label.
    pub label: String,
    /// Deployment or artifact.
    pub kind: ContractKind,
    /// For a deployment.
    pub chain: Option<ChainId>,
    /// For a deployment.
    pub address: Option<Address>,
    /// The file the ABI came from.
    pub source: Source,
    /// The ABI (latest version for registry entries).
    pub abi: JsonAbi,
}

/// A proxy and its implementation, as indexes into [`AbiSources::sources`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyLink {
    /// The chain both live on.
    pub chain: ChainId,
    /// The proxy's index in `sources`.
    pub proxy: usize,
    /// The proxy's address.
    pub proxy_address: Address,
    /// The implementation's index in `sources`, when it is known there.
    pub implementation: Option<usize>,
    /// The implementation's address.
    pub implementation_address: Address,
}

/// Every ABI the linter should read, and the proxy links between them.
#[derive(Debug, Clone, Default)]
pub struct AbiSources {
    /// One per live entry (or per contract read from files).
    pub sources: Vec<AbiSource>,
    /// Proxy → implementation pairs.
    pub proxies: Vec<ProxyLink>,
}

impl AbiSources {
    /// The same view over contracts read from files, without a registry.
    pub fn from_contracts(contracts: &[Contract]) -> Self {
        let sources = contracts
            .iter()
            .map(|c| AbiSource {
                label: c.label.clone(),
                kind: c.kind(),
                chain: c.chain(),
                address: c.address(),
                source: c.source.clone(),
                abi: c.abi.clone(),
            })
            .collect();
        let links = contracts
            .iter()
            .enumerate()
            .filter_map(|(i, c)| Some((i, c.deployment?, c.implementation?)));
        Self::link(sources, links)
    }

    fn link(
        sources: Vec<AbiSource>,
        links: impl Iterator<Item = (usize, crate::Deployment, Address)>,
    ) -> Self {
        let by_address: HashMap<(ChainId, Address), usize> = sources
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some(((s.chain?, s.address?), i)))
            .collect();
        let proxies = links
            .map(|(proxy, deployment, implementation)| ProxyLink {
                chain: deployment.chain,
                proxy,
                proxy_address: deployment.address,
                implementation: by_address.get(&(deployment.chain, implementation)).copied(),
                implementation_address: implementation,
            })
            .collect();
        Self { sources, proxies }
    }
}

impl Registry {
    /// The registry as one document other tools can read. Removed entries are left out.
    pub fn export(&self, include_all_versions: bool) -> Result<ExportDocument, RegistryError> {
        let entries = self.list(&ListFilter::default())?;
        let mut contracts = Vec::with_capacity(entries.len());
        for entry in entries {
            let proxies = self
                .proxies_of(&entry)?
                .into_iter()
                .map(|a| a.to_checksum(None))
                .collect();
            let versions = if include_all_versions {
                Some(
                    self.versions(&entry)?
                        .into_iter()
                        .map(|v| ExportVersion {
                            version: v.version,
                            abi_hash: v.abi_hash,
                            source: v.source,
                            imported_at: v.imported_at,
                            abi: v.abi,
                        })
                        .collect(),
                )
            } else {
                None
            };
            contracts.push(export_contract(entry, proxies, versions));
        }
        Ok(ExportDocument {
            format: EXPORT_FORMAT.to_owned(),
            contracts,
        })
    }

    /// Every live entry's latest ABI, with the proxy links, for the linter.
    pub fn abi_sources(&self) -> Result<AbiSources, RegistryError> {
        let entries = self.list(&ListFilter::default())?;
        let links: Vec<(usize, crate::Deployment, Address)> = entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| {
                let deployment = crate::Deployment {
                    chain: e.chain?,
                    address: e.address?,
                };
                Some((i, deployment, e.implementation?))
            })
            .collect();
        let sources = entries
            .into_iter()
            .map(|e| AbiSource {
                label: e.label,
                kind: e.kind,
                chain: e.chain,
                address: e.address,
                source: e.source,
                abi: e.abi,
            })
            .collect();
        Ok(AbiSources::link(sources, links.into_iter()))
    }
}

fn export_contract(
    entry: Entry,
    proxies: Vec<String>,
    versions: Option<Vec<ExportVersion>>,
) -> ExportContract {
    ExportContract {
        chain_id: entry.chain.map(|c| c.0),
        chain: entry.chain.map(ChainId::name),
        address: entry.address.map(|a| a.to_checksum(None)),
        label: entry.label,
        kind: entry.kind,
        abi: entry.abi,
        abi_version: entry.abi_version,
        abi_hash: entry.abi_hash,
        source: entry.source,
        tags: entry.tags,
        implementation: entry.implementation.map(|a| a.to_checksum(None)),
        proxies,
        versions,
    }
}
