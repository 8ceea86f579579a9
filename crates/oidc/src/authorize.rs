//! The authorization endpoint's rules (RFC 6749 4.1, OIDC Core 3.1.2): parsing a request, and
//! deciding what it needs next: a login, a consent, or a code.

use serde::{Deserialize, Serialize};

use crate::assurance::{required_loa, Loa};
use crate::claims_request::ClaimsRequest;
use crate::grant::Session;
use crate::{
    Client, ClientId, CodeChallenge, Consent, ErrorCode, GrantType, OAuthError, Prompt, RedirectUri, ResponseMode,
    Scopes,
};

/// Request parameters as they arrived (query string or form body), in order.
pub struct Params<'a>(pub &'a [(String, String)]);

impl<'a> Params<'a> {
    /// The value of `name`; a parameter sent twice is an error (RFC 6749 3.1). Empty values count
    /// as absent (RFC 6749 3.1).
    pub fn get(&self, name: &str) -> Result<Option<&'a str>, OAuthError> {
        let mut found = self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let first = found.next();
        if found.next().is_some() {
            return Err(OAuthError::invalid_request(format!("parameter {name} was sent more than once")));
        }
        Ok(first.filter(|v| !v.is_empty()))
    }

    pub fn require(&self, name: &str) -> Result<&'a str, OAuthError> {
        self.get(name)?.ok_or_else(|| OAuthError::invalid_request(format!("parameter {name} is missing")))
    }
}

/// A validated authorization request. It is what an interaction stores while the person logs in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: ClientId,
    pub redirect_uri: RedirectUri,
    pub scopes: Scopes,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub response_mode: ResponseMode,
    pub code_challenge: Option<CodeChallenge>,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    pub id_token_hint: Option<String>,
    pub login_hint: Option<String>,
    pub ui_locales: Option<String>,
    pub acr_values: Option<String>,
    /// The level an essential `acr` claim in `claims` demands (an interaction stored before
    /// `claims` was read has none: it could not have asked).
    #[serde(default)]
    pub essential_acr: Option<Loa>,
    /// The resources named (RFC 8707), each registered for the client; the grant keeps them.
    #[serde(default)]
    pub resources: Vec<String>,
    /// The `claims` parameter (OIDC Core 5.5), for the `acr` reported and a requested `sub`.
    #[serde(default)]
    pub claims: Option<ClaimsRequest>,
    /// The DPoP key the code will be bound to (RFC 9449 10): `dpop_jkt`, or the key of the
    /// proof that came with the pushed request. Only a token request with a proof of that key
    /// redeems the code.
    #[serde(default)]
    pub dpop_jkt: Option<String>,
}

impl AuthorizationRequest {
    /// The level of assurance the login must reach (see [`crate::assurance::required_loa`]).
    pub fn required_loa(&self) -> Option<Loa> {
        required_loa(self.acr_values.as_deref(), self.essential_acr)
    }

    /// The level the login must reach when it is more than any login gives (`low`): the login
    /// page then asks for it, and the person may say they cannot.
    pub fn step_up_level(&self) -> Option<Loa> {
        self.required_loa().filter(|level| *level > Loa::Low)
    }

    /// The `sub` a `claims` parameter asks the ID token for (OIDC Core 5.5.1): like an
    /// `id_token_hint`, it names the person who must be logged in.
    pub fn requested_subject(&self) -> Option<&str> {
        self.claims.as_ref().and_then(ClaimsRequest::subject)
    }

    /// The `acr` a grant made for a login that reached `reached` reports: one of the values an
    /// essential `acr` claim asked for, if it named any (see
    /// [`ClaimsRequest::acr_to_report`]).
    pub fn acr_to_report(&self, reached: Loa) -> Option<&'static str> {
        self.claims.as_ref().and_then(|claims| claims.acr_to_report(reached))
    }
}

/// An authorization request waiting for the person (login, consent). The id in the URL is a
/// random secret stored hashed, and the interaction is bound to the browser that started it
/// (`browser_hash`, the hash of its CSRF cookie).
#[derive(Debug, Clone)]
pub struct Interaction {
    pub id_hash: String,
    pub browser_hash: String,
    pub request: AuthorizationRequest,
    /// The person logged in during this interaction (satisfies `prompt=login` and `max_age`).
    pub login_done: bool,
    /// The person consented during this interaction (satisfies `prompt=consent`).
    pub consent_done: bool,
    pub created_at: i64,
    pub expires_at: i64,
}

