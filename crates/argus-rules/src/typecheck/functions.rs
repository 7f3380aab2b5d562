//! The functions a rule expression may call: the overloads of the engine's
//! CEL environment, as the checker sees them.

use crate::cel_type::CelType;

/// The kinds a function's parameters take.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Kind {
    Any,
    Bool,
    Int,
    UInt,
    Double,
    Exact,
    String,
    Bytes,
    List,
    Map,
}

impl Kind {
    pub(super) fn accepts(self, ty: &CelType) -> bool {
        matches!(
            (self, ty.non_null()),
            (Kind::Any, _)
                | (_, CelType::Dyn)
                | (Kind::Bool, CelType::Bool)
                | (Kind::Int, CelType::Int)
                | (Kind::UInt, CelType::UInt)
                | (Kind::Double, CelType::Double)
                | (Kind::Exact, CelType::Exact)
                | (Kind::String, CelType::String)
                | (Kind::Bytes, CelType::Bytes)
                | (Kind::List, CelType::List(_))
                | (Kind::Map, CelType::Map(_) | CelType::Record(_))
        )
    }

    pub(super) fn result(self) -> CelType {
        match self {
            Kind::Any => CelType::Dyn,
            Kind::Bool => CelType::Bool,
            Kind::Int => CelType::Int,
            Kind::UInt => CelType::UInt,
            Kind::Double => CelType::Double,
            Kind::Exact => CelType::Exact,
            Kind::String => CelType::String,
            Kind::Bytes => CelType::Bytes,
            Kind::List => CelType::List(Box::new(CelType::Dyn)),
            Kind::Map => CelType::Map(Box::new(CelType::Dyn)),
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Kind::Any => "any",
            Kind::Bool => "bool",
            Kind::Int => "int",
            Kind::UInt => "uint",
            Kind::Double => "double",
            Kind::Exact => "uint256",
            Kind::String => "string",
            Kind::Bytes => "bytes",
            Kind::List => "list",
            Kind::Map => "map",
        }
    }
}

/// One overload: the name, whether it is called on a target (`x.size()`),
/// its parameters (the target first) and its result.
pub(super) struct Overload {
    pub(super) name: &'static str,
    pub(super) member: bool,
    pub(super) params: &'static [Kind],
    pub(super) result: Kind,
}

const fn global(name: &'static str, params: &'static [Kind], result: Kind) -> Overload {
    Overload {
        name,
        member: false,
        params,
        result,
    }
}

const fn member(name: &'static str, params: &'static [Kind], result: Kind) -> Overload {
    Overload {
        name,
        member: true,
        params,
        result,
    }
}

/// The functions of the engine's environment: CEL's standard library as the
/// `cel` crate registers it (without timestamps and durations, which the
/// build leaves out) and ours (`exact_int::register`).
pub(super) const FUNCTIONS: &[Overload] = {
    use Kind::*;
    &[
        global("uint256", &[String], Exact),
        global("uint256", &[Int], Exact),
        global("uint256", &[UInt], Exact),
        global("uint256", &[Exact], Exact),
        global("int256", &[String], Exact),
        global("int256", &[Int], Exact),
        global("ether", &[String], Exact),
        global("gwei", &[String], Exact),
        global("address", &[String], String),
        global("string", &[String], String),
        global("string", &[Bool], String),
        global("string", &[Int], String),
        global("string", &[UInt], String),
        global("string", &[Double], String),
        global("string", &[Bytes], String),
        global("string", &[Exact], String),
        global("int", &[Int], Int),
        global("int", &[UInt], Int),
        global("int", &[Double], Int),
        global("int", &[String], Int),
        global("uint", &[UInt], UInt),
        global("uint", &[Int], UInt),
        global("uint", &[Double], UInt),
        global("uint", &[String], UInt),
        global("double", &[Double], Double),
        global("double", &[Int], Double),
        global("double", &[UInt], Double),
        global("double", &[String], Double),
        global("bool", &[Bool], Bool),
        global("bool", &[String], Bool),
        global("bytes", &[String], Bytes),
        global("bytes", &[Bytes], Bytes),
        global("size", &[String], Int),
        global("size", &[Bytes], Int),
        global("size", &[List], Int),
        global("size", &[Map], Int),
        global("matches", &[String, String], Bool),
        global("dyn", &[Any], Any),
        global("type", &[Any], Any),
        global("optional.none", &[], Any),
        global("optional.of", &[Any], Any),
        global("optional.ofNonZeroValue", &[Any], Any),
        member("size", &[String], Int),
        member("size", &[Bytes], Int),
        member("size", &[List], Int),
        member("size", &[Map], Int),
        member("contains", &[String, String], Bool),
        member("startsWith", &[String, String], Bool),
        member("endsWith", &[String, String], Bool),
        member("matches", &[String, String], Bool),
        member("value", &[Any], Any),
        member("hasValue", &[Any], Bool),
        member("or", &[Any, Any], Any),
        member("orValue", &[Any, Any], Any),
    ]
};

/// The names a rule can call, for messages.
pub(super) fn function_names(member_calls: bool) -> String {
    let mut names: Vec<&str> = FUNCTIONS
        .iter()
        .filter(|o| o.member == member_calls && !o.name.starts_with("optional."))
        .map(|o| o.name)
        .collect();
    names.dedup();
    names.join(", ")
}
