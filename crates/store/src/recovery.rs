//! Contacts the person edits in the cabinet, e-mail addresses proved by a link, and the one-time
//! links of password recovery (issue 14, item 15; docs/recovery.md).
//!
//! A link's secret is stored only as its SHA-256 (`recovery_tokens.hash`); spending a link is one
//! conditional `DELETE ... RETURNING`, so of two concurrent uses exactly one finds it. An address
//! counts as verified only while the account's e-mail is still the address that was proved.

use diesel::prelude::*;
use yagona_account::audit::{AuditEvent, AuditKind};
use yagona_account::{Account, AccountError, AccountId, PasswordHash};

use crate::accounts::{account_insert_error, sign_out_everywhere_in};
use crate::audit::record_audit_in;
use crate::rows::AccountRow;
use crate::schema::{accounts, recovery_tokens as rt, verified_emails as ve};
use crate::{Store, StoreError};

/// What a one-time link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    /// Proves the person reads this e-mail address.
    VerifyEmail,
    /// Sets a new password (recovery).
    ResetPassword,
}

impl LinkPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::ResetPassword => "reset_password",
        }
    }
}

/// The outcome of a password reset by link.
#[derive(Debug, PartialEq, Eq)]
pub struct PasswordReset {
    pub account_id: AccountId,
    pub sessions_ended: usize,
    pub grants_revoked: usize,
}

impl Store {
    /// The account's e-mail if the person proved it (and has not changed it since).
    pub fn verified_email_of(&self, account: &AccountId) -> Result<Option<String>, StoreError> {
        let conn = &mut *self.conn()?;
        let proved = ve::table.find(account.as_str()).select(ve::email).get_result::<String>(conn).optional()?;
        let current = accounts::table.find(account.as_str()).select(accounts::email).get_result::<Option<String>>(conn);
        Ok(match (proved, current.optional()?.flatten()) {
            (Some(proved), Some(current)) if proved == current => Some(current),
            _ => None,
        })
    }

    /// The accounts (at most `limit`) whose e-mail is `email` and proved.
    pub fn accounts_with_verified_email(&self, email: &str, limit: i64) -> Result<Vec<Account>, StoreError> {
        let rows = accounts::table
            .inner_join(ve::table.on(ve::account_id.eq(accounts::id)))
            .filter(accounts::email.eq(email))
            .filter(ve::email.eq(email))
            .select(accounts::all_columns)
            .limit(limit)
            .load::<AccountRow>(&mut *self.conn()?)?;
        rows.into_iter().map(Account::try_from).collect()
    }

    /// Stores a new link for `account`; earlier links of the same purpose stop working.
    pub fn issue_link(
        &self,
        hash: &str,
        account: &AccountId,
        purpose: LinkPurpose,
        email: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.transaction(|conn| {
            diesel::delete(
                rt::table.filter(rt::account_id.eq(account.as_str())).filter(rt::purpose.eq(purpose.as_str())),
            )
            .execute(conn)?;
            diesel::insert_into(rt::table)
                .values((
                    rt::hash.eq(hash),
                    rt::account_id.eq(account.as_str()),
                    rt::purpose.eq(purpose.as_str()),
                    rt::email.eq(email),
                    rt::created_at.eq(now),
                    rt::expires_at.eq(expires_at),
                ))
                .execute(conn)?;
            Ok(())
        })
    }

    /// Whether a link is live (shown before it is spent): its account.
    pub fn live_link(&self, hash: &str, purpose: LinkPurpose, now: i64) -> Result<Option<AccountId>, StoreError> {
        let found = rt::table
            .find(hash)
            .filter(rt::purpose.eq(purpose.as_str()))
            .filter(rt::expires_at.gt(now))
            .select(rt::account_id)
            .get_result::<String>(&mut *self.conn()?)
            .optional()?;
        Ok(found.map(AccountId::from_stored))
    }

