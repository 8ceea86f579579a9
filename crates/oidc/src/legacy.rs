//! The legacy OneID API's rules (issue 13, `docs/legacy-oneid.md`): its parameters as its
//! clients send them, the scopes a legacy grant gets, the token answer, and the person in
//! OneID's shape, mapped from the claims Yagona releases to OpenID Connect clients. No HTTP here:
//! the handlers are `server/src/http/legacy.rs`.
//!
//! The API lives on one endpoint; what a request does is named by `response_type=one_code` (the
//! browser login) or `grant_type` (the back-channel calls).

use serde_json::{json, Map, Value};

use crate::authorize::{verified_redirect_uri, AuthorizationRequest, ErrorRedirect, Rejection};
use crate::{Client, ErrorCode, GrantType, OAuthError, Prompt, ResponseMode, Scopes};

/// The one endpoint of the legacy API.
pub const ENDPOINT: &str = "/sso/oauth/Authorization.do";
/// Browser single logout (`?id=<client_id>`).
pub const SLO_PATH: &str = "/sso/svc/tk/SLO.do";

/// The scopes a legacy grant gets, whatever `scope` the client sends (OneID's clients send their
/// own client id there). The identify answer holds the person's whole record: the name and birth
/// date (`profile`), PINFL and passport (`pinfl`), contacts (`email`, `phone`) and whom they act
/// for (`legal`, which also brings the "act as" choice). The consent page lists them.
pub const LEGACY_SCOPES: &str = "email legal openid phone pinfl profile";

/// OneID's `auth_method` values.
pub const LOGIN_PASSWORD: &str = "LOGINPASSMETHOD";
pub const PERSONAL_EDS: &str = "PKCSMETHOD";
pub const LEGAL_ENTITY_EDS: &str = "LEPKCSMETHOD";

/// The parameters of a legacy request: the query string and the form body together (clients
/// send either, some a POST with its parameters in the query string), names compared without
/// regard to case (`Scope` is seen). Empty values count as absent, so an empty `redirect_uri`
/// is the same as none.
#[derive(Debug, Clone, Default)]
pub struct LegacyParams(Vec<(String, String)>);

impl LegacyParams {
    /// Merges the pairs of the query string and of the body. A name sent twice with different
    /// values is refused (which one would count?); the same value twice (query and body) is
    /// kept once.
    pub fn merge(query: Vec<(String, String)>, body: Vec<(String, String)>) -> Result<Self, OAuthError> {
        let mut merged: Vec<(String, String)> = Vec::new();
        for (name, value) in query.into_iter().chain(body) {
            let name = name.to_ascii_lowercase();
            match merged.iter().find(|(n, _)| *n == name) {
                Some((_, v)) if *v == value => {}
                Some(_) => {
                    return Err(OAuthError::invalid_request(format!(
                        "parameter {name} was sent twice with different values"
                    )))
                }
                None => merged.push((name, value)),
            }
        }
        Ok(Self(merged))
    }

    /// The pairs, names in lower case.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// The value of `name` (lower case), if present and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name).ok_or_else(|| OAuthError::invalid_request(format!("parameter {name} is missing")))
    }
}

/// The back-channel calls of the API, by `grant_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacyGrant {
    /// `one_authorization_code`: a code for tokens.
    AuthorizationCode,
    /// `one_access_token_identify`: the person of an access token.
    Identify,
    /// `one_log_out`: ends the session of an access token.
    LogOut,
    /// `one_refresh_token`: named by some clients, never seen in use at OneID; here a refresh
    /// token rotation, as at the OpenID Connect token endpoint.
    RefreshToken,
}

impl LegacyGrant {
    pub const ALL: [LegacyGrant; 4] = [Self::AuthorizationCode, Self::Identify, Self::LogOut, Self::RefreshToken];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "one_authorization_code",
            Self::Identify => "one_access_token_identify",
            Self::LogOut => "one_log_out",
            Self::RefreshToken => "one_refresh_token",
        }
    }
}

