//! The SQL surface the stages write their queries against, one for both
//! backends.
//!
//! A stage keeps its SQL in a module of its own crate and runs it through a
//! [`Connection`](crate::Connection): `execute`, `query_row`,
//! `prepare_cached(..).query_map(..)`, with parameters from [`params!`],
//! an array of one type, or [`params_from_iter`], and reads columns with
//! [`Row::get`]. The SQL is written once, in SQLite's dialect, and runs
//! unchanged on SQLite; on PostgreSQL it is rewritten once per statement
//! text (`crate::pg::translate`: `?N` placeholders, `INSERT OR IGNORE`,
//! two-argument `max`/`min`) and prepared once per connection. Values are
//! SQLite's five storage classes ([`Value`]); on PostgreSQL a parameter is
//! converted to the type the server inferred for it and a column is read
//! back into the same five classes, so a stage never sees which backend it
//! runs on. Where the dialects part for good (a JSON table function), a
//! stage asks [`Connection::dialect`](crate::Connection::dialect).

use std::fmt;

use crate::StoreError;

/// The result of a query or of reading a column.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which SQL dialect a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// The embedded SQLite database.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// An owned value: one of SQLite's storage classes.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// A borrowed value, as a column is read or a parameter is bound.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    Null,
    Integer(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

impl ValueRef<'_> {
    /// The value, owned.
    pub fn to_owned_value(self) -> Value {
        match self {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(n) => Value::Integer(n),
            ValueRef::Real(x) => Value::Real(x),
            ValueRef::Text(s) => Value::Text(s.to_owned()),
            ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        }
    }

    fn kind(self) -> &'static str {
        match self {
            ValueRef::Null => "NULL",
            ValueRef::Integer(_) => "an integer",
            ValueRef::Real(_) => "a real",
            ValueRef::Text(_) => "text",
            ValueRef::Blob(_) => "a blob",
        }
    }
}

impl Value {
    /// The value, borrowed.
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Null => ValueRef::Null,
            Value::Integer(n) => ValueRef::Integer(*n),
            Value::Real(x) => ValueRef::Real(*x),
            Value::Text(s) => ValueRef::Text(s),
            Value::Blob(b) => ValueRef::Blob(b),
        }
    }
}

/// A value that can be bound as a parameter.
pub trait ToSql {
    /// The value to bind; fails for a number out of SQL's 64-bit range.
    fn to_sql(&self) -> Result<ValueRef<'_>>;
}

fn out_of_range(what: impl fmt::Display) -> StoreError {
    StoreError::Conversion {
        detail: format!("{what} does not fit a 64-bit SQL integer"),
    }
}

macro_rules! to_sql_lossless {
    ($($t:ty),*) => {$(
        impl ToSql for $t {
            fn to_sql(&self) -> Result<ValueRef<'_>> {
                Ok(ValueRef::Integer(i64::from(*self)))
            }
        }
    )*};
}
to_sql_lossless!(i8, i16, i32, i64, u8, u16, u32, bool);

macro_rules! to_sql_checked {
    ($($t:ty),*) => {$(
        impl ToSql for $t {
            fn to_sql(&self) -> Result<ValueRef<'_>> {
                i64::try_from(*self)
                    .map(ValueRef::Integer)
                    .map_err(|_| out_of_range(self))
            }
        }
    )*};
}
to_sql_checked!(u64, usize, isize);

impl ToSql for f64 {
    fn to_sql(&self) -> Result<ValueRef<'_>> {
        Ok(ValueRef::Real(*self))
    }
}

impl ToSql for f32 {
    fn to_sql(&self) -> Result<ValueRef<'_>> {
        Ok(ValueRef::Real(f64::from(*self)))
    }
}

impl ToSql for str {
    fn to_sql(&self) -> Result<ValueRef<'_>> {
        Ok(ValueRef::Text(self))
    }
}

impl ToSql for String {
    fn to_sql(&self) -> Result<ValueRef<'_>> {
        Ok(ValueRef::Text(self))
    }
}

impl ToSql for [u8] {
    fn to_sql(&self) -> Result<ValueRef<'_>> {
        Ok(ValueRef::Blob(self))
    }
}

impl ToSql for Vec<u8> {
    fn to_sql(&self) -> Result<ValueRef<'_>> {
        Ok(ValueRef::Blob(self))
    }
}

impl<const N: usize> ToSql for [u8; N] {
    fn to_sql(&self) -> Result<ValueRef<'_>> {
        Ok(ValueRef::Blob(self))
    }
}

impl ToSql for Value {
    fn to_sql(&self) -> Result<ValueRef<'_>> {
        Ok(self.as_ref())
    }
}

impl ToSql for ValueRef<'_> {
    fn to_sql(&self) -> Result<ValueRef<'_>> {
        Ok(*self)
    }
}

