//! Signed authorization requests (RFC 9101, JAR) and pushed ones (RFC 9126, PAR): the rules
//! that turn a verified request object into authorization request parameters, and the form of a
//! pushed request's `request_uri`.

use serde_json::{Map, Value};

use crate::assertion::CLOCK_SKEW;
use crate::{ErrorCode, OAuthError};

/// The prefix of a pushed request's `request_uri` (RFC 9126 2.2).
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

fn bad(description: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidRequestObject, description.into())
}

/// The random part of a pushed request's `request_uri`, or `invalid_request_uri`.
pub fn pushed_request_id(request_uri: &str) -> Result<&str, OAuthError> {
    request_uri.strip_prefix(REQUEST_URI_PREFIX).filter(|id| !id.is_empty() && id.len() <= 128).ok_or_else(|| {
        OAuthError::new(
            ErrorCode::InvalidRequestUri,
            "request_uri must be one this server gave at its pushed authorization request endpoint",
        )
    })
}

/// The authorization request a verified request object makes (RFC 9101 6.3): its claims only
/// (parameters outside it are ignored, as RFC 9101 says), each as a string (JSON values such as
/// `claims` or `max_age` as their JSON text); `client_id` is the outer one and must agree with
/// the object's. `iss`, when present, is the client; `aud`, when present, names `issuer`; `exp`
/// is in the future and `nbf` not. Nested `request` / `request_uri` are refused.
pub fn request_parameters(
    claims: &Map<String, Value>,
    client_id: &str,
    issuer: &str,
    now: i64,
) -> Result<Vec<(String, String)>, OAuthError> {
    if claims.get("client_id").is_some_and(|c| c.as_str() != Some(client_id)) {
        return Err(bad("client_id in the request object differs from the request's"));
    }
    if claims.get("iss").is_some_and(|c| c.as_str() != Some(client_id)) {
        return Err(bad("iss of the request object must be the client id"));
    }
    if let Some(aud) = claims.get("aud") {
        let names_issuer = match aud {
            Value::String(a) => a == issuer,
            Value::Array(all) => all.iter().any(|a| a.as_str() == Some(issuer)),
            _ => false,
        };
        if !names_issuer {
            return Err(bad(format!("aud of the request object must be the issuer {issuer}")));
        }
    }
    match claims.get("exp") {
        None => {}
        Some(exp) => match exp.as_i64() {
            Some(exp) if exp > now => {}
            Some(_) => return Err(bad("the request object has expired")),
            None => return Err(bad("exp of the request object must be a number")),
        },
    }
    if claims.get("nbf").and_then(Value::as_i64).is_some_and(|nbf| nbf > now + CLOCK_SKEW) {
        return Err(bad("the request object is not valid yet (nbf)"));
    }
    if claims.contains_key("request") || claims.contains_key("request_uri") {
        return Err(bad("a request object must not hold request or request_uri"));
    }
    const JWT_ONLY: [&str; 6] = ["iss", "aud", "exp", "iat", "nbf", "jti"];
    let mut params = vec![("client_id".to_owned(), client_id.to_owned())];
    for (name, value) in claims {
        if JWT_ONLY.contains(&name.as_str()) || name == "client_id" {
            continue;
        }
        let value = match value {
            Value::String(s) => s.clone(),
            Value::Null => continue,
            other => other.to_string(),
        };
        params.push((name.clone(), value));
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn the_object_is_the_request() {
        let object = claims(json!({
            "iss": "rp", "aud": "https://id.example", "exp": NOW + 60, "jti": "x", "client_id": "rp",
            "response_type": "code", "scope": "openid", "max_age": 300, "claims": {"id_token": {"acr": null}},
        }));
        let params = request_parameters(&object, "rp", "https://id.example", NOW).unwrap();
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("client_id"), Some("rp"));
        assert_eq!(get("max_age"), Some("300"));
        assert_eq!(get("claims"), Some(r#"{"id_token":{"acr":null}}"#));
        assert_eq!(get("jti"), None);
        assert_eq!(get("iss"), None);
    }

    #[test]
    fn bad_objects_are_refused() {
        let cases = [
            (json!({"client_id": "other"}), "client_id"),
            (json!({"iss": "other"}), "iss"),
            (json!({"aud": "https://elsewhere"}), "aud"),
            (json!({"exp": NOW}), "expired"),
            (json!({"nbf": NOW + 3600}), "not valid yet"),
            (json!({"request_uri": "urn:x"}), "must not hold"),
        ];
        for (object, needle) in cases {
            let e = request_parameters(&claims(object.clone()), "rp", "https://id.example", NOW).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidRequestObject);
            assert!(e.description.contains(needle), "{object}: {}", e.description);
        }
    }

    #[test]
    fn request_uris_are_this_servers() {
        assert_eq!(pushed_request_id("urn:ietf:params:oauth:request_uri:abc").unwrap(), "abc");
        for bad in ["https://rp.example/req", "urn:ietf:params:oauth:request_uri:", "abc"] {
            assert_eq!(pushed_request_id(bad).unwrap_err().code, ErrorCode::InvalidRequestUri);
        }
    }
}
