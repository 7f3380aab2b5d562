//! The bundled table of standard interfaces.
//!
//! Kept as data (`standard_interfaces.txt`) so it reads like the standards do
//! and a new standard is one line. It is parsed once, by alloy, on first use; a
//! test makes sure every line parses.

use std::sync::OnceLock;

use alloy_json_abi::{Event, Function};
use alloy_primitives::B256;
use hashbrown::HashMap;

use super::index::event_layout;
use crate::interface::ItemKind;
use crate::signature_list::canonical_signature;

const TABLE: &str = include_str!("standard_interfaces.txt");

/// One declaration of a standard interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandardSignature {
    /// The standard, e.g. `ERC-20`.
    pub interface: &'static str,
    pub kind: ItemKind,
    /// The canonical signature, `transfer(address,uint256)`.
    pub signature: String,
    /// The declaration with names and `indexed`, as the standard writes it.
    pub declaration: String,
    /// keccak256 of the signature.
    pub hash: B256,
    /// Events: the layout fingerprint of `indexed` flags and `anonymous`.
    pub(crate) layout: u64,
}

/// The table, indexed for the linter.
#[derive(Debug)]
pub(crate) struct StandardTable {
    pub(crate) entries: Vec<StandardSignature>,
    /// Function selectors → entries.
    pub(crate) by_selector: HashMap<[u8; 4], Vec<usize>>,
    /// Event topics → entries.
    pub(crate) by_topic: HashMap<B256, Vec<usize>>,
}

/// Every declaration of the bundled table.
pub fn standard_signatures() -> &'static [StandardSignature] {
    &table().entries
}

pub(crate) fn table() -> &'static StandardTable {
    static TABLE_CELL: OnceLock<StandardTable> = OnceLock::new();
    TABLE_CELL.get_or_init(|| {
        let entries: Vec<StandardSignature> = TABLE.lines().filter_map(parse_entry).collect();
        let mut by_selector: HashMap<[u8; 4], Vec<usize>> = HashMap::new();
        let mut by_topic: HashMap<B256, Vec<usize>> = HashMap::new();
        for (i, entry) in entries.iter().enumerate() {
            match entry.kind {
                ItemKind::Event => by_topic.entry(entry.hash).or_default().push(i),
                ItemKind::Function | ItemKind::Error => {
                    let mut selector = [0; 4];
                    selector.copy_from_slice(&entry.hash[..4]);
                    by_selector.entry(selector).or_default().push(i);
                }
            }
        }
        StandardTable {
            entries,
            by_selector,
            by_topic,
        }
    })
}

fn parse_entry(line: &'static str) -> Option<StandardSignature> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (interface, rest) = line.split_once(' ')?;
    let (keyword, body) = rest.split_once(' ')?;
    let (kind, signature, declaration, layout) = match keyword {
        "function" => {
            let f = Function::parse(body).ok()?;
            (ItemKind::Function, f.signature(), f.full_signature(), 0)
        }
        "event" => {
            let e = Event::parse(body).ok()?;
            (
                ItemKind::Event,
                e.signature(),
                e.full_signature(),
                event_layout(&e),
            )
        }
        _ => return None,
    };
    let signature = canonical_signature(&signature);
    Some(StandardSignature {
        interface,
        kind,
        hash: alloy_primitives::keccak256(signature.as_bytes()),
        signature,
        declaration,
        layout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_of_the_table_parses() {
        let declared = TABLE
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .count();
        assert_eq!(standard_signatures().len(), declared);
        assert!(declared > 90, "{declared}");
    }

    #[test]
    fn knows_the_famous_selectors() {
        let t = table();
        let transfer = &t.entries[t.by_selector[&[0xa9, 0x05, 0x9c, 0xbb]][0]];
        assert_eq!(transfer.signature, "transfer(address,uint256)");
        assert_eq!(transfer.interface, "ERC-20");
        // ERC-20 and ERC-721 Transfer share a topic with different layouts.
        let topic: B256 = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
            .parse()
            .unwrap_or_default();
        let variants = &t.by_topic[&topic];
        assert_eq!(variants.len(), 2);
        assert_ne!(t.entries[variants[0]].layout, t.entries[variants[1]].layout);
    }
}
