//! API tokens in the store: made, listed and revoked by `argus tokens`,
//! looked up by the server on each request.
//!
//! A token is `argus_<id>_<secret>`: 12 hex digits of id, so a request costs
//! one row read and at most one Argon2id verification (never a scan over
//! every hash), and 64 hex digits (256 bits) of secret from the OS's
//! generator. Only the secret's Argon2id hash is kept, as a PHC string, so a
//! stolen database lets nobody in; the token text exists once, on the
//! creating command's stdout. A TOTP secret, when enrolled, is sealed with
//! the vault's primitive (ChaCha20-Poly1305) under the key the vault keeps
//! as `argus.totp-key`, the name `argus.totp.<id>` as associated data: a
//! database copied elsewhere holds no usable second factor, and a sealed
//! value moved onto another token's row does not open.
//!
//! Hex, not base64url, because base64url's alphabet holds `_`, the
//! separator.

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argus_store::Connection;
use argus_store::sql::{OptionalExtension as _, params};
use serde::Serialize;
use zeroize::Zeroizing;

use super::Role;

/// The prefix of every token (so secret scanners and people recognise one).
pub const PREFIX: &str = "argus_";
/// The vault secret holding the key TOTP secrets are sealed under.
pub const TOTP_KEY_SECRET: &str = "argus.totp-key";
/// Hex digits of a token's id.
const ID_HEX: usize = 12;
/// Hex digits of a token's secret.
const SECRET_HEX: usize = 64;
/// The longest owner name.
pub const MAX_NAME: usize = 64;

/// Why a token could not be made, listed, found or revoked.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("cannot {action}: {source}")]
    Db {
        action: &'static str,
        #[source]
        source: argus_store::StoreError,
    },
    /// The owner's name is not usable.
    #[error(
        "`{name}` is not a token name: use 1 to {MAX_NAME} letters, digits, `.`, `_`, `-` or `@` \
         (the owner, e.g. alice)"
    )]
    BadName { name: String },
    /// Admin tokens need a second factor, and it needs the vault's key.
    #[error("{role} tokens need TOTP; give --totp and the master key")]
    TotpNeeded { role: Role },
    /// Nothing matched a name or id.
    #[error("no active token is named or numbered `{what}`; `argus tokens list` shows them")]
    NotFound { what: String },
    /// The OS's random generator failed.
    #[error("the system's random generator failed: {detail}")]
    Random { detail: String },
    /// Argon2 refused (never the token's fault).
    #[error("cannot hash the token: {detail}")]
    Hash { detail: String },
    /// A sealed TOTP secret did not open.
    #[error("the TOTP secret of token {id} does not open: {detail}")]
    Sealed { id: String, detail: String },
}

impl TokenError {
    fn db(action: &'static str) -> impl FnOnce(argus_store::StoreError) -> Self {
        move |source| Self::Db { action, source }
    }
}

/// A token as listed: never its hash nor its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    pub id: String,
    /// Its owner.
    pub name: String,
    pub role: Role,
    /// Whether a TOTP secret is enrolled.
    pub totp: bool,
    pub created_at_ms: i64,
    /// The OS user who made it.
    pub created_by: String,
    pub expires_at_ms: Option<i64>,
    pub revoked_at_ms: Option<i64>,
    pub last_used_at_ms: Option<i64>,
}

impl TokenInfo {
    /// Usable at `now_ms`: not revoked, not expired.
    pub fn is_active(&self, now_ms: i64) -> bool {
        self.revoked_at_ms.is_none() && self.expires_at_ms.is_none_or(|at| now_ms < at)
    }
}

/// A token's row with what verification needs.
pub(crate) struct Stored {
    pub(crate) info: TokenInfo,
    pub(crate) secret_hash: String,
    pub(crate) totp_sealed: Option<String>,
}

/// What to make.
#[derive(Debug, Clone, Copy)]
pub struct NewToken<'a> {
    pub name: &'a str,
    pub role: Role,
    /// Who runs the command.
    pub created_by: &'a str,
    pub expires_at_ms: Option<i64>,
    /// The vault's TOTP sealing key: enrolls a TOTP secret when given.
    pub totp_key: Option<&'a [u8; 32]>,
}

/// A made token: its text and TOTP secret exist only here.
pub struct Created {
    /// `argus_<id>_<secret>`, shown once.
    pub token: Zeroizing<String>,
    pub info: TokenInfo,
    /// The raw TOTP secret, for the `otpauth://` URI shown once.
    pub totp_secret: Option<Zeroizing<Vec<u8>>>,
}

impl std::fmt::Debug for Created {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Created")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// Whether `name` is a usable owner name.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'))
}

