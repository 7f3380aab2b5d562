//! Request bodies of the write routes: JSON, small, strict.
//!
//! The counterpart of [`crate::params`] for bodies: `Content-Type:
//! application/json` is required (a form post from another site cannot
//! reach a write route as a "simple" cross-origin request), a body is read
//! up to [`MAX_BODY`] bytes and refused past it, and each route's body type
//! denies unknown fields, so a misspelt `reson` is a 400 naming it rather
//! than a silently dropped reason. An empty body is the body type's
//! default (`{}`), for the writes whose fields are all optional.

use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;

use crate::error::AppError;
use crate::params::shorten;

/// The largest body a write route reads.
pub(crate) const MAX_BODY: usize = 16 * 1024;

/// A route's JSON body.
#[derive(Debug)]
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(request: Request, _: &S) -> Result<Self, AppError> {
        let json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        let bytes = axum::body::to_bytes(request.into_body(), MAX_BODY)
            .await
            .map_err(|_| {
                AppError::bad(
                    "body",
                    format!(
                        "is larger than {} KiB or did not arrive whole",
                        MAX_BODY / 1024
                    ),
                )
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        if !json {
            return Err(AppError::bad(
                "Content-Type",
                "send the body as JSON with `Content-Type: application/json`",
            ));
        }
        serde_json::from_slice(&bytes)
            .map(Self)
            .map_err(|error| AppError::bad("body", shorten(&error.to_string())))
    }
}
