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
    #[error("password is too common")]
    PasswordTooCommon,
    #[error("the login is already taken")]
    LoginTaken,
    #[error("an account with this PINFL already exists")]
    PinflTaken,
    #[error("password hashing failed: {0}")]
    Hashing(String),
    #[error("storage: {0}")]
    Storage(String),
}
