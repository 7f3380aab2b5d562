//! The CEL types a rule's expressions see, known when the rule loads.
//!
//! The engine turns what it looks at into CEL values in one place
//! (`expression::Fact`): `uintN`/`intN` become exact integers, addresses
//! lower-case hex strings, `bytesN`/`bytes` bytes, an indexed `string` (or
//! any indexed dynamic parameter) the bytes of its hash, arrays lists and
//! tuples maps with named and positional (`_0`) keys. This module states the
//! same mapping as types, so the type checker (`typecheck`) can refuse at
//! load what would fail at run time: `args.from > 3` compares a string with a
//! number, `args.nosuch` reads a key the decoded event never has.
//!
//! What the rule itself does not say stays [`CelType::Dyn`], which every
//! check lets through: an event named without its signature (`Transfer`) has
//! arguments whose names and types only the registry's ABI knows, and a bare
//! type list (`Transfer(address,address,uint256)`) types `_0`, `_1`... but
//! not names, nor whether a dynamic parameter is indexed (and so hashed). The
//! checker never guesses: an expression it cannot type is left to run time,
//! as before.

use std::fmt;

use alloy_dyn_abi::{DynSolType, Specifier};
use alloy_json_abi::{EventParam, Param};

/// The type of a CEL value as the engine produces it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum CelType {
    /// Not known at load: every use is allowed.
    Dyn,
    Null,
    Bool,
    Int,
    UInt,
    Double,
    /// An exact integer (`uint256`, `int256`, every Solidity integer).
    Exact,
    String,
    Bytes,
    List(Box<CelType>),
    /// A map with text keys whose values share one type (`labels`).
    Map(Box<CelType>),
    /// A map whose keys are fields (`tx`, `args`...).
    Record(Record),
    /// A value that is sometimes `null` (`tx.to` of a contract creation).
    OrNull(Box<CelType>),
}

/// The fields of a fixed-shape map.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Record {
    pub(crate) fields: Vec<(String, CelType)>,
    /// Whether every field is known: reading another is an error. An open
    /// record types the fields it lists and lets any other through as
    /// [`CelType::Dyn`], except positional names (`_7`) past the last.
    pub(crate) closed: bool,
    /// What the record stands for in messages ("the event `Transfer(...)`").
    pub(crate) what: Option<String>,
}

impl Record {
    pub(crate) fn closed(fields: Vec<(String, CelType)>) -> Self {
        Record {
            fields,
            closed: true,
            what: None,
        }
    }

    /// The type of `field`: `Err` with the known names when the record does
    /// not have it.
    pub(crate) fn field(&self, field: &str) -> Result<CelType, Vec<&str>> {
        if let Some((_, ty)) = self.fields.iter().find(|(name, _)| name == field) {
            return Ok(ty.clone());
        }
        let positional = field.len() > 1
            && field.starts_with('_')
            && field[1..].bytes().all(|b| b.is_ascii_digit());
        if self.closed || positional {
            Err(self.fields.iter().map(|(name, _)| name.as_str()).collect())
        } else {
            Ok(CelType::Dyn)
        }
    }
}

impl CelType {
    fn record(fields: &[(&str, CelType)]) -> CelType {
        CelType::Record(Record::closed(
            fields
                .iter()
                .map(|(name, ty)| ((*name).to_owned(), ty.clone()))
                .collect(),
        ))
    }

    /// An exact integer, an `int` or a `uint`: what compares with an exact
    /// integer.
    pub(crate) fn is_integer(&self) -> bool {
        matches!(self, CelType::Exact | CelType::Int | CelType::UInt)
    }

    pub(crate) fn is_number(&self) -> bool {
        self.is_integer() || *self == CelType::Double
    }

    /// The type without its `null` alternative.
    pub(crate) fn non_null(&self) -> &CelType {
        match self {
            CelType::OrNull(inner) => inner,
            other => other,
        }
    }

    /// The type a list's elements (or a map's keys, for `in` and
    /// comprehensions) have.
    pub(crate) fn element(&self) -> Option<CelType> {
        match self.non_null() {
            CelType::List(element) => Some((**element).clone()),
            CelType::Map(_) | CelType::Record(_) => Some(CelType::String),
            CelType::Dyn => Some(CelType::Dyn),
            _ => None,
        }
    }
}

impl fmt::Display for CelType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CelType::Dyn => f.write_str("dyn"),
            CelType::Null => f.write_str("null"),
            CelType::Bool => f.write_str("bool"),
            CelType::Int => f.write_str("int"),
            CelType::UInt => f.write_str("uint"),
            CelType::Double => f.write_str("double"),
            CelType::Exact => f.write_str("exact integer (uint256)"),
            CelType::String => f.write_str("string"),
            CelType::Bytes => f.write_str("bytes"),
            CelType::List(element) => write!(f, "list of {element}"),
            CelType::Map(_) | CelType::Record(_) => f.write_str("map"),
            CelType::OrNull(inner) => write!(f, "{inner} (or null)"),
        }
    }
}