fn random_hex(bytes: usize) -> Result<Zeroizing<String>, TokenError> {
    let mut raw = Zeroizing::new(vec![0u8; bytes]);
    getrandom::fill(&mut raw).map_err(|e| TokenError::Random {
        detail: e.to_string(),
    })?;
    Ok(Zeroizing::new(alloy_primitives::hex::encode(&*raw)))
}

/// The vault name a token's TOTP secret is sealed under.
fn totp_name(id: &str) -> String {
    format!("argus.totp.{id}")
}

/// Makes a token inside the caller's connection (one INSERT).
pub fn create(conn: &Connection, new: NewToken<'_>, now_ms: i64) -> Result<Created, TokenError> {
    if !valid_name(new.name) {
        return Err(TokenError::BadName {
            name: new.name.chars().take(MAX_NAME + 1).collect(),
        });
    }
    if new.role == Role::Admin && new.totp_key.is_none() {
        return Err(TokenError::TotpNeeded { role: new.role });
    }
    let id = random_hex(ID_HEX / 2)?;
    let secret = random_hex(SECRET_HEX / 2)?;
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| TokenError::Random {
        detail: e.to_string(),
    })?;
    let hash = argon2::Argon2::default()
        .hash_password_with_salt(secret.as_bytes(), &salt)
        .map_err(|e| TokenError::Hash {
            detail: e.to_string(),
        })?
        .to_string();
    let (totp_secret, totp_sealed) = match new.totp_key {
        Some(key) => {
            let mut raw = Zeroizing::new(vec![0u8; super::totp::SECRET_BYTES]);
            getrandom::fill(&mut raw).map_err(|e| TokenError::Random {
                detail: e.to_string(),
            })?;
            let sealed =
                argus_vault::seal(key, &totp_name(&id), &raw).map_err(|e| TokenError::Sealed {
                    id: id.to_string(),
                    detail: e.to_string(),
                })?;
            (Some(raw), Some(sealed))
        }
        None => (None, None),
    };
    conn.execute(
        "INSERT INTO api_tokens (id, name, role, secret_hash, totp_sealed, created_at_ms, \
             created_by, expires_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            *id,
            new.name,
            new.role.as_str(),
            hash,
            totp_sealed,
            now_ms,
            new.created_by,
            new.expires_at_ms
        ],
    )
    .map_err(TokenError::db("store a token"))?;
    let token = Zeroizing::new(format!("{PREFIX}{}_{}", *id, *secret));
    Ok(Created {
        token,
        info: TokenInfo {
            id: id.to_string(),
            name: new.name.to_owned(),
            role: new.role,
            totp: totp_sealed.is_some(),
            created_at_ms: now_ms,
            created_by: new.created_by.to_owned(),
            expires_at_ms: new.expires_at_ms,
            revoked_at_ms: None,
            last_used_at_ms: None,
        },
        totp_secret,
    })
}

const COLUMNS: &str = "id, name, role, totp_sealed, created_at_ms, created_by, expires_at_ms, \
                       revoked_at_ms, last_used_at_ms, secret_hash";

fn stored(row: &argus_store::sql::Row<'_>) -> argus_store::sql::Result<Stored> {
    let role: String = row.get(2)?;
    let totp_sealed: Option<String> = row.get(3)?;
    Ok(Stored {
        info: TokenInfo {
            id: row.get(0)?,
            name: row.get(1)?,
            // The table's CHECK admits only the three roles.
            role: role.parse().unwrap_or(Role::Viewer),
            totp: totp_sealed.is_some(),
            created_at_ms: row.get(4)?,
            created_by: row.get(5)?,
            expires_at_ms: row.get(6)?,
            revoked_at_ms: row.get(7)?,
            last_used_at_ms: row.get(8)?,
        },
        secret_hash: row.get(9)?,
        totp_sealed,
    })
}

/// Every token, newest first.
pub fn list(conn: &Connection) -> Result<Vec<TokenInfo>, TokenError> {
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {COLUMNS} FROM api_tokens ORDER BY created_at_ms DESC, id"
        ))
        .map_err(TokenError::db("list tokens"))?;
    let rows = stmt
        .query_map([], stored)
        .map_err(TokenError::db("list tokens"))?;
    rows.map(|r| r.map(|s| s.info))
        .collect::<Result<_, _>>()
        .map_err(TokenError::db("list tokens"))
}

/// The token with this id.
pub(crate) fn lookup(conn: &Connection, id: &str) -> Result<Option<Stored>, TokenError> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM api_tokens WHERE id = ?1"))
        .and_then(|mut stmt| stmt.query_row([id], stored).optional())
        .map_err(TokenError::db("read a token"))
}