impl TryFrom<&str> for LegacyGrant {
    type Error = OAuthError;
    fn try_from(value: &str) -> Result<Self, OAuthError> {
        Self::ALL.into_iter().find(|g| g.as_str() == value).ok_or_else(|| {
            OAuthError::new(ErrorCode::UnsupportedGrantType, format!("unknown grant_type {value:?} for the legacy API"))
        })
    }
}

/// The refusal of a client not marked legacy.
pub fn not_legacy() -> OAuthError {
    OAuthError::new(
        ErrorCode::UnauthorizedClient,
        "this client is not registered for the legacy OneID API; use OpenID Connect (see /.well-known/openid-configuration)",
    )
}

/// Validates a browser login (`response_type=one_code`) of `client` as the authorization
/// request Yagona's login runs. Errors before the redirect URI is proven go to a page.
pub fn browser_request(params: &LegacyParams, client: &Client) -> Result<AuthorizationRequest, Rejection> {
    if !client.legacy {
        return Err(Rejection::Page(not_legacy()));
    }
    let redirect_uri = verified_redirect_uri(params.require("redirect_uri"), client)?;
    let state = params.get("state").map(str::to_owned);
    let fail = |error: OAuthError| {
        Rejection::Redirect(ErrorRedirect {
            redirect_uri: redirect_uri.clone(),
            response_mode: ResponseMode::Query,
            state: state.clone(),
            error,
        })
    };
    match params.get("response_type") {
        Some("one_code") => {}
        Some(_) => {
            return Err(fail(OAuthError::new(ErrorCode::UnsupportedResponseType, "response_type must be one_code")))
        }
        None => return Err(fail(OAuthError::invalid_request("parameter response_type is missing"))),
    }
    if !client.allows(GrantType::AuthorizationCode) {
        return Err(fail(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "the client may not use the authorization code grant",
        )));
    }
    if state.as_deref().is_some_and(|s| s.len() > 2048) {
        return Err(fail(OAuthError::invalid_request("state is too long")));
    }
    Ok(AuthorizationRequest {
        client_id: client.id.clone(),
        redirect_uri,
        scopes: legacy_scopes(),
        state,
        nonce: None,
        response_mode: ResponseMode::Query,
        code_challenge: None,
        prompt: Prompt::default(),
        max_age: None,
        id_token_hint: None,
        login_hint: None,
        ui_locales: params.get("ui_locales").filter(|v| v.len() <= 256).map(str::to_owned),
        acr_values: None,
        essential_acr: None,
        claims: None,
        resources: vec![],
        dpop_jkt: None,
    })
}

pub fn legacy_scopes() -> Scopes {
    Scopes::parse_supported(LEGACY_SCOPES).unwrap_or_default()
}

/// The token answer: `expires_in` is OneID's, an absolute time in epoch milliseconds; `scope`
/// is the client id, which is what OneID's clients send as scope and expect back.
pub fn token_answer(access_token: &str, refresh_token: &str, expires_at: i64, client: &Client) -> Value {
    json!({
        "access_token": access_token,
        "refresh_token": refresh_token,
        "token_type": "Bearer",
        "expires_in": expires_at.saturating_mul(1000),
        "scope": client.id.as_str(),
    })
}

/// A legal entity the person is linked to, for `legal_info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegalInfo {
    pub tin: String,
    pub name: String,
    pub short_name: String,
}

/// How the session of the token was signed in, for `auth_method` and `sess_id`.
#[derive(Debug, Clone, Copy)]
pub struct SessionFacts<'a> {
    pub sid: &'a str,
    pub amr: &'a [String],
}

fn text(claims: &Map<String, Value>, name: &str) -> String {
    claims.get(name).and_then(Value::as_str).unwrap_or_default().to_owned()
}

fn flag(value: bool) -> &'static str {
    if value {
        "true"
    } else {
        "false"
    }
}

