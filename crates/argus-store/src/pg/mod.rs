//! The PostgreSQL side of the store: connections, the dialect rewrite, and
//! values across the wire.
//!
//! A [`PgConn`] is a thread that owns one `postgres::Client` and runs the
//! queries sent to it, one at a time. The stages' store API is synchronous
//! (SQLite answers in microseconds, from the calling task), and a
//! synchronous PostgreSQL client cannot block inside the async runtime that
//! runs the daemon's tasks; the thread gives it a place of its own, and the
//! caller waits on a channel as it waited on SQLite's file lock. Idle
//! connections go back to the store's pool.
//!
//! A lost connection (the server restarted, the network dropped) is opened
//! again on the next statement outside a transaction; inside one, the
//! statement fails with [`StoreError::is_busy`] true and the transaction is
//! gone, so the caller's retry starts it over.
//!
//! Every session sets `idle_in_transaction_session_timeout`: an instance
//! paused inside a transaction (SIGSTOP, a stalled VM) holds the store's
//! write lock, and the server ends its session after that time, which
//! releases the lock and rolls its writes back.

mod target;

pub(crate) use target::PgTarget;

use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

use crate::StoreError;
use crate::sql::{Bound, Value};

/// The key of the advisory lock every write transaction takes: writers
/// queue on it as they queue on SQLite's file lock ("argus" in ASCII).
pub(crate) const WRITE_LOCK: i64 = 0x61_72_67_75_73;

/// How long a session may sit idle inside a transaction before the server
/// ends it (and its locks with it).
const IDLE_IN_TRANSACTION: Duration = Duration::from_secs(5);

/// How long a statement waits for a lock before it fails (busy).
const LOCK_TIMEOUT: Duration = Duration::from_secs(30);

/// Connections kept open for reuse.
const POOL_SIZE: usize = 16;

type Job = Box<dyn FnOnce(&mut Worker) + Send>;

/// A client call on a prepared statement: `execute` or `query`.
type Run<R> = fn(
    &mut postgres::Client,
    &postgres::Statement,
    &[&(dyn ToSql + Sync)],
) -> Result<R, postgres::Error>;

/// What opens connections to one database, and keeps the idle ones.
#[derive(Debug)]
pub(crate) struct PgPool {
    target: PgTarget,
    idle: Mutex<Vec<mpsc::Sender<Job>>>,
}

impl PgPool {
    pub(crate) fn new(target: PgTarget) -> Arc<Self> {
        Arc::new(Self {
            target,
            idle: Mutex::new(Vec::new()),
        })
    }

    pub(crate) fn target(&self) -> &PgTarget {
        &self.target
    }

    /// An idle connection, or a new one (connected on its first statement).
    pub(crate) fn get(self: &Arc<Self>) -> Result<PgConn, StoreError> {
        let reused = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let jobs = match reused {
            Some(jobs) => jobs,
            None => spawn_worker(self.target.clone())?,
        };
        Ok(PgConn {
            jobs: Some(jobs),
            pool: Arc::clone(self),
        })
    }
}

fn spawn_worker(target: PgTarget) -> Result<mpsc::Sender<Job>, StoreError> {
    let (jobs, inbox) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("argus-pg".to_owned())
        .spawn(move || {
            let mut worker = Worker {
                target,
                client: None,
                statements: HashMap::new(),
            };
            for job in inbox {
                job(&mut worker);
            }
        })
        .map_err(|source| StoreError::Unavailable {
            detail: format!("cannot start a database connection thread: {source}"),
        })?;
    Ok(jobs)
}

/// One connection to PostgreSQL (see the module docs).
#[derive(Debug)]
pub(crate) struct PgConn {
    jobs: Option<mpsc::Sender<Job>>,
    pool: Arc<PgPool>,
}

impl Drop for PgConn {
    fn drop(&mut self) {
        if let Some(jobs) = self.jobs.take()
            && let Ok(mut idle) = self.pool.idle.lock()
            && idle.len() < POOL_SIZE
        {
            idle.push(jobs);
        }
    }
}

