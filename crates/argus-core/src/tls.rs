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
    /// The file of trusted certificates is missing, unreadable or too large.
    #[error("{source}")]
    RootsRead {
        #[source]
        source: crate::file::ReadFileError,
    },
    /// The file of trusted certificates holds none, or a broken one.
    #[error(
        "the trusted certificates {}: {why}; give a PEM file of the CA certificates that issued the server's",
        path.display()
    )]
    Roots {
        path: std::path::PathBuf,
        why: String,
    },
}

impl TlsError {
    /// What rustls said, without this setup's own words (none for a
    /// problem with the trusted certificates' file).
    pub fn cause(&self) -> Option<&rustls::Error> {
        match self {
            Self::Protocols { source } | Self::Verifier { source } => Some(source),
            Self::RootsRead { .. } | Self::Roots { .. } => None,
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

/// The client config trusting only the CA certificates in the PEM file
/// `roots` (a private CA, such as a database's): ring, the safe default
/// protocol versions, the server's name checked against its certificate.
pub fn client_config_with_roots(roots: &std::path::Path) -> Result<Arc<ClientConfig>, TlsError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let bytes = crate::file::read_capped(roots, crate::file::MAX_KEY_BYTES, "trusted certificates")
        .map_err(|source| TlsError::RootsRead { source })?;
    let bad = |why: String| TlsError::Roots {
        path: roots.to_owned(),
        why,
    };
    let mut store = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&bytes) {
        let cert = cert.map_err(|error| bad(server::pem_problem(&error)))?;
        store
            .add(cert)
            .map_err(|error| bad(format!("a certificate is not usable: {error}")))?;
    }
    if store.is_empty() {
        return Err(bad("no certificate in it".to_owned()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|source| TlsError::Protocols { source })?
        .with_root_certificates(store)
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