/// Where an error goes: back to the client, once its redirect URI is proven; otherwise to the
/// person, on a page (RFC 6749 4.1.2.1: never redirect to an unverified URI).
#[derive(Debug)]
pub enum Rejection {
    Page(OAuthError),
    Redirect(ErrorRedirect),
}

/// An error response to send to a verified redirect URI.
#[derive(Debug)]
pub struct ErrorRedirect {
    pub redirect_uri: RedirectUri,
    pub response_mode: ResponseMode,
    pub state: Option<String>,
    pub error: OAuthError,
}

/// The client named by a request; an error here always goes to a page.
pub fn client_id_of(params: &Params<'_>) -> Result<ClientId, OAuthError> {
    ClientId::try_from(params.require("client_id")?)
}

/// The request's `redirect_uri` if it is registered for `client`; otherwise the error goes to a
/// page (RFC 6749 4.1.2.1: never redirect to an unverified URI).
pub fn verified_redirect_uri(uri: Result<&str, OAuthError>, client: &Client) -> Result<RedirectUri, Rejection> {
    uri.and_then(|uri| {
        client
            .registered_redirect_uri(uri)
            .cloned()
            .ok_or_else(|| OAuthError::invalid_request("redirect_uri is not registered for this client"))
    })
    .map_err(Rejection::Page)
}

/// Parses and validates a request of `client`.
pub fn parse(params: &Params<'_>, client: &Client) -> Result<AuthorizationRequest, Rejection> {
    let redirect_uri = verified_redirect_uri(params.require("redirect_uri"), client)?;

    // From here on errors are redirected; they need state and the response mode first. A state
    // sent twice is neither value: the error goes back without one (the client sees its state
    // missing rather than a guess); a response mode sent twice is refused in the default mode.
    let state_param = params.get("state");
    let state = state_param.as_ref().ok().copied().flatten().map(str::to_owned);
    let response_mode = match params.get("response_mode") {
        Ok(Some(mode)) => ResponseMode::try_from(mode),
        Ok(None) => Ok(ResponseMode::Query),
        Err(e) => Err(e),
    };
    let redirect = |error: OAuthError, response_mode: ResponseMode| {
        Rejection::Redirect(ErrorRedirect {
            redirect_uri: redirect_uri.clone(),
            response_mode,
            state: state.clone(),
            error,
        })
    };
    let response_mode = response_mode.map_err(|e| redirect(e, ResponseMode::Query))?;
    let fail = |error: OAuthError| redirect(error, response_mode);
    state_param.map_err(fail)?;

    // RFC 8707: every resource named must be registered for the client (the token request then
    // names the one its access token is for).
    let resources: Vec<&str> = params.0.iter().filter(|(k, _)| k == "resource").map(|(_, v)| v.as_str()).collect();
    crate::resource::check_resources(client, &resources).map_err(fail)?;

    if params.get("request").map_err(fail)?.is_some() {
        return Err(fail(OAuthError::new(ErrorCode::RequestNotSupported, "request objects are not supported")));
    }
    if params.get("request_uri").map_err(fail)?.is_some() {
        return Err(fail(OAuthError::new(ErrorCode::RequestUriNotSupported, "request_uri is not supported")));
    }
    if params.get("registration").map_err(fail)?.is_some() {
        return Err(fail(OAuthError::new(ErrorCode::RegistrationNotSupported, "registration is not supported")));
    }
    match params.get("response_type").map_err(fail)? {
        Some("code") => {}
        Some(_) => {
            return Err(fail(OAuthError::new(
                ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            )))
        }
        None => return Err(fail(OAuthError::invalid_request("parameter response_type is missing"))),
    }
    if !client.allows(GrantType::AuthorizationCode) {
        return Err(fail(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "the client may not use the authorization code grant",
        )));
    }
    let scopes = Scopes::parse_supported(params.get("scope").map_err(fail)?.unwrap_or("")).map_err(fail)?;
    if !scopes.contains("openid") {
        return Err(fail(OAuthError::new(ErrorCode::InvalidScope, "scope must include openid")));
    }
    let code_challenge = match params.get("code_challenge").map_err(fail)? {
        Some(challenge) => {
            Some(CodeChallenge::parse(challenge, params.get("code_challenge_method").map_err(fail)?).map_err(fail)?)
        }
        None if client.is_public() => {
            return Err(fail(OAuthError::invalid_request("public clients must use PKCE (code_challenge with S256)")))
        }
        None => None,
    };
    let prompt = match params.get("prompt").map_err(fail)? {
        Some(p) => Prompt::try_from(p).map_err(fail)?,
        None => Prompt::default(),
    };
    let max_age = match params.get("max_age").map_err(fail)? {
        Some(v) => Some(
            v.parse::<i64>()
                .ok()
                .filter(|m| *m >= 0)
                .ok_or_else(|| fail(OAuthError::invalid_request("max_age must be a non-negative integer")))?,
        ),
        None => None,
    };
    let text = |name: &str, max: usize| -> Result<Option<String>, Rejection> {
        match params.get(name).map_err(fail)? {
            Some(v) if v.len() > max => Err(fail(OAuthError::invalid_request(format!("{name} is too long")))),
            v => Ok(v.map(str::to_owned)),
        }
    };
    let nonce = text("nonce", 512)?;
    let id_token_hint = text("id_token_hint", 8192)?;
    let login_hint = text("login_hint", 256)?;
    let ui_locales = text("ui_locales", 256)?;
    let acr_values = text("acr_values", 512)?;
    let claims = text("claims", 4096)?;
    let claims = claims.map(|text| ClaimsRequest::parse(&text)).transpose().map_err(fail)?;
    let essential_acr = match &claims {
        Some(claims) => claims.essential_acr().map_err(fail)?,
        None => None,
    };
    if state.as_deref().is_some_and(|s| s.len() > 2048) {
        return Err(fail(OAuthError::invalid_request("state is too long")));
    }
    let dpop_jkt = params.get("dpop_jkt").map_err(fail)?.map(crate::dpop::parse_jkt).transpose().map_err(fail)?;
    Ok(AuthorizationRequest {
        client_id: client.id.clone(),
        redirect_uri,
        scopes,
        state,
        nonce,
        response_mode,
        code_challenge,
        prompt,
        max_age,
        id_token_hint,
        login_hint,
        ui_locales,
        acr_values,
        essential_acr,
        resources: resources.into_iter().map(str::to_owned).collect(),
        claims,
        dpop_jkt,
    })
}

