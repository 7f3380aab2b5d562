//! The one TLS client setup of Argus (cargo feature `tls`, off by default).
//!
//! Every HTTPS and WSS connection Argus opens (the chain's nodes, the alert
//! notifiers' webhooks and APIs) goes through [`client_config`]: rustls with
//! the `ring` provider (never aws-lc: its C build costs minutes), the safe
//! default protocol versions, and the operating system's roots and
//! revocation checks through rustls-platform-verifier. It is one function so
//! that the trust decisions are made in one place: a fix or a hardening
//! reaches every client at once, and no crate can drift to another provider or
//! root store. The config is handed to each client, so no process-wide
//! provider has to be installed.
//!
//! [`http_client_builder`] is a reqwest builder on that config; each caller
//! adds its own timeouts and limits. Email is the exception: lettre builds
//! its own rustls config and accepts none from outside, so `argus-alerting`
//! enables lettre's `ring` and `rustls-platform-verifier` features to get the
//! same provider and roots.
//!
//! The feature is off by default so the rest of core stays free of I/O and of
//! these dependencies for the crates that never talk to the network.
//!
//! The server side (the HTTP API's certificate and key) is [`server`]: the
//! same provider and protocol versions, the operator's PEM files.

use std::sync::Arc;

pub mod server;
pub use server::{ServerTlsError, server_config};

pub use rustls::ClientConfig;
use rustls_platform_verifier::BuilderVerifierExt as _;

/// Why the TLS client setup failed (the platform has no usable roots, or
/// the provider lacks what the protocol versions need).
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The provider cannot offer the safe default protocol versions.
    #[error("TLS setup failed: {source}")]
    Protocols {
        /// What rustls said.
        source: rustls::Error,
    },
    /// The platform's certificate verifier could not be loaded.
    #[error("cannot load the platform's certificate verifier: {source}")]
    Verifier {
        /// What rustls said.
        source: rustls::Error,
    },
}

impl TlsError {
    /// What rustls said, without this setup's own words.
    pub fn cause(&self) -> &rustls::Error {
        match self {
            Self::Protocols { source } | Self::Verifier { source } => source,
        }
    }
}

/// The client config: rustls with `ring`, the safe default protocol versions
/// (TLS 1.2 and 1.3), the platform verifier, no client certificate.
pub fn client_config() -> Result<Arc<ClientConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|source| TlsError::Protocols { source })?
        .with_platform_verifier()
        .map_err(|source| TlsError::Verifier { source })?
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A reqwest client builder that uses `config` for TLS (and nothing else:
/// timeouts, redirects and the user agent are the caller's).
pub fn http_client_builder(config: &ClientConfig) -> reqwest::ClientBuilder {
    reqwest::Client::builder().tls_backend_preconfigured(config.clone())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_config_uses_ring_and_builds_a_client() {
        let config = client_config().unwrap();
        let ring = rustls::crypto::ring::default_provider();
        let suites = |p: &rustls::crypto::CryptoProvider| {
            p.cipher_suites
                .iter()
                .map(|s| s.suite())
                .collect::<Vec<_>>()
        };
        assert_eq!(suites(config.crypto_provider()), suites(&ring));
        assert!(config.alpn_protocols.is_empty());
        http_client_builder(&config).build().unwrap();
    }
}
