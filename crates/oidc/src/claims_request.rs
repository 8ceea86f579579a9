//! The `claims` request parameter (OIDC Core 5.5): the claims a relying party asks for in the
//! ID token and at userinfo.
//!
//! What it changes (docs/relying-parties.md, "Requesting claims"):
//! - Release stays bound to consent, which is per scope: a requested claim is released only when
//!   a granted scope covers it (an `email` asked for without the `email` scope is not), as in
//!   Keycloak and panva's oidc-provider. Yagona puts every claim of the granted scopes in both the
//!   ID token and userinfo, so a requested claim the scopes cover is always there.
//! - An essential `acr` (5.5.1.1) with `value` or `values` is a demand on the login: met by the
//!   session, by a step-up login, or refused with `unmet_authentication_requirements`; the ID
//!   token's `acr` is then one of the values asked for (see [`ClaimsRequest::acr_to_report`]).
//! - A `sub` with a `value` in `id_token` (5.5.1) names the person: a session of someone else
//!   needs a login, as an `id_token_hint` does.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::assurance::Loa;
use crate::OAuthError;

/// A parsed `claims` parameter: the members `id_token` and `userinfo` (others are ignored, OIDC
/// Core 5.5), each claim name mapped to `null` or its request object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimsRequest {
    #[serde(default)]
    pub id_token: Map<String, Value>,
    #[serde(default)]
    pub userinfo: Map<String, Value>,
}

fn invalid(description: &str) -> OAuthError {
    OAuthError::invalid_request(format!("claims: {description}"))
}

impl ClaimsRequest {
    /// Parses and checks the parameter's shape: a JSON object whose `id_token` and `userinfo`
    /// are objects of claims, each `null` or an object whose `essential` is a boolean and whose
    /// `values` is an array.
    pub fn parse(text: &str) -> Result<Self, OAuthError> {
        let value: Value = serde_json::from_str(text).map_err(|_| invalid("not valid JSON"))?;
        let Value::Object(mut top) = value else { return Err(invalid("must be a JSON object")) };
        let mut member = |name: &str| -> Result<Map<String, Value>, OAuthError> {
            match top.remove(name) {
                None | Some(Value::Null) => Ok(Map::new()),
                Some(Value::Object(claims)) => {
                    for (claim, request) in &claims {
                        check_claim_request(name, claim, request)?;
                    }
                    Ok(claims)
                }
                Some(_) => Err(invalid(&format!("{name} must be an object"))),
            }
        };
        Ok(Self { id_token: member("id_token")?, userinfo: member("userinfo")? })
    }

    /// The requests for `acr` that are essential and name levels, from the ID token and userinfo.
    fn essential_acr_values(&self) -> impl Iterator<Item = Vec<&str>> {
        [&self.id_token, &self.userinfo].into_iter().filter_map(|target| {
            let acr = target.get("acr")?;
            if acr.get("essential") != Some(&Value::Bool(true)) {
                return None;
            }
            match (acr.get("value"), acr.get("values")) {
                (Some(Value::String(one)), _) => Some(vec![one.as_str()]),
                (_, Some(Value::Array(many))) => Some(many.iter().filter_map(Value::as_str).collect()),
                _ => None,
            }
        })
    }

    /// The level an essential `acr` demands: the lowest it names (a higher level meets a lower
    /// demand), the stricter of the ID token's and userinfo's when both ask.
    ///
    /// `Err` when an essential `acr` names only values Yagona does not know: no login can reach
    /// them, and another acr must never be passed off as one of them.
    pub fn essential_acr(&self) -> Result<Option<Loa>, OAuthError> {
        let mut required = None;
        for named in self.essential_acr_values() {
            let lowest = crate::assurance::lowest_named(named.into_iter()).ok_or_else(|| {
                OAuthError::new(
                    crate::ErrorCode::UnmetAuthenticationRequirements,
                    "the essential acr names no level of assurance this provider offers",
                )
            })?;
            required = required.max(Some(lowest));
        }
        Ok(required)
    }

