//! Who is calling: bearer tokens, roles, TOTP, rate limits, and what a
//! failed authentication leaves behind.
//!
//! Every `/api/*` route, `/api/events` and `/metrics` go through
//! [`authenticate`]; it puts a [`Caller`] into the request's extensions or
//! answers itself. In order, and why in this order:
//!
//! 1. **The failure gate** (by client address): an address with five failed
//!    authentications this minute is refused before its token is read, so
//!    guessing costs the guesser a minute per five tries and the server
//!    nothing.
//! 2. **The request bucket** (`server.rate_limit`, by client address).
//! 3. **The token**: `Authorization: Bearer argus_<id>_<secret>`; the row
//!    of `<id>` is read on *every* request (cheap, and a revocation holds
//!    from the next request on), then the secret is checked against its
//!    Argon2id hash, unless the same token text verified less than
//!    [`VERIFIED_FOR`] ago (kept by its SHA-256, never in clear), so a
//!    dashboard's polling does not cost an Argon2 run per request.
//! 4. **A TOTP code**, when `X-Argus-Totp` is sent on a write: checked (and
//!    spent: a code works once) here, required by the handlers that need
//!    it ([`Caller::require_totp`]).
//!
//! Roles are checked by each write handler ([`Caller::require`]), so the
//! role a route needs is written beside the route's code and its OpenAPI
//! entry. Every failure answers the same `401 unauthorized` body, whatever
//! was wrong (a prober learns nothing); a failure — a token presented that
//! is malformed, unknown, revoked, expired or wrong, or a bad TOTP code,
//! not a request without any token — is counted
//! (`argus_api_auth_failures_total`), sent to the node's signal task as
//! `authentication_failures` (so a rule can page on brute force) and
//! written to the audit log through the [`AuditSink`] the daemon gives —
//! with the client's address and the failure's class, never the presented
//! token.

pub(crate) mod limit;
pub mod tokens;
pub mod totp;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argus_core::Signal;
use argus_sources::Sample;
use axum::extract::{ConnectInfo, FromRequestParts, RawQuery, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;
use zeroize::Zeroizing;

pub use limit::RateLimit;

use crate::error::AppError;
use crate::state::AppState;

/// The header a TOTP code comes in.
pub const TOTP_HEADER: &str = "x-argus-totp";
/// How long a verified token text is trusted without another Argon2 run.
pub const VERIFIED_FOR: Duration = Duration::from_secs(60);
/// Verified token texts remembered at once.
const MAX_VERIFIED: usize = 1024;
/// The signal each failed authentication sends.
pub const FAILURE_SIGNAL: &str = "authentication_failures";

/// What a token may do; each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Every read.
    Viewer,
    /// Reads, acknowledgements, notes, silences.
    Responder,
    /// Everything, approvals included.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Responder => "responder",
            Self::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "viewer" => Ok(Self::Viewer),
            "responder" => Ok(Self::Responder),
            "admin" => Ok(Self::Admin),
            _ => Err("a role is viewer, responder or admin".to_owned()),
        }
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub token_id: String,
    /// The token's owner.
    pub name: String,
    pub role: Role,
    /// Whether the token has TOTP enrolled.
    pub totp_enrolled: bool,
    /// Whether this request carried a valid, unspent TOTP code.
    pub totp_ok: bool,
}

impl Caller {
    /// Who the timeline and the audit log name: the token's owner, as
    /// given to `argus tokens create --name`. The same name the CLI takes
    /// from `$USER`, with no prefix, so an approval counts once per person
    /// whether it came over the API or from a shell.
    pub fn actor(&self) -> String {
        self.name.clone()
    }

    /// A 403 naming the role needed when this caller's is lower.
    pub(crate) fn require(&self, role: Role) -> Result<(), AppError> {
        if self.role >= role {
            Ok(())
        } else {
            Err(AppError::Forbidden {
                needed: role,
                have: self.role,
            })
        }
    }

    /// A TOTP code checked on this request: 403 when the token has none
    /// enrolled, 401 `totp_required` when none was sent.
    pub(crate) fn require_totp(&self) -> Result<(), AppError> {
        if !self.totp_enrolled {
            return Err(AppError::TotpNotEnrolled);
        }
        if self.totp_ok {
            Ok(())
        } else {
            Err(AppError::TotpRequired)
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or(AppError::Unauthorized)
    }
}

/// One entry for the audit log, as the server asks for it.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// Who: the token's owner, or `client:<address>` for a failure.
    pub actor: String,
    /// What, e.g. `auth.failure`, `silence.add`.
    pub action: String,
    pub reason: String,
    pub details: Value,
}

