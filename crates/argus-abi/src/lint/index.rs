//! The signature index the rules walk.

use std::hash::{BuildHasher, Hash, Hasher};

use alloy_json_abi::{Event, EventParam, JsonAbi, Param};
use alloy_primitives::{B256, keccak256};
use hashbrown::DefaultHashBuilder;
use hashbrown::HashTable;

use crate::interface::{InterfaceSet, ItemKind, Role, SourceItems};
use crate::signature_list::canonical_signature_into;

/// One distinct signature of one kind.
#[derive(Debug)]
pub(crate) struct Signature {
    pub(crate) kind: ItemKind,
    pub(crate) text: Box<str>,
    /// keccak256 of the text: the topic of an event; its first four bytes are
    /// the selector of a function or error.
    pub(crate) hash: B256,
    /// Declared by a contract or a signature list of the infrastructure.
    pub(crate) in_infrastructure: bool,
}

impl Signature {
    pub(crate) fn selector(&self) -> [u8; 4] {
        let mut selector = [0; 4];
        selector.copy_from_slice(&self.hash[..4]);
        selector
    }

    pub(crate) fn name(&self) -> &str {
        self.text.split('(').next().unwrap_or(&self.text)
    }
}

/// A fingerprint that is unknown for this occurrence (signature lists carry
/// no names, indexing or outputs).
pub(crate) const UNKNOWN: u64 = u64::MAX;

/// One declaration of a signature in one source.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Occurrence {
    pub(crate) signature: u32,
    pub(crate) source: u32,
    /// Fingerprint of the parameter names; `UNKNOWN` when none are named.
    pub(crate) names: u64,
    /// Events: fingerprint of `indexed` flags and `anonymous`; functions:
    /// fingerprint of the output types; `UNKNOWN` when not known.
    pub(crate) shape: u64,
}

/// Every signature of an interface set, interned, with its occurrences.
#[derive(Debug)]
pub(crate) struct SignatureIndex {
    pub(crate) signatures: Vec<Signature>,
    /// Sorted by signature, then source.
    pub(crate) occurrences: Vec<Occurrence>,
    /// `occurrences[starts[s]..starts[s + 1]]` are the occurrences of signature `s`.
    starts: Vec<u32>,
    /// Function and error signatures by selector.
    /// Selectors shared by more than one function or error signature, in
    /// selector order, with those signatures.
    pub(crate) colliding_selectors: Vec<([u8; 4], Vec<u32>)>,
}

struct Builder {
    hasher: DefaultHashBuilder,
    /// Per kind: ids of signatures, looked up by their text.
    interned: [HashTable<u32>; 3],
    signatures: Vec<Signature>,
    occurrences: Vec<Occurrence>,
    /// Reused buffers: the signature as alloy writes it, and canonical.
    raw: String,
    canonical: String,
}

impl Builder {
    /// The id of the signature in `self.canonical`, interning it on first sight.
    fn intern_canonical(&mut self, kind: ItemKind, infrastructure: bool) -> u32 {
        let text = self.canonical.as_str();
        let hash = self.hasher.hash_one(text);
        let signatures = &mut self.signatures;
        let table = &mut self.interned[kind as usize];
        if let Some(&id) = table.find(hash, |&id| *signatures[id as usize].text == *text) {
            if infrastructure {
                signatures[id as usize].in_infrastructure = true;
            }
            return id;
        }
        let id = u32::try_from(signatures.len()).unwrap_or(u32::MAX);
        signatures.push(Signature {
            kind,
            hash: keccak256(text.as_bytes()),
            text: text.into(),
            in_infrastructure: infrastructure,
        });
        let hasher = &self.hasher;
        table.insert_unique(hash, id, |&other| {
            hasher.hash_one(&*signatures[other as usize].text)
        });
        id
    }

    fn intern(&mut self, kind: ItemKind, text: &str, infrastructure: bool) -> u32 {
        self.canonical.clear();
        self.canonical.push_str(text);
        self.intern_canonical(kind, infrastructure)
    }

