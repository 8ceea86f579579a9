//! `revocation_sources`: when the servers last loaded each configured CRL, and what it said.
//! Written by `yagona serve` at start and at every refresh, read by `yagona pki status`.

use diesel::prelude::*;

use crate::schema::revocation_sources as rs;
use crate::{Store, StoreError};

/// The record of one CRL source.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct CrlSourceRecord {
    pub source: String,
    pub issuer: Option<String>,
    pub this_update: Option<i64>,
    pub next_update: Option<i64>,
    pub revoked: Option<i64>,
    /// The last successful load by any server.
    pub loaded_at: Option<i64>,
    /// The last failed load, if later than the last success.
    pub failed_at: Option<i64>,
    pub error: Option<String>,
}

impl Store {
    /// Records a successful load of `source` (and clears an earlier failure).
    pub fn record_crl_loaded(
        &self,
        source: &str,
        issuer: &str,
        this_update: i64,
        next_update: Option<i64>,
        revoked: usize,
        now: i64,
    ) -> Result<(), StoreError> {
        let revoked = i64::try_from(revoked).unwrap_or(i64::MAX);
        let values = (
            rs::issuer.eq(Some(issuer)),
            rs::this_update.eq(Some(this_update)),
            rs::next_update.eq(next_update),
            rs::revoked.eq(Some(revoked)),
            rs::loaded_at.eq(Some(now)),
            rs::failed_at.eq(None::<i64>),
            rs::error.eq(None::<&str>),
        );
        self.transaction(|conn| {
            if diesel::update(rs::table.find(source)).set(values).execute(conn)? == 0 {
                diesel::insert_into(rs::table).values((rs::source.eq(source), values)).execute(conn)?;
            }
            Ok(())
        })
    }

    /// Records a failed load of `source`, keeping what the last successful load said.
    pub fn record_crl_failed(&self, source: &str, error: &str, now: i64) -> Result<(), StoreError> {
        let values = (rs::failed_at.eq(Some(now)), rs::error.eq(Some(error)));
        self.transaction(|conn| {
            if diesel::update(rs::table.find(source)).set(values).execute(conn)? == 0 {
                diesel::insert_into(rs::table).values((rs::source.eq(source), values)).execute(conn)?;
            }
            Ok(())
        })
    }

    /// Every recorded source.
    pub fn crl_sources(&self) -> Result<Vec<CrlSourceRecord>, StoreError> {
        Ok(rs::table.order(rs::source.asc()).load::<CrlSourceRecord>(&mut *self.conn()?)?)
    }
}
