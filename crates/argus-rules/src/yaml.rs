//! A YAML document as a tree of positioned nodes.
//!
//! serde stops at the first error; `argus validate` must report every error of
//! a file at once, each with its line and column. So the file is read once
//! into this loose tree (every node keeps where it was written, through
//! serde-saphyr's `Spanned`), and the schema is checked by hand on the tree,
//! collecting diagnostics rather than returning at the first.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// One node and where it was written (1-based line and column; 0 when the
/// parser could not say).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub(crate) value: NodeValue,
    pub(crate) line: u64,
    pub(crate) column: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NodeValue {
    Null,
    /// Every scalar as text: numbers and booleans are written back as text,
    /// and each field parses what it expects.
    Scalar(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    pub(crate) fn as_str(&self) -> Option<&str> {
        match &self.value {
            NodeValue::Scalar(text) => Some(text),
            _ => None,
        }
    }

    pub(crate) fn kind(&self) -> &'static str {
        match &self.value {
            NodeValue::Null => "nothing",
            NodeValue::Scalar(_) => "a scalar",
            NodeValue::Seq(_) => "a list",
            NodeValue::Map(_) => "a mapping",
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<NodeValue>::deserialize(deserializer)?;
        Ok(Node {
            value: spanned.value,
            line: spanned.referenced.line(),
            column: spanned.referenced.column(),
        })
    }
}

impl<'de> Deserialize<'de> for NodeValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = NodeValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<NodeValue, E> {
        Ok(NodeValue::Scalar(v.to_string()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<NodeValue, E> {
        Ok(NodeValue::Scalar(v.to_string()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<NodeValue, E> {
        Ok(NodeValue::Scalar(v.to_string()))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<NodeValue, E> {
        Ok(NodeValue::Scalar(v.to_string()))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<NodeValue, E> {
        Ok(NodeValue::Scalar(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<NodeValue, E> {
        Ok(NodeValue::Scalar(v.to_string()))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<NodeValue, E> {
        Ok(NodeValue::Scalar(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<NodeValue, E> {
        Ok(NodeValue::Scalar(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<NodeValue, E> {
        Ok(NodeValue::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<NodeValue, E> {
        Ok(NodeValue::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<NodeValue, D::Error> {
        NodeValue::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NodeValue, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(NodeValue::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NodeValue, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Node>()? {
            let value = map.next_value::<Node>()?;
            entries.push((key, value));
        }
        Ok(NodeValue::Map(entries))
    }
}

/// A YAML syntax error with its position.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SyntaxError {
    pub(crate) line: u64,
    pub(crate) column: u64,
    pub(crate) message: String,
}

/// Parses a document into a tree. An empty document is `Null`.
pub(crate) fn parse(text: &str) -> Result<Node, SyntaxError> {
    if text.trim().is_empty() {
        return Ok(Node {
            value: NodeValue::Null,
            line: 1,
            column: 1,
        });
    }
    serde_saphyr::from_str::<Node>(text).map_err(|error| {
        let (line, column) = error
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        // The first line of the message; the rest repeats the source snippet.
        let message = error
            .to_string()
            .lines()
            .next()
            .unwrap_or("invalid YAML")
            .to_owned();
        SyntaxError {
            line,
            column,
            message,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_positions() {
        let node = parse("rules:\n  - id: a\n    severity: high\n").unwrap();
        let NodeValue::Map(entries) = &node.value else {
            panic!("not a map")
        };
        let (key, rules) = &entries[0];
        assert_eq!(key.as_str(), Some("rules"));
        assert_eq!((key.line, key.column), (1, 1));
        let NodeValue::Seq(items) = &rules.value else {
            panic!("not a seq")
        };
        let NodeValue::Map(rule) = &items[0].value else {
            panic!("not a map")
        };
        assert_eq!(rule[1].1.as_str(), Some("high"));
        assert_eq!((rule[1].1.line, rule[1].1.column), (3, 15));
    }

    #[test]
    fn syntax_errors_have_positions() {
        let error = parse("rules:\n  - id: [unclosed\n").unwrap_err();
        assert!(error.line >= 2, "{error:?}");
    }

    #[test]
    fn scalars_become_text() {
        let node = parse("a: 90\nb: true\nc: 1.5\nd:\n").unwrap();
        let NodeValue::Map(entries) = &node.value else {
            panic!("not a map")
        };
        let texts: Vec<_> = entries.iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(texts, vec![Some("90"), Some("true"), Some("1.5"), None]);
    }
}
