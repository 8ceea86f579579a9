//! The audit trail (`audit_events`). Repositories call [`record_audit_in`] inside the
//! transaction of the change they record, so the change and its record commit together.

use std::sync::atomic::AtomicBool;

use diesel::prelude::*;
use yagona_account::audit::{AuditEvent, AuditKind, AuditRepository};
use yagona_account::{AccountError, AccountId};
use yagona_oidc::secrets::random_id;

use crate::oidc::purge::{Expiring, PurgeBatches, PurgeReport};
use crate::schema::audit_events;
use crate::{DbConnection, Store, StoreError};

/// Records `event` on `conn` (inside the caller's transaction) and logs it under the `audit`
/// target. The log line is written before the commit: a rolled-back change logs an event that
/// did not happen, which an operator can tell from the table; the reverse (a change without a
/// record) cannot happen.
pub(crate) fn record_audit_in(conn: &mut DbConnection, event: &AuditEvent) -> Result<(), StoreError> {
    diesel::insert_into(audit_events::table)
        .values((
            audit_events::id.eq(random_id()),
            audit_events::at.eq(event.at),
            audit_events::kind.eq(event.kind.as_str()),
            audit_events::actor.eq(event.actor.as_ref().map(|a| a.as_str())),
            audit_events::subject.eq(event.subject.as_ref().map(|a| a.as_str())),
            audit_events::detail.eq(event.detail.to_string()),
        ))
        .execute(conn)?;
    tracing::info!(
        target: "audit",
        kind = event.kind.as_str(),
        actor = event.actor.as_ref().map(|a| a.as_str()),
        subject = event.subject.as_ref().map(|a| a.as_str()),
        detail = %event.detail,
        "audit event"
    );
    Ok(())
}

type AuditRow = (i64, String, Option<String>, Option<String>, String);

/// The audit trail in the purge's terms: an event goes once its `at` is past the retention.
const AUDIT_EVENTS: Expiring = Expiring { table: "audit_events", column: "at", kept: 0 };

impl Store {
    /// Deletes the events older than `before` (the retention) in the purge's batches, each from
    /// where the last stopped (`crate::oidc::purge`), stopping between batches once `stop` is set
    /// (the report says so). A first retention purge of a trail kept for years is millions of
    /// events: one statement would hold SQLite's one writer, or PostgreSQL's WAL, for minutes.
    pub fn purge_audit_in_batches_until(
        &self,
        before: i64,
        how: PurgeBatches,
        stop: &AtomicBool,
    ) -> Result<PurgeReport, StoreError> {
        // The purge deletes what is at or before its cutoff; the retention keeps `before` itself.
        PurgeReport::timed(|report| self.drain_expired(report, AUDIT_EVENTS, before.saturating_sub(1), how, stop))
    }
}

impl AuditRepository for Store {
    fn record_audit(&self, event: &AuditEvent) -> Result<(), AccountError> {
        Ok(record_audit_in(&mut *self.conn()?, event)?)
    }

    fn purge_audit(&self, before: i64) -> Result<u64, AccountError> {
        let how = PurgeBatches::for_backend(self.backend());
        Ok(self.purge_audit_in_batches_until(before, how, &AtomicBool::new(false))?.rows())
    }

    fn audit_events(
        &self,
        subject: Option<&AccountId>,
        since: i64,
        limit: i64,
    ) -> Result<Vec<AuditEvent>, AccountError> {
        let mut query = audit_events::table
            .filter(audit_events::at.ge(since))
            .select((
                audit_events::at,
                audit_events::kind,
                audit_events::actor,
                audit_events::subject,
                audit_events::detail,
            ))
            .order((audit_events::at.desc(), audit_events::id.desc()))
            .limit(limit)
            .into_boxed();
        if let Some(s) = subject {
            query = query.filter(audit_events::subject.eq(s.as_str().to_owned()));
        }
        let rows = query.load::<AuditRow>(&mut *self.conn()?).map_err(StoreError::from)?;
        Ok(rows
            .into_iter()
            .map(|(at, kind, actor, subject, detail)| {
                Ok(AuditEvent {
                    at,
                    kind: AuditKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("audit kind {kind}")))?,
                    actor: actor.map(AccountId::from_stored),
                    subject: subject.map(AccountId::from_stored),
                    detail: serde_json::from_str(&detail).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                })
            })
            .collect::<Result<_, StoreError>>()?)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use diesel::connection::SimpleConnection as _;
    use diesel::sql_types::BigInt;

    use super::*;
    use crate::tests::PgDatabase;

    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }

    /// Block accesses to the `at` index so far, this connection's included (its pending
    /// statistics are flushed first).
    fn at_index_blocks(conn: &mut DbConnection) -> i64 {
        let DbConnection::Postgres(pg) = conn else { unreachable!("PostgreSQL only") };
        pg.batch_execute("SELECT pg_stat_force_next_flush()").unwrap();
        diesel::sql_query(
            "SELECT (coalesce(idx_blks_hit, 0) + coalesce(idx_blks_read, 0))::bigint AS n FROM pg_statio_user_indexes \
             WHERE indexrelname = 'audit_events_at'",
        )
        .get_result::<N>(pg)
        .unwrap()
        .n
    }

    /// A retention purge reads the `at` index about once, however many batches it takes. The
    /// entries of the rows a batch deleted stay in PostgreSQL's index until a vacuum: a batch
    /// that starts again at the oldest entry walks over all the earlier batches' rows, so each
    /// batch is slower than the last (at 10 M people, millions of old events went at ~1400
    /// rows/s and falling). One connection and no autovacuum make the count this purge's own.
    #[test]
    fn a_retention_purge_reads_the_at_index_once_not_once_per_batch() {
        const EVENTS: i64 = 240_000;
        const OLD: i64 = 40_000;
        let db = PgDatabase::create();
        let store = Store::open(&db.url(), 1).unwrap();
        store.migrate().unwrap();
        let mut conn = store.conn().unwrap();
        let DbConnection::Postgres(pg) = &mut *conn else { unreachable!() };
        pg.batch_execute(&format!(
            "ALTER TABLE audit_events SET (autovacuum_enabled = false);
             INSERT INTO audit_events (id, at, kind, actor, subject, detail)
                 SELECT md5(i::text), i, 'login', NULL, NULL, '{{}}' FROM generate_series(1, {EVENTS}) AS i;
             ANALYZE audit_events;"
        ))
        .unwrap();
        let pages = diesel::sql_query("SELECT (pg_relation_size('audit_events_at') / 8192)::bigint AS n")
            .get_result::<N>(pg)
            .unwrap()
            .n;
        let before = at_index_blocks(&mut conn);
        drop(conn);
        assert_eq!(store.purge_audit(OLD + 1).unwrap(), OLD as u64);
        let read = at_index_blocks(&mut store.conn().unwrap()) - before;
        // The old events' share of the index, read twice over, and a descent per batch: at most
        // 265 blocks here. The purge reads 140; batches that each started at the oldest event
        // (and 1000 rows each) read 2453.
        let old_pages = pages * OLD / EVENTS;
        let bound = 2 * old_pages + 5 * (OLD / PurgeBatches::for_backend(crate::Backend::Postgres).batch + 1);
        assert!(read <= bound, "the purge read {read} blocks of the at index ({pages} pages); at most {bound}");
    }
}