impl PgConn {
    fn call<R: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Worker) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let gone = || StoreError::Unavailable {
            detail: "the database connection's thread ended".to_owned(),
        };
        let (reply, answer) = mpsc::sync_channel(1);
        let jobs = self.jobs.as_ref().ok_or_else(gone)?;
        jobs.send(Box::new(move |worker: &mut Worker| {
            let _ = reply.send(job(worker));
        }))
        .map_err(|_| gone())?;
        answer.recv().map_err(|_| gone())?
    }

    /// Runs `sql` (prepared once per connection) with `params` through
    /// `run`: the client's `execute` or `query`.
    fn prepared<R: Send + 'static>(
        &self,
        sql: &str,
        params: Vec<Bound<'_>>,
        in_tx: bool,
        run: Run<R>,
    ) -> Result<R, StoreError> {
        let sql = sql.to_owned();
        let params = owned(params);
        self.call(move |worker| {
            let statement = worker.statement(&sql, in_tx)?;
            let client = worker.client(in_tx)?;
            let refs: Vec<&(dyn ToSql + Sync)> =
                params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
            run(client, &statement, &refs).map_err(|e| worker.failed(e))
        })
    }

    pub(crate) fn execute(
        &self,
        sql: &str,
        params: Vec<Bound<'_>>,
        in_tx: bool,
    ) -> Result<u64, StoreError> {
        self.prepared(sql, params, in_tx, |client, statement, refs| {
            client.execute(statement, refs)
        })
    }

    pub(crate) fn query(
        &self,
        sql: &str,
        params: Vec<Bound<'_>>,
        in_tx: bool,
    ) -> Result<Vec<postgres::Row>, StoreError> {
        self.prepared(sql, params, in_tx, |client, statement, refs| {
            client.query(statement, refs)
        })
    }

    pub(crate) fn batch(&self, sql: &str, in_tx: bool) -> Result<(), StoreError> {
        let sql = sql.to_owned();
        self.call(move |worker| {
            let client = worker.client(in_tx)?;
            client.batch_execute(&sql).map_err(|e| worker.failed(e))
        })
    }

    /// `BEGIN` and the store's write lock.
    pub(crate) fn begin(&self) -> Result<(), StoreError> {
        self.batch(
            &format!("BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})"),
            false,
        )
    }
}

fn owned(params: Vec<Bound<'_>>) -> Vec<Param> {
    params
        .into_iter()
        .map(|p| {
            Param(match p {
                Bound::Borrowed(value) => value.to_owned_value(),
                Bound::Owned(value) => value,
            })
        })
        .collect()
}

struct Worker {
    target: PgTarget,
    client: Option<postgres::Client>,
    statements: HashMap<String, postgres::Statement>,
}

impl Worker {
    /// The open client; a closed one is opened again outside a transaction.
    fn client(&mut self, in_tx: bool) -> Result<&mut postgres::Client, StoreError> {
        if self
            .client
            .as_ref()
            .is_some_and(postgres::Client::is_closed)
        {
            self.client = None;
            self.statements.clear();
            if in_tx {
                return Err(StoreError::Unavailable {
                    detail: "the connection to PostgreSQL was lost inside a transaction; \
                             it was rolled back"
                        .to_owned(),
                });
            }
        }
        match &mut self.client {
            Some(client) => Ok(client),
            slot @ None => {
                let mut client = self
                    .target
                    .connect()
                    .map_err(|source| StoreError::Postgres { source })?;
                client
                    .batch_execute(&format!(
                        "SET idle_in_transaction_session_timeout = {}; SET lock_timeout = {}; \
                         SET TIME ZONE 'UTC'",
                        IDLE_IN_TRANSACTION.as_millis(),
                        LOCK_TIMEOUT.as_millis()
                    ))
                    .map_err(|source| StoreError::Postgres { source })?;
                Ok(slot.insert(client))
            }
        }
    }

