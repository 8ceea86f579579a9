//! The account of a person, and the storage port for accounts.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{AccountError, BirthDate, Login, PassportNumber, PasswordHash, Pinfl};

/// The stable, opaque identifier of an account; it is the `sub` claim. It never reveals the
/// PINFL or the login, which can change or are personal data.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AccountId(String);

impl AccountId {
    /// A new random id (128 bits, hex).
    pub fn generate() -> Self {
        let bytes: [u8; 16] = rand::random();
        Self(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }
    pub fn from_stored(id: String) -> Self {
        Self(id)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where an account stands: `Unconfirmed` after registration, `Confirmed` once an EDS
/// certificate with the same PINFL is bound to it, `Disabled` by an operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountStatus {
    Unconfirmed,
    Confirmed,
    Disabled,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unconfirmed => "unconfirmed",
            Self::Confirmed => "confirmed",
            Self::Disabled => "disabled",
        }
    }
}

impl TryFrom<&str> for AccountStatus {
    type Error = AccountError;
    fn try_from(value: &str) -> Result<Self, Self::Error> {
        match value {
            "unconfirmed" => Ok(Self::Unconfirmed),
            "confirmed" => Ok(Self::Confirmed),
            "disabled" => Ok(Self::Disabled),
            other => Err(AccountError::Storage(format!("unknown account status {other:?}"))),
        }
    }
}

/// An account as stored.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: AccountId,
    pub login: Login,
    pub pinfl: Pinfl,
    pub password_hash: PasswordHash,
    pub surname: String,
    pub first_name: String,
    pub middle_name: Option<String>,
    pub birth_date: BirthDate,
    pub passport_number: Option<PassportNumber>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub status: AccountStatus,
    pub created_at: i64,
}

impl Account {
    /// The full name as printed in documents: surname, first name, patronymic.
    pub fn full_name(&self) -> String {
        let mut name = format!("{} {}", self.surname, self.first_name);
        if let Some(middle) = &self.middle_name {
            name.push(' ');
            name.push_str(middle);
        }
        name
    }

    /// EDS-confirmed (the `account_verified` claim).
    pub fn is_verified(&self) -> bool {
        self.status == AccountStatus::Confirmed
    }

    /// The one check of every way in (password, EDS, first EDS login, refresh, and the legacy
    /// API to come): a disabled account is refused before anything is written or any session
    /// starts.
    pub fn ensure_active(&self) -> Result<(), AccountError> {
        if self.status == AccountStatus::Disabled {
            Err(AccountError::Disabled)
        } else {
            Ok(())
        }
    }
}

/// The longest name part (surname, first name, patronymic) accepted, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// A part of a person's name, trimmed: letters of any script, spaces, hyphens, dots and the
/// apostrophes of Uzbek spelling (`'`, `ʻ`, `ʼ`, `’`, `` ` ``). Digits, control characters and
/// bidirectional overrides are refused, so what a relying party shows is what was entered.
pub fn person_name(value: &str, field: &'static str) -> Result<String, AccountError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(AccountError::Required(field));
    }
    if value.chars().count() > MAX_NAME_CHARS {
        return Err(AccountError::TooLong(field, MAX_NAME_CHARS));
    }
    let allowed =
        |c: char| c.is_alphabetic() || matches!(c, ' ' | '-' | '.' | '\'' | '\u{2bb}' | '\u{2bc}' | '\u{2019}' | '`');
    if value.chars().all(allowed) {
        Ok(value.to_owned())
    } else {
        Err(AccountError::NameCharacters(field))
    }
}

/// Refuses a birth date after the day of `now` (unix seconds, UTC).
pub fn check_birth_date_past(birth_date: &BirthDate, now: i64) -> Result<(), AccountError> {
    let today = chrono::DateTime::from_timestamp(now, 0).map(|t| t.date_naive()).unwrap_or_default();
    if birth_date.date() > today {
        Err(AccountError::BirthDateInFuture)
    } else {
        Ok(())
    }
}

/// A validated new account, ready to be stored. Built only through [`NewAccount::new`], which
/// checks every rule that does not need the database.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub(crate) account: Account,
}

