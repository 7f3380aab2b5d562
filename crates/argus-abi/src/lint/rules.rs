//! The checks, each a walk over the signature index.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::BuildHasher as _;

use alloy_json_abi::JsonAbi;
use alloy_primitives::{B256, hex, keccak256};
use hashbrown::HashMap;

use super::index::{Occurrence, SignatureIndex, UNKNOWN};
use super::standard::{self, StandardTable};
use super::{Finding, Group, Level, LintOptions, Location, Rule};
use crate::interface::{InterfaceSet, ItemKind, Role, SourceItems};
use crate::signature_list::canonical_signature;

/// Runs every rule.
pub(super) fn run(
    set: &InterfaceSet,
    index: &SignatureIndex,
    options: &LintOptions,
) -> Vec<Finding> {
    let mut checks = Checks {
        set,
        index,
        max_locations: options.max_locations.max(1),
        lines: HashMap::new(),
        findings: Vec::new(),
    };
    let standards = options.standard_interfaces.then(standard::table);
    checks.selector_collisions();
    checks.topic_collisions();
    checks.proxy_clashes();
    if let Some(table) = standards {
        checks.standard_collisions(table);
    }
    checks.per_signature(standards);
    checks.per_name(standards);
    checks.findings
}

struct Checks<'a> {
    set: &'a InterfaceSet,
    index: &'a SignatureIndex,
    max_locations: usize,
    /// Line numbers of signature-list items, built only for lists that show
    /// up in a finding.
    lines: HashMap<u32, HashMap<(ItemKind, &'a str), u32>>,
    findings: Vec<Finding>,
}

fn selector_hex(selector: &[u8]) -> String {
    format!("0x{}", hex::encode(selector))
}

impl<'a> Checks<'a> {
    fn role(&self, source: u32) -> Role {
        self.set
            .sources()
            .get(source as usize)
            .map_or(Role::Contract, |s| s.role)
    }

    /// Where and how an occurrence is declared.
    fn locate(&mut self, occurrence: &Occurrence) -> Location {
        let signature = self.index.signature(occurrence.signature);
        let origin = occurrence.source as usize;
        let fallback = || format!("{} {}", signature.kind.as_str(), signature.text);
        let Some(source) = self.set.sources().get(origin) else {
            return Location {
                origin,
                declaration: fallback(),
                line: None,
            };
        };
        match &source.items {
            SourceItems::Abi(abi) => Location {
                origin,
                declaration: declaration(abi, signature.kind, &signature.text)
                    .unwrap_or_else(fallback),
                line: None,
            },
            SourceItems::List(list) => {
                let lines = self.lines.entry(occurrence.source).or_insert_with(|| {
                    let mut map = HashMap::with_capacity(list.len());
                    for listed in list {
                        map.entry((listed.kind, listed.signature.as_str()))
                            .or_insert(listed.line);
                    }
                    map
                });
                Location {
                    origin,
                    declaration: fallback(),
                    line: lines.get(&(signature.kind, &*signature.text)).copied(),
                }
            }
        }
    }

    /// A group of the occurrences of one signature, capped.
    fn group(&mut self, title: String, occurrences: &[Occurrence]) -> Group {
        let shown = occurrences.len().min(self.max_locations);
        let locations = occurrences[..shown]
            .iter()
            .map(|o| self.locate(o))
            .collect();
        Group {
            title,
            locations,
            omitted: occurrences.len() - shown,
        }
    }

    fn signature_group(&mut self, signature: u32) -> Group {
        let s = self.index.signature(signature);
        let title = format!("{} {}", s.kind.as_str(), s.text);
        let occurrences = self.index.occurrences_of(signature);
        self.group(title, occurrences)
    }

    /// Records a finding at its rule's level.
    fn report(&mut self, rule: Rule, key: String, message: String, groups: Vec<Group>) {
        self.push(rule, rule.level(), key, message, groups);
    }

