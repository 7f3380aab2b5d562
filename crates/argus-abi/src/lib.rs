//! Interfaces across a whole infrastructure.
//!
//! A compiler refuses two functions with one selector inside one contract; it
//! knows nothing of the other contracts of the same protocol, of the proxy in
//! front of an implementation, or of the monitoring that decodes all of them
//! with one table. This crate holds every interface of an infrastructure in one
//! [`InterfaceSet`] and lints it as a whole: selector and topic collisions,
//! names reused for different interfaces, and one interface declared with
//! different parameters or indexing in different places.
//!
//! Selectors, topics and ABI parsing are alloy's; nothing here re-implements
//! them.

pub mod ast;
pub mod decode;
mod interface;
pub mod lint;
pub mod report;
mod signature_list;
pub mod synthetic;

pub use decode::{
    AbiIndex, AbiValue, DecodeError, DecodedArg, DecodedCall, DecodedLog, DecodedRevert,
    SkippedItem,
};
pub use interface::{
    InterfaceSet, ItemKind, ListedSignature, Origin, Role, Source, SourceId, SourceItems,
};
pub use lint::{
    Finding, Level, LintOptions, LintReport, Location, Rule, SilentFunction, lint,
    lint_with_functions,
};
pub use signature_list::{SignatureListError, parse_signature_list};