impl NewAccount {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        login: Login,
        pinfl: Pinfl,
        password_hash: PasswordHash,
        surname: &str,
        first_name: &str,
        middle_name: Option<&str>,
        birth_date: BirthDate,
        now: i64,
    ) -> Result<Self, AccountError> {
        let surname = person_name(surname, "surname")?;
        let first_name = person_name(first_name, "first name")?;
        let middle_name = match middle_name.map(str::trim).filter(|m| !m.is_empty()) {
            Some(middle) => Some(person_name(middle, "patronymic")?),
            None => None,
        };
        pinfl.check_birth_date(&birth_date)?;
        check_birth_date_past(&birth_date, now)?;
        Ok(Self {
            account: Account {
                id: AccountId::generate(),
                login,
                pinfl,
                password_hash,
                surname,
                first_name,
                middle_name,
                birth_date,
                passport_number: None,
                email: None,
                phone: None,
                status: AccountStatus::Unconfirmed,
                created_at: now,
            },
        })
    }

    pub fn with_contacts(mut self, email: Option<String>, phone: Option<String>) -> Self {
        self.account.email = email.filter(|e| !e.trim().is_empty());
        self.account.phone = phone.filter(|p| !p.trim().is_empty());
        self
    }

    pub fn with_passport(mut self, passport: Option<PassportNumber>) -> Self {
        self.account.passport_number = passport;
        self
    }

    pub fn account(&self) -> &Account {
        &self.account
    }

    pub fn into_account(self) -> Account {
        self.account
    }
}

/// The storage port for accounts. Each method is one atomic operation.
pub trait AccountRepository {
    /// Stores a new account; the database enforces unique login and PINFL
    /// ([`AccountError::LoginTaken`], [`AccountError::PinflTaken`]).
    fn insert_account(&self, account: &NewAccount) -> Result<(), AccountError>;
    fn find_account_by_login(&self, login: &Login) -> Result<Option<Account>, AccountError>;
    fn find_account(&self, id: &AccountId) -> Result<Option<Account>, AccountError>;
    fn find_account_by_pinfl(&self, pinfl: &Pinfl) -> Result<Option<Account>, AccountError>;
    /// The account with this passport number (unique among accounts).
    fn find_account_by_passport(&self, passport: &PassportNumber) -> Result<Option<Account>, AccountError>;
    fn list_accounts(&self) -> Result<Vec<Account>, AccountError>;
    fn set_account_status(&self, id: &AccountId, status: AccountStatus) -> Result<(), AccountError>;
    fn set_password_hash(&self, id: &AccountId, hash: &PasswordHash) -> Result<(), AccountError>;

    // The registration wizard's server-side state.
    fn insert_registration(&self, registration: &crate::registration::Registration) -> Result<(), AccountError>;
    fn find_registration(
        &self,
        id_hash: &str,
        now: i64,
    ) -> Result<Option<crate::registration::Registration>, AccountError>;
    fn update_registration(&self, registration: &crate::registration::Registration) -> Result<(), AccountError>;
    /// Binds an EDS certificate to its account, marks the account confirmed and makes `holder`
    /// (the certificate's data) the account's name and birth date, in one transaction, with an
    /// audit event when the account was not confirmed before. Binding the same certificate to
    /// the same account again is not an error; to another account it is
    /// [`AccountError::CertificateTaken`]; a disabled account is [`AccountError::Disabled`].
    fn bind_certificate(
        &self,
        certificate: &crate::eds::BoundCertificate,
        holder: &crate::eds::CertifiedPerson,
    ) -> Result<(), AccountError>;
    /// The rightful owner's takeover of an unproven account, in one transaction with its audit
    /// event ([`crate::eds::Takeover`]). [`AccountError::TakeoverStale`] when the account is no
    /// longer unconfirmed, has another PINFL or a bound certificate, or is gone.
    fn take_over_account(&self, takeover: &crate::eds::Takeover) -> Result<(), AccountError>;
    /// The account a certificate is bound to.
    fn find_account_by_certificate(&self, serial: &str, issuer: &str) -> Result<Option<Account>, AccountError>;
    fn list_certificates(&self, account: &AccountId) -> Result<Vec<crate::eds::BoundCertificate>, AccountError>;
    /// Creates the confirmed account of a first EDS login with its certificate, in one transaction.
    fn insert_account_with_certificate(
        &self,
        account: &NewAccount,
        certificate: &crate::eds::BoundCertificate,
    ) -> Result<(), AccountError>;
    fn delete_registration(&self, id_hash: &str) -> Result<(), AccountError>;
    /// Stores the account and deletes the registration it came from, in one transaction.
    fn complete_registration(&self, registration_id_hash: &str, account: &NewAccount) -> Result<(), AccountError>;
}