    fn statement(&mut self, sql: &str, in_tx: bool) -> Result<postgres::Statement, StoreError> {
        if let Some(statement) = self.statements.get(sql)
            && self.client.as_ref().is_some_and(|c| !c.is_closed())
        {
            return Ok(statement.clone());
        }
        let translated = translate(sql);
        let client = self.client(in_tx)?;
        let statement = client
            .prepare(&translated)
            .map_err(|source| StoreError::Postgres { source })?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    fn failed(&mut self, source: postgres::Error) -> StoreError {
        if source.is_closed() {
            self.client = None;
            self.statements.clear();
        }
        StoreError::Postgres { source }
    }
}

/// A parameter, bound as the type the server inferred for it.
#[derive(Debug)]
struct Param(Value);

impl ToSql for Param {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        let mismatch = |kind: &str| -> Box<dyn std::error::Error + Sync + Send> {
            format!("cannot bind {kind} as a parameter of type {ty}").into()
        };
        match &self.0 {
            Value::Null => Ok(IsNull::Yes),
            Value::Integer(n) => match *ty {
                Type::INT8 => n.to_sql(ty, out),
                Type::INT4 => i32::try_from(*n)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*n)?.to_sql(ty, out),
                Type::BOOL => (*n != 0).to_sql(ty, out),
                #[allow(clippy::cast_precision_loss)]
                Type::FLOAT8 => (*n as f64).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                    n.to_string().to_sql(&Type::TEXT, out)
                }
                _ => Err(mismatch("an integer")),
            },
            Value::Real(x) => match *ty {
                Type::FLOAT8 => x.to_sql(ty, out),
                #[allow(clippy::cast_possible_truncation)]
                Type::FLOAT4 => (*x as f32).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR => x.to_string().to_sql(ty, out),
                _ => Err(mismatch("a real")),
            },
            Value::Text(s) => match *ty {
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                    s.as_str().to_sql(&Type::TEXT, out)
                }
                Type::INT8 => s.parse::<i64>()?.to_sql(ty, out),
                Type::INT4 => s.parse::<i32>()?.to_sql(ty, out),
                Type::BYTEA => s.as_bytes().to_sql(ty, out),
                Type::JSON | Type::JSONB => {
                    if *ty == Type::JSONB {
                        out.extend_from_slice(&[1]);
                    }
                    out.extend_from_slice(s.as_bytes());
                    Ok(IsNull::No)
                }
                _ => Err(mismatch("text")),
            },
            Value::Blob(b) => match *ty {
                Type::BYTEA => b.as_slice().to_sql(ty, out),
                Type::TEXT | Type::VARCHAR => std::str::from_utf8(b)?.to_sql(ty, out),
                _ => Err(mismatch("a blob")),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// A column as the server sent it, turned into one of SQLite's storage
/// classes.
struct Column(Value);

impl<'a> FromSql<'a> for Column {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Column(match *ty {
            Type::INT8 => Value::Integer(i64::from_sql(ty, raw)?),
            Type::INT4 => Value::Integer(i64::from(i32::from_sql(ty, raw)?)),
            Type::INT2 => Value::Integer(i64::from(i16::from_sql(ty, raw)?)),
            Type::OID => Value::Integer(i64::from(u32::from_sql(ty, raw)?)),
            Type::BOOL => Value::Integer(i64::from(bool::from_sql(ty, raw)?)),
            Type::FLOAT8 => Value::Real(f64::from_sql(ty, raw)?),
            Type::FLOAT4 => Value::Real(f64::from(f32::from_sql(ty, raw)?)),
            Type::NUMERIC => numeric(raw)?,
            Type::BYTEA => Value::Blob(raw.to_vec()),
            Type::JSONB => {
                Value::Text(std::str::from_utf8(raw.get(1..).unwrap_or(&[]))?.to_owned())
            }
            _ => Value::Text(std::str::from_utf8(raw)?.to_owned()),
        }))
    }

    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Column(Value::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// A `numeric` (what `sum` of a `bigint` column gives): an integer when it
/// has no fraction and fits, a real otherwise.
fn numeric(raw: &[u8]) -> Result<Value, Box<dyn std::error::Error + Sync + Send>> {
    let word = |at: usize| -> Result<u16, Box<dyn std::error::Error + Sync + Send>> {
        raw.get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "a truncated numeric".into())
    };
    let digits = word(0)?;
    let weight = i32::from(word(2)? as i16);
    let sign = word(4)?;
    let scale = word(6)?;
    if sign == 0xC000 {
        return Ok(Value::Real(f64::NAN));
    }
    let mut integer: Option<i64> = Some(0);
    let mut real = 0f64;
    for i in 0..usize::from(digits) {
        let digit = word(8 + 2 * i)?;
        let exponent = weight - i32::try_from(i)?;
        real += f64::from(digit) * 10_000f64.powi(exponent);
        integer = match (integer, u32::try_from(exponent)) {
            (Some(acc), Ok(e)) => 10_000i64
                .checked_pow(e)
                .and_then(|p| p.checked_mul(i64::from(digit)))
                .and_then(|v| acc.checked_add(v)),
            (Some(acc), Err(_)) if digit == 0 => Some(acc),
            _ => None,
        };
    }
    let negative = sign == 0x4000;
    Ok(match integer {
        Some(n) if scale == 0 => Value::Integer(if negative { -n } else { n }),
        _ => Value::Real(if negative { -real } else { real }),
    })
}

/// The value of column `at` of `row`.
pub(crate) fn column(row: &postgres::Row, at: usize) -> Result<Value, StoreError> {
    row.try_get::<_, Column>(at)
        .map(|c| c.0)
        .map_err(|source| StoreError::Conversion {
            detail: format!("column {at}: {source}"),
        })
}