    /// The `acr` to report for a login that reached `reached`: when an essential `acr` named
    /// values, the highest of them the login meets (OIDC Core 5.5.1.1: the acr returned is one
    /// of the values asked for); `None` when no essential values were named (the level reached).
    pub fn acr_to_report(&self, reached: Loa) -> Option<&'static str> {
        let mut allowed: Option<Loa> = None;
        for named in self.essential_acr_values() {
            let best = named.iter().filter_map(|acr| Loa::from_acr(acr)).filter(|l| *l <= reached).max()?;
            allowed = Some(allowed.map_or(best, |a| a.min(best)));
        }
        allowed.map(Loa::acr)
    }

    /// The `sub` the ID token is asked for with a `value` (OIDC Core 5.5.1).
    pub fn subject(&self) -> Option<&str> {
        self.id_token.get("sub")?.get("value")?.as_str()
    }
}

fn check_claim_request(member: &str, claim: &str, request: &Value) -> Result<(), OAuthError> {
    match request {
        Value::Null => Ok(()),
        Value::Object(fields) => {
            if fields.get("essential").is_some_and(|e| !e.is_boolean()) {
                return Err(invalid(&format!("{member}.{claim}.essential must be true or false")));
            }
            if fields.get("values").is_some_and(|v| !v.is_array()) {
                return Err(invalid(&format!("{member}.{claim}.values must be an array")));
            }
            Ok(())
        }
        _ => Err(invalid(&format!("{member}.{claim} must be null or an object"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assurance::{ACR_HIGH, ACR_LOW, ACR_SUBSTANTIAL};
    use crate::ErrorCode;

    fn parse(text: &str) -> ClaimsRequest {
        ClaimsRequest::parse(text).unwrap()
    }

    #[test]
    fn malformed_requests_are_refused() {
        for bad in [
            "{",
            "[1]",
            r#"{"id_token":[]}"#,
            r#"{"userinfo":{"email":true}}"#,
            r#"{"id_token":{"acr":{"essential":"yes"}}}"#,
            r#"{"id_token":{"acr":{"values":"x"}}}"#,
        ] {
            assert_eq!(ClaimsRequest::parse(bad).unwrap_err().code, ErrorCode::InvalidRequest, "{bad}");
        }
        let ok = parse(r#"{"id_token":{"email":null,"acr":{"essential":false}},"userinfo":null,"other":1}"#);
        assert!(ok.id_token.contains_key("email"));
    }

    #[test]
    fn an_essential_acr_is_a_demand() {
        let essential =
            parse(&format!(r#"{{"id_token":{{"acr":{{"essential":true,"values":["{ACR_SUBSTANTIAL}"]}}}}}}"#));
        assert_eq!(essential.essential_acr().unwrap(), Some(Loa::Substantial));
        let one = parse(&format!(r#"{{"userinfo":{{"acr":{{"essential":true,"value":"{ACR_HIGH}"}}}}}}"#));
        assert_eq!(one.essential_acr().unwrap(), Some(Loa::High));
        let voluntary = parse(&format!(r#"{{"id_token":{{"acr":{{"values":["{ACR_HIGH}"]}}}}}}"#));
        assert_eq!(voluntary.essential_acr().unwrap(), None);
        assert_eq!(voluntary.acr_to_report(Loa::Low), None);
        let unknown = parse(r#"{"id_token":{"acr":{"essential":true,"values":["urn:other"]}}}"#);
        assert_eq!(unknown.essential_acr().unwrap_err().code, ErrorCode::UnmetAuthenticationRequirements);
    }

    #[test]
    fn the_reported_acr_is_one_asked_for() {
        let both = parse(&format!(
            r#"{{"id_token":{{"acr":{{"essential":true,"values":["{ACR_LOW}","{ACR_SUBSTANTIAL}"]}}}}}}"#
        ));
        assert_eq!(both.acr_to_report(Loa::High), Some(ACR_SUBSTANTIAL));
        assert_eq!(both.acr_to_report(Loa::Low), Some(ACR_LOW));
        assert_eq!(parse("{}").acr_to_report(Loa::High), None);
    }

    #[test]
    fn a_requested_subject_is_read() {
        assert_eq!(parse(r#"{"id_token":{"sub":{"value":"abc"}}}"#).subject(), Some("abc"));
        assert_eq!(parse(r#"{"userinfo":{"sub":{"value":"abc"}}}"#).subject(), None);
    }
}
