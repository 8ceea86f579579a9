//! Resource indicators (RFC 8707): a client names the API an access token is for with
//! `resource`, and the token's `aud` is that API instead of the client itself. A client may name
//! only the resources registered for it (`allowed_resources`, `client add --resource`); anything
//! else is `invalid_target`.

use crate::{Client, ErrorCode, OAuthError};

fn invalid_target(description: impl Into<std::borrow::Cow<'static, str>>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidTarget, description)
}

/// Checks a `resource` value as RFC 8707 2 defines it: an absolute URI without a fragment.
pub fn validate_resource(value: &str) -> Result<(), OAuthError> {
    let url =
        url::Url::parse(value).map_err(|_| invalid_target(format!("resource {value:?} is not an absolute URI")))?;
    if url.fragment().is_some() {
        return Err(invalid_target(format!("resource {value:?} must not contain a fragment")));
    }
    Ok(())
}

/// Checks every `resource` of a request against the client's registered ones.
pub fn check_resources(client: &Client, resources: &[&str]) -> Result<(), OAuthError> {
    for resource in resources {
        validate_resource(resource)?;
        if !client.token_metadata.allowed_resources.iter().any(|r| r == resource) {
            return Err(invalid_target(format!("resource {resource} is not registered for this client")));
        }
    }
    Ok(())
}

/// The audience of an access token requested with `resources` at the token endpoint: the one
/// resource named (checked), or `None` (the client itself) when none is. Yagona's access tokens
/// carry one audience, so a token request names at most one resource (RFC 8707 2.2 lets the
/// server refuse more with `invalid_target`).
pub fn audience<'a>(client: &Client, resources: &[&'a str]) -> Result<Option<&'a str>, OAuthError> {
    check_resources(client, resources)?;
    match resources {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        _ => Err(invalid_target("name one resource per token request")),
    }
}

/// Checks the audience of a token request of a person's grant: a resource it names must have
/// been named at /authorize (RFC 8707 2.2: the token request's resource is one the grant was
/// given for; a grant given for none may name none).
pub fn check_granted(grant: &crate::Grant, audience: Option<&str>) -> Result<(), OAuthError> {
    match audience {
        Some(resource) if !grant.resources.iter().any(|r| r == resource) => {
            Err(invalid_target(format!("resource {resource} was not named in the authorization request")))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::TokenMetadata;

    fn client(allowed: &[&str]) -> Client {
        let allowed_resources = allowed.iter().map(|r| (*r).to_owned()).collect();
        crate::client::test_client("rp", &[], TokenMetadata { allowed_resources, ..Default::default() })
    }

    #[test]
    fn only_registered_resources_become_audiences() {
        let c = client(&["https://api.example.uz/reports", "https://api.example.uz/tax"]);
        assert_eq!(audience(&c, &[]).unwrap(), None);
        assert_eq!(audience(&c, &["https://api.example.uz/tax"]).unwrap(), Some("https://api.example.uz/tax"));
        let target = |r: &[&str]| audience(&c, r).unwrap_err().code;
        assert_eq!(target(&["https://api.example.uz/other"]), ErrorCode::InvalidTarget);
        assert_eq!(target(&["api"]), ErrorCode::InvalidTarget);
        assert_eq!(target(&["https://api.example.uz/tax#x"]), ErrorCode::InvalidTarget);
        assert_eq!(target(&["https://api.example.uz/tax", "https://api.example.uz/reports"]), ErrorCode::InvalidTarget);
        assert!(check_resources(&c, &["https://api.example.uz/tax", "https://api.example.uz/reports"]).is_ok());
    }
}