/// The `tx` variable (`engine::tx_fact`, plus `revert` of failed calls).
pub(crate) fn tx_type() -> CelType {
    let revert = CelType::Record(Record {
        fields: vec![
            ("data".to_owned(), CelType::Bytes),
            ("kind".to_owned(), CelType::String),
            ("reason".to_owned(), CelType::String),
            ("code".to_owned(), CelType::Exact),
            ("name".to_owned(), CelType::String),
            ("signature".to_owned(), CelType::String),
            ("args".to_owned(), CelType::Dyn),
        ],
        closed: true,
        what: None,
    });
    CelType::record(&[
        ("hash", CelType::String),
        ("index", CelType::UInt),
        ("from", CelType::String),
        ("to", CelType::OrNull(Box::new(CelType::String))),
        ("value", CelType::Exact),
        ("gas_price", CelType::Exact),
        ("gas", CelType::UInt),
        ("nonce", CelType::UInt),
        ("input", CelType::Bytes),
        ("status", CelType::String),
        ("success", CelType::Bool),
        ("gas_used", CelType::UInt),
        ("revert", revert),
    ])
}

/// The `block` variable (`engine::block_fact`).
pub(crate) fn block_type() -> CelType {
    CelType::record(&[
        ("number", CelType::UInt),
        ("hash", CelType::String),
        ("timestamp", CelType::UInt),
        ("base_fee", CelType::OrNull(Box::new(CelType::Exact))),
        ("chain", CelType::UInt),
    ])
}

/// The `event` variable.
pub(crate) fn event_type() -> CelType {
    CelType::record(&[
        ("name", CelType::String),
        ("signature", CelType::String),
        ("address", CelType::String),
        ("label", CelType::String),
        ("log_index", CelType::UInt),
    ])
}

/// The `call` variable.
pub(crate) fn call_type() -> CelType {
    CelType::record(&[
        ("name", CelType::String),
        ("signature", CelType::String),
        ("selector", CelType::String),
        ("address", CelType::String),
        ("label", CelType::String),
    ])
}

/// The `contract` variable.
pub(crate) fn contract_type() -> CelType {
    CelType::record(&[
        ("label", CelType::String),
        ("tags", CelType::List(Box::new(CelType::String))),
        ("address", CelType::String),
    ])
}

/// The `window` variable of windowed rules' templates: `value` is the
/// sample (an exact integer or a double), `median` text.
pub(crate) fn window_type() -> CelType {
    CelType::record(&[
        ("count", CelType::Double),
        ("within", CelType::UInt),
        ("median", CelType::String),
        ("value", CelType::Dyn),
        ("since", CelType::Double),
    ])
}

/// `args` of a rule that names its event or function without parameters:
/// only the registry's ABI knows them.
pub(crate) fn unknown_args() -> CelType {
    CelType::Record(Record {
        fields: Vec::new(),
        closed: false,
        what: None,
    })
}

/// One parameter of a signature a rule wrote.
pub(crate) struct ParamInfo<'p> {
    pub(crate) name: &'p str,
    pub(crate) ty: &'p str,
    pub(crate) components: &'p [Param],
    pub(crate) indexed: bool,
}

impl<'p> From<&'p EventParam> for ParamInfo<'p> {
    fn from(p: &'p EventParam) -> Self {
        ParamInfo {
            name: &p.name,
            ty: &p.ty,
            components: &p.components,
            indexed: p.indexed,
        }
    }
}

impl<'p> From<&'p Param> for ParamInfo<'p> {
    fn from(p: &'p Param) -> Self {
        ParamInfo {
            name: &p.name,
            ty: &p.ty,
            components: &p.components,
            indexed: false,
        }
    }
}

/// How much of a signature's layout the rule states.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    /// Every parameter is named: `args` holds exactly those names.
    pub(crate) names: bool,
    /// Which parameters are indexed is known (events): an indexed dynamic
    /// parameter is the bytes of its hash. Without it, a dynamic
    /// parameter's type is left open.
    pub(crate) indexing: bool,
}