/// SQLite's dialect as PostgreSQL's: `?N` and `?` placeholders as `$N`,
/// `INSERT OR IGNORE` as `ON CONFLICT DO NOTHING`, two-argument `max` and
/// `min` as `GREATEST` and `LEAST`. Quoted text and identifiers are left
/// alone.
pub(crate) fn translate(sql: &str) -> String {
    let mut next_positional = 1;
    let mut out = translate_fragment(sql, &mut next_positional);
    if out.contains(IGNORE_MARK) {
        out = out.replace(IGNORE_MARK, "");
        let body = out.trim_end().trim_end_matches(';').trim_end().to_owned();
        out = match find_keyword(&body, "RETURNING") {
            Some(at) => format!(
                "{} ON CONFLICT DO NOTHING {}",
                body[..at].trim_end(),
                &body[at..]
            ),
            None => format!("{body} ON CONFLICT DO NOTHING"),
        };
    }
    out
}

/// Left where `INSERT OR IGNORE` was, for [`translate`] to finish.
const IGNORE_MARK: &str = "\u{1}";

/// The arguments of the call whose `(` is at `open`, split at its own
/// commas, and the position of its `)`.
fn top_level_args(sql: &str, open: usize) -> Option<(Vec<&str>, usize)> {
    let bytes = sql.as_bytes();
    let mut depth = 0usize;
    let mut start = open + 1;
    let mut args = Vec::new();
    let mut i = open;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' | b'"' => {
                i = closing_quote(bytes, i);
                continue;
            }
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    args.push(sql[start..i].trim());
                    return Some((args, i));
                }
            }
            b',' if depth == 1 => {
                args.push(sql[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

fn translate_fragment(sql: &str, next_positional: &mut usize) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let bytes = sql.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'\'' | b'"' => {
                let end = closing_quote(bytes, i);
                out.push_str(&sql[i..end]);
                i = end;
            }
            b'?' => {
                let start = i + 1;
                let mut end = start;
                while end < bytes.len() && bytes[end].is_ascii_digit() {
                    end += 1;
                }
                out.push('$');
                if end > start {
                    out.push_str(&sql[start..end]);
                } else {
                    out.push_str(&next_positional.to_string());
                    *next_positional += 1;
                }
                i = end;
            }
            _ if c.is_ascii_alphabetic() || c == b'_' => {
                let mut end = i;
                while end < bytes.len()
                    && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_')
                {
                    end += 1;
                }
                let word = &sql[i..end];
                if word.eq_ignore_ascii_case("OR") && ends_with_insert(&out) {
                    let rest = &sql[end..];
                    let trimmed = rest.trim_start();
                    if trimmed.len() >= 6 && trimmed[..6].eq_ignore_ascii_case("IGNORE") {
                        i = end + (rest.len() - trimmed.len()) + 6;
                        // Drop the space before `OR`; the one after IGNORE stays.
                        while out.ends_with(' ') {
                            out.pop();
                        }
                        out.push_str(IGNORE_MARK);
                        continue;
                    }
                }
                let scalar = (word.eq_ignore_ascii_case("max") || word.eq_ignore_ascii_case("min"))
                    && bytes.get(end) == Some(&b'(');
                if scalar
                    && let Some((args, close)) = top_level_args(sql, end)
                    && args.len() > 1
                {
                    // SQLite's scalar max/min is NULL when an argument is;
                    // GREATEST/LEAST skip NULLs: keep SQLite's meaning.
                    let function = if word.eq_ignore_ascii_case("max") {
                        "GREATEST"
                    } else {
                        "LEAST"
                    };
                    let args: Vec<String> = args
                        .iter()
                        .map(|arg| translate_fragment(arg, next_positional))
                        .collect();
                    // A bare parameter is left out of the test: alone,
                    // PostgreSQL cannot type it (and a caller binding NULL
                    // into max() gets GREATEST's meaning).
                    let nulls: Vec<String> = args
                        .iter()
                        .filter(|a| !is_placeholder(a))
                        .map(|a| format!("({a}) IS NULL"))
                        .collect();
                    if nulls.is_empty() {
                        out.push_str(&format!("{function}({})", args.join(", ")));
                    } else {
                        out.push_str(&format!(
                            "(CASE WHEN {} THEN NULL ELSE {function}({}) END)",
                            nulls.join(" OR "),
                            args.join(", ")
                        ));
                    }
                    i = close + 1;
                    continue;
                }
                out.push_str(word);
                i = end;
            }
            _ => {
                let ch_len = sql[i..].chars().next().map_or(1, char::len_utf8);
                out.push_str(&sql[i..i + ch_len]);
                i += ch_len;
            }
        }
    }
    out
}