/// Where the server's audit entries go: the daemon gives its audit trail
/// (the binary owns the log's key); `record` runs on the blocking pool.
pub trait AuditSink: Send + Sync + 'static {
    /// Appends `record`; the error says why it could not.
    fn record(&self, record: &AuditRecord) -> Result<(), String>;
}

/// What the binary gives the server for authentication.
#[derive(Clone, Default)]
pub struct AuthConfig {
    pub rate_limit: RateLimit,
    /// The vault's `argus.totp-key` (TOTP secrets are sealed under it);
    /// without it a TOTP-gated write answers 503.
    pub totp_key: Option<Arc<Zeroizing<[u8; 32]>>>,
    pub audit: Option<Arc<dyn AuditSink>>,
    /// The node's signal inlet, for `authentication_failures`.
    pub signals: Option<mpsc::Sender<Sample>>,
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("rate_limit", &self.rate_limit)
            .field("totp_key", &self.totp_key.is_some())
            .field("audit", &self.audit.is_some())
            .field("signals", &self.signals.is_some())
            .finish()
    }
}

/// The authentication state of a running server.
pub(crate) struct Auth {
    config: AuthConfig,
    limiter: limit::Limiter,
    /// SHA-256 of a verified token text → its id and when it verified.
    verified: Mutex<HashMap<[u8; 32], (String, Instant)>>,
    replay: totp::Replay,
    failures: AtomicU64,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Auth {
    pub(crate) fn new(config: AuthConfig) -> Self {
        Self {
            limiter: limit::Limiter::new(config.rate_limit),
            config,
            verified: Mutex::default(),
            replay: totp::Replay::default(),
            failures: AtomicU64::new(0),
        }
    }

    /// Failed authentications since the server started.
    pub(crate) fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    pub(crate) fn audit(&self) -> Option<&Arc<dyn AuditSink>> {
        self.config.audit.as_ref()
    }

    fn was_verified(&self, key: &[u8; 32], id: &str, now: Instant) -> bool {
        let verified = self
            .verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        verified.get(key).is_some_and(|(seen, at)| {
            seen == id && now.saturating_duration_since(*at) < VERIFIED_FOR
        })
    }

    fn remember(&self, key: [u8; 32], id: &str, now: Instant) {
        let mut verified = self
            .verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if verified.len() >= MAX_VERIFIED {
            verified.retain(|_, (_, at)| now.saturating_duration_since(*at) < VERIFIED_FOR);
            if verified.len() >= MAX_VERIFIED {
                verified.clear();
            }
        }
        verified.insert(key, (id.to_owned(), now));
    }
}

/// Why an authentication failed: what the audit entry and the log say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    Malformed,
    Unknown,
    Revoked,
    Expired,
    WrongSecret,
    TotpInvalid,
}

impl Failure {
    fn class(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::Unknown => "unknown_token",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
            Self::WrongSecret => "wrong_secret",
            Self::TotpInvalid => "totp_invalid",
        }
    }
}

/// The client's address: the socket's peer (`ConnectInfo`), when served.
fn client_of(request: &Request) -> Option<IpAddr> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip())
}

/// The middleware of every authenticated route.
pub(crate) async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let client = client_of(&request);
    let writes = !matches!(*request.method(), Method::GET | Method::HEAD);
    match check(&state, client, request.headers(), writes).await {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(error) => error.into_response(),
    }
}