/// `args` for a signature the rule wrote: its parameters by name and by
/// position. `Err` names the first parameter whose type is not an ABI type
/// (`uint257`, a struct name), which nothing could decode.
pub(crate) fn args_type(
    params: &[ParamInfo<'_>],
    layout: Layout,
    what: String,
) -> Result<CelType, String> {
    let mut fields = Vec::with_capacity(params.len() * 2);
    for (i, param) in params.iter().enumerate() {
        let resolved = param_type(param)?;
        let dynamic = !is_word(&resolved);
        let ty = if param.indexed && dynamic {
            CelType::Bytes
        } else if dynamic && !layout.indexing {
            CelType::Dyn
        } else {
            solidity_type(&resolved, param.components, layout.names)
        };
        if !param.name.is_empty() && layout.names {
            fields.push((param.name.to_owned(), ty.clone()));
        }
        fields.push((format!("_{i}"), ty));
    }
    Ok(CelType::Record(Record {
        fields,
        closed: layout.names,
        what: Some(what),
    }))
}

fn param_type(param: &ParamInfo<'_>) -> Result<DynSolType, String> {
    let resolved = if param.components.is_empty() {
        param.ty.resolve()
    } else {
        // A tuple: resolve it through its components, as the ABI does.
        Param {
            ty: param.ty.to_owned(),
            name: String::new(),
            components: param.components.to_vec(),
            internal_type: None,
        }
        .resolve()
    };
    resolved.map_err(|_| {
        let name = if param.name.is_empty() {
            String::new()
        } else {
            format!(" (parameter `{}`)", param.name)
        };
        format!(
            "`{}`{name} is not an ABI type: write uint8..uint256 or int8..int256 in steps of 8, \
             bytes1..bytes32, bytes, string, address, bool, arrays (T[], T[k]) or tuples",
            param.ty
        )
    })
}

/// A type that fits one 32-byte word (an indexed one is its value, not a
/// hash).
fn is_word(ty: &DynSolType) -> bool {
    matches!(
        ty,
        DynSolType::Bool
            | DynSolType::Int(_)
            | DynSolType::Uint(_)
            | DynSolType::FixedBytes(_)
            | DynSolType::Address
            | DynSolType::Function
    )
}

/// The CEL type `Fact::from_abi` gives a decoded value of `ty`. Tuples take
/// their field names from `components` when the rule names them.
fn solidity_type(ty: &DynSolType, components: &[Param], names: bool) -> CelType {
    match ty {
        DynSolType::Bool => CelType::Bool,
        DynSolType::Int(_) | DynSolType::Uint(_) => CelType::Exact,
        DynSolType::Address | DynSolType::String => CelType::String,
        DynSolType::FixedBytes(_) | DynSolType::Bytes | DynSolType::Function => CelType::Bytes,
        DynSolType::Array(element) | DynSolType::FixedArray(element, _) => {
            CelType::List(Box::new(solidity_type(element, components, names)))
        }
        DynSolType::Tuple(types) => {
            let named = names && components.len() == types.len();
            let mut fields = Vec::with_capacity(types.len() * 2);
            for (i, ty) in types.iter().enumerate() {
                let inner = components
                    .get(i)
                    .map(|c| c.components.as_slice())
                    .unwrap_or_default();
                let field = solidity_type(ty, inner, names);
                if let Some(component) = components.get(i).filter(|c| named && !c.name.is_empty()) {
                    fields.push((component.name.clone(), field.clone()));
                }
                fields.push((format!("_{i}"), field));
            }
            CelType::Record(Record {
                fields,
                closed: named,
                what: None,
            })
        }
        #[allow(unreachable_patterns)]
        _ => CelType::Dyn,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_json_abi::Event;

    fn event_args(signature: &str, names: bool) -> Result<CelType, String> {
        let event = Event::parse(signature).unwrap();
        let params: Vec<ParamInfo<'_>> = event.inputs.iter().map(ParamInfo::from).collect();
        args_type(
            &params,
            Layout {
                names,
                indexing: true,
            },
            signature.to_owned(),
        )
    }

    #[test]
    fn solidity_types_map_to_what_the_engine_produces() {
        let args = event_args(
            "event E(address indexed from, uint8 small, int256 signed, bytes32 id, string indexed tag, string note, uint256[] amounts, (address,bool) pair)",
            true,
        )
        .unwrap();
        let CelType::Record(record) = args else {
            panic!("args is a record")
        };
        assert_eq!(record.field("from"), Ok(CelType::String));
        assert_eq!(record.field("small"), Ok(CelType::Exact));
        assert_eq!(record.field("signed"), Ok(CelType::Exact));
        assert_eq!(record.field("id"), Ok(CelType::Bytes));
        assert_eq!(
            record.field("tag"),
            Ok(CelType::Bytes),
            "an indexed string is its hash"
        );
        assert_eq!(record.field("note"), Ok(CelType::String));
        assert_eq!(
            record.field("amounts"),
            Ok(CelType::List(Box::new(CelType::Exact)))
        );
        assert_eq!(record.field("_0"), Ok(CelType::String));
        let Ok(CelType::Record(pair)) = record.field("pair") else {
            panic!("a tuple is a record")
        };
        assert_eq!(pair.field("_1"), Ok(CelType::Bool));
        assert!(pair.field("_2").is_err());
        assert!(record.field("nosuch").is_err());
        assert!(record.field("_8").is_err());
    }

    #[test]
    fn invalid_types_are_named() {
        let error = event_args("event E(uint257 value)", true).unwrap_err();
        assert!(error.contains("`uint257`"), "{error}");
        assert!(event_args("event E(bytes33 b)", true).is_err());
        assert!(event_args("event E(uint7 b)", true).is_err());
    }
}