    fn push(&mut self, rule: Rule, level: Level, key: String, message: String, groups: Vec<Group>) {
        self.findings.push(Finding {
            rule,
            level,
            key,
            message,
            groups,
        });
    }

    fn selector_collisions(&mut self) {
        let index = self.index;
        for (selector, signatures) in &index.colliding_selectors {
            let infrastructure = signatures
                .iter()
                .filter(|&&s| index.signature(s).in_infrastructure)
                .count();
            let rule = match infrastructure {
                0 => continue,
                1 => Rule::ReferenceSelectorCollision,
                _ => Rule::SelectorCollision,
            };
            let names: Vec<&str> = signatures
                .iter()
                .map(|&s| &*index.signature(s).text)
                .collect();
            let message = format!(
                "selector {} is shared by {} different signatures: {}",
                selector_hex(selector),
                signatures.len(),
                names.join(", ")
            );
            let groups = signatures
                .iter()
                .map(|&s| self.signature_group(s))
                .collect();
            self.report(rule, selector_hex(selector), message, groups);
        }
    }

    fn topic_collisions(&mut self) {
        let index = self.index;
        let mut by_topic: HashMap<B256, Vec<u32>> = HashMap::new();
        for (id, signature) in index.signatures.iter().enumerate() {
            if signature.kind == ItemKind::Event && signature.in_infrastructure {
                by_topic
                    .entry(signature.hash)
                    .or_default()
                    .push(u32::try_from(id).unwrap_or(u32::MAX));
            }
        }
        for (topic, signatures) in by_topic.into_iter().filter(|(_, s)| s.len() > 1) {
            let names: Vec<&str> = signatures
                .iter()
                .map(|&s| &*index.signature(s).text)
                .collect();
            let message = format!("topic {topic} is shared by events {}", names.join(", "));
            let groups = signatures
                .iter()
                .map(|&s| self.signature_group(s))
                .collect();
            let rule = Rule::EventTopicCollision;
            self.report(rule, topic.to_string(), message, groups);
        }
    }

    fn proxy_clashes(&mut self) {
        for &(proxy, implementation) in self.set.proxies() {
            let (Some(p), Some(i)) = (self.set.source(proxy), self.set.source(implementation))
            else {
                continue;
            };
            let proxy_selectors = function_selectors(&p.items);
            let implementation_selectors = function_selectors(&i.items);
            for (selector, proxy_signature) in &proxy_selectors {
                let Some(implementation_signature) = implementation_selectors.get(selector) else {
                    continue;
                };
                let key = format!(
                    "{}>{}:{}",
                    p.origin.label,
                    i.origin.label,
                    selector_hex(selector)
                );
                let message = format!(
                    "proxy {} and its implementation {} both have selector {} ({}{})",
                    p.origin.label,
                    i.origin.label,
                    selector_hex(selector),
                    proxy_signature,
                    if proxy_signature == implementation_signature {
                        String::new()
                    } else {
                        format!(" / {implementation_signature}")
                    }
                );
                let groups = [
                    (proxy, proxy_signature),
                    (implementation, implementation_signature),
                ]
                .into_iter()
                .map(|(source, signature)| {
                    let origin = source.0 as usize;
                    let declaration = self
                        .set
                        .source(source)
                        .and_then(|s| match &s.items {
                            SourceItems::Abi(abi) => {
                                declaration(abi, ItemKind::Function, signature)
                            }
                            SourceItems::List(_) => None,
                        })
                        .unwrap_or_else(|| format!("function {signature}"));
                    Group {
                        title: format!("function {signature}"),
                        locations: vec![Location {
                            origin,
                            declaration,
                            line: None,
                        }],
                        omitted: 0,
                    }
                })
                .collect();
                let rule = Rule::ProxySelectorClash;
                self.report(rule, key, message, groups);
            }
        }
    }

