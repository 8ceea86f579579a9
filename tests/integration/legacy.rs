//! Issue 13: the legacy OneID API. A legacy relying party over real HTTP against the real server:
//! the browser login with the login form, every grant type in both parameter styles, the
//! identify shape checked against docs/legacy-oneid.md, acting for a legal entity, logout and
//! single logout, the error answers, and one browser session serving OIDC and legacy clients.

use openidconnect::core::CoreTokenResponse;
use openidconnect::{OAuth2TokenResponse, TokenResponse};
use serde_json::{Map, Value};
use yagona_tests::{browser, hidden_input, http_client, location, query_param, reqwest, sign_in, Backend, TestServer};

use crate::rp::RelyingParty;

pub(crate) const ENDPOINT: &str = "/sso/oauth/Authorization.do";
const DOC: &str = include_str!("../../docs/legacy-oneid.md");

/// The JSON example after `<!-- {marker} -->` in docs/legacy-oneid.md.
pub(crate) fn documented(marker: &str) -> Value {
    let start = DOC.find(&format!("<!-- {marker} -->")).unwrap_or_else(|| panic!("{marker} in the doc"));
    let block = &DOC[start..];
    let json = &block[block.find("```json").unwrap() + 7..];
    serde_json::from_str(&json[..json.find("```").unwrap()]).unwrap()
}

/// The JSON type of a value, for comparing shapes.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `actual` has exactly the fields of `example`, each of the same JSON type (for `legal_info`'s
/// entries too).
pub(crate) fn assert_same_shape(actual: &Value, example: &Value) {
    let (a, e): (&Map<String, Value>, &Map<String, Value>) =
        (actual.as_object().unwrap(), example.as_object().unwrap());
    let mut a_keys: Vec<_> = a.keys().collect();
    let mut e_keys: Vec<_> = e.keys().collect();
    a_keys.sort();
    e_keys.sort();
    assert_eq!(a_keys, e_keys, "{actual}");
    for (k, v) in e {
        assert_eq!(kind(&a[k]), kind(v), "type of {k} in {actual}");
    }
}

/// How the relying party sends its parameters.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Style {
    /// A form body.
    Form,
    /// The query string of a POST with an empty body.
    Query,
}

pub(crate) struct LegacyRp<'a> {
    pub(crate) server: &'a TestServer,
    pub(crate) id: String,
    pub(crate) secret: String,
    /// The redirect URI its logins ask for.
    pub(crate) redirect: String,
}

impl<'a> LegacyRp<'a> {
    pub(crate) fn new(server: &'a TestServer, id: &str, extra: &[&str]) -> Self {
        let mut args = vec!["--legacy"];
        args.extend_from_slice(extra);
        let secret = server.add_client(id, &args);
        Self { server, id: id.to_owned(), secret, redirect: TestServer::redirect_uri(id) }
    }

    pub(crate) fn login_url(&self, state: &str) -> String {
        let query = form_encoded(&[
            ("response_type", "one_code"),
            ("client_id", self.id.as_str()),
            ("redirect_uri", self.redirect.as_str()),
            ("scope", self.id.as_str()),
            ("state", state),
        ]);
        self.server.url(&format!("{ENDPOINT}?{query}"))
    }

    /// A back-channel call: (status, JSON body).
    pub(crate) async fn call(&self, style: Style, params: &[(&str, &str)]) -> (u16, Value) {
        let http = http_client();
        let request = match style {
            Style::Form => http.post(self.server.url(ENDPOINT)).form(params),
            Style::Query => {
                let query = form_encoded(params);
                http.post(self.server.url(&format!("{ENDPOINT}?{query}")))
            }
        };
        let r = request.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON, not {status}: {text}")))
    }

