//! The purge of what has expired, one function for the server's periodic housekeeping and for
//! `yagona purge` (docs/operations.md, docs/performance.md "Housekeeping at scale").

use std::sync::atomic::AtomicBool;

use yagona_account::legal::LegalRepository as _;
use yagona_store::{PurgeBatches, PurgeReport, Store};

use crate::config::Settings;

/// How the expired rows are deleted.
#[derive(Debug, Clone, Copy)]
pub enum PurgeMethod {
    /// Short batches, each its own transaction (the way the server purges).
    Batches(PurgeBatches),
    /// One statement per table in one transaction: the purge before batches, kept for the
    /// purge bench's comparison.
    AtOnce,
}

/// What one purge did.
#[derive(Debug, Clone)]
pub struct PurgeSummary {
    pub memberships_ended: usize,
    pub expired: PurgeReport,
    /// Audit events past `audit.retention_days` (none when the trail is kept for ever, or when
    /// the expired rows' purge stopped for the shutdown).
    pub audit_events: Option<PurgeReport>,
}

/// Ends expired memberships, deletes expired rows, then audit events past their retention.
/// Batches stop once `stop` is set (the server is shutting down); the rest waits for the next
/// purge.
pub fn purge(
    store: &Store,
    settings: &Settings,
    now: i64,
    method: PurgeMethod,
    stop: &AtomicBool,
) -> Result<PurgeSummary, String> {
    // Expired roles end first (an event in the audit trail), revoking their grants: until then,
    // every use of those grants checks the membership anyway.
    let memberships_ended = store.end_expired_memberships(now).map_err(|e| e.to_string())?;
    let expired = match method {
        PurgeMethod::Batches(how) => store.purge_expired_in_batches_until(now, how, stop),
        PurgeMethod::AtOnce => store.purge_expired_at_once(now),
    }
    .map_err(|e| e.to_string())?;
    // The trail goes in the same batches whatever the method: the one-transaction purge is kept
    // only for the expired rows' comparison in the purge bench.
    let how = match method {
        PurgeMethod::Batches(how) => how,
        PurgeMethod::AtOnce => PurgeBatches::for_backend(store.backend()),
    };
    let audit_events = match settings.audit_retention {
        Some(_) if expired.stopped => None,
        Some(retention) => {
            Some(store.purge_audit_in_batches_until(now - retention, how, stop).map_err(|e| e.to_string())?)
        }
        None => None,
    };
    Ok(PurgeSummary { memberships_ended, expired, audit_events })
}
