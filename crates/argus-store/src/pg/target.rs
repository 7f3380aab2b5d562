//! Where a PostgreSQL database is and how to reach it: the URL's settings,
//! and TLS as its `sslmode` asks.

use std::path::Path;

use crate::StoreError;

/// Where a database is and how to reach it: the connection settings and,
/// when the URL asks for it, TLS (the server's certificate verified).
#[derive(Clone)]
pub(crate) struct PgTarget {
    pub(crate) config: postgres::Config,
    pub(crate) tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
}

impl std::fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTarget")
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl PgTarget {
    /// A new session.
    pub(crate) fn connect(&self) -> Result<postgres::Client, postgres::Error> {
        match &self.tls {
            Some(tls) => self.config.connect(tls.clone()),
            None => self.config.connect(postgres::NoTls),
        }
    }
}

impl PgTarget {
    /// The settings of `url`, with TLS as its `sslmode` asks (libpq's
    /// names): none without one or with `disable`; with `verify-full` (or
    /// `require`, `verify-ca`: Argus never talks TLS to a server it has not
    /// verified, so the three mean the same) the server's certificate is
    /// checked, name included, against the PEM file `sslrootcert` names or
    /// else the system's roots. `prefer` and `allow` are refused: they fall
    /// back to plain text without saying so.
    pub(crate) fn from_url(url: &str) -> Result<Self, StoreError> {
        let bad_url = || StoreError::Config {
            detail: format!(
                "`{}` is not a PostgreSQL connection URL (postgres://user@host:port/database)",
                crate::redact_url(url)
            ),
        };
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut kept = Vec::new();
        let (mut mode, mut roots) = (None, None);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=').unwrap_or((pair, "")) {
                ("sslmode", value) => mode = Some(value.to_owned()),
                ("sslrootcert", value) => roots = Some(percent_decode(value).ok_or_else(bad_url)?),
                _ => kept.push(pair),
            }
        }
        let rest = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        let mut config: postgres::Config = rest.parse().map_err(|_| bad_url())?;
        let tls = match mode.as_deref() {
            None | Some("disable") => {
                if roots.is_some() {
                    return Err(StoreError::Config {
                        detail: "sslrootcert is given but TLS is not: add sslmode=verify-full to the URL"
                            .to_owned(),
                    });
                }
                config.ssl_mode(postgres::config::SslMode::Disable);
                None
            }
            Some("verify-full" | "verify-ca" | "require") => {
                let client = match &roots {
                    Some(path) => argus_core::tls::client_config_with_roots(Path::new(path)),
                    None => argus_core::tls::client_config(),
                }
                .map_err(|error| StoreError::Config {
                    detail: format!("TLS to PostgreSQL: {error}"),
                })?;
                config.ssl_mode(postgres::config::SslMode::Require);
                Some(tokio_postgres_rustls::MakeRustlsConnect::new(
                    (*client).clone(),
                ))
            }
            Some(other) => {
                return Err(StoreError::Config {
                    detail: format!(
                        "sslmode={other} is not supported: Argus either verifies the server's \
                         certificate (sslmode=verify-full, with sslrootcert=CA.pem for a private CA) \
                         or does not use TLS (sslmode=disable)"
                    ),
                });
            }
        };
        Ok(Self { config, tls })
    }
}

/// `%XX` escapes decoded (a path in a URL's query); `None` when one is
/// broken or the result is not UTF-8.
fn percent_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_s_tls_settings_are_taken_out_and_the_rest_parsed() {
        let target =
            PgTarget::from_url("postgres://argus@db:5432/argus?application_name=x").unwrap();
        assert!(target.tls.is_none());
        assert_eq!(target.config.get_application_name(), Some("x"));
        assert_eq!(
            target.config.get_ssl_mode(),
            postgres::config::SslMode::Disable
        );
        let target = PgTarget::from_url("postgres://argus@db/argus?sslmode=verify-full").unwrap();
        assert!(target.tls.is_some(), "the system's roots");
        assert_eq!(
            target.config.get_ssl_mode(),
            postgres::config::SslMode::Require
        );
        assert_eq!(
            percent_decode("%2Fetc%2Fargus%20ca.pem").as_deref(),
            Some("/etc/argus ca.pem")
        );
        assert_eq!(percent_decode("%2"), None);
        assert_eq!(percent_decode("%zz"), None);
        assert!(PgTarget::from_url("postgres://argus@db/argus?sslrootcert=%zz").is_err());
    }
}