impl<T: ToSql> ToSql for Option<T> {
    fn to_sql(&self) -> Result<ValueRef<'_>> {
        match self {
            Some(value) => value.to_sql(),
            None => Ok(ValueRef::Null),
        }
    }
}

impl<T: ToSql + ?Sized> ToSql for &T {
    fn to_sql(&self) -> Result<ValueRef<'_>> {
        (**self).to_sql()
    }
}

impl<T: ToSql + ?Sized> ToSql for Box<T> {
    fn to_sql(&self) -> Result<ValueRef<'_>> {
        (**self).to_sql()
    }
}

impl ToSql for std::borrow::Cow<'_, str> {
    fn to_sql(&self) -> Result<ValueRef<'_>> {
        Ok(ValueRef::Text(self))
    }
}

/// A column read into a Rust value.
pub trait FromSql: Sized {
    /// Converts the column's value; fails for a value of another kind.
    fn from_sql(value: ValueRef<'_>) -> Result<Self>;
}

fn wrong_kind(value: ValueRef<'_>, wanted: &str) -> StoreError {
    StoreError::Conversion {
        detail: format!("expected {wanted}, found {}", value.kind()),
    }
}

impl FromSql for i64 {
    fn from_sql(value: ValueRef<'_>) -> Result<Self> {
        match value {
            ValueRef::Integer(n) => Ok(n),
            other => Err(wrong_kind(other, "an integer")),
        }
    }
}

macro_rules! from_sql_int {
    ($($t:ty),*) => {$(
        impl FromSql for $t {
            fn from_sql(value: ValueRef<'_>) -> Result<Self> {
                let n = i64::from_sql(value)?;
                <$t>::try_from(n).map_err(|_| StoreError::Conversion {
                    detail: format!("{n} is out of range for {}", stringify!($t)),
                })
            }
        }
    )*};
}
from_sql_int!(i8, i16, i32, u8, u16, u32, u64, usize, isize);

impl FromSql for bool {
    fn from_sql(value: ValueRef<'_>) -> Result<Self> {
        Ok(i64::from_sql(value)? != 0)
    }
}

impl FromSql for f64 {
    fn from_sql(value: ValueRef<'_>) -> Result<Self> {
        match value {
            ValueRef::Real(x) => Ok(x),
            #[allow(clippy::cast_precision_loss)]
            ValueRef::Integer(n) => Ok(n as f64),
            other => Err(wrong_kind(other, "a number")),
        }
    }
}

impl FromSql for String {
    fn from_sql(value: ValueRef<'_>) -> Result<Self> {
        match value {
            ValueRef::Text(s) => Ok(s.to_owned()),
            other => Err(wrong_kind(other, "text")),
        }
    }
}

impl FromSql for Vec<u8> {
    fn from_sql(value: ValueRef<'_>) -> Result<Self> {
        match value {
            ValueRef::Blob(b) => Ok(b.to_vec()),
            ValueRef::Text(s) => Ok(s.as_bytes().to_vec()),
            other => Err(wrong_kind(other, "a blob")),
        }
    }
}

impl<const N: usize> FromSql for [u8; N] {
    fn from_sql(value: ValueRef<'_>) -> Result<Self> {
        match value {
            ValueRef::Blob(b) => b.try_into().map_err(|_| StoreError::Conversion {
                detail: format!("expected a blob of {N} bytes, found {}", b.len()),
            }),
            other => Err(wrong_kind(other, "a blob")),
        }
    }
}

impl FromSql for Value {
    fn from_sql(value: ValueRef<'_>) -> Result<Self> {
        Ok(value.to_owned_value())
    }
}

impl<T: FromSql> FromSql for Option<T> {
    fn from_sql(value: ValueRef<'_>) -> Result<Self> {
        match value {
            ValueRef::Null => Ok(None),
            other => T::from_sql(other).map(Some),
        }
    }
}

/// A bound parameter: borrowed from the caller, or owned (the items of
/// [`params_from_iter`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Bound<'a> {
    Borrowed(ValueRef<'a>),
    Owned(Value),
}

impl Bound<'_> {
    /// The value to bind.
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Bound::Borrowed(value) => *value,
            Bound::Owned(value) => value.as_ref(),
        }
    }
}

/// The parameters of one statement.
pub trait Params {
    /// The values to bind, in order.
    fn values(&self) -> Result<Vec<Bound<'_>>>;
}

impl Params for [&dyn ToSql; 0] {
    fn values(&self) -> Result<Vec<Bound<'_>>> {
        Ok(Vec::new())
    }
}

impl Params for () {
    fn values(&self) -> Result<Vec<Bound<'_>>> {
        Ok(Vec::new())
    }
}

impl Params for &[&dyn ToSql] {
    fn values(&self) -> Result<Vec<Bound<'_>>> {
        self.iter()
            .map(|p| p.to_sql().map(Bound::Borrowed))
            .collect()
    }
}