    /// Writes `name(type,…)` into `self.raw`, then its canonical form into
    /// `self.canonical`, without allocating once the buffers have grown.
    fn write_signature<'p>(
        &mut self,
        name: &str,
        types: impl Iterator<Item = &'p dyn SelectorType>,
    ) {
        self.raw.clear();
        self.raw.push_str(name);
        self.raw.push('(');
        for (i, ty) in types.enumerate() {
            if i > 0 {
                self.raw.push(',');
            }
            ty.write_selector_type(&mut self.raw);
        }
        self.raw.push(')');
        self.canonical.clear();
        canonical_signature_into(&self.raw, &mut self.canonical);
    }

    fn fingerprint<'a>(&self, parts: impl Iterator<Item = &'a str>) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        let mut any = false;
        for part in parts {
            any |= !part.is_empty();
            part.hash(&mut hasher);
        }
        if any {
            hasher.finish() & !(1 << 63)
        } else {
            UNKNOWN
        }
    }

    fn add_abi(&mut self, source: u32, abi: &JsonAbi) {
        for function in abi.functions() {
            self.write_signature(
                &function.name,
                function.inputs.iter().map(|p| p as &dyn SelectorType),
            );
            let signature = self.intern_canonical(ItemKind::Function, true);
            let names = self.fingerprint(function.inputs.iter().map(|p| p.name.as_str()));
            self.raw.clear();
            for output in &function.outputs {
                output.selector_type_raw(&mut self.raw);
                self.raw.push(',');
            }
            let shape = self.hasher.hash_one(self.raw.as_str()) & !(1 << 63);
            self.occurrences.push(Occurrence {
                signature,
                source,
                names,
                shape,
            });
        }
        for error in abi.errors() {
            self.write_signature(
                &error.name,
                error.inputs.iter().map(|p| p as &dyn SelectorType),
            );
            let signature = self.intern_canonical(ItemKind::Error, true);
            let names = self.fingerprint(error.inputs.iter().map(|p| p.name.as_str()));
            self.occurrences.push(Occurrence {
                signature,
                source,
                names,
                shape: UNKNOWN,
            });
        }
        for event in abi.events() {
            self.write_signature(
                &event.name,
                event.inputs.iter().map(|p| p as &dyn SelectorType),
            );
            let signature = self.intern_canonical(ItemKind::Event, true);
            let names = self.fingerprint(event.inputs.iter().map(|p| p.name.as_str()));
            let shape = event_layout(event);
            self.occurrences.push(Occurrence {
                signature,
                source,
                names,
                shape,
            });
        }
    }
}

/// A parameter that can write its type as it appears in a signature.
trait SelectorType {
    fn write_selector_type(&self, out: &mut String);
}

impl SelectorType for Param {
    fn write_selector_type(&self, out: &mut String) {
        self.selector_type_raw(out);
    }
}

impl SelectorType for EventParam {
    fn write_selector_type(&self, out: &mut String) {
        self.selector_type_raw(out);
    }
}

impl SignatureIndex {
    pub(crate) fn build(set: &InterfaceSet) -> Self {
        // Sized once up front: growing tables of a million entries costs
        // more in rehashing and fresh pages than the lint itself.
        let items: usize = set
            .sources()
            .iter()
            .map(|s| match &s.items {
                SourceItems::Abi(abi) => abi.len(),
                SourceItems::List(list) => list.len(),
            })
            .sum();
        let mut builder = Builder {
            hasher: DefaultHashBuilder::default(),
            interned: [
                HashTable::with_capacity(items),
                HashTable::new(),
                HashTable::new(),
            ],
            raw: String::with_capacity(256),
            canonical: String::with_capacity(256),
            signatures: Vec::with_capacity(items),
            occurrences: Vec::with_capacity(items),
        };
        for (i, source) in set.sources().iter().enumerate() {
            let id = u32::try_from(i).unwrap_or(u32::MAX);
            match &source.items {
                SourceItems::Abi(abi) => builder.add_abi(id, abi),
                SourceItems::List(list) => {
                    let infrastructure = source.role != Role::Reference;
                    for listed in list {
                        let signature =
                            builder.intern(listed.kind, &listed.signature, infrastructure);
                        builder.occurrences.push(Occurrence {
                            signature,
                            source: id,
                            names: UNKNOWN,
                            shape: UNKNOWN,
                        });
                    }
                }
            }
        }
        let Builder {
            signatures,
            occurrences,
            ..
        } = builder;
        let (occurrences, starts) = group_by_signature(occurrences, signatures.len());
        let colliding_selectors = colliding_selectors(&signatures);
        Self {
            signatures,
            occurrences,
            starts,
            colliding_selectors,
        }
    }

