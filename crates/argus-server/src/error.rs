//! Every error the server can meet, and the one place each becomes an HTTP
//! status.
//!
//! A handler returns `Result<_, AppError>`; [`AppError`]'s `IntoResponse`
//! is the only code that picks a status, so a stage error is classified
//! once (a missing incident is 404 whichever route asked) and every error
//! body has the same shape: `{"error": "<code>", "detail": "<what was
//! wrong and what to do>"}`. A client's mistake is 4xx with a message
//! naming the parameter; the store being busy is 503 (worth retrying);
//! anything else is 500 with the stage's message, which names no secret
//! (the stages' errors never carry one).

use std::net::SocketAddr;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// What a request could not get.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A query parameter or path segment that does not parse or is not
    /// allowed.
    #[error("{param}: {detail}")]
    BadRequest { param: String, detail: String },
    /// Nothing has this id, label or path.
    #[error("{detail}")]
    NotFound { detail: String },
    /// Several things match a name.
    #[error("{detail}")]
    Ambiguous { detail: String },
    #[error(transparent)]
    Store(#[from] argus_store::StoreError),
    #[error(transparent)]
    Registry(#[from] argus_registry::RegistryError),
    #[error(transparent)]
    Alerting(#[from] argus_alerting::AlertError),
    #[error(transparent)]
    Incident(#[from] argus_incident::IncidentError),
    #[error(transparent)]
    Chain(#[from] argus_chain::DbError),
    #[error(transparent)]
    Audit(#[from] argus_audit::AuditError),
    #[error(transparent)]
    Signals {
        #[from]
        source: argus_sources::db::DbError,
    },
    /// A blocking read panicked or was cancelled.
    #[error("a read of the store stopped: {detail}")]
    Task { detail: String },
}

impl AppError {
    /// A bad parameter, its value shortened for the message.
    pub(crate) fn bad(param: &str, detail: impl Into<String>) -> Self {
        Self::BadRequest {
            param: param.to_owned(),
            detail: detail.into(),
        }
    }

    pub(crate) fn not_found(detail: impl Into<String>) -> Self {
        Self::NotFound {
            detail: detail.into(),
        }
    }

    /// The status and the short code of the body's `error`.
    pub fn status(&self) -> (StatusCode, &'static str) {
        use argus_incident::IncidentError as I;
        use argus_registry::RegistryError as R;
        match self {
            Self::BadRequest { .. } => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::NotFound { .. }
            | Self::Registry(R::NotFound { .. })
            | Self::Incident(I::NotFound { .. } | I::NoStep { .. }) => {
                (StatusCode::NOT_FOUND, "not_found")
            }
            Self::Ambiguous { .. } | Self::Registry(R::Ambiguous { .. }) => {
                (StatusCode::CONFLICT, "ambiguous")
            }
            Self::Store(error) if error.is_busy() => {
                (StatusCode::SERVICE_UNAVAILABLE, "store_busy")
            }
            Self::Store(argus_store::StoreError::Missing { .. }) => {
                (StatusCode::SERVICE_UNAVAILABLE, "no_database")
            }
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = self.status();
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), "request failed: {self}");
        }
        let detail = match &self {
            Self::BadRequest { param, detail } => format!("`{param}`: {detail}"),
            other => other.to_string(),
        };
        (status, Json(json!({ "error": code, "detail": detail }))).into_response()
    }
}

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The listen address is refused by policy (not loopback, no TLS).
    #[error("cannot listen on {listen}: {why}")]
    Refused { listen: SocketAddr, why: String },
    /// The socket could not be bound.
    #[error("cannot listen on {listen}: {source}; is another process using the port?")]
    Bind {
        listen: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The certificate or key cannot be used.
    #[error("cannot serve TLS: {source}")]
    Tls {
        #[source]
        source: argus_core::tls::ServerTlsError,
    },
    /// Serving failed.
    #[error("the HTTP server stopped: {source}")]
    Serve {
        #[source]
        source: std::io::Error,
    },
}