/// What an authorization request needs next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    Login,
    Consent,
    IssueCode,
}

/// What the person has done so far in this authorization's interaction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    pub login_done: bool,
    pub consent_done: bool,
}

/// Decides the next step of `request`, given the browser's session, the subject of a verified
/// `id_token_hint`, the person's remembered consent, and what they did in this interaction.
///
/// `prompt=login` and `max_age` are satisfied by a login during the interaction, so returning
/// from the login page does not ask again; `prompt=consent` likewise by a consent given in it.
/// (Recorded as flags, not compared as times: a second is too coarse to tell a new login from one
/// made just before.)
pub fn next_step(
    request: &AuthorizationRequest,
    client: &Client,
    session: Option<&Session>,
    hint_subject: Option<&str>,
    consent: Option<&Consent>,
    progress: Progress,
    now: i64,
) -> Result<NextStep, OAuthError> {
    let login_needed = match session {
        None => true,
        Some(s) => {
            let fresh = progress.login_done;
            let too_old = request.max_age.is_some_and(|max| now - s.auth.auth_time > max);
            let other_person = hint_subject.is_some_and(|sub| sub != s.account_id.as_str());
            // Step-up: a relying party asking for more than the session reached gets the login
            // page again (OIDC Core 3.1.2.1 lets the provider re-authenticate for acr_values),
            // even after a login in this interaction that did not reach it either.
            let too_weak = !s.auth.meets(request.required_loa());
            ((request.prompt.login || too_old) && !fresh) || other_person || too_weak
        }
    };
    if login_needed {
        return if request.prompt.none {
            Err(OAuthError::new(ErrorCode::LoginRequired, "the person must log in"))
        } else {
            Ok(NextStep::Login)
        };
    }
    let consent_needed = !client.first_party
        && match consent {
            None => true,
            Some(c) => !request.scopes.is_subset(&c.scopes) || (request.prompt.consent && !progress.consent_done),
        };
    if consent_needed {
        return if request.prompt.none {
            Err(OAuthError::new(ErrorCode::ConsentRequired, "the person must consent"))
        } else {
            Ok(NextStep::Consent)
        };
    }
    Ok(NextStep::IssueCode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grant::AuthContext;
    use crate::keys::SigningAlg;
    use yagona_account::AccountId;

    fn client(public: bool, first_party: bool) -> Client {
        Client {
            id: ClientId::try_from("rp").unwrap(),
            name: "RP".into(),
            secret_hash: (!public).then(|| "hash".to_owned()),
            redirect_uris: vec![RedirectUri::try_from("https://rp.example/cb").unwrap()],
            post_logout_redirect_uris: vec![],
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            first_party,
            id_token_signing_alg: SigningAlg::Rs256,
            created_at: 0,
            access_token_format: Default::default(),
            scopes: Scopes::default(),
            auth_method: if public { crate::AuthMethod::None } else { crate::AuthMethod::ClientSecretBasic },
            ..Client::new(ClientId::try_from("rp").unwrap(), 0)
        }
    }

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn good() -> Vec<(String, String)> {
        params(&[
            ("client_id", "rp"),
            ("redirect_uri", "https://rp.example/cb"),
            ("response_type", "code"),
            ("scope", "openid profile"),
            ("state", "s1"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ])
    }

    fn with(mut p: Vec<(String, String)>, key: &str, value: Option<&str>) -> Vec<(String, String)> {
        p.retain(|(k, _)| k != key);
        if let Some(v) = value {
            p.push((key.to_owned(), v.to_owned()));
        }
        p
    }

    fn redirect_error(p: &[(String, String)], c: &Client) -> OAuthError {
        match parse(&Params(p), c) {
            Err(Rejection::Redirect(r)) => {
                assert_eq!(r.state.as_deref(), Some("s1"));
                r.error
            }
            other => panic!("expected a redirect error, got {other:?}"),
        }
    }

    #[test]
    fn parses_a_good_request() {
        let r = parse(&Params(&good()), &client(true, false)).unwrap();
        assert_eq!(r.scopes.to_string(), "openid profile");
        assert_eq!(r.response_mode, ResponseMode::Query);
    }

    #[test]
    fn bad_redirect_uri_never_redirects() {
        for uri in [None, Some("https://rp.example/cb2"), Some("https://evil.example/cb")] {
            let p = with(good(), "redirect_uri", uri);
            assert!(matches!(parse(&Params(&p), &client(true, false)), Err(Rejection::Page(_))));
        }
    }

    #[test]
    fn errors_after_the_redirect_uri_are_redirected() {
        let c = client(true, false);
        let cases: Vec<(Vec<(String, String)>, ErrorCode)> = vec![
            (with(good(), "response_type", Some("token")), ErrorCode::UnsupportedResponseType),
            (with(good(), "response_type", None), ErrorCode::InvalidRequest),
            (with(good(), "scope", Some("profile")), ErrorCode::InvalidScope),
            (with(good(), "code_challenge", None), ErrorCode::InvalidRequest),
            (with(good(), "code_challenge_method", Some("plain")), ErrorCode::InvalidRequest),
            (with(good(), "prompt", Some("none login")), ErrorCode::InvalidRequest),
            (with(good(), "max_age", Some("-1")), ErrorCode::InvalidRequest),
            (with(good(), "request", Some("eyJ")), ErrorCode::RequestNotSupported),
            (with(good(), "response_mode", Some("fragment")), ErrorCode::InvalidRequest),
        ];
        for (p, code) in cases {
            assert_eq!(redirect_error(&p, &c).code, code, "{p:?}");
        }
        let mut dup = good();
        dup.push(("scope".into(), "openid".into()));
        assert_eq!(redirect_error(&dup, &c).code, ErrorCode::InvalidRequest);
    }

    #[test]
    fn confidential_clients_may_skip_pkce() {
        let p = with(with(good(), "code_challenge", None), "code_challenge_method", None);
        assert!(parse(&Params(&p), &client(false, false)).is_ok());
    }

    fn session(auth_time: i64) -> Session {
        Session {
            id_hash: "h".into(),
            sid: "sid".into(),
            account_id: AccountId::from_stored("acct".into()),
            auth: AuthContext { auth_time, acr: "low".into(), amr: vec!["pwd".into()] },
            address: "127.0.0.1".into(),
            acting_as: None,
            created_at: auth_time,
            expires_at: auth_time + 3600,
            user_agent: None,
        }
    }

    fn consent(scopes: &str, at: i64) -> Consent {
        Consent {
            account_id: AccountId::from_stored("acct".into()),
            client_id: ClientId::try_from("rp").unwrap(),
            scopes: Scopes::try_from(scopes).unwrap(),
            granted_at: at,
        }
    }

    const P0: Progress = Progress { login_done: false, consent_done: false };
    const LOGGED_IN: Progress = Progress { login_done: true, consent_done: false };
    const CONSENTED: Progress = Progress { login_done: false, consent_done: true };

    #[test]
    fn next_step_rules() {
        let c = client(true, false);
        let req = parse(&Params(&good()), &c).unwrap();
        let s = session(100);
        assert_eq!(next_step(&req, &c, None, None, None, P0, 200), Ok(NextStep::Login));
        assert_eq!(next_step(&req, &c, Some(&s), None, None, P0, 200), Ok(NextStep::Consent));
        let given = consent("openid profile", 150);
        assert_eq!(next_step(&req, &c, Some(&s), None, Some(&given), P0, 200), Ok(NextStep::IssueCode));
        let narrower = consent("openid", 150);
        assert_eq!(next_step(&req, &c, Some(&s), None, Some(&narrower), P0, 200), Ok(NextStep::Consent));
        // first-party clients need no consent
        let fp = client(true, true);
        assert_eq!(next_step(&req, &fp, Some(&s), None, None, P0, 200), Ok(NextStep::IssueCode));
        // a hint naming someone else needs a login
        assert_eq!(next_step(&req, &fp, Some(&s), Some("other"), None, P0, 200), Ok(NextStep::Login));
        assert_eq!(next_step(&req, &fp, Some(&s), Some("acct"), None, P0, 200), Ok(NextStep::IssueCode));
    }

    #[test]
    fn step_up_needs_a_login_that_reaches_the_level() {
        let c = client(true, true);
        let mut req = parse(&Params(&good()), &c).unwrap();
        req.acr_values = Some(Loa::High.acr().to_owned());
        let password = session(100);
        assert_eq!(next_step(&req, &c, Some(&password), None, None, P0, 200), Ok(NextStep::Login));
        // Even a fresh password login does not reach `high`.
        assert_eq!(next_step(&req, &c, Some(&password), None, None, LOGGED_IN, 200), Ok(NextStep::Login));
        let mut eds = session(100);
        eds.auth = AuthContext::eds(100);
        assert_eq!(next_step(&req, &c, Some(&eds), None, None, P0, 200), Ok(NextStep::IssueCode));
        // `substantial` from a `low` password session steps up too; the EDS session meets it.
        req.acr_values = Some(Loa::Substantial.acr().to_owned());
        assert_eq!(next_step(&req, &c, Some(&password), None, None, LOGGED_IN, 200), Ok(NextStep::Login));
        assert_eq!(next_step(&req, &c, Some(&eds), None, None, P0, 200), Ok(NextStep::IssueCode));
        // A request that also names `low` is met by the password session.
        req.acr_values = Some(format!("{} {}", Loa::Substantial.acr(), Loa::Low.acr()));
        assert_eq!(next_step(&req, &c, Some(&password), None, None, P0, 200), Ok(NextStep::IssueCode));
    }

    #[test]
    fn prompt_and_max_age() {
        let c = client(true, true);
        let mut req = parse(&Params(&good()), &c).unwrap();
        req.prompt.login = true;
        assert_eq!(next_step(&req, &c, Some(&session(100)), None, None, P0, 200), Ok(NextStep::Login));
        // after logging in during the interaction, the prompt is satisfied
        assert_eq!(next_step(&req, &c, Some(&session(210)), None, None, LOGGED_IN, 210), Ok(NextStep::IssueCode));
        req.prompt.login = false;
        req.max_age = Some(50);
        assert_eq!(next_step(&req, &c, Some(&session(100)), None, None, P0, 200), Ok(NextStep::Login));
        assert_eq!(next_step(&req, &c, Some(&session(160)), None, None, P0, 200), Ok(NextStep::IssueCode));
        req.max_age = None;
        req.prompt.none = true;
        assert_eq!(next_step(&req, &c, None, None, None, P0, 200).unwrap_err().code, ErrorCode::LoginRequired);
        let third = client(true, false);
        assert_eq!(
            next_step(&req, &third, Some(&session(100)), None, None, P0, 200).unwrap_err().code,
            ErrorCode::ConsentRequired
        );
        let mut req = parse(&Params(&good()), &third).unwrap();
        req.prompt.consent = true;
        let given = consent("openid profile", 150);
        assert_eq!(next_step(&req, &third, Some(&session(100)), None, Some(&given), P0, 200), Ok(NextStep::Consent));
        let renewed = consent("openid profile", 205);
        assert_eq!(
            next_step(&req, &third, Some(&session(100)), None, Some(&renewed), CONSENTED, 205),
            Ok(NextStep::IssueCode)
        );
    }
}