    /// The occurrences of one signature, in source order.
    pub(crate) fn occurrences_of(&self, signature: u32) -> &[Occurrence] {
        let s = signature as usize;
        match (self.starts.get(s), self.starts.get(s + 1)) {
            (Some(&from), Some(&to)) => &self.occurrences[from as usize..to as usize],
            _ => &[],
        }
    }

    pub(crate) fn signature(&self, id: u32) -> &Signature {
        &self.signatures[id as usize]
    }
}

/// Function and error selectors shared by several signatures: a sort of
/// `selector << 32 | id` keys, then a walk over equal runs (no table of a
/// million small vectors).
fn colliding_selectors(signatures: &[Signature]) -> Vec<([u8; 4], Vec<u32>)> {
    let mut keys: Vec<u64> = signatures
        .iter()
        .enumerate()
        .filter(|(_, s)| s.kind != ItemKind::Event)
        .map(|(id, s)| (u64::from(u32::from_be_bytes(s.selector())) << 32) | id as u64)
        .collect();
    keys.sort_unstable();
    let mut colliding = Vec::new();
    for run in keys.chunk_by(|a, b| a >> 32 == b >> 32) {
        if run.len() > 1 {
            let selector = ((run[0] >> 32) as u32).to_be_bytes();
            let mut ids: Vec<u32> = run.iter().map(|k| *k as u32).collect();
            // Report the signatures in a stable order, whatever order the
            // sources came in.
            ids.sort_by(|a, b| {
                signatures[*a as usize]
                    .text
                    .cmp(&signatures[*b as usize].text)
            });
            colliding.push((selector, ids));
        }
    }
    colliding
}

/// A counting sort of occurrences by signature (stable, so sources stay in
/// order), and the start of each signature's run.
fn group_by_signature(
    occurrences: Vec<Occurrence>,
    signatures: usize,
) -> (Vec<Occurrence>, Vec<u32>) {
    let mut starts = vec![0u32; signatures + 1];
    for occurrence in &occurrences {
        starts[occurrence.signature as usize + 1] += 1;
    }
    for i in 1..starts.len() {
        starts[i] += starts[i - 1];
    }
    let mut next = starts.clone();
    let mut sorted = vec![
        Occurrence {
            signature: 0,
            source: 0,
            names: 0,
            shape: 0
        };
        occurrences.len()
    ];
    for occurrence in occurrences {
        let slot = &mut next[occurrence.signature as usize];
        sorted[*slot as usize] = occurrence;
        *slot += 1;
    }
    (sorted, starts)
}

/// The layout of an event as a number: bit `i` is set when input `i` is
/// indexed, bit 62 when the event is anonymous. Never [`UNKNOWN`].
pub(crate) fn event_layout(event: &Event) -> u64 {
    let mut bits = u64::from(event.anonymous) << 62;
    for (i, input) in event.inputs.iter().enumerate() {
        if input.indexed {
            if i < 62 {
                bits |= 1 << i;
            } else {
                // More inputs than bits: fold the position in.
                bits ^= (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) & !(3 << 62);
            }
        }
    }
    bits
}
