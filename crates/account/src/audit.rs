//! The audit trail: what changed whose identity, rights or sessions, by whom and when.
//!
//! Events are recorded in the same transaction as the change they describe (so a change without
//! its record cannot exist), and also logged under the `audit` tracing target by the server.

use serde_json::Value;

use crate::{AccountError, AccountId};

/// What happened. The names are stable: they are stored and shown by `yagona audit list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditKind {
    /// A login succeeded (detail: method, login, client address, client).
    LoginSucceeded,
    /// A login failed: wrong password, throttled, disabled (detail: method, login typed, address).
    LoginFailed,
    /// An account was created (detail: how: registration, cli, eds).
    AccountCreated,
    /// The rightful owner (proved by EDS) took over an unconfirmed self-registered account with
    /// their PINFL: password and contacts reset, sessions ended, grants revoked.
    AccountTakenOver,
    /// An account was confirmed with an EDS certificate; the certificate's data became verified.
    AccountConfirmed,
    /// An EDS certificate was bound to an account (detail: serial).
    CertificateBound,
    /// An operator disabled an account (its sessions end).
    AccountDisabled,
    /// An operator enabled a disabled account again.
    AccountEnabled,
    /// A new head linked a legal entity and the previous head's membership ended.
    HeadReplaced,
    /// A legal entity was linked for the first time.
    EntityLinked,
    /// A role was given to a person.
    RoleGranted,
    /// A role was taken back, expired or ended with its holder's replacement; the grants that
    /// carried it were revoked.
    RoleEnded,
    /// A person consented to a client's scopes.
    ConsentGranted,
    /// A person withdrew a client's access in the cabinet.
    ConsentRevoked,
    /// An operator registered a client.
    ClientAdded,
    /// An operator removed a client.
    ClientRemoved,
    /// An operator rotated the signing keys (detail: kid, alg, when it signs).
    KeyRotated,
    /// A spent refresh token (or code) was presented again: its whole grant was revoked.
    TokenReuseDetected,
    /// A session ended by logout (detail: how: `end_session`, `legacy_log_out`, `legacy_slo`;
    /// the client; the session's `sid`).
    LoggedOut,
    /// A person proved their e-mail address with a link (detail: the address).
    EmailVerified,
    /// A recovery link was sent (detail: by, the masked address) or refused (detail: reason).
    RecoveryRequested,
    /// A person set a new password with a recovery link: sessions ended, grants revoked.
    PasswordRecovered,
}

impl AuditKind {
    pub const ALL: [AuditKind; 22] = [
        AuditKind::LoginSucceeded,
        AuditKind::LoginFailed,
        AuditKind::AccountCreated,
        AuditKind::AccountTakenOver,
        AuditKind::AccountConfirmed,
        AuditKind::CertificateBound,
        AuditKind::AccountDisabled,
        AuditKind::AccountEnabled,
        AuditKind::HeadReplaced,
        AuditKind::EntityLinked,
        AuditKind::RoleGranted,
        AuditKind::RoleEnded,
        AuditKind::ConsentGranted,
        AuditKind::ConsentRevoked,
        AuditKind::ClientAdded,
        AuditKind::ClientRemoved,
        AuditKind::KeyRotated,
        AuditKind::TokenReuseDetected,
        AuditKind::LoggedOut,
        AuditKind::EmailVerified,
        AuditKind::RecoveryRequested,
        AuditKind::PasswordRecovered,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::LoginSucceeded => "login_succeeded",
            AuditKind::LoginFailed => "login_failed",
            AuditKind::AccountCreated => "account_created",
            AuditKind::AccountTakenOver => "account_taken_over",
            AuditKind::AccountConfirmed => "account_confirmed",
            AuditKind::CertificateBound => "certificate_bound",
            AuditKind::AccountDisabled => "account_disabled",
            AuditKind::AccountEnabled => "account_enabled",
            AuditKind::HeadReplaced => "head_replaced",
            AuditKind::EntityLinked => "entity_linked",
            AuditKind::RoleGranted => "role_granted",
            AuditKind::RoleEnded => "role_ended",
            AuditKind::ConsentGranted => "consent_granted",
            AuditKind::ConsentRevoked => "consent_revoked",
            AuditKind::ClientAdded => "client_added",
            AuditKind::ClientRemoved => "client_removed",
            AuditKind::KeyRotated => "key_rotated",
            AuditKind::TokenReuseDetected => "token_reuse_detected",
            AuditKind::LoggedOut => "logged_out",
            AuditKind::EmailVerified => "email_verified",
            AuditKind::RecoveryRequested => "recovery_requested",
            AuditKind::PasswordRecovered => "password_recovered",
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

impl AuditEvent {
    /// An event now-or-then with no actor or subject yet.
    pub fn new(kind: AuditKind, at: i64, detail: Value) -> Self {
        Self { at, kind, actor: None, subject: None, detail }
    }

    pub fn by(mut self, actor: &AccountId) -> Self {
        self.actor = Some(actor.clone());
        self
    }

    pub fn about(mut self, subject: &AccountId) -> Self {
        self.subject = Some(subject.clone());
        self
    }
}

/// The trail. Changes the store makes record their events inside their own transactions; events
/// of the protocol layer (logins, consents, operator commands) are recorded with
/// [`AuditRepository::record_audit`].
pub trait AuditRepository: Send + Sync {
    fn record_audit(&self, event: &AuditEvent) -> Result<(), AccountError>;
    /// The most recent events at or after `since`, newest first; only those about `subject`
    /// when given.
    fn audit_events(
        &self,
        subject: Option<&AccountId>,
        since: i64,
        limit: i64,
    ) -> Result<Vec<AuditEvent>, AccountError>;
    /// Deletes events older than `before` (the retention); returns how many.
    fn purge_audit(&self, before: i64) -> Result<u64, AccountError>;
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
