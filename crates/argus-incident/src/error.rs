//! What can go wrong with incidents.

/// An incident operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum IncidentError {
    #[error("the incident store could not {action}: {source}")]
    Db {
        action: &'static str,
        #[source]
        source: argus_store::StoreError,
    },
    #[error(transparent)]
    Store(#[from] argus_store::StoreError),
    #[error(transparent)]
    Alerting(#[from] argus_alerting::AlertError),
    /// No incident has this number.
    #[error("there is no incident {id}; `argus incidents list` shows them")]
    NotFound { id: i64 },
    /// The incident has no such step.
    #[error("incident {id} has no step `{step}`; `argus incidents show {id}` lists its steps")]
    NoStep { id: i64, step: String },
    /// A change the incident's state does not allow.
    #[error("incident {id} is {state}: {what}")]
    Transition {
        id: i64,
        state: crate::IncidentState,
        what: String,
    },
    /// An approval that cannot count.
    #[error("incident {id}, step {step}: {why}")]
    Approval { id: i64, step: String, why: String },
    /// A stored value that does not read back (a damaged or newer database).
    #[error("the incident store holds an unreadable {what}: {detail}")]
    Corrupt { what: &'static str, detail: String },
}

impl IncidentError {
    pub(crate) fn db(action: &'static str) -> impl FnOnce(argus_store::StoreError) -> Self {
        move |source| Self::Db { action, source }
    }
}
