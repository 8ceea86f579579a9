//! [`AccountRepository`] over the `accounts` table.

use diesel::prelude::*;
use yagona_account::audit::{AuditEvent, AuditKind};
use yagona_account::eds::{BoundCertificate, CertifiedPerson, Takeover};
use yagona_account::registration::Registration;
use yagona_account::{
    Account, AccountError, AccountId, AccountRepository, AccountStatus, Login, NewAccount, PassportNumber,
    PasswordHash, Pinfl,
};

use crate::audit::record_audit_in;
use crate::connection::per_backend;
use crate::oidc::{end_session_in, revoke_grant_in};
use crate::rows::{AccountRow, CertificateRow, RegistrationRow};
use crate::schema::{
    accounts, certificates, consents, grants, recovery_tokens, registrations, sessions, verified_emails,
};
use crate::{DbConnection, Store, StoreError};

/// The account columns a certificate's holder data sets: the verified name and birth date.
type HolderColumns<'a> = (
    diesel::dsl::Eq<accounts::surname, &'a str>,
    diesel::dsl::Eq<accounts::first_name, &'a str>,
    diesel::dsl::Eq<accounts::middle_name, Option<&'a str>>,
    diesel::dsl::Eq<accounts::birth_date, String>,
);

fn holder_columns(holder: &CertifiedPerson) -> HolderColumns<'_> {
    (
        accounts::surname.eq(holder.surname.as_str()),
        accounts::first_name.eq(holder.first_name.as_str()),
        accounts::middle_name.eq(holder.middle_name.as_deref()),
        accounts::birth_date.eq(holder.birth_date.to_string()),
    )
}

/// Inserts a certificate binding; the same certificate bound to the same account again is not
/// an error, to another account it is a conflict.
fn insert_certificate_in(conn: &mut DbConnection, row: &CertificateRow) -> Result<(), StoreError> {
    match diesel::insert_into(certificates::table).values(row).execute(conn) {
        Ok(_) => Ok(()),
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
            let owner: String = certificates::table
                .find((&row.serial, &row.issuer))
                .select(certificates::account_id)
                .get_result(conn)?;
            if owner == row.account_id {
                Ok(())
            } else {
                Err(StoreError::Conflict("certificate_taken".into()))
            }
        }
        Err(e) => Err(e.into()),
    }
}

fn certificate_error(e: StoreError) -> AccountError {
    match e {
        StoreError::Conflict(what) if what == "certificate_taken" => AccountError::CertificateTaken,
        StoreError::Conflict(what) if what == "disabled" => AccountError::Disabled,
        StoreError::Conflict(_) => AccountError::TakeoverStale,
        other => other.into(),
    }
}

/// Ends every session of an account and revokes every grant it still has (offline ones too),
/// and forgets its consents; returns how many sessions and grants.
pub(crate) fn sign_out_everywhere_in(
    conn: &mut DbConnection,
    account: &str,
    now: i64,
) -> Result<(usize, usize), StoreError> {
    let hashes: Vec<String> =
        sessions::table.filter(sessions::account_id.eq(account)).select(sessions::id_hash).load(conn)?;
    for hash in &hashes {
        end_session_in(conn, hash, now)?;
    }
    let ids: Vec<String> = grants::table
        .filter(grants::account_id.eq(account))
        .filter(grants::revoked_at.is_null())
        .select(grants::id)
        .load(conn)?;
    for id in &ids {
        revoke_grant_in(conn, id, now)?;
    }
    diesel::delete(consents::table.filter(consents::account_id.eq(account))).execute(conn)?;
    Ok((hashes.len(), ids.len()))
}

impl AccountRepository for Store {
    fn insert_account(&self, account: &NewAccount) -> Result<(), AccountError> {
        let row = AccountRow::from(account.account());
        self.transaction(|conn| {
            diesel::insert_into(accounts::table).values(&row).execute(conn)?;
            record_audit_in(conn, &account_created(account, "cli"))
        })
        .map_err(account_insert_error)
    }

    fn find_account_by_login(&self, login: &Login) -> Result<Option<Account>, AccountError> {
        let row = accounts::table
            .filter(accounts::login.eq(login.as_str()))
            .get_result::<AccountRow>(&mut *self.conn()?)
            .optional()
            .map_err(StoreError::from)?;
        Ok(row.map(Account::try_from).transpose()?)
    }

    fn find_account(&self, id: &AccountId) -> Result<Option<Account>, AccountError> {
        let row = per_backend!(&mut *self.conn()?, |c| accounts::table
            .find(id.as_str())
            .get_result::<AccountRow>(c)
            .optional())
        .map_err(StoreError::from)?;
        Ok(row.map(Account::try_from).transpose()?)
    }

    fn list_accounts(&self) -> Result<Vec<Account>, AccountError> {
        let rows = accounts::table
            .order(accounts::login.asc())
            .load::<AccountRow>(&mut *self.conn()?)
            .map_err(StoreError::from)?;
        Ok(rows.into_iter().map(Account::try_from).collect::<Result<_, _>>()?)
    }

