//! The SQLite side of [`crate::sql`]: binding parameters and reading
//! columns through rusqlite.

use rusqlite::types::{ToSqlOutput, ValueRef as SqliteRef};

use crate::StoreError;
use crate::sql::{Bound, ValueRef};

/// A bound parameter as rusqlite binds it.
pub(crate) struct Bind<'a>(pub(crate) &'a Bound<'a>);

impl rusqlite::ToSql for Bind<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self.0.as_ref() {
            ValueRef::Null => SqliteRef::Null,
            ValueRef::Integer(n) => SqliteRef::Integer(n),
            ValueRef::Real(x) => SqliteRef::Real(x),
            ValueRef::Text(s) => SqliteRef::Text(s.as_bytes()),
            ValueRef::Blob(b) => SqliteRef::Blob(b),
        }))
    }
}

/// A column as read by rusqlite, as a [`ValueRef`]; text that is not UTF-8
/// is an error, not a lossy string.
pub(crate) fn value_ref(value: SqliteRef<'_>) -> Result<ValueRef<'_>, StoreError> {
    Ok(match value {
        SqliteRef::Null => ValueRef::Null,
        SqliteRef::Integer(n) => ValueRef::Integer(n),
        SqliteRef::Real(x) => ValueRef::Real(x),
        SqliteRef::Text(bytes) => {
            ValueRef::Text(
                std::str::from_utf8(bytes).map_err(|_| StoreError::Conversion {
                    detail: "text that is not UTF-8".to_owned(),
                })?,
            )
        }
        SqliteRef::Blob(bytes) => ValueRef::Blob(bytes),
    })
}
