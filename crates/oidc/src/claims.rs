//! The claims about a person that each scope releases (OIDC Core 5.4, architecture.md
//! "Contracts").

use serde_json::{Map, Value};
use yagona_account::Account;

use crate::Scopes;

/// Every claim Yagona can release, for discovery's `claims_supported`.
pub const SUPPORTED_CLAIMS: &[&str] = &[
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "azp",
    "at_hash",
    "sid",
    "name",
    "family_name",
    "given_name",
    "middle_name",
    "birthdate",
    "preferred_username",
    "email",
    "email_verified",
    "phone_number",
    "phone_number_verified",
    "pinfl",
    "passport_number",
    "account_verified",
    "user_type",
    "legal_entity",
    "roles",
];

/// The claims of scope `legal`: whom the person acts for (architecture.md, "Contracts").
pub fn acting_claims(acting_as: Option<&crate::ActingAs>, scopes: &Scopes) -> Map<String, Value> {
    let mut claims = Map::new();
    if !scopes.contains("legal") {
        return claims;
    }
    match acting_as {
        Some(crate::ActingAs::LegalEntity { tin, name, short_name, role }) => {
            claims.insert("user_type".into(), "legal_entity".into());
            claims.insert(
                "legal_entity".into(),
                serde_json::json!({ "tin": tin, "name": name, "short_name": short_name }),
            );
            claims.insert("roles".into(), serde_json::json!([role]));
        }
        _ => {
            claims.insert("user_type".into(), "individual".into());
        }
    }
    claims
}

/// The claims of `account` that `scopes` release, without `sub`.
///
/// `account_verified` (EDS-confirmed) is released with every scope set: relying parties decide
/// on it what services to offer, and it reveals nothing personal.
pub fn user_claims(account: &Account, scopes: &Scopes) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("account_verified".into(), Value::Bool(account.is_verified()));
    if scopes.contains("profile") {
        claims.insert("name".into(), account.full_name().into());
        claims.insert("family_name".into(), account.surname.clone().into());
        claims.insert("given_name".into(), account.first_name.clone().into());
        if let Some(middle) = &account.middle_name {
            claims.insert("middle_name".into(), middle.clone().into());
        }
        claims.insert("birthdate".into(), account.birth_date.to_string().into());
        claims.insert("preferred_username".into(), account.login.as_str().into());
    }
    if scopes.contains("email") {
        if let Some(email) = &account.email {
            claims.insert("email".into(), email.clone().into());
            // Yagona does not yet prove control of the address.
            claims.insert("email_verified".into(), Value::Bool(false));
        }
    }
    if scopes.contains("phone") {
        if let Some(phone) = &account.phone {
            claims.insert("phone_number".into(), phone.clone().into());
            claims.insert("phone_number_verified".into(), Value::Bool(false));
        }
    }
    if scopes.contains("pinfl") {
        claims.insert("pinfl".into(), account.pinfl.as_str().into());
        if let Some(passport) = &account.passport_number {
            claims.insert("passport_number".into(), passport.as_str().into());
        }
    }
    claims
}