    fn find_account_by_pinfl(&self, pinfl: &Pinfl) -> Result<Option<Account>, AccountError> {
        let row = accounts::table
            .filter(accounts::pinfl.eq(pinfl.as_str()))
            .get_result::<AccountRow>(&mut *self.conn()?)
            .optional()
            .map_err(StoreError::from)?;
        Ok(row.map(Account::try_from).transpose()?)
    }

    fn find_account_by_passport(&self, passport: &PassportNumber) -> Result<Option<Account>, AccountError> {
        let row = accounts::table
            .filter(accounts::passport_number.eq(passport.as_str()))
            .first::<AccountRow>(&mut *self.conn()?)
            .optional()
            .map_err(StoreError::from)?;
        Ok(row.map(Account::try_from).transpose()?)
    }

    fn set_account_status(&self, id: &AccountId, status: AccountStatus) -> Result<(), AccountError> {
        Ok(self.transaction(|conn| {
            let before: Option<String> =
                accounts::table.find(id.as_str()).select(accounts::status).get_result(conn).optional()?;
            diesel::update(accounts::table.find(id.as_str()))
                .set(accounts::status.eq(status.as_str()))
                .execute(conn)?;
            let disabled = AccountStatus::Disabled.as_str();
            let kind = match (before.as_deref(), status) {
                (Some(b), AccountStatus::Disabled) if b != disabled => Some(AuditKind::AccountDisabled),
                (Some(b), s) if b == disabled && s != AccountStatus::Disabled => Some(AuditKind::AccountEnabled),
                _ => None,
            };
            match kind {
                Some(kind) => record_audit_in(
                    conn,
                    &AuditEvent::new(kind, unix_now(), serde_json::json!({ "status": status.as_str() })).about(id),
                ),
                None => Ok(()),
            }
        })?)
    }

    fn set_password_hash(&self, id: &AccountId, hash: &PasswordHash) -> Result<(), AccountError> {
        diesel::update(accounts::table.find(id.as_str()))
            .set(accounts::password_hash.eq(hash.as_phc()))
            .execute(&mut *self.conn()?)
            .map_err(StoreError::from)?;
        Ok(())
    }

    fn insert_registration(&self, registration: &Registration) -> Result<(), AccountError> {
        diesel::insert_into(registrations::table)
            .values(RegistrationRow::from(registration))
            .execute(&mut *self.conn()?)
            .map_err(StoreError::from)?;
        Ok(())
    }

    fn find_registration(&self, id_hash: &str, now: i64) -> Result<Option<Registration>, AccountError> {
        let row = registrations::table
            .find(id_hash)
            .filter(registrations::expires_at.gt(now))
            .get_result::<RegistrationRow>(&mut *self.conn()?)
            .optional()
            .map_err(StoreError::from)?;
        Ok(row.map(Registration::try_from).transpose()?)
    }

    fn update_registration(&self, registration: &Registration) -> Result<(), AccountError> {
        let row = RegistrationRow::from(registration);
        diesel::update(registrations::table.find(&row.id_hash))
            .set(registrations::draft.eq(&row.draft))
            .execute(&mut *self.conn()?)
            .map_err(StoreError::from)?;
        Ok(())
    }

    fn delete_registration(&self, id_hash: &str) -> Result<(), AccountError> {
        diesel::delete(registrations::table.find(id_hash)).execute(&mut *self.conn()?).map_err(StoreError::from)?;
        Ok(())
    }

    fn complete_registration(&self, registration_id_hash: &str, account: &NewAccount) -> Result<(), AccountError> {
        let row = AccountRow::from(account.account());
        self.transaction(|conn| {
            diesel::insert_into(accounts::table).values(&row).execute(conn)?;
            diesel::delete(registrations::table.find(registration_id_hash)).execute(conn)?;
            record_audit_in(conn, &account_created(account, "registration"))
        })
        .map_err(account_insert_error)
    }

    fn bind_certificate(&self, certificate: &BoundCertificate, holder: &CertifiedPerson) -> Result<(), AccountError> {
        let row = CertificateRow::from(certificate);
        self.transaction(|conn| {
            // Write first (see the repositories of tokens): the insert takes the write lock.
            insert_certificate_in(conn, &row)?;
            let status: String = accounts::table.find(&row.account_id).select(accounts::status).get_result(conn)?;
            if status == AccountStatus::Disabled.as_str() {
                return Err(StoreError::Conflict("disabled".into()));
            }
            diesel::update(accounts::table.find(&row.account_id))
                .set((accounts::status.eq(AccountStatus::Confirmed.as_str()), holder_columns(holder)))
                .execute(conn)?;
            let bound = AuditEvent::new(
                AuditKind::CertificateBound,
                certificate.bound_at,
                serde_json::json!({ "serial": row.serial, "issuer": row.issuer }),
            );
            record_audit_in(conn, &bound.by(&certificate.account_id).about(&certificate.account_id))?;
            if status == AccountStatus::Unconfirmed.as_str() {
                let event = AuditEvent {
                    at: certificate.bound_at,
                    kind: AuditKind::AccountConfirmed,
                    actor: Some(certificate.account_id.clone()),
                    subject: Some(certificate.account_id.clone()),
                    detail: serde_json::json!({ "serial": row.serial, "issuer": row.issuer }),
                };
                record_audit_in(conn, &event)?;
            }
            Ok(())
        })
        .map_err(certificate_error)
    }