    fn standard_collisions(&mut self, table: &StandardTable) {
        let index = self.index;
        let mut hits: Vec<(u32, usize)> = Vec::new();
        for (id, signature) in index.signatures.iter().enumerate() {
            if signature.kind == ItemKind::Event || !signature.in_infrastructure {
                continue;
            }
            let Some(entries) = table.by_selector.get(&signature.selector()) else {
                continue;
            };
            if entries
                .iter()
                .any(|&e| table.entries[e].signature == *signature.text)
            {
                continue;
            }
            if let Some(&entry) = entries.first() {
                hits.push((u32::try_from(id).unwrap_or(u32::MAX), entry));
            }
        }
        for (signature, entry) in hits {
            let standard = &table.entries[entry];
            let ours = index.signature(signature);
            let selector = ours.selector();
            let message = format!(
                "selector {} of {} is the selector of {} {}",
                selector_hex(&selector),
                ours.text,
                standard.interface,
                standard.signature
            );
            let groups = vec![
                self.signature_group(signature),
                Group {
                    title: format!("{} {} (standard)", standard.interface, standard.declaration),
                    locations: Vec::new(),
                    omitted: 0,
                },
            ];
            let rule = Rule::StandardSelectorCollision;
            self.report(rule, selector_hex(&selector), message, groups);
        }
    }

    /// Checks that need all declarations of one signature to agree.
    fn per_signature(&mut self, standards: Option<&'static StandardTable>) {
        let index = self.index;
        for id in 0..index.signatures.len() {
            let id = u32::try_from(id).unwrap_or(u32::MAX);
            let signature = index.signature(id);
            let all = index.occurrences_of(id);
            let standard_event = signature.kind == ItemKind::Event
                && standards.is_some_and(|t| t.by_topic.contains_key(&signature.hash));
            if all.len() < 2 && !standard_event {
                continue;
            }
            let declared: Vec<Occurrence> = all
                .iter()
                .filter(|o| self.role(o.source) == Role::Contract)
                .copied()
                .collect();
            match signature.kind {
                ItemKind::Event => self.event_layouts(id, &declared, standards),
                ItemKind::Function => {
                    if distinct(&declared, |o| o.shape) > 1 {
                        let groups = self.split_by(&declared, |o| o.shape);
                        let message = format!(
                            "{} is declared with {} different sets of return types",
                            signature.text,
                            groups.len()
                        );
                        let rule = Rule::ReturnTypeMismatch;
                        self.report(rule, signature.text.to_string(), message, groups);
                    }
                }
                ItemKind::Error => {}
            }
            if distinct(&declared, |o| o.names) > 1 {
                let groups = self.split_by(&declared, |o| o.names);
                let message = format!(
                    "{} {} is declared with {} different sets of parameter names",
                    signature.kind.as_str(),
                    signature.text,
                    groups.len()
                );
                let rule = Rule::ParamNameMismatch;
                self.report(rule, signature.text.to_string(), message, groups);
            }
        }
    }

