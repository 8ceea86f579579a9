//! Recording audit events of the protocol layer (logins, consents, operator commands). A failure
//! to record is logged and never fails the request: the change itself has happened, and the
//! `audit` log line is written either way.

use yagona_account::audit::{AuditEvent, AuditKind, AuditRepository as _};
use yagona_store::Store;

pub fn record(store: &Store, event: AuditEvent) {
    if let Err(e) = store.record_audit(&event) {
        tracing::error!(kind = event.kind.as_str(), detail = %e, "recording an audit event failed");
    }
}

/// A session ended by logout: `how` names the way (`end_session`, `legacy_log_out`,
/// `legacy_slo`), `client` the relying party that asked, if any.
pub fn logged_out(
    store: &Store,
    account: &yagona_account::AccountId,
    sid: &str,
    how: &str,
    client: Option<&str>,
    now: i64,
) {
    let detail = serde_json::json!({ "how": how, "client": client, "sid": sid });
    let event = AuditEvent::new(AuditKind::LoggedOut, now, detail);
    record(store, event.by(account).about(account));
}