    pub(crate) async fn tokens(&self, style: Style, code: &str) -> Value {
        let (status, body) = self
            .call(
                style,
                &[
                    ("grant_type", "one_authorization_code"),
                    ("client_id", &self.id),
                    ("client_secret", &self.secret),
                    ("code", code),
                    ("redirect_uri", ""),
                ],
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// A call of `grant_type` presenting `name=token`, as the API's clients send it (the client
    /// id as scope, `Scope` capitalised by some).
    pub(crate) async fn with_token(&self, style: Style, grant_type: &str, name: &str, token: &str) -> (u16, Value) {
        let params = [
            ("grant_type", grant_type),
            ("client_id", &self.id),
            ("client_secret", &self.secret),
            (name, token),
            ("Scope", &self.id),
        ];
        self.call(style, &params).await
    }

    pub(crate) async fn identify(&self, style: Style, access_token: &str) -> (u16, Value) {
        self.with_token(style, "one_access_token_identify", "access_token", access_token).await
    }

    pub(crate) async fn refresh(&self, style: Style, refresh_token: &str) -> (u16, Value) {
        self.with_token(style, "one_refresh_token", "refresh_token", refresh_token).await
    }

    pub(crate) async fn log_out(&self, style: Style, access_token: &str) -> (u16, Value) {
        self.with_token(style, "one_log_out", "access_token", access_token).await
    }

    /// The browser's one_code request answered at once (the session serves it): the code.
    pub(crate) async fn code_without_login(&self, b: &reqwest::Client) -> String {
        let r = b.get(self.login_url("st")).send().await.unwrap();
        let to = location(&r);
        assert!(to.starts_with(&TestServer::redirect_uri(&self.id)), "straight back to the service: {to}");
        assert_eq!(query_param(&to, "state").as_deref(), Some("st"));
        query_param(&to, "code").unwrap()
    }

    /// Whether the browser's one_code request leads to the login form.
    pub(crate) async fn shows_login_form(&self, b: &reqwest::Client) -> bool {
        let r = b.get(self.login_url("again")).send().await.unwrap();
        let to = location(&r);
        if !to.starts_with("/login?") {
            return false;
        }
        let html = b.get(self.server.url(&to)).send().await.unwrap().text().await.unwrap();
        html.contains("name=\"password\"") && hidden_input(&html, "csrf_token").is_some()
    }
}

fn form_encoded(params: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish()
}

fn now_ms() -> i64 {
    i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

/// The token answer: the documented shape, `expires_in` absolute in milliseconds, scope the
/// client id.
fn check_token_answer(body: &Value, client: &str) {
    assert_same_shape(body, &documented("token-example"));
    let expires = body["expires_in"].as_i64().unwrap();
    let now = now_ms();
    assert!(expires > now && expires <= now + 601_000, "absolute milliseconds: {expires} vs now {now}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], client);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_legacy_relying_party_sqlite() {
    a_legacy_relying_party(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_legacy_relying_party_postgres() {
    a_legacy_relying_party(Backend::Postgres).await;
}

/// Login with the form, code for tokens, identify, refresh, logout and single logout, in both
/// parameter styles.
async fn a_legacy_relying_party(backend: Backend) {
    let server = TestServer::start(backend).await;
    let rp = LegacyRp::new(&server, "soliq", &[]);
    assert!(server.cli_ok(&["client", "list"], None).contains("confidential (client_secret_basic),legacy"));
    let (login, password) = server.add_person("alisher");
    let b = browser();

    // The browser login shows Yagona's login form, then (after consent) returns code and state.
    assert!(rp.shows_login_form(&b).await);
    let callback = sign_in(&b, &server.base_url, &rp.login_url("xyz"), &login, &password).await;
    assert!(callback.starts_with(&TestServer::redirect_uri("soliq")), "{callback}");
    assert_eq!(query_param(&callback, "state").as_deref(), Some("xyz"));
    let code = query_param(&callback, "code").unwrap();

    // Code for tokens, as a form body and without redirect_uri; the code is single use.
    let tokens = rp.tokens(Style::Form, &code).await;
    check_token_answer(&tokens, "soliq");
    let (status, body) = rp
        .call(
            Style::Query,
            &[
                ("grant_type", "one_authorization_code"),
                ("client_id", "soliq"),
                ("client_secret", &rp.secret),
                ("code", &code),
            ],
        )
        .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    assert!(body["error_description"].as_str().unwrap().contains("already been used"), "{body}");
    // The reuse revoked what the code issued (RFC 6749 4.1.2), as at the OIDC token endpoint.
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(rp.identify(Style::Form, access).await.1["error"], "invalid_token");

    // A new code (the session serves it) in the query-string style, with redirect_uri.
    let code = rp.code_without_login(&b).await;
    let (status, tokens) = rp
        .call(
            Style::Query,
            &[
                ("grant_type", "one_authorization_code"),
                ("client_id", "soliq"),
                ("client_secret", &rp.secret),
                ("code", &code),
                ("redirect_uri", &TestServer::redirect_uri("soliq")),
            ],
        )
        .await;
    assert_eq!(status, 200, "{tokens}");
    check_token_answer(&tokens, "soliq");
    let access = tokens["access_token"].as_str().unwrap().to_owned();

    // Identify in both styles (and `Scope` capitalised): the documented shape, field by field.
    for style in [Style::Form, Style::Query] {
        let (status, person) = rp.identify(style, &access).await;
        assert_eq!(status, 200, "{person}");
        assert_same_shape(&person, &without_legal_login(&documented("identify-example")));
        let pinfl = yagona_tests::person_pinfl("alisher");
        let expected = serde_json::json!({
            "valid": "false", "validation_method": [], "valid_methods": [], "pin": pinfl, "user_id": "alisher",
            "full_name": "Karimov Alisher Anvarovich", "sur_name": "Karimov", "first_name": "Alisher",
            "mid_name": "Anvarovich", "pport_no": format!("AA{}", &pinfl[7..]), "birth_date": "1990-05-12",
            "email": "alisher@example.uz", "mob_phone_no": "+998901112233", "user_type": "I",
            "sess_id": person["sess_id"], "ret_cd": "0", "auth_method": "LOGINPASSMETHOD", "legal_info": [],
        });
        assert_eq!(person, expected);
        assert!(!person["sess_id"].as_str().unwrap().is_empty());
    }
    // The token as a bearer header on a GET, with and without the client's credentials.
    let query = format!("grant_type=one_access_token_identify&client_id=soliq&client_secret={}&scope=soliq", rp.secret);
    for url in [server.url(&format!("{ENDPOINT}?{query}")), server.url(ENDPOINT)] {
        let r = http_client().get(url).bearer_auth(&access).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(r.json::<Value>().await.unwrap()["user_id"], "alisher");
    }

    // one_refresh_token in both styles: a rotation; the spent token is refused.
    let (status, refreshed) = rp.refresh(Style::Form, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{refreshed}");
    check_token_answer(&refreshed, "soliq");
    let (status, again) = rp.refresh(Style::Query, refreshed["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{again}");
    let (status, body) = rp.refresh(Style::Query, refreshed["refresh_token"].as_str().unwrap()).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");

    // one_log_out (query style) ends the session: tokens refused, the next login shows the form.
    let code = {
        let callback = sign_in(&b, &server.base_url, &rp.login_url("s2"), &login, &password).await;
        query_param(&callback, "code").unwrap()
    };
    let tokens = rp.tokens(Style::Query, &code).await;
    let access = tokens["access_token"].as_str().unwrap();
    let (status, body) = rp.log_out(Style::Query, access).await;
    assert_eq!((status, &body), (200, &documented("logout-example")));
    let (status, body) = rp.identify(Style::Form, access).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_token")), "{body}");
    let (_, body) = rp.refresh(Style::Form, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(body["error"], "invalid_grant");
    assert!(rp.shows_login_form(&b).await, "the session has ended");

    // Log in again; one_log_out as a form body.
    let callback = sign_in(&b, &server.base_url, &rp.login_url("s3"), &login, &password).await;
    let tokens = rp.tokens(Style::Form, &query_param(&callback, "code").unwrap()).await;
    let (status, _) = rp.log_out(Style::Form, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    assert!(rp.shows_login_form(&b).await);

    // Browser single logout: the session ends and the person goes to the post-logout URI.
    let callback = sign_in(&b, &server.base_url, &rp.login_url("s4"), &login, &password).await;
    let tokens = rp.tokens(Style::Form, &query_param(&callback, "code").unwrap()).await;
    let r = b.get(server.url("/sso/svc/tk/SLO.do?id=soliq")).send().await.unwrap();
    assert_eq!(location(&r), TestServer::post_logout_uri("soliq"));
    assert!(rp.shows_login_form(&b).await);
    let (_, body) = rp.identify(Style::Query, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(body["error"], "invalid_token");

    // Logins and logouts are in the audit trail.
    let audit = server.cli_ok(&["audit", "list", "--json", "--limit", "1000"], None);
    for how in ["legacy_log_out", "legacy_slo"] {
        assert!(audit.contains(how), "{how} in {audit}");
    }
    assert!(audit.contains("login_succeeded") && audit.contains("\"soliq\""), "{audit}");
}

/// The documented example is of a head signed in with the company's EDS; a person signed in with
/// a password has no `pkcs_legal_tin`.
pub(crate) fn without_legal_login(example: &Value) -> Value {
    let mut e = example.clone();
    e.as_object_mut().unwrap().remove("pkcs_legal_tin");
    e
}

/// Parameters, and the status, `error` and words of `error_description` they get.
type ErrorCase<'a> = (Vec<(&'a str, &'a str)>, u16, &'a str, &'a str);

#[tokio::test(flavor = "multi_thread")]
async fn legacy_errors_sqlite() {
    legacy_errors(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn legacy_errors_postgres() {
    legacy_errors(Backend::Postgres).await;
}

/// Every refusal: pages for the browser (never a redirect to an unverified place), JSON with
/// `error` and `error_description` for the back channel.
async fn legacy_errors(backend: Backend) {
    let server = TestServer::start_with(backend, &[("YAGONA_TOKENS__ACCESS_TOKEN", "3")]).await;
    let rp = LegacyRp::new(&server, "soliq", &["--first-party"]);
    let oidc_secret = server.add_client("modern", &["--first-party"]);
    let (login, password) = server.add_person("bobur");
    let b = browser();

    // Browser: unknown client, unregistered redirect URI, a client not marked legacy: a page.
    let pages = [
        format!("{ENDPOINT}?response_type=one_code&client_id=nobody&redirect_uri=http://127.0.0.1:9/soliq/callback"),
        format!("{ENDPOINT}?response_type=one_code&client_id=soliq&redirect_uri=http://evil.example/cb&state=s"),
        format!("{ENDPOINT}?response_type=one_code&client_id=soliq&state=s"),
        format!("{ENDPOINT}?response_type=one_code&client_id=modern&redirect_uri=http://127.0.0.1:9/modern/callback"),
    ];
    for page in pages {
        let r = b.get(server.url(&page)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 400, "{page}");
        assert!(r.headers().get("location").is_none(), "{page}");
        assert!(r.text().await.unwrap().contains("<html"), "{page}");
    }
    // A wrong response_type goes back to the verified redirect URI with the error and state.
    let r = b
        .get(server.url(&format!(
            "{ENDPOINT}?response_type=code&client_id=soliq&redirect_uri=http://127.0.0.1:9/soliq/callback&state=s"
        )))
        .send()
        .await
        .unwrap();
    let to = location(&r);
    assert_eq!(query_param(&to, "error").as_deref(), Some("unsupported_response_type"), "{to}");
    assert_eq!(query_param(&to, "state").as_deref(), Some("s"));

    let callback = sign_in(&b, &server.base_url, &rp.login_url("s"), &login, &password).await;
    let code = query_param(&callback, "code").unwrap();
    let secret = rp.secret.clone();
    // A redirect_uri other than the code's (the attempt spends the code).
    let wrong_uri = [
        ("grant_type", "one_authorization_code"),
        ("client_id", "soliq"),
        ("client_secret", &secret),
        ("code", &code),
        ("redirect_uri", "http://127.0.0.1:9/other"),
    ];
    let (status, body) = rp.call(Style::Query, &wrong_uri).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    assert!(body["error_description"].as_str().unwrap().contains("redirect_uri"), "{body}");
    let cases: Vec<ErrorCase<'_>> = vec![
        (vec![("client_id", "soliq"), ("client_secret", &secret)], 400, "invalid_request", "grant_type"),
        (
            vec![("grant_type", "one_authorization_code"), ("client_id", "soliq"), ("client_secret", "wrong")],
            401,
            "invalid_client",
            "client authentication failed",
        ),
        (
            vec![("grant_type", "one_authorization_code"), ("client_id", "soliq"), ("client_secret", &secret)],
            400,
            "invalid_request",
            "code",
        ),
        (
            vec![
                ("grant_type", "one_authorization_code"),
                ("client_id", "soliq"),
                ("client_secret", &secret),
                ("code", "not-a-code"),
            ],
            400,
            "invalid_grant",
            "invalid or expired",
        ),
        (vec![("grant_type", "one_password"), ("client_id", "soliq")], 400, "unsupported_grant_type", "one_password"),
        (
            vec![("grant_type", "one_access_token_identify"), ("client_id", "soliq"), ("client_secret", &secret)],
            400,
            "invalid_request",
            "access_token",
        ),
        (
            vec![
                ("grant_type", "one_access_token_identify"),
                ("client_id", "soliq"),
                ("client_secret", &secret),
                ("access_token", "unknown-token"),
            ],
            400,
            "invalid_token",
            "unknown",
        ),
        (
            vec![
                ("grant_type", "one_authorization_code"),
                ("client_id", "modern"),
                ("client_secret", &oidc_secret),
                ("code", "x"),
            ],
            400,
            "unauthorized_client",
            "not registered for the legacy OneID API",
        ),
    ];
    for (params, status, error, says) in cases {
        for style in [Style::Form, Style::Query] {
            let (got, body) = rp.call(style, &params).await;
            assert_eq!((got, body["error"].as_str()), (status, Some(error)), "{params:?} {style:?}: {body}");
            assert!(body["error_description"].as_str().unwrap().contains(says), "{params:?}: {body}");
        }
    }
    // A parameter twice with different values; a POST elsewhere under /sso/: JSON, not a page.
    let r = http_client()
        .post(server.url(&format!("{ENDPOINT}?grant_type=one_log_out")))
        .form(&[("grant_type", "one_access_token_identify")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    let r = http_client().post(server.url("/sso/oauth/Other.do")).form(&[("a", "b")]).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");

    // A non-legacy client's OIDC token is not reported through the legacy API, even by bearer.
    let oidc = RelyingParty::discover(&server, "modern", Some(&oidc_secret)).await;
    let start = oidc.start(&["profile"], &[]);
    let callback = sign_in(&b, &server.base_url, &start.url, &login, &password).await;
    let oidc_tokens = oidc.redeem(&callback, start.verifier).await;
    let r =
        http_client().get(server.url(ENDPOINT)).bearer_auth(oidc_tokens.access_token().secret()).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "unauthorized_client");
    let (_, body) = rp.identify(Style::Form, oidc_tokens.access_token().secret()).await;
    assert_eq!(body["error"], "invalid_token");

    // Single logout for an unknown or non-legacy client: a page, the session kept.
    for id in ["nobody", "modern"] {
        let r = b.get(server.url(&format!("/sso/svc/tk/SLO.do?id={id}"))).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 400, "{id}");
    }
    rp.code_without_login(&b).await;

    // The secret in the query string never reaches the log.
    assert!(!server.log().contains(&secret), "a client secret was logged");

    // A token expires: the access token lives three seconds here (expiry is checked in whole
    // seconds, so the wait is longer by one).
    let code = rp.code_without_login(&b).await;
    let tokens = rp.tokens(Style::Form, &code).await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(rp.identify(Style::Form, access).await.0, 200);
    tokio::time::sleep(std::time::Duration::from_millis(4500)).await;
    let (status, body) = rp.identify(Style::Query, access).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_token")), "{body}");
    assert!(body["error_description"].as_str().unwrap().contains("expired"), "{body}");

    // A disabled account's tokens are refused (disabling ends its sessions, which revokes their
    // grants; userinfo's account check stands behind that).
    let tokens = rp.tokens(Style::Form, &rp.code_without_login(&b).await).await;
    server.cli_ok(&["account", "disable", &login], None);
    let (status, body) = rp.identify(Style::Form, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_token")), "{body}");
    let (_, body) = rp.refresh(Style::Query, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_session_serves_oidc_and_legacy_clients_sqlite() {
    one_session_serves_oidc_and_legacy_clients(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_session_serves_oidc_and_legacy_clients_postgres() {
    one_session_serves_oidc_and_legacy_clients(Backend::Postgres).await;
}

async fn oidc_refresh_status(server: &TestServer, secret: &str, tokens: &CoreTokenResponse) -> u16 {
    http_client()
        .post(server.url("/token"))
        .basic_auth("modern", Some(secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", tokens.refresh_token().unwrap().secret().as_str())])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// One browser login serves an OIDC client and a legacy client; a logout on either side ends
/// the other's tokens of that session.
async fn one_session_serves_oidc_and_legacy_clients(backend: Backend) {
    let server = TestServer::start(backend).await;
    let rp = LegacyRp::new(&server, "soliq", &["--first-party"]);
    let oidc_secret = server.add_client("modern", &["--first-party"]);
    let oidc = RelyingParty::discover(&server, "modern", Some(&oidc_secret)).await;
    let (login, password) = server.add_person("dilshod");
    let b = browser();

    // OIDC first (with the login form), then the legacy client without a second login.
    let start = oidc.start(&["profile"], &[]);
    let callback = sign_in(&b, &server.base_url, &start.url, &login, &password).await;
    let oidc_tokens = oidc.redeem(&callback, start.verifier).await;
    let legacy = rp.tokens(Style::Form, &rp.code_without_login(&b).await).await;
    let (_, person) = rp.identify(Style::Form, legacy["access_token"].as_str().unwrap()).await;
    let id_token = oidc_tokens.id_token().unwrap().to_string();
    let sid = crate::flow::decode_jwt_payload(&id_token)["sid"].clone();
    assert_eq!(person["sess_id"], sid, "one session");

    // Legacy logout ends the OIDC tokens of the session.
    assert_eq!(oidc_refresh_status(&server, &oidc_secret, &oidc_tokens).await, 200);
    let (status, _) = rp.log_out(Style::Form, legacy["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(oidc_refresh_status(&server, &oidc_secret, &oidc_tokens).await, 400);

    // Legacy first this time, then OIDC without a login; OIDC logout ends the legacy tokens.
    let callback = sign_in(&b, &server.base_url, &rp.login_url("s"), &login, &password).await;
    let legacy = rp.tokens(Style::Query, &query_param(&callback, "code").unwrap()).await;
    let start = oidc.start(&["profile"], &[]);
    let r = b.get(&start.url).send().await.unwrap();
    let callback = location(&r);
    assert!(callback.starts_with(&TestServer::redirect_uri("modern")), "no login: {callback}");
    let oidc_tokens = oidc.redeem(&callback, start.verifier).await;
    let hint = oidc_tokens.id_token().unwrap().to_string();
    let r = b.get(server.url(&format!("/end_session?id_token_hint={hint}"))).send().await.unwrap();
    // Logged out at once, then (POST-redirect-GET, issue 14) shown the logged-out page.
    assert_eq!(r.status(), 303, "logged out at once");
    assert!(location(&r).ends_with("/logout/done"), "{}", location(&r));
    let (_, body) = rp.identify(Style::Form, legacy["access_token"].as_str().unwrap()).await;
    assert_eq!(body["error"], "invalid_token");
    let (_, body) = rp.refresh(Style::Form, legacy["refresh_token"].as_str().unwrap()).await;
    assert_eq!(body["error"], "invalid_grant");
    assert!(rp.shows_login_form(&b).await);
    assert!(server.cli_ok(&["audit", "list"], None).contains("logged_out"));
}
