//! Yagona's accounts: the people who log in, the identifiers that name them, and the rules for
//! their passwords.
//!
//! This crate is pure: no HTTP, no database, no clock. Storage reaches it through
//! [`AccountRepository`], a port of atomic operations that `yagona-store` implements.

mod account;
pub mod audit;
pub mod eds;
mod error;
mod identifiers;
pub mod legal;
mod password;
pub mod registration;

pub use account::{Account, AccountId, AccountRepository, AccountStatus, NewAccount};
pub use error::AccountError;
pub use identifiers::{BirthDate, Email, Login, PassportNumber, PhoneNumber, Pinfl};
pub use password::{BreachedPasswords, PasswordHash, PasswordHasher, PasswordParams, PasswordPolicy};
