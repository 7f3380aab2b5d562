//! The TLS *server* side: the HTTP API's certificate and key, read from
//! the PEM files the operator names (`server.tls`, `--tls-cert`,
//! `--tls-key`).
//!
//! It sits beside the client setup so the provider (ring) and the protocol
//! versions of everything Argus speaks TLS with are decided in one file.
//! [`server_config`] is what `argus validate` checks and what the server
//! loads at start, so a config that validates also serves: every way the
//! pair can be wrong (missing or unreadable file, no PEM certificate, no or
//! several keys, a key that does not belong to the certificate) is one
//! [`ServerTlsError`] that names the file and says what to do. The key's
//! bytes are zeroized once parsed; no error carries them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use rustls::ServerConfig;
use rustls::pki_types::pem::{self, PemObject as _};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use zeroize::Zeroizing;

use crate::file::{MAX_KEY_BYTES, ReadFileError, read_capped};

/// Why the certificate and key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ServerTlsError {
    /// A file is missing, unreadable, not a regular file or too large.
    #[error("{source}")]
    Read {
        #[source]
        source: ReadFileError,
    },
    /// The certificate file holds no PEM certificate, or a broken one.
    #[error(
        "the TLS certificate {}: {why}; give a PEM file with `-----BEGIN CERTIFICATE-----` blocks, the server's first",
        path.display()
    )]
    Certificate { path: PathBuf, why: String },
    /// The key file holds no private key, or a broken one.
    #[error(
        "the TLS key {}: {why}; give a PEM file with one unencrypted private key (PKCS#8, PKCS#1 or SEC1)",
        path.display()
    )]
    Key { path: PathBuf, why: String },
    /// The key does not belong to the certificate, or is of a kind the
    /// provider does not support.
    #[error(
        "the TLS key {} does not fit the certificate {}: {why}; give the key the certificate was issued for",
        key.display(), cert.display()
    )]
    Mismatch {
        cert: PathBuf,
        key: PathBuf,
        why: String,
    },
}

/// The server config for the certificate chain in `cert` and the private
/// key in `key` (both PEM): ring, TLS 1.2 and 1.3, HTTP/1.1 by ALPN, no
/// client certificates.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, ServerTlsError> {
    let chain = certificates(cert)?;
    let private = private_key(key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mismatch = |error: rustls::Error| ServerTlsError::Mismatch {
        cert: cert.to_owned(),
        key: key.to_owned(),
        why: error.to_string(),
    };
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(mismatch)?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(mismatch)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, ServerTlsError> {
    let bytes = read_capped(path, MAX_KEY_BYTES, "TLS certificate")
        .map_err(|source| ServerTlsError::Read { source })?;
    let bad = |why: String| ServerTlsError::Certificate {
        path: path.to_owned(),
        why,
    };
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| bad(pem_problem(&error)))?;
    if chain.is_empty() {
        return Err(bad("no certificate in it".to_owned()));
    }
    Ok(chain)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, ServerTlsError> {
    let bytes = Zeroizing::new(
        read_capped(path, MAX_KEY_BYTES, "TLS key")
            .map_err(|source| ServerTlsError::Read { source })?,
    );
    let bad = |why: String| ServerTlsError::Key {
        path: path.to_owned(),
        why,
    };
    let mut keys = PrivateKeyDer::pem_slice_iter(&bytes);
    let key = match keys.next() {
        Some(Ok(key)) => key,
        Some(Err(error)) => return Err(bad(pem_problem(&error))),
        None if bytes
            .windows(b"ENCRYPTED PRIVATE KEY".len())
            .any(|w| w == b"ENCRYPTED PRIVATE KEY") =>
        {
            return Err(bad(
                "the key is encrypted; decrypt it (`openssl pkey -in FILE -out KEY`) and keep the file mode 0600"
                    .to_owned(),
            ));
        }
        None => return Err(bad("no private key in it".to_owned())),
    };
    if keys.next().is_some() {
        return Err(bad("more than one private key in it".to_owned()));
    }
    Ok(key)
}

/// What the PEM parser said, without echoing the file's bytes (a broken
/// key file's line could hold key material).
pub(crate) fn pem_problem(error: &pem::Error) -> String {
    match error {
        pem::Error::MissingSectionEnd { .. } => "a PEM block has no END line".to_owned(),
        pem::Error::IllegalSectionStart { .. } => "a PEM BEGIN line is malformed".to_owned(),
        pem::Error::Base64Decode(_) => "a PEM block is not valid base64".to_owned(),
        pem::Error::NoItemsFound => "nothing of the expected kind in it".to_owned(),
        pem::Error::SectionTooLarge => "a PEM block is too large".to_owned(),
        _ => "it is not PEM".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn testdata(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata/tls")
            .join(name)
    }

    #[test]
    fn a_matching_pair_loads_with_http1_alpn() {
        let config = server_config(&testdata("cert.pem"), &testdata("key.pem")).unwrap();
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }

    #[test]
    fn each_wrong_pair_names_the_file_and_what_to_do() {
        let dir = tempfile_dir();
        let cert = testdata("cert.pem");
        let key = testdata("key.pem");
        let missing = dir.join("missing.pem");
        let error = server_config(&missing, &key).unwrap_err();
        assert!(matches!(error, ServerTlsError::Read { .. }), "{error}");
        assert!(error.to_string().contains("missing.pem"), "{error}");

        let garbage = dir.join("garbage.pem");
        std::fs::write(&garbage, "not a certificate\n").unwrap();
        let error = server_config(&garbage, &key).unwrap_err();
        assert!(error.to_string().contains("no certificate"), "{error}");
        // The key file given as the certificate: no certificate in it.
        let error = server_config(&key, &key).unwrap_err();
        assert!(
            matches!(error, ServerTlsError::Certificate { .. }),
            "{error}"
        );
        // The certificate given as the key: no key in it.
        let error = server_config(&cert, &cert).unwrap_err();
        assert!(error.to_string().contains("no private key"), "{error}");

        let broken = dir.join("broken.pem");
        std::fs::write(
            &broken,
            "-----BEGIN PRIVATE KEY-----\nsecret-material!!\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let error = server_config(&cert, &broken).unwrap_err();
        assert!(error.to_string().contains("base64"), "{error}");
        assert!(!error.to_string().contains("secret-material"), "{error}");

        let error = server_config(&cert, &testdata("other-key.pem")).unwrap_err();
        assert!(matches!(error, ServerTlsError::Mismatch { .. }), "{error}");
        assert!(error.to_string().contains("does not fit"), "{error}");
        let _ = std::fs::remove_dir_all(dir);
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("argus-tls-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
