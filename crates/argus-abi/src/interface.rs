//! The interfaces of an infrastructure, each with where it came from.

use std::path::PathBuf;

use alloy_json_abi::JsonAbi;
use alloy_primitives::Address;
use argus_core::ChainId;
use serde::Serialize;

/// Where an interface came from, as a person would name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Origin {
    /// The registry label, or the file's name.
    pub label: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain: Option<ChainId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    /// The file the interface was read from, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
}

impl Origin {
    /// An origin known by a label only.
    pub fn labelled(label: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            chain: None,
            address: None,
            path: None,
        }
    }

    /// An origin read from a file, labelled by the file's stem.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let label = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        Self {
            label,
            chain: None,
            address: None,
            path: Some(path),
        }
    }

    /// Sets the path the interface was read from.
    #[must_use]
    pub fn with_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// Sets the deployment the interface belongs to.
    #[must_use]
    pub fn deployed_at(mut self, chain: ChainId, address: Address) -> Self {
        self.chain = Some(chain);
        self.address = Some(address);
        self
    }
}

/// What a source is to the linter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// A contract of the infrastructure: every check applies.
    Contract,
    /// A list of signatures that belongs to the infrastructure (one
    /// `name(types)` a line): it carries no parameter names, indexing or
    /// outputs, so only the selector checks apply.
    SignatureList,
    /// A list of signatures to check the infrastructure against (a signature
    /// database, a list of known phishing selectors): a collision is reported
    /// only when one side is part of the infrastructure.
    Reference,
}

/// Index of a source in an [`InterfaceSet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct SourceId(pub u32);

/// One interface and where it came from.
#[derive(Debug, Clone)]
pub struct Source {
    pub origin: Origin,
    pub role: Role,
    pub items: SourceItems,
}

/// The items of a source.
#[derive(Debug, Clone)]
pub enum SourceItems {
    /// A contract's JSON ABI.
    Abi(JsonAbi),
    /// A list of signatures, one a line.
    List(Vec<ListedSignature>),
}

/// One line of a signature list, in canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedSignature {
    pub kind: ItemKind,
    /// The canonical signature, `name(type,type)`.
    pub signature: String,
    /// The 1-based line it was read from.
    pub line: u32,
}

/// The kinds of ABI item that have a selector or topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemKind {
    Function,
    Error,
    Event,
}

impl ItemKind {
    /// The Solidity keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Function => "function",
            ItemKind::Error => "error",
            ItemKind::Event => "event",
        }
    }
}

/// Every interface of an infrastructure, and which proxies front which
/// implementations.
#[derive(Debug, Clone, Default)]
pub struct InterfaceSet {
    pub(crate) sources: Vec<Source>,
    pub(crate) proxies: Vec<(SourceId, SourceId)>,
}

impl InterfaceSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a contract's ABI.
    pub fn add_contract(&mut self, origin: Origin, abi: JsonAbi) -> SourceId {
        self.push(Source {
            origin,
            role: Role::Contract,
            items: SourceItems::Abi(abi),
        })
    }

    /// Adds a parsed signature list (see [`crate::parse_signature_list`]), as
    /// part of the infrastructure ([`Role::SignatureList`]) or as a reference
    /// ([`Role::Reference`]).
    pub fn add_signature_list(
        &mut self,
        origin: Origin,
        list: Vec<ListedSignature>,
        role: Role,
    ) -> SourceId {
        self.push(Source {
            origin,
            role,
            items: SourceItems::List(list),
        })
    }

    /// Records that `proxy` forwards calls to `implementation`.
    pub fn link_proxy(&mut self, proxy: SourceId, implementation: SourceId) {
        if proxy != implementation && !self.proxies.contains(&(proxy, implementation)) {
            self.proxies.push((proxy, implementation));
        }
    }

    /// The sources, in the order they were added.
    pub fn sources(&self) -> &[Source] {
        &self.sources
    }

    /// One source.
    pub fn source(&self, id: SourceId) -> Option<&Source> {
        self.sources.get(id.0 as usize)
    }

    /// The proxy → implementation links.
    pub fn proxies(&self) -> &[(SourceId, SourceId)] {
        &self.proxies
    }

    /// The number of sources.
    pub fn len(&self) -> usize {
        self.sources.len()
    }

    /// Whether the set holds no source.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    fn push(&mut self, source: Source) -> SourceId {
        let id = SourceId(u32::try_from(self.sources.len()).unwrap_or(u32::MAX));
        self.sources.push(source);
        id
    }
}