/// `$N`.
fn is_placeholder(arg: &str) -> bool {
    arg.strip_prefix('$')
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn ends_with_insert(out: &str) -> bool {
    let trimmed = out.trim_end().trim_end_matches(IGNORE_MARK);
    trimmed.len() >= 6 && trimmed[trimmed.len() - 6..].eq_ignore_ascii_case("INSERT")
}

fn closing_quote(bytes: &[u8], start: usize) -> usize {
    let quote = bytes[start];
    let mut i = start + 1;
    while i < bytes.len() {
        if bytes[i] == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    bytes.len()
}

fn find_keyword(sql: &str, keyword: &str) -> Option<usize> {
    let upper = sql.to_ascii_uppercase();
    let mut from = 0;
    while let Some(at) = upper[from..].find(keyword) {
        let at = from + at;
        let before = at == 0 || !upper.as_bytes()[at - 1].is_ascii_alphanumeric();
        let after = upper
            .as_bytes()
            .get(at + keyword.len())
            .is_none_or(|c| !c.is_ascii_alphanumeric());
        if before && after {
            return Some(at);
        }
        from = at + keyword.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_numbered_and_quoted_text_is_left_alone() {
        assert_eq!(
            translate("SELECT a FROM t WHERE b = ?1 AND c = '?2' AND d = ?"),
            "SELECT a FROM t WHERE b = $1 AND c = '?2' AND d = $1"
        );
        assert_eq!(
            translate("VALUES (?, ?, 'it''s ?')"),
            "VALUES ($1, $2, 'it''s ?')"
        );
    }

    #[test]
    fn insert_or_ignore_becomes_on_conflict_do_nothing() {
        assert_eq!(
            translate("INSERT OR IGNORE INTO t (a) VALUES (?1)"),
            "INSERT INTO t (a) VALUES ($1) ON CONFLICT DO NOTHING"
        );
        assert_eq!(
            translate("insert or ignore into t (a) values (?1) returning a;"),
            "insert into t (a) values ($1) ON CONFLICT DO NOTHING returning a"
        );
        assert_eq!(translate("SELECT 1 OR 0"), "SELECT 1 OR 0");
    }

    #[test]
    fn scalar_max_and_min_are_greatest_and_least_null_when_an_argument_is() {
        assert_eq!(
            translate("SELECT max(a - ?1, 0), max(b)"),
            "SELECT (CASE WHEN (a - $1) IS NULL OR (0) IS NULL THEN NULL ELSE GREATEST(a - $1, 0) END), max(b)"
        );
        assert_eq!(
            translate("UPDATE t SET e = max(s, min(e, ?2)) WHERE id = ?1"),
            "UPDATE t SET e = (CASE WHEN (s) IS NULL OR ((CASE WHEN (e) IS NULL THEN NULL ELSE LEAST(e, $2) END)) IS NULL THEN NULL ELSE GREATEST(s, (CASE WHEN (e) IS NULL THEN NULL ELSE LEAST(e, $2) END)) END) WHERE id = $1"
        );
        assert_eq!(
            translate("SELECT min(c, min(d, 2))"),
            "SELECT (CASE WHEN (c) IS NULL OR ((CASE WHEN (d) IS NULL OR (2) IS NULL THEN NULL ELSE LEAST(d, 2) END)) IS NULL THEN NULL ELSE LEAST(c, (CASE WHEN (d) IS NULL OR (2) IS NULL THEN NULL ELSE LEAST(d, 2) END)) END)"
        );
        assert_eq!(
            translate("SELECT sum(max(x, ?, ?)) WHERE y = ?"),
            "SELECT sum((CASE WHEN (x) IS NULL THEN NULL ELSE GREATEST(x, $1, $2) END)) WHERE y = $3"
        );
    }

    #[test]
    fn numerics_decode_as_integers_or_reals() {
        // 12345678 = [1234, 5678] with weight 1.
        let raw = [0, 2, 0, 1, 0, 0, 0, 0, 0x04, 0xD2, 0x16, 0x2E];
        assert_eq!(numeric(&raw).ok(), Some(Value::Integer(12_345_678)));
        let negative = [0, 1, 0, 0, 0x40, 0, 0, 0, 0, 7];
        assert_eq!(numeric(&negative).ok(), Some(Value::Integer(-7)));
        let zero = [0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(numeric(&zero).ok(), Some(Value::Integer(0)));
        assert!(numeric(&[0, 1]).is_err());
    }
}