    fn event_layouts(
        &mut self,
        id: u32,
        declared: &[Occurrence],
        standards: Option<&'static StandardTable>,
    ) {
        let signature = self.index.signature(id);
        let standard_layouts: Vec<u64> = standards
            .and_then(|t| t.by_topic.get(&signature.hash).map(|v| (t, v)))
            .map(|(t, v)| v.iter().map(|&e| t.entries[e].layout).collect())
            .unwrap_or_default();
        if distinct(declared, |o| o.shape) > 1 {
            let groups = self.split_by(declared, |o| o.shape);
            let all_standard = !standard_layouts.is_empty()
                && declared.iter().all(|o| standard_layouts.contains(&o.shape));
            let (level, note) = if all_standard {
                (
                    Level::Warning,
                    " (each is a standard layout, e.g. ERC-20 and ERC-721 Transfer; decode by the \
                     number of topics)",
                )
            } else {
                (Level::Error, "")
            };
            let message = format!(
                "event {} is declared with {} different indexed/anonymous layouts{note}",
                signature.text,
                groups.len()
            );
            let rule = Rule::EventLayoutMismatch;
            self.push(rule, level, signature.text.to_string(), message, groups);
        }
        if !standard_layouts.is_empty() {
            let odd: Vec<Occurrence> = declared
                .iter()
                .filter(|o| o.shape != UNKNOWN && !standard_layouts.contains(&o.shape))
                .copied()
                .collect();
            if !odd.is_empty() {
                let mut groups = self.split_by(&odd, |o| o.shape);
                if let Some(table) = standards
                    && let Some(entries) = table.by_topic.get(&signature.hash)
                {
                    for &e in entries {
                        let entry = &table.entries[e];
                        groups.push(Group {
                            title: format!("{} {} (standard)", entry.interface, entry.declaration),
                            locations: Vec::new(),
                            omitted: 0,
                        });
                    }
                }
                let message = format!(
                    "event {} is a standard event declared with an indexing no standard uses",
                    signature.text
                );
                let rule = Rule::StandardEventLayout;
                self.report(rule, signature.text.to_string(), message, groups);
            }
        }
    }

    /// Splits occurrences into groups that agree on `key`, titled by the
    /// declaration of the first of each.
    fn split_by(
        &mut self,
        occurrences: &[Occurrence],
        key: impl Fn(&Occurrence) -> u64,
    ) -> Vec<Group> {
        let mut by_key: BTreeMap<u64, Vec<Occurrence>> = BTreeMap::new();
        for o in occurrences.iter().filter(|o| key(o) != UNKNOWN) {
            by_key.entry(key(o)).or_default().push(*o);
        }
        let mut groups: Vec<Group> = by_key
            .into_values()
            .map(|members| {
                let first = self.locate(&members[0]);
                self.group(first.declaration, &members)
            })
            .collect();
        groups.sort_by(|a, b| a.title.cmp(&b.title));
        groups
    }

    /// Checks that need all signatures of one name.
    fn per_name(&mut self, standards: Option<&'static StandardTable>) {
        let index = self.index;
        // Signatures sharing a name: sort (hash of kind and name, id) pairs and
        // walk equal runs; no table with an entry per name.
        let hasher = hashbrown::DefaultHashBuilder::default();
        let mut keyed: Vec<(u64, u32)> = index
            .signatures
            .iter()
            .enumerate()
            .filter(|&(id, _)| {
                index
                    .occurrences_of(u32::try_from(id).unwrap_or(u32::MAX))
                    .iter()
                    .any(|o| self.role(o.source) == Role::Contract)
            })
            .map(|(id, s)| {
                let key = (s.kind == ItemKind::Event, s.name());
                (hasher.hash_one(key), u32::try_from(id).unwrap_or(u32::MAX))
            })
            .collect();
        keyed.sort_unstable();
        let mut by_name: Vec<((bool, &str), Vec<u32>)> = Vec::new();
        for run in keyed
            .chunk_by(|a, b| a.0 == b.0)
            .filter(|run| run.len() > 1)
        {
            // Equal hashes almost always mean equal names; split if not.
            let mut members: Vec<((bool, &str), u32)> = run
                .iter()
                .map(|&(_, id)| {
                    let s = index.signature(id);
                    ((s.kind == ItemKind::Event, s.name()), id)
                })
                .collect();
            members.sort_unstable();
            for same in members
                .chunk_by(|a, b| a.0 == b.0)
                .filter(|same| same.len() > 1)
            {
                by_name.push((same[0].0, same.iter().map(|m| m.1).collect()));
            }
        }
        by_name.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for ((is_event, name), signatures) in by_name {
            if signatures.len() < 2 {
                continue;
            }
            let sources: Vec<BTreeSet<u32>> = signatures
                .iter()
                .map(|&s| {
                    index
                        .occurrences_of(s)
                        .iter()
                        .filter(|o| self.role(o.source) == Role::Contract)
                        .map(|o| o.source)
                        .collect()
                })
                .collect();
            // Overloads declared together in one contract are one interface.
            let apart = (0..sources.len())
                .any(|i| (i + 1..sources.len()).any(|j| sources[i].is_disjoint(&sources[j])));
            if !apart {
                continue;
            }
            let all_standard = standards.is_some_and(|table| {
                signatures.iter().all(|&s| {
                    let sig = index.signature(s);
                    table.entries.iter().any(|e| {
                        e.signature == *sig.text && (e.kind == ItemKind::Event) == is_event
                    })
                })
            });
            if all_standard {
                continue;
            }
            let texts: Vec<&str> = signatures
                .iter()
                .map(|&s| &*index.signature(s).text)
                .collect();
            let groups = signatures
                .iter()
                .map(|&s| {
                    let occurrences: Vec<Occurrence> = index
                        .occurrences_of(s)
                        .iter()
                        .filter(|o| self.role(o.source) == Role::Contract)
                        .copied()
                        .collect();
                    let sig = index.signature(s);
                    self.group(format!("{} {}", sig.kind.as_str(), sig.text), &occurrences)
                })
                .collect();
            let (rule, what) = if is_event {
                (Rule::EventSignatureMismatch, "event")
            } else {
                (Rule::NameReuse, "name")
            };
            let message = format!(
                "{what} `{name}` is declared with {} different signatures in different contracts: {}",
                signatures.len(),
                texts.join(", ")
            );
            self.report(rule, name.to_owned(), message, groups);
        }
    }
}

