//! Hand-written PostgreSQL statements that stay prepared.
//!
//! diesel never keeps a `sql_query` prepared (it cannot know the text is fixed), so PostgreSQL
//! parsed and planned the token endpoint's data-modifying CTEs at every request. A
//! [`PreparedSql`] is fixed text with typed parameters: diesel's statement cache keys it by its
//! SQL, so each connection prepares it once and PostgreSQL may keep a generic plan.

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::query_dsl::methods::LoadQuery;
use diesel::sql_types::{BigInt, Nullable, Text, Untyped};
use diesel::{PgConnection, QueryResult, RunQueryDsl};

use crate::{DbConnection, StoreError};

/// One parameter of a [`PreparedSql`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum Param<'a> {
    Text(&'a str),
    BigInt(i64),
    /// A text parameter, possibly NULL.
    NullableText(Option<&'a str>),
}

/// Fixed SQL with PostgreSQL placeholders (`$1`, `$2`, … indexing `params`; one may recur).
pub(crate) struct PreparedSql<'a> {
    sql: &'static str,
    params: &'a [Param<'a>],
}

impl<'a> PreparedSql<'a> {
    pub(crate) fn new(sql: &'static str, params: &'a [Param<'a>]) -> Self {
        Self { sql, params }
    }

    /// Runs the statement on PostgreSQL and loads its rows (`QueryableByName`).
    pub(crate) fn load<U>(self, conn: &mut DbConnection) -> Result<Vec<U>, StoreError>
    where
        Self: LoadQuery<'a, PgConnection, U>,
    {
        match conn {
            DbConnection::Postgres(pg) => Ok(RunQueryDsl::load(self, pg)?),
            DbConnection::Sqlite(_) => Err(not_postgres(self.sql)),
        }
    }

    /// Runs the statement on PostgreSQL; the number of rows it changed.
    pub(crate) fn execute(self, conn: &mut DbConnection) -> Result<usize, StoreError> {
        match conn {
            DbConnection::Postgres(pg) => Ok(RunQueryDsl::execute(self, pg)?),
            DbConnection::Sqlite(_) => Err(not_postgres(self.sql)),
        }
    }
}

/// A caller's mistake, reported as a query error rather than a panic.
fn not_postgres(sql: &str) -> StoreError {
    StoreError::Query(diesel::result::Error::QueryBuilderError(
        format!("a PostgreSQL statement on SQLite: {sql}").into(),
    ))
}

impl QueryFragment<Pg> for PreparedSql<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        // Each `$n` becomes a bind of params[n - 1]: the query builder numbers binds in the order
        // they are pushed, so a recurring parameter is bound once per occurrence.
        let mut rest = self.sql;
        while let Some(at) = rest.find('$') {
            out.push_sql(&rest[..at]);
            let digits = rest[at + 1..].bytes().take_while(u8::is_ascii_digit).count();
            let index = rest[at + 1..at + 1 + digits].parse::<usize>().ok().and_then(|n| n.checked_sub(1));
            match index.and_then(|i| self.params.get(i)) {
                Some(Param::Text(value)) => out.push_bind_param::<Text, str>(value)?,
                Some(Param::BigInt(value)) => out.push_bind_param::<BigInt, i64>(value)?,
                Some(Param::NullableText(value)) => out.push_bind_param::<Nullable<Text>, Option<&str>>(value)?,
                None => {
                    return Err(diesel::result::Error::QueryBuilderError(
                        format!("placeholder without a parameter at byte {at} of: {}", self.sql).into(),
                    ))
                }
            }
            rest = &rest[at + 1 + digits..];
        }
        out.push_sql(rest);
        Ok(())
    }
}

impl QueryId for PreparedSql<'_> {
    // No static id: the statement cache then keys the statement by its SQL text.
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for PreparedSql<'_> {
    type SqlType = Untyped;
}

impl RunQueryDsl<PgConnection> for PreparedSql<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_binds_in_order_and_a_recurring_one_is_bound_again() {
        let params = [Param::BigInt(7), Param::Text("h")];
        let q = PreparedSql::new("UPDATE t SET a = $1 WHERE b = $2 AND c > $1", &params);
        let shown = diesel::debug_query::<Pg, _>(&q).to_string();
        assert!(shown.starts_with("UPDATE t SET a = $1 WHERE b = $2 AND c > $3 -- binds: [7, \"h\", 7]"), "{shown}");
    }

    #[test]
    fn a_placeholder_without_a_parameter_is_an_error_not_a_panic() {
        for sql in ["SELECT $3", "SELECT $0", "SELECT $"] {
            let params = [Param::Text("x")];
            let q = PreparedSql::new(sql, &params);
            let mut builder = diesel::pg::PgQueryBuilder::default();
            assert!(QueryFragment::<Pg>::to_sql(&q, &mut builder, &Pg).is_err(), "{sql}");
        }
    }
}