/// Revokes the active tokens named `what` (an owner name, or a token id);
/// returns them. Takes effect on the server's next request.
pub fn revoke(conn: &Connection, what: &str, now_ms: i64) -> Result<Vec<TokenInfo>, TokenError> {
    let hits: Vec<TokenInfo> = list(conn)?
        .into_iter()
        .filter(|t| t.revoked_at_ms.is_none() && (t.id == what || t.name == what))
        .collect();
    if hits.is_empty() {
        return Err(TokenError::NotFound {
            what: what.chars().take(MAX_NAME + 1).collect(),
        });
    }
    for token in &hits {
        conn.execute(
            "UPDATE api_tokens SET revoked_at_ms = ?2 WHERE id = ?1 AND revoked_at_ms IS NULL",
            params![token.id, now_ms],
        )
        .map_err(TokenError::db("revoke a token"))?;
    }
    Ok(hits
        .into_iter()
        .map(|t| TokenInfo {
            revoked_at_ms: Some(now_ms),
            ..t
        })
        .collect())
}

/// Notes a use (at most one write a minute per token).
pub(crate) fn touch(conn: &Connection, id: &str, now_ms: i64) -> Result<(), TokenError> {
    conn.execute(
        "UPDATE api_tokens SET last_used_at_ms = ?2 WHERE id = ?1 \
             AND (last_used_at_ms IS NULL OR last_used_at_ms < ?2 - 60000)",
        params![id, now_ms],
    )
    .map_err(TokenError::db("note a token's use"))?;
    Ok(())
}

/// The id and secret of a presented token, when it has the token's shape.
pub(crate) fn split(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let hex = |s: &str, len: usize| {
        s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    (hex(id, ID_HEX) && hex(secret, SECRET_HEX)).then_some((id, secret))
}

/// Whether `secret` is the one `phc` hashes (Argon2id, constant time).
pub(crate) fn verify(phc: &str, secret: &str) -> bool {
    argon2::Argon2::default()
        .verify_password(secret.as_bytes(), phc)
        .is_ok()
}

/// Opens a token's sealed TOTP secret.
pub(crate) fn totp_secret(
    id: &str,
    sealed: &str,
    key: &[u8; 32],
) -> Result<Zeroizing<Vec<u8>>, TokenError> {
    argus_vault::unseal(key, &totp_name(id), sealed).map_err(|e| TokenError::Sealed {
        id: id.to_owned(),
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_token_is_made_found_verified_and_revoked() {
        let store = argus_store::testing::store().unwrap();
        let conn = store.connect().unwrap();
        let key = [7u8; 32];
        let made = create(
            &conn,
            NewToken {
                name: "alice",
                role: Role::Admin,
                created_by: "root",
                expires_at_ms: None,
                totp_key: Some(&key),
            },
            1_000,
        )
        .unwrap();
        let (id, secret) = split(&made.token).unwrap();
        let row = lookup(&conn, id).unwrap().unwrap();
        assert!(row.secret_hash.starts_with("$argon2id$"));
        assert!(!row.secret_hash.contains(secret));
        assert!(verify(&row.secret_hash, secret));
        assert!(!verify(&row.secret_hash, &"0".repeat(64)));
        let sealed = row.totp_sealed.unwrap();
        let opened = totp_secret(id, &sealed, &key).unwrap();
        assert_eq!(&*opened, &**made.totp_secret.as_ref().unwrap());
        assert!(totp_secret("000000000000", &sealed, &key).is_err());
        assert_eq!(list(&conn).unwrap(), vec![made.info.clone()]);
        let revoked = revoke(&conn, "alice", 2_000).unwrap();
        assert_eq!(revoked.len(), 1);
        assert!(!lookup(&conn, id).unwrap().unwrap().info.is_active(3_000));
        assert!(matches!(
            revoke(&conn, "alice", 3_000),
            Err(TokenError::NotFound { .. })
        ));
    }

    #[test]
    fn admin_needs_totp_and_names_are_checked() {
        let store = argus_store::testing::store().unwrap();
        let conn = store.connect().unwrap();
        let new = |name, role| NewToken {
            name,
            role,
            created_by: "root",
            expires_at_ms: None,
            totp_key: None,
        };
        assert!(matches!(
            create(&conn, new("alice", Role::Admin), 1),
            Err(TokenError::TotpNeeded { .. })
        ));
        assert!(matches!(
            create(&conn, new("al ice", Role::Viewer), 1),
            Err(TokenError::BadName { .. })
        ));
    }

    #[test]
    fn only_the_token_shape_splits() {
        let good = format!("argus_{}_{}", "a".repeat(12), "b".repeat(64));
        assert!(split(&good).is_some());
        assert!(split(&good.to_uppercase()).is_none());
        assert!(split(&format!("argus_{}_{}", "a".repeat(11), "b".repeat(64))).is_none());
        assert!(split(&format!("argus_{}_{}", "a".repeat(12), "b".repeat(63))).is_none());
        assert!(split("Bearer").is_none());
    }
}