impl<const N: usize> Params for &[&dyn ToSql; N] {
    fn values(&self) -> Result<Vec<Bound<'_>>> {
        self.iter()
            .map(|p| p.to_sql().map(Bound::Borrowed))
            .collect()
    }
}

macro_rules! params_for_arrays {
    ($($n:literal),*) => {$(
        impl<T: ToSql> Params for [T; $n] {
            fn values(&self) -> Result<Vec<Bound<'_>>> {
                self.iter().map(|p| p.to_sql().map(Bound::Borrowed)).collect()
            }
        }
    )*};
}
params_for_arrays!(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);

/// Parameters from an iterator ([`params_from_iter`]).
#[derive(Debug, Clone)]
pub struct ParamsFromIter<I>(I);

/// Binds every item of `iter`, in order: for statements whose number of
/// parameters is known only at run time.
pub fn params_from_iter<I>(iter: I) -> ParamsFromIter<I>
where
    I: IntoIterator + Clone,
    I::Item: ToSql,
{
    ParamsFromIter(iter)
}

impl<I> Params for ParamsFromIter<I>
where
    I: IntoIterator + Clone,
    I::Item: ToSql,
{
    fn values(&self) -> Result<Vec<Bound<'_>>> {
        self.0
            .clone()
            .into_iter()
            .map(|p| p.to_sql().map(|v| Bound::Owned(v.to_owned_value())))
            .collect()
    }
}

/// `params![a, b, c]`: parameters of different types, in order.
#[macro_export]
macro_rules! params {
    () => {
        &[] as &[&dyn $crate::sql::ToSql]
    };
    ($($param:expr),+ $(,)?) => {
        &[$(&$param as &dyn $crate::sql::ToSql),+] as &[&dyn $crate::sql::ToSql]
    };
}
pub use crate::params;

/// Turns "no row" into `None`.
pub trait OptionalExtension<T> {
    /// `Ok(None)` when the query returned no row.
    fn optional(self) -> Result<Option<T>>;
}

impl<T> OptionalExtension<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(value) => Ok(Some(value)),
            Err(StoreError::NoRows) => Ok(None),
            Err(error) => Err(error),
        }
    }
}

/// Which column of a row: its position or its name.
pub trait RowIndex {
    /// The column's position in `columns`.
    fn position(&self, columns: &dyn Fn(&str) -> Option<usize>, count: usize) -> Result<usize>;
}

impl RowIndex for usize {
    fn position(&self, _: &dyn Fn(&str) -> Option<usize>, count: usize) -> Result<usize> {
        if *self < count {
            Ok(*self)
        } else {
            Err(StoreError::Conversion {
                detail: format!("column {self} of a row of {count}"),
            })
        }
    }
}

impl RowIndex for &str {
    fn position(&self, columns: &dyn Fn(&str) -> Option<usize>, _: usize) -> Result<usize> {
        columns(self).ok_or_else(|| StoreError::Conversion {
            detail: format!("no column named {self}"),
        })
    }
}

/// One row of a result, read with [`Row::get`].
pub struct Row<'a> {
    pub(crate) inner: RowInner<'a>,
}

pub(crate) enum RowInner<'a> {
    Sqlite(&'a rusqlite::Row<'a>),
    Postgres(&'a postgres::Row),
}

impl fmt::Debug for Row<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Row")
    }
}

impl Row<'_> {
    /// The column at `index` (a position, or a name), as `T`.
    pub fn get<I: RowIndex, T: FromSql>(&self, index: I) -> Result<T> {
        match &self.inner {
            RowInner::Sqlite(row) => {
                let statement = row.as_ref();
                let count = statement.column_count();
                let find = |name: &str| statement.column_index(name).ok();
                let at = index.position(&find, count)?;
                let value = row.get_ref(at)?;
                T::from_sql(crate::sqlite::value_ref(value)?).map_err(|e| e.in_column(at))
            }
            RowInner::Postgres(row) => {
                let columns = row.columns();
                let find = |name: &str| columns.iter().position(|c| c.name() == name);
                let at = index.position(&find, columns.len())?;
                let value = crate::pg::column(row, at)?;
                T::from_sql(value.as_ref()).map_err(|e| e.in_column(at))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn numbers_past_sixty_four_bits_are_refused_not_wrapped() {
        assert!(u64::MAX.to_sql().is_err());
        assert_eq!(
            (i64::MAX as u64).to_sql().unwrap(),
            ValueRef::Integer(i64::MAX)
        );
        assert!(u32::from_sql(ValueRef::Integer(-1)).is_err());
        assert!(String::from_sql(ValueRef::Integer(1)).is_err());
        assert_eq!(
            Option::<i64>::from_sql(ValueRef::Null).unwrap(),
            None::<i64>
        );
    }
}