/// The person in OneID's identify shape, from the claims userinfo releases for the legacy
/// grant's scopes (`claims`: `user_claims` and `acting_claims`), the session, and the person's
/// live legal entities. Types as OneID sends them: every value a string except `legal_info`'s
/// `is_basic` (a JSON boolean) and the method arrays; a value Yagona does not hold is `""`.
pub fn identify_answer(claims: &Map<String, Value>, session: SessionFacts<'_>, entities: &[LegalInfo]) -> Value {
    let verified = claims.get("account_verified").and_then(Value::as_bool).unwrap_or(false);
    // An account is validated only by an EDS in Yagona (no Mobile-ID yet).
    let methods: Vec<&str> = if verified { vec![PERSONAL_EDS] } else { vec![] };
    let acting = claims.get("legal_entity").and_then(|e| e.get("tin")).and_then(Value::as_str);
    let is_head = claims
        .get("roles")
        .and_then(Value::as_array)
        .is_some_and(|roles| roles.iter().any(|r| r.as_str() == Some(yagona_account::legal::HEAD_ROLE)));
    let eds = session.amr.iter().any(|m| m == "swk");
    // A company's EDS is what makes a head act for it at login; a session signed in with an
    // EDS that acts for a company as its head is reported as that login.
    let auth_method = match (eds, acting) {
        (true, Some(_)) if is_head => LEGAL_ENTITY_EDS,
        (true, _) => PERSONAL_EDS,
        (false, _) => LOGIN_PASSWORD,
    };
    let legal_info: Vec<Value> = entities
        .iter()
        .map(|e| {
            json!({
                "is_basic": Some(e.tin.as_str()) == acting,
                "tin": e.tin,
                "acron_UZ": e.short_name,
                "le_tin": e.tin,
                "le_name": e.name,
            })
        })
        .collect();
    let mut person = json!({
        "valid": flag(verified),
        "validation_method": methods,
        "valid_methods": methods,
        "pin": text(claims, "pinfl"),
        "user_id": text(claims, "preferred_username"),
        "full_name": text(claims, "name"),
        "sur_name": text(claims, "family_name"),
        "first_name": text(claims, "given_name"),
        "mid_name": text(claims, "middle_name"),
        "pport_no": text(claims, "passport_number"),
        "birth_date": text(claims, "birthdate"),
        "email": text(claims, "email"),
        "mob_phone_no": text(claims, "phone_number"),
        "user_type": if acting.is_some() { "L" } else { "I" },
        "sess_id": session.sid,
        "ret_cd": "0",
        "auth_method": auth_method,
        "legal_info": legal_info,
    });
    if auth_method == LEGAL_ENTITY_EDS {
        person["pkcs_legal_tin"] = Value::String(acting.unwrap_or_default().to_owned());
    }
    person
}

