//! The audit trail (`audit_events`). Repositories call [`record_audit_in`] inside the
//! transaction of the change they record, so the change and its record commit together.

use diesel::prelude::*;
use yagona_account::audit::{AuditEvent, AuditKind, AuditRepository};
use yagona_account::{AccountError, AccountId};
use yagona_oidc::secrets::random_id;

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

impl AuditRepository for Store {
    fn record_audit(&self, event: &AuditEvent) -> Result<(), AccountError> {
        Ok(record_audit_in(&mut *self.conn()?, event)?)
    }

    fn purge_audit(&self, before: i64) -> Result<u64, AccountError> {
        // In batches, so a large purge never holds the table (or SQLite's one writer) for long.
        let mut total = 0u64;
        loop {
            let conn = &mut *self.conn()?;
            let batch: Vec<String> = audit_events::table
                .filter(audit_events::at.lt(before))
                .select(audit_events::id)
                .limit(1000)
                .load(conn)
                .map_err(StoreError::from)?;
            if batch.is_empty() {
                return Ok(total);
            }
            let n = diesel::delete(audit_events::table.filter(audit_events::id.eq_any(&batch)))
                .execute(conn)
                .map_err(StoreError::from)?;
            total += n as u64;
        }
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