    /// Spends an e-mail verification link: the address it was sent to becomes the account's
    /// verified one, if the account's e-mail is still that address. `None`: no such live link.
    pub fn verify_email_with_link(&self, hash: &str, now: i64) -> Result<Option<AccountId>, StoreError> {
        self.transaction(|conn| {
            let Some((account, email)) = spend_in(conn, hash, LinkPurpose::VerifyEmail, now)? else { return Ok(None) };
            let current: Option<String> = accounts::table.find(&account).select(accounts::email).get_result(conn)?;
            if current.as_deref() != Some(email.as_str()) {
                return Ok(None);
            }
            diesel::delete(ve::table.find(&account)).execute(conn)?;
            diesel::insert_into(ve::table)
                .values((ve::account_id.eq(&account), ve::email.eq(&email), ve::verified_at.eq(now)))
                .execute(conn)?;
            let id = AccountId::from_stored(account);
            let event = AuditEvent::new(AuditKind::EmailVerified, now, serde_json::json!({ "email": email }))
                .by(&id)
                .about(&id);
            record_audit_in(conn, &event)?;
            Ok(Some(id))
        })
    }

    /// Spends a recovery link and sets the new password, if the link was sent to the account's
    /// still-verified e-mail; then every session ends, every grant is revoked and the other
    /// links are spent, in the same transaction. `None`: no such live link.
    pub fn reset_password_with_link(
        &self,
        hash: &str,
        new_hash: &PasswordHash,
        now: i64,
    ) -> Result<Option<PasswordReset>, StoreError> {
        self.transaction(|conn| {
            let Some((account, email)) = spend_in(conn, hash, LinkPurpose::ResetPassword, now)? else {
                return Ok(None);
            };
            let proved = ve::table
                .find(&account)
                .inner_join(accounts::table.on(accounts::id.eq(ve::account_id)))
                .filter(ve::email.eq(&email))
                .filter(accounts::email.eq(&email))
                .filter(accounts::status.ne(yagona_account::AccountStatus::Disabled.as_str()))
                .count()
                .get_result::<i64>(conn)?;
            if proved != 1 {
                return Ok(None);
            }
            diesel::update(accounts::table.find(&account))
                .set(accounts::password_hash.eq(new_hash.as_phc()))
                .execute(conn)?;
            diesel::delete(rt::table.filter(rt::account_id.eq(&account))).execute(conn)?;
            let (sessions_ended, grants_revoked) = sign_out_everywhere_in(conn, &account, now)?;
            let id = AccountId::from_stored(account);
            let detail = serde_json::json!({
                "by": "email", "sessions_ended": sessions_ended, "grants_revoked": grants_revoked,
            });
            record_audit_in(conn, &AuditEvent::new(AuditKind::PasswordRecovered, now, detail).by(&id).about(&id))?;
            Ok(Some(PasswordReset { account_id: id, sessions_ended, grants_revoked }))
        })
    }

    /// Sets the person's contacts and, when the account has none yet, the passport number. A
    /// changed e-mail is no longer verified (its proof was for the old address).
    pub fn set_contacts(
        &self,
        account: &AccountId,
        phone: Option<&str>,
        email: Option<&str>,
        passport: Option<&str>,
    ) -> Result<(), AccountError> {
        self.transaction(|conn| {
            diesel::update(accounts::table.find(account.as_str()))
                .set((accounts::phone.eq(phone), accounts::email.eq(email)))
                .execute(conn)?;
            if let Some(passport) = passport {
                diesel::update(accounts::table.find(account.as_str()).filter(accounts::passport_number.is_null()))
                    .set(accounts::passport_number.eq(passport))
                    .execute(conn)?;
            }
            // The proof was for an address: another one (or none) is not proved.
            let proved = ve::table.find(account.as_str());
            match email {
                Some(email) => diesel::delete(proved.filter(ve::email.ne(email))).execute(conn)?,
                None => diesel::delete(proved).execute(conn)?,
            };
            Ok(())
        })
        .map_err(account_insert_error)
    }
}

/// Deletes a live link of `purpose`, returning its account and address.
fn spend_in(
    conn: &mut crate::DbConnection,
    hash: &str,
    purpose: LinkPurpose,
    now: i64,
) -> Result<Option<(String, String)>, StoreError> {
    Ok(diesel::delete(rt::table.find(hash).filter(rt::purpose.eq(purpose.as_str())).filter(rt::expires_at.gt(now)))
        .returning((rt::account_id, rt::email))
        .get_result::<(String, String)>(conn)
        .optional()?)
}
