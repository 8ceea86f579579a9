use thiserror::Error;

/// Everything that can go wrong with an account, in words a person can act on.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum AccountError {
    #[error("PINFL must be exactly 14 digits")]
    PinflFormat,
    #[error("PINFL check digit does not match")]
    PinflCheckDigit,
    #[error("PINFL does not match the birth date {0}")]
    PinflBirthDate(String),
    #[error("login must be 3 to 64 characters: Latin letters, digits, '.', '_' or '-', starting with a letter")]
    LoginFormat,
    #[error("passport number must be two Latin capitals and seven digits, e.g. AA1234567")]
    PassportFormat,
    #[error("birth date must be a valid date written YYYY-MM-DD")]
    BirthDateFormat,
    #[error("{0} must not be empty")]
    Required(&'static str),
    #[error("password must be at least {0} characters long")]
    PasswordTooShort(usize),
    #[error("password must not contain the login")]
    PasswordContainsLogin,
    #[error("password is too easy to guess: use a longer one, e.g. several unrelated words")]
    PasswordTooWeak,
    #[error("password is on a list of passwords exposed in a data breach: choose another")]
    PasswordBreached,
    #[error("the login is already taken")]
    LoginTaken,
    #[error("an account with this PINFL already exists")]
    PinflTaken,
    #[error("password hashing failed: {0}")]
    Hashing(String),
    #[error("phone number must be in international format, e.g. +998901234567")]
    PhoneFormat,
    #[error("e-mail address is not valid")]
    EmailFormat,
    #[error("the passwords do not match")]
    PasswordMismatch,
    #[error("the terms must be accepted")]
    OfferNotAccepted,
    #[error("the certificate carries no valid PINFL")]
    CertificateWithoutPinfl,
    #[error("the certificate belongs to another person (its PINFL differs from the account's)")]
    CertificatePinflMismatch,
    #[error("the certificate is already bound to another account")]
    CertificateTaken,
    #[error("a legal entity's TIN is 9 digits starting with 2 or 3")]
    TinFormat,
    #[error("this is an individual's certificate, not a legal entity's")]
    NotALegalEntityCertificate,
    #[error("the account must be confirmed with an EDS first")]
    NotConfirmed,
    #[error("only the head of the legal entity may do this")]
    NotTheHead,
    #[error("this role is not in the catalogue")]
    UnknownRole,
    #[error("no confirmed account has this PINFL")]
    NoSuchPerson,
    #[error("the certificate's title is not a head's title")]
    NotAHeadTitle,
    #[error("the certificate was issued before the current head's certificate")]
    CertificateNotLater,
    #[error("replacing the current head must be confirmed first")]
    ReplacementNotConfirmed,
    #[error("a head cannot give themselves a role")]
    OwnRole,
    #[error("a passport number already used by another account")]
    PassportTaken,
    #[error("logins of the form p<PINFL> are reserved for accounts created at a first EDS login")]
    LoginReserved,
    #[error("the birth date is in the future")]
    BirthDateInFuture,
    #[error("{0} may contain only letters, spaces, apostrophes and hyphens")]
    NameCharacters(&'static str),
    #[error("{0} is longer than {1} characters")]
    TooLong(&'static str, usize),
    #[error("the account is disabled")]
    Disabled,
    #[error("the account changed since it was shown; sign with your EDS again")]
    TakeoverStale,
    #[error("storage: {0}")]
    Storage(String),
    /// The database could not be reached in time: retry later (HTTP 503).
    #[error("the service is temporarily unavailable")]
    Unavailable,
}

impl AccountError {
    /// A stable code for the error, which the pages turn into a message in the person's language
    /// (`validation.<code>`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::PinflFormat => "pinfl_format",
            Self::PinflCheckDigit => "pinfl_check_digit",
            Self::PinflBirthDate(_) => "pinfl_birth_date",
            Self::LoginFormat => "login_format",
            Self::PassportFormat => "passport_format",
            Self::BirthDateFormat => "birth_date_format",
            Self::Required(_) => "required",
            Self::PasswordTooShort(_) => "password_short",
            Self::PasswordContainsLogin => "password_login",
            Self::PasswordTooWeak => "password_weak",
            Self::PasswordBreached => "password_breached",
            Self::LoginTaken => "login_taken",
            Self::PinflTaken => "pinfl_taken",
            Self::PhoneFormat => "phone_format",
            Self::EmailFormat => "email_format",
            Self::PasswordMismatch => "password_mismatch",
            Self::OfferNotAccepted => "offer_required",
            Self::CertificateWithoutPinfl => "certificate_without_pinfl",
            Self::CertificatePinflMismatch => "certificate_pinfl_mismatch",
            Self::CertificateTaken => "certificate_taken",
            Self::TinFormat => "tin_format",
            Self::NotALegalEntityCertificate => "not_legal_certificate",
            Self::NotConfirmed => "not_confirmed",
            Self::NotTheHead => "not_the_head",
            Self::UnknownRole => "unknown_role",
            Self::NoSuchPerson => "no_such_person",
            Self::NotAHeadTitle => "not_head_title",
            Self::CertificateNotLater => "certificate_not_later",
            Self::ReplacementNotConfirmed => "replacement_not_confirmed",
            Self::OwnRole => "own_role",
            Self::PassportTaken => "passport_taken",
            Self::LoginReserved => "login_reserved",
            Self::BirthDateInFuture => "birth_date_future",
            Self::NameCharacters(_) => "name_characters",
            Self::TooLong(..) => "too_long",
            Self::Disabled => "account_disabled",
            Self::TakeoverStale => "takeover_stale",
            Self::Hashing(_) | Self::Storage(_) => "server",
            Self::Unavailable => "unavailable",
        }
    }
}
