//! Reading and clearing the throttles (`throttle_counters`) for operators (`yagona throttle`).
//! Keys are `account:<login>`, `address:<client address>` (password logins),
//! `client:<client id>`, `client-address:<client address>` (client authentication) and
//! `registration:<client address>` (the wizard's existence checks).

use diesel::prelude::*;

use crate::schema::throttle_counters as tc;
use crate::{Store, StoreError};

impl Store {
    /// Every throttle key whose window started since `window_start`, with attempts counted: the
    /// key, how many, the latest.
    pub fn login_failure_counts(&self, window_start: i64) -> Result<Vec<(String, i64, i64)>, StoreError> {
        Ok(tc::table
            .filter(tc::window_start.ge(window_start))
            .filter(tc::attempts.gt(0))
            .select((tc::key, tc::attempts, tc::last_attempt))
            .order(tc::key.asc())
            .load::<(String, i64, i64)>(&mut *self.conn()?)?)
    }

    /// Deletes the counter of `key`, or every counter when `None`; returns how many attempts
    /// they had counted.
    pub fn clear_login_failures_of(&self, key: Option<&str>) -> Result<usize, StoreError> {
        let conn = &mut *self.conn()?;
        let counted: Vec<i64> = match key {
            Some(key) => diesel::delete(tc::table.filter(tc::key.eq(key))).returning(tc::attempts).get_results(conn)?,
            None => diesel::delete(tc::table).returning(tc::attempts).get_results(conn)?,
        };
        Ok(usize::try_from(counted.iter().sum::<i64>()).unwrap_or(0))
    }
}
