//! HTTP for the notifiers: one client setup, one check of configured URLs,
//! one mapping of answers to retry decisions.
//!
//! TLS is Argus's one client setup, [`argus_core::tls`] (rustls with the
//! `ring` provider and the platform's certificate verifier; no process-wide
//! provider is installed).
//! Redirects are not followed: a redirect would carry a signed body to an
//! address nobody configured.
//!
//! Status mapping (the one place): 2xx accepted; 408, 429 and 5xx retried,
//! honouring `Retry-After` (seconds or an HTTP date, at most one hour); any
//! other status refused for good, so it stays visible as `failed`.

use std::time::Duration;

use crate::error::AlertError;
use crate::notify::text::clip;
use crate::notify::{SendError, is_loopback_host};

/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// A reqwest client with rustls/ring, the platform verifier, no redirects.
pub(crate) fn client(notifier: &str, timeout: Duration) -> Result<reqwest::Client, AlertError> {
    let failed = |reason: String| AlertError::NotifierBuild {
        notifier: notifier.to_owned(),
        reason,
    };
    // The error's own words are the reason shown ("cannot load the
    // platform's certificate verifier: ...", "TLS setup failed: ...").
    let tls = argus_core::tls::client_config().map_err(|e| failed(e.to_string()))?;
    argus_core::tls::http_client_builder(&tls)
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("argus/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| failed(format!("HTTP client setup failed: {}", e.without_url())))
}

/// Parses a URL, with an error that does not echo it (it may hold a token).
pub(crate) fn parse_url(
    notifier: &str,
    field: &str,
    url: &str,
) -> Result<reqwest::Url, AlertError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| AlertError::NotifierBuild {
        notifier: notifier.to_owned(),
        reason: format!("{field} is not a URL ({e})"),
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || !parsed.has_host() {
        return Err(AlertError::NotifierBuild {
            notifier: notifier.to_owned(),
            reason: format!("{field} must be an http(s) URL"),
        });
    }
    Ok(parsed)
}

/// Reports the problem of a configured URL (see [`url_problem`]) at
/// `<at>.<field>`.
pub(crate) fn check_url(
    at: &str,
    field: &str,
    url: &str,
    problem: &mut impl FnMut(String, String),
) {
    if let Some(message) = url_problem(url) {
        problem(format!("{at}.{field}"), message);
    }
}

/// What is wrong with a configured URL: not a URL, not http(s), or plain
/// http to a host other than localhost.
fn url_problem(url: &str) -> Option<String> {
    match reqwest::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.has_host() => {
            if parsed.scheme() == "http" && !parsed.host_str().is_some_and(is_loopback_host) {
                Some("plain http is allowed only to localhost; use https".to_owned())
            } else {
                None
            }
        }
        Ok(_) => Some("must be an http(s) URL with a host".to_owned()),
        Err(error) => Some(format!("not a URL ({error})")),
    }
}

/// Sends a request and maps the answer (see the module docs).
pub(crate) async fn send(request: reqwest::RequestBuilder) -> Result<(), SendError> {
    let response = request.send().await.map_err(describe_transport_error)?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let header_wait = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    let body = response.text().await.unwrap_or_default();
    let body_wait = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.pointer("/parameters/retry_after")?.as_u64())
        .map(Duration::from_secs);
    let snippet = clip(body.trim(), 200);
    let message = if snippet.is_empty() {
        format!("the sink answered {status}")
    } else {
        format!("the sink answered {status}: {snippet}")
    };
    let code = status.as_u16();
    let retryable = code == 408 || code == 429 || status.is_server_error();
    Err(SendError {
        retryable,
        retry_after: header_wait
            .or(body_wait)
            .filter(|_| retryable)
            .map(|d| d.min(MAX_RETRY_AFTER)),
        message: if retryable || !status.is_redirection() {
            message
        } else {
            format!("{message}; redirects are not followed, configure the final address")
        },
    })
}

fn describe_transport_error(error: reqwest::Error) -> SendError {
    let what = if error.is_timeout() {
        "the request timed out"
    } else if error.is_connect() {
        "could not connect to the sink"
    } else if error.is_body() || error.is_decode() {
        "the connection broke during the exchange"
    } else {
        "the request failed"
    };
    // `without_url`: Slack, Discord and Telegram URLs carry tokens.
    let error = error.without_url();
    let mut chain = Vec::new();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        chain.push(cause.to_string());
        source = cause.source();
    }
    let detail = chain.last().cloned().unwrap_or_else(|| error.to_string());
    SendError::retry(format!("{what}: {detail}"))
}

/// `Retry-After`: delay-seconds or an HTTP date.
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    let wait = at.duration_since(jiff::Timestamp::now());
    Duration::try_from(wait).ok().or(Some(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn plain_http_is_allowed_only_to_localhost() {
        assert_eq!(url_problem("https://hooks.example/x"), None);
        assert_eq!(url_problem("http://127.0.0.1:8080/x"), None);
        assert_eq!(url_problem("http://localhost/x"), None);
        assert_eq!(
            url_problem("http://hooks.example/x").as_deref(),
            Some("plain http is allowed only to localhost; use https")
        );
        assert_eq!(
            url_problem("ftp://hooks.example/x").as_deref(),
            Some("must be an http(s) URL with a host")
        );
        assert!(url_problem("hooks.example").is_some_and(|m| m.starts_with("not a URL (")));
    }
}