    fn take_over_account(&self, takeover: &Takeover) -> Result<(), AccountError> {
        let id = takeover.account_id.as_str();
        let row = CertificateRow::from(&takeover.certificate);
        self.transaction(|conn| {
            // Write first; only an account still unconfirmed, of this PINFL, is taken over.
            let updated = diesel::update(
                accounts::table
                    .find(id)
                    .filter(accounts::status.eq(AccountStatus::Unconfirmed.as_str()))
                    .filter(accounts::pinfl.eq(takeover.certificate.pinfl.as_str())),
            )
            .set((
                accounts::status.eq(AccountStatus::Confirmed.as_str()),
                accounts::password_hash.eq(takeover.unusable_hash.as_phc()),
                accounts::email.eq(None::<String>),
                accounts::phone.eq(None::<String>),
                accounts::passport_number.eq(None::<String>),
                holder_columns(&takeover.person),
            ))
            .execute(conn)?;
            let proven: i64 = certificates::table.filter(certificates::account_id.eq(id)).count().get_result(conn)?;
            if updated != 1 || proven > 0 {
                return Err(StoreError::Conflict("takeover_stale".into()));
            }
            insert_certificate_in(conn, &row)?;
            // The squatter's confirmed address and recovery links go with the contacts.
            diesel::delete(verified_emails::table.find(id)).execute(conn)?;
            diesel::delete(recovery_tokens::table.filter(recovery_tokens::account_id.eq(id))).execute(conn)?;
            let (sessions_ended, grants_revoked) = sign_out_everywhere_in(conn, id, takeover.at)?;
            let event = AuditEvent {
                at: takeover.at,
                kind: AuditKind::AccountTakenOver,
                actor: Some(takeover.account_id.clone()),
                subject: Some(takeover.account_id.clone()),
                detail: serde_json::json!({
                    "serial": row.serial,
                    "issuer": row.issuer,
                    "sessions_ended": sessions_ended,
                    "grants_revoked": grants_revoked,
                }),
            };
            record_audit_in(conn, &event)?;
            Ok(())
        })
        .map_err(certificate_error)
    }

    fn find_account_by_certificate(&self, serial: &str, issuer: &str) -> Result<Option<Account>, AccountError> {
        let conn = &mut *self.conn()?;
        let owner = certificates::table
            .find((serial, issuer))
            .select(certificates::account_id)
            .get_result::<String>(conn)
            .optional()
            .map_err(StoreError::from)?;
        let Some(owner) = owner else { return Ok(None) };
        let row = accounts::table.find(owner).get_result::<AccountRow>(conn).optional().map_err(StoreError::from)?;
        Ok(row.map(Account::try_from).transpose()?)
    }

    fn list_certificates(&self, account: &AccountId) -> Result<Vec<BoundCertificate>, AccountError> {
        let rows = certificates::table
            .filter(certificates::account_id.eq(account.as_str()))
            .order(certificates::bound_at.desc())
            .load::<CertificateRow>(&mut *self.conn()?)
            .map_err(StoreError::from)?;
        Ok(rows.into_iter().map(BoundCertificate::try_from).collect::<Result<_, _>>()?)
    }

    fn insert_account_with_certificate(
        &self,
        account: &NewAccount,
        certificate: &BoundCertificate,
    ) -> Result<(), AccountError> {
        let account_row = AccountRow::from(account.account());
        let certificate_row = CertificateRow::from(certificate);
        self.transaction(|conn| {
            diesel::insert_into(accounts::table).values(&account_row).execute(conn)?;
            diesel::insert_into(certificates::table).values(&certificate_row).execute(conn)?;
            let mut created = account_created(account, "eds");
            created.detail["serial"] = serde_json::Value::from(certificate_row.serial.as_str());
            record_audit_in(conn, &created)
        })
        .map_err(|e| {
            if e.is_unique_violation() && e.database_message().contains("certificates") {
                AccountError::CertificateTaken
            } else {
                account_insert_error(e)
            }
        })
    }
}

/// The record of a new account; `via` is how it came: registration, cli, eds.
fn account_created(account: &NewAccount, via: &str) -> AuditEvent {
    let a = account.account();
    AuditEvent::new(
        AuditKind::AccountCreated,
        a.created_at,
        serde_json::json!({ "via": via, "login": a.login.as_str() }),
    )
    .about(&a.id)
}

/// The wall clock, for the operator actions whose repository methods take no time.
fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// A unique violation on insert names what is taken; anything else is a storage error.
pub(crate) fn account_insert_error(e: StoreError) -> AccountError {
    if e.is_unique_violation() {
        let message = e.database_message();
        if message.contains("pinfl") {
            AccountError::PinflTaken
        } else if message.contains("passport") {
            AccountError::PassportTaken
        } else {
            AccountError::LoginTaken
        }
    } else {
        e.into()
    }
}
