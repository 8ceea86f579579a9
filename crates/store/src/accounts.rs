//! [`AccountRepository`] over the `accounts` table.

use diesel::prelude::*;
use yagona_account::eds::BoundCertificate;
use yagona_account::registration::Registration;
use yagona_account::{
    Account, AccountError, AccountId, AccountRepository, AccountStatus, Login, NewAccount, PasswordHash, Pinfl,
};

use crate::connection::per_backend;
use crate::rows::{AccountRow, CertificateRow, RegistrationRow};
use crate::schema::{accounts, certificates, registrations};
use crate::{Store, StoreError};

impl AccountRepository for Store {
    fn insert_account(&self, account: &NewAccount) -> Result<(), AccountError> {
        let row = AccountRow::from(account.account());
        let result =
            diesel::insert_into(accounts::table).values(&row).execute(&mut *self.conn()?).map_err(StoreError::from);
        result.map(|_| ()).map_err(account_insert_error)
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

    fn set_account_status(&self, id: &AccountId, status: AccountStatus) -> Result<(), AccountError> {
        diesel::update(accounts::table.find(id.as_str()))
            .set(accounts::status.eq(status.as_str()))
            .execute(&mut *self.conn()?)
            .map_err(StoreError::from)?;
        Ok(())
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
            Ok(())
        })
        .map_err(account_insert_error)
    }

    fn bind_certificate(&self, certificate: &BoundCertificate) -> Result<(), AccountError> {
        let row = CertificateRow::from(certificate);
        self.transaction(|conn| {
            // Write first (see the repositories of tokens): the insert takes the write lock.
            let inserted = diesel::insert_into(certificates::table).values(&row).execute(conn);
            match inserted {
                Ok(_) => {}
                Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
                    let owner: String = certificates::table
                        .find((&row.serial, &row.issuer))
                        .select(certificates::account_id)
                        .get_result(conn)?;
                    if owner != row.account_id {
                        return Err(StoreError::Conflict("certificate_taken".into()));
                    }
                }
                Err(e) => return Err(e.into()),
            }
            diesel::update(accounts::table.find(&row.account_id))
                .filter(accounts::status.ne(AccountStatus::Disabled.as_str()))
                .set(accounts::status.eq(AccountStatus::Confirmed.as_str()))
                .execute(conn)?;
            Ok(())
        })
        .map_err(|e| match e {
            StoreError::Conflict(_) => AccountError::CertificateTaken,
            other => other.into(),
        })
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
            Ok(())
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

/// A unique violation on insert names what is taken; anything else is a storage error.
fn account_insert_error(e: StoreError) -> AccountError {
    if e.is_unique_violation() {
        if e.database_message().contains("pinfl") {
            AccountError::PinflTaken
        } else {
            AccountError::LoginTaken
        }
    } else {
        e.into()
    }
}