/// The answer to `one_log_out`.
pub fn logout_answer() -> Value {
    json!({ "ret_cd": "0" })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClientId, RedirectUri};

    fn client(legacy: bool) -> Client {
        Client {
            secret_hash: Some("h".into()),
            redirect_uris: vec![RedirectUri::try_from("https://tax.example/cb").unwrap()],
            auth_method: crate::AuthMethod::ClientSecretBasic,
            legacy,
            ..Client::new(ClientId::try_from("tax").unwrap(), 0)
        }
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn parameters_merge_query_and_body_without_regard_to_case() {
        let p = LegacyParams::merge(
            pairs(&[("grant_type", "one_log_out"), ("Scope", "tax")]),
            pairs(&[("client_id", "tax"), ("GRANT_TYPE", "one_log_out"), ("redirect_uri", "")]),
        )
        .unwrap();
        assert_eq!(p.get("scope"), Some("tax"));
        assert_eq!(p.get("grant_type"), Some("one_log_out"));
        assert_eq!(p.get("redirect_uri"), None);
        assert!(p.require("code").unwrap_err().description.contains("code"));
        let e = LegacyParams::merge(pairs(&[("code", "a")]), pairs(&[("Code", "b")])).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
    }

    #[test]
    fn grant_types() {
        for g in LegacyGrant::ALL {
            assert_eq!(LegacyGrant::try_from(g.as_str()).unwrap(), g);
        }
        assert_eq!(LegacyGrant::try_from("authorization_code").unwrap_err().code, ErrorCode::UnsupportedGrantType);
    }

    #[test]
    fn browser_request_rules() {
        let good = pairs(&[
            ("response_type", "one_code"),
            ("client_id", "tax"),
            ("redirect_uri", "https://tax.example/cb"),
            ("scope", "tax"),
            ("state", "s1"),
        ]);
        let p = LegacyParams::merge(good.clone(), vec![]).unwrap();
        let r = browser_request(&p, &client(true)).unwrap();
        assert_eq!(r.scopes.to_string(), LEGACY_SCOPES);
        assert_eq!(r.state.as_deref(), Some("s1"));
        assert!(matches!(browser_request(&p, &client(false)), Err(Rejection::Page(_))));
        let bad_uri = LegacyParams::merge(good.clone(), pairs(&[("redirect_uri", "https://evil.example/cb")]));
        assert!(bad_uri.is_err(), "different values of one name are refused");
        let mut other = good.clone();
        other.retain(|(k, _)| k != "redirect_uri");
        other.push(("redirect_uri".into(), "https://evil.example/cb".into()));
        let p = LegacyParams::merge(other, vec![]).unwrap();
        assert!(matches!(browser_request(&p, &client(true)), Err(Rejection::Page(_))));
        let mut code = good;
        code.retain(|(k, _)| k != "response_type");
        code.push(("response_type".into(), "code".into()));
        let p = LegacyParams::merge(code, vec![]).unwrap();
        match browser_request(&p, &client(true)) {
            Err(Rejection::Redirect(r)) => assert_eq!(r.error.code, ErrorCode::UnsupportedResponseType),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn identify_shape() {
        let claims: Map<String, Value> = serde_json::from_value(json!({
            "account_verified": true, "name": "Karimov Alisher", "family_name": "Karimov",
            "given_name": "Alisher", "birthdate": "1990-05-12", "preferred_username": "alisher",
            "pinfl": "31205900260011", "user_type": "legal_entity",
            "legal_entity": { "tin": "301234567", "name": "\"Registon\" MChJ", "short_name": "Registon" },
            "roles": [yagona_account::legal::HEAD_ROLE],
        }))
        .unwrap();
        let entities = vec![
            LegalInfo { tin: "301234567".into(), name: "\"Registon\" MChJ".into(), short_name: "Registon".into() },
            LegalInfo { tin: "309999999".into(), name: "Other".into(), short_name: "Other".into() },
        ];
        let amr = vec!["swk".to_owned()];
        let p = identify_answer(&claims, SessionFacts { sid: "sid1", amr: &amr }, &entities);
        assert_eq!(p["valid"], "true");
        assert_eq!(p["valid_methods"], json!(["PKCSMETHOD"]));
        assert_eq!(p["validation_method"], p["valid_methods"]);
        assert_eq!(p["user_type"], "L");
        assert_eq!(p["auth_method"], LEGAL_ENTITY_EDS);
        assert_eq!(p["pkcs_legal_tin"], "301234567");
        assert_eq!(p["mid_name"], "");
        assert_eq!(p["legal_info"][0]["is_basic"], json!(true));
        assert_eq!(p["legal_info"][1]["is_basic"], json!(false));
        let pwd = vec!["pwd".to_owned()];
        let mut individual = claims.clone();
        individual.remove("legal_entity");
        individual.remove("roles");
        individual.insert("account_verified".into(), false.into());
        let p = identify_answer(&individual, SessionFacts { sid: "sid1", amr: &pwd }, &entities);
        assert_eq!((p["valid"].as_str(), p["user_type"].as_str()), (Some("false"), Some("I")));
        assert_eq!(p["auth_method"], LOGIN_PASSWORD);
        assert_eq!(p["valid_methods"], json!([]));
        assert!(p.get("pkcs_legal_tin").is_none());
        assert!(p["legal_info"].as_array().unwrap().iter().all(|e| e["is_basic"] == json!(false)));
    }
}
