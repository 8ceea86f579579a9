//! Reading and clearing the login throttle (`login_failures`) for operators (`yagona throttle`).
//! Keys are `account:<login>` and `address:<client address>`.

use diesel::dsl::{count_star, max};
use diesel::prelude::*;

use crate::schema::login_failures as lf;
use crate::{Store, StoreError};

impl Store {
    /// Every throttle key with failures since `window_start`: the key, how many, the latest.
    pub fn login_failure_counts(&self, window_start: i64) -> Result<Vec<(String, i64, i64)>, StoreError> {
        let rows = lf::table
            .filter(lf::failed_at.ge(window_start))
            .group_by(lf::key)
            .select((lf::key, count_star(), max(lf::failed_at)))
            .order(lf::key.asc())
            .load::<(String, i64, Option<i64>)>(&mut *self.conn()?)?;
        Ok(rows.into_iter().map(|(k, n, last)| (k, n, last.unwrap_or(0))).collect())
    }

    /// Deletes the failures of `key`, or of every key when `None`; returns how many.
    pub fn clear_login_failures_of(&self, key: Option<&str>) -> Result<usize, StoreError> {
        let conn = &mut *self.conn()?;
        Ok(match key {
            Some(key) => diesel::delete(lf::table.filter(lf::key.eq(key))).execute(conn)?,
            None => diesel::delete(lf::table).execute(conn)?,
        })
    }
}
