//! The signature index the rules walk.

use std::hash::{BuildHasher, Hash, Hasher};

use alloy_json_abi::{Event, JsonAbi};
use alloy_primitives::{B256, keccak256};
use hashbrown::DefaultHashBuilder;
use hashbrown::HashMap;

use crate::interface::{InterfaceSet, ItemKind, Role, SourceItems};
use crate::signature_list::canonical_signature;

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
    pub(crate) by_selector: HashMap<[u8; 4], Vec<u32>>,
}

struct Builder {
    hasher: DefaultHashBuilder,
    interned: [HashMap<Box<str>, u32>; 3],
    signatures: Vec<Signature>,
    occurrences: Vec<Occurrence>,
}

impl Builder {
    fn intern(&mut self, kind: ItemKind, text: String, infrastructure: bool) -> u32 {
        let map = &mut self.interned[kind as usize];
        if let Some(&id) = map.get(text.as_str()) {
            if infrastructure {
                self.signatures[id as usize].in_infrastructure = true;
            }
            return id;
        }
        let id = u32::try_from(self.signatures.len()).unwrap_or(u32::MAX);
        let text = text.into_boxed_str();
        self.signatures.push(Signature {
            kind,
            hash: keccak256(text.as_bytes()),
            text: text.clone(),
            in_infrastructure: infrastructure,
        });
        map.insert(text, id);
        id
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
            let text = canonical_signature(&function.signature());
            let signature = self.intern(ItemKind::Function, text, true);
            let names = self.fingerprint(function.inputs.iter().map(|p| p.name.as_str()));
            let mut outputs = self.hasher.build_hasher();
            for output in &function.outputs {
                output.selector_type().hash(&mut outputs);
            }
            let shape = outputs.finish() & !(1 << 63);
            self.occurrences.push(Occurrence {
                signature,
                source,
                names,
                shape,
            });
        }
        for error in abi.errors() {
            let text = canonical_signature(&error.signature());
            let signature = self.intern(ItemKind::Error, text, true);
            let names = self.fingerprint(error.inputs.iter().map(|p| p.name.as_str()));
            self.occurrences.push(Occurrence {
                signature,
                source,
                names,
                shape: UNKNOWN,
            });
        }
        for event in abi.events() {
            let text = canonical_signature(&event.signature());
            let signature = self.intern(ItemKind::Event, text, true);
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

impl SignatureIndex {
    pub(crate) fn build(set: &InterfaceSet) -> Self {
        let mut builder = Builder {
            hasher: DefaultHashBuilder::default(),
            interned: Default::default(),
            signatures: Vec::new(),
            occurrences: Vec::new(),
        };
        for (i, source) in set.sources().iter().enumerate() {
            let id = u32::try_from(i).unwrap_or(u32::MAX);
            match &source.items {
                SourceItems::Abi(abi) => builder.add_abi(id, abi),
                SourceItems::List(list) => {
                    let infrastructure = source.role != Role::Reference;
                    for listed in list {
                        let signature =
                            builder.intern(listed.kind, listed.signature.clone(), infrastructure);
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
        let mut by_selector: HashMap<[u8; 4], Vec<u32>> = HashMap::new();
        for (id, signature) in signatures.iter().enumerate() {
            if signature.kind != ItemKind::Event {
                let id = u32::try_from(id).unwrap_or(u32::MAX);
                by_selector
                    .entry(signature.selector())
                    .or_default()
                    .push(id);
            }
        }
        Self {
            signatures,
            occurrences,
            starts,
            by_selector,
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