fn distinct(occurrences: &[Occurrence], key: impl Fn(&Occurrence) -> u64) -> usize {
    let mut seen: Vec<u64> = occurrences
        .iter()
        .map(&key)
        .filter(|&k| k != UNKNOWN)
        .collect();
    seen.sort_unstable();
    seen.dedup();
    seen.len()
}

/// The function selectors of a source, with their signatures.
fn function_selectors(items: &SourceItems) -> BTreeMap<[u8; 4], String> {
    let signatures: Vec<String> = match items {
        SourceItems::Abi(abi) => abi
            .functions()
            .map(|f| canonical_signature(&f.signature()))
            .collect(),
        SourceItems::List(list) => list
            .iter()
            .filter(|l| l.kind == ItemKind::Function)
            .map(|l| l.signature.clone())
            .collect(),
    };
    signatures
        .into_iter()
        .map(|s| {
            let hash = keccak256(s.as_bytes());
            ([hash[0], hash[1], hash[2], hash[3]], s)
        })
        .collect()
}

/// The declaration of an item of an ABI, with names, `indexed`, outputs.
fn declaration(abi: &JsonAbi, kind: ItemKind, signature: &str) -> Option<String> {
    let name = signature.split('(').next()?;
    match kind {
        ItemKind::Function => abi
            .functions
            .get(name)?
            .iter()
            .find(|f| canonical_signature(&f.signature()) == signature)
            .map(|f| f.full_signature()),
        ItemKind::Error => abi
            .errors
            .get(name)?
            .iter()
            .find(|e| canonical_signature(&e.signature()) == signature)
            .map(error_declaration),
        ItemKind::Event => abi
            .events
            .get(name)?
            .iter()
            .find(|e| canonical_signature(&e.signature()) == signature)
            .map(|e| e.full_signature()),
    }
}

/// alloy has no full signature for errors; this writes one like its others.
fn error_declaration(error: &alloy_json_abi::Error) -> String {
    let params: Vec<String> = error
        .inputs
        .iter()
        .map(|p| {
            if p.name.is_empty() {
                p.selector_type().into_owned()
            } else {
                format!("{} {}", p.selector_type(), p.name)
            }
        })
        .collect();
    format!("error {}({})", error.name, params.join(", "))
}
