//! One module per subcommand.

pub(crate) mod alerts;
pub(crate) mod audit;
pub(crate) mod backup;
pub(crate) mod bench;
pub(crate) mod doctor;
pub(crate) mod drill;
pub(crate) mod incident_report;
pub(crate) mod incidents;
pub(crate) mod keys;
pub(crate) mod keys_sign;
pub(crate) mod lint;
pub(crate) mod metrics;
pub(crate) mod records;
pub(crate) mod registry;
pub(crate) mod replay;
pub(crate) mod rules;
pub(crate) mod run;
pub(crate) mod run_output;
pub(crate) mod serve;
pub(crate) mod status;
pub(crate) mod tokens;
pub(crate) mod validate;