async fn check(
    state: &AppState,
    client: Option<IpAddr>,
    headers: &HeaderMap,
    writes: bool,
) -> Result<Caller, AppError> {
    let auth = state.auth();
    let now = Instant::now();
    if let Some(ip) = client {
        auth.limiter
            .gate(ip, now)
            .and_then(|()| auth.limiter.take(ip, now))
            .map_err(|retry_after| AppError::RateLimited { retry_after })?;
    }
    let presented = match headers.get(header::AUTHORIZATION) {
        // No token is no attempt: a browser or a scraper before it is set
        // up. Refused the same way, but neither counted nor audited, so the
        // failure signal means someone presented a token that is wrong.
        None => return Err(AppError::Unauthorized),
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|text| {
                let (scheme, token) = text.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .ok_or_else(|| failed(state, client, Failure::Malformed))?,
    };
    let Some((id, secret)) = tokens::split(presented) else {
        return Err(failed(state, client, Failure::Malformed));
    };
    let id = id.to_owned();
    let lookup_id = id.clone();
    let stored = state
        .read(move |conn| Ok(tokens::lookup(conn, &lookup_id)?))
        .await?;
    let Some(stored) = stored else {
        return Err(failed(state, client, Failure::Unknown));
    };
    let now_ms = state.now_ms();
    if stored.info.revoked_at_ms.is_some() {
        return Err(failed(state, client, Failure::Revoked));
    }
    if !stored.info.is_active(now_ms) {
        return Err(failed(state, client, Failure::Expired));
    }
    let key: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    if !auth.was_verified(&key, &id, now) {
        let hash = stored.secret_hash.clone();
        let secret = Zeroizing::new(secret.to_owned());
        let good = state
            .blocking(move || Ok(tokens::verify(&hash, &secret)))
            .await?;
        if !good {
            return Err(failed(state, client, Failure::WrongSecret));
        }
        auth.remember(key, &id, now);
        if !state.store().is_read_only() {
            let touch_id = id.clone();
            // A use not noted is no reason to refuse the request.
            if let Err(error) = state
                .read(move |conn| Ok(tokens::touch(conn, &touch_id, now_ms)?))
                .await
            {
                tracing::debug!("cannot note a token's use: {error}");
            }
        }
    }
    let mut caller = Caller {
        token_id: id,
        name: stored.info.name.clone(),
        role: stored.info.role,
        totp_enrolled: stored.totp_sealed.is_some(),
        totp_ok: false,
    };
    if writes && let Some(code) = headers.get(TOTP_HEADER) {
        let Some(sealed) = &stored.totp_sealed else {
            return Err(AppError::TotpNotEnrolled);
        };
        let Some(totp_key) = &auth.config.totp_key else {
            return Err(AppError::TotpUnavailable);
        };
        let secret = tokens::totp_secret(&caller.token_id, sealed, totp_key)?;
        let unix = u64::try_from(now_ms / 1000).unwrap_or(0);
        let step = code
            .to_str()
            .ok()
            .and_then(|code| totp::matching_step(&secret, code.trim(), unix));
        match step {
            Some(step) if auth.replay.accept(&caller.token_id, step) => caller.totp_ok = true,
            _ => return Err(failed(state, client, Failure::TotpInvalid)),
        }
    }
    Ok(caller)
}

/// Counts, signals and audits a failed authentication; the one answer.
fn failed(state: &AppState, client: Option<IpAddr>, why: Failure) -> AppError {
    let auth = state.auth();
    auth.failures.fetch_add(1, Ordering::Relaxed);
    let client_text = client.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    tracing::warn!(client = %client_text, class = why.class(), "API authentication failed");
    if let Some(ip) = client {
        auth.limiter.failed(ip, Instant::now());
    }
    let now_ms = state.now_ms();
    if let Some(signals) = &auth.config.signals {
        let labels = BTreeMap::from([
            ("source".to_owned(), "api".to_owned()),
            ("client".to_owned(), client_text.clone()),
        ]);
        let sample = Sample::Signal(Signal {
            name: FAILURE_SIGNAL.to_owned(),
            value: 1.0,
            labels,
            at_ms: now_ms,
        });
        if signals.try_send(sample).is_err() {
            tracing::warn!(
                "the signal task is not taking samples; an authentication failure was not counted by the rules"
            );
        }
    }
    if let Some(sink) = auth.config.audit.clone() {
        let record = AuditRecord {
            actor: format!("client:{client_text}"),
            action: "auth.failure".to_owned(),
            reason: why.class().to_owned(),
            details: json!({ "client": client_text, "class": why.class() }),
        };
        tokio::task::spawn_blocking(move || {
            if let Err(error) = sink.record(&record) {
                tracing::warn!("an authentication failure could not be audited: {error}");
            }
        });
    }
    if why == Failure::TotpInvalid {
        AppError::TotpInvalid
    } else {
        AppError::Unauthorized
    }
}

/// `GET /api/session`: who the token is.
pub(crate) async fn session(
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<axum::Json<Value>, AppError> {
    crate::params::Params::parse(query.as_deref(), &[])?;
    Ok(axum::Json(json!({
        "name": caller.name,
        "role": caller.role,
        "totp": caller.totp_enrolled,
    })))
}
