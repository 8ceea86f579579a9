//! Recording audit events of the protocol layer (logins, consents, operator commands). A failure
//! to record is logged and never fails the request: the change itself has happened, and the
//! `audit` log line is written either way.

use yagona_account::audit::{AuditEvent, AuditRepository as _};
use yagona_store::Store;

pub fn record(store: &Store, event: AuditEvent) {
    if let Err(e) = store.record_audit(&event) {
        tracing::error!(kind = event.kind.as_str(), detail = %e, "recording an audit event failed");
    }
}
