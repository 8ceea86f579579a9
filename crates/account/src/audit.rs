//! The audit trail: what changed whose identity, rights or sessions, by whom and when.
//!
//! Events are recorded in the same transaction as the change they describe (so a change without
//! its record cannot exist), and also logged under the `audit` tracing target by the server.

use serde_json::Value;

use crate::{AccountError, AccountId};

/// What happened. The names are stable: they are stored and shown by `yagona audit list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditKind {
    /// The rightful owner (proved by EDS) took over an unconfirmed self-registered account with
    /// their PINFL: password and contacts reset, sessions ended, grants revoked.
    AccountTakenOver,
    /// An account was confirmed with an EDS certificate; the certificate's data became verified.
    AccountConfirmed,
    /// A new head linked a legal entity and the previous head's membership ended.
    HeadReplaced,
    /// A legal entity was linked for the first time.
    EntityLinked,
    /// A role was given to a person.
    RoleGranted,
    /// A role was taken back, expired or ended with its holder's replacement; the grants that
    /// carried it were revoked.
    RoleEnded,
}

impl AuditKind {
    pub const ALL: [AuditKind; 6] = [
        AuditKind::AccountTakenOver,
        AuditKind::AccountConfirmed,
        AuditKind::HeadReplaced,
        AuditKind::EntityLinked,
        AuditKind::RoleGranted,
        AuditKind::RoleEnded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::AccountTakenOver => "account_taken_over",
            AuditKind::AccountConfirmed => "account_confirmed",
            AuditKind::HeadReplaced => "head_replaced",
            AuditKind::EntityLinked => "entity_linked",
            AuditKind::RoleGranted => "role_granted",
            AuditKind::RoleEnded => "role_ended",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One entry of the audit trail.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub at: i64,
    pub kind: AuditKind,
    /// The account that acted (None: the system, e.g. an expiry).
    pub actor: Option<AccountId>,
    /// The account the event is about.
    pub subject: Option<AccountId>,
    /// Facts of the event (TIN, role, certificate serial, ...), never secrets.
    pub detail: Value,
}

/// Reading the trail; writing happens inside the repositories' own transactions.
pub trait AuditRepository: Send + Sync {
    /// The most recent events, newest first; only those about `subject` when given.
    fn audit_events(&self, subject: Option<&AccountId>, limit: i64) -> Result<Vec<AuditEvent>, AccountError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_names() {
        for k in AuditKind::ALL {
            assert_eq!(AuditKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(AuditKind::parse("nope"), None);
    }
}
