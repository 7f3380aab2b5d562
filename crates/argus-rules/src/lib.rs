//! Detectors: rules written in YAML, conditions in CEL, windows over time.
mod behaviour;
mod binding;
mod directory;
mod engine;
mod exact_int;
mod expression;
mod schema;
mod seed;
pub mod threshold;
mod window;
mod yaml;

pub use behaviour::{CaseReport, TestFileError, TestReport, run_test_file};
pub use directory::{ContractDirectory, ContractEntry};
pub use engine::{Engine, Outcome, RuleError};
pub use exact_int::ExactInt;
pub use schema::{
    Aggregate, ContractRef, Diagnostic, ItemRef, Matcher, Rule, RuleSet, SourceLocation,
};
pub use window::MAX_BASELINE_SAMPLES;
