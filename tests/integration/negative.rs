//! Bad input everywhere: a clear RFC error, never a 500, nothing stored or redirected wrongly.

use openidconnect::{OAuth2TokenResponse, PkceCodeVerifier};
use serde_json::Value;
use yagona_tests::{browser, http_client, location, query_param, sign_in, Backend, TestServer};

use crate::rp::RelyingParty;

/// A relying party with a signed-in browser, ready to get codes.
struct Signed {
    server: TestServer,
    rp: RelyingParty,
    secret: String,
    browser: yagona_tests::reqwest::Client,
}

async fn signed_in(backend: Backend, extra_env: &[(&str, &str)]) -> Signed {
    let server = TestServer::start_with(backend, extra_env).await;
    let secret = server.add_client("rp", &["--first-party"]);
    let (login, password) = server.add_person("dilshod");
    let rp = RelyingParty::discover(&server, "rp", Some(&secret)).await;
    let browser = browser();
    let start = rp.start(&[], &[]);
    sign_in(&browser, &server.base_url, &start.url, &login, &password).await;
    Signed { server, rp, secret, browser }
}

impl Signed {
    /// A fresh code and its PKCE verifier.
    async fn code(&self) -> (String, PkceCodeVerifier) {
        let start = self.rp.start(&["profile"], &[]);
        let response = self.browser.get(&start.url).send().await.unwrap();
        let callback = location(&response);
        (query_param(&callback, "code").unwrap_or_else(|| panic!("no code in {callback}")), start.verifier)
    }

    async fn token(&self, form: &[(&str, &str)]) -> (u16, Value) {
        let response = http_client()
            .post(self.server.url("/token"))
            .basic_auth("rp", Some(&self.secret))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

fn assert_error(status: u16, body: &Value, expected_status: u16, error: &str) {
    assert_eq!(status, expected_status, "{body}");
    assert_eq!(body["error"], error, "{body}");
    assert!(body["error_description"].as_str().is_some_and(|d| !d.is_empty()), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn authorize_never_redirects_to_an_unverified_uri() {
    let server = TestServer::start(Backend::Sqlite).await;
    server.add_client("rp", &[]);
    let http = http_client();
    let base = [("response_type", "code"), ("scope", "openid"), ("state", "s")];
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![("client_id", "rp"), ("redirect_uri", "https://evil.example/cb")],
        vec![("client_id", "rp"), ("redirect_uri", "http://127.0.0.1:9/rp/callback/")],
        vec![("client_id", "rp")],
        vec![("client_id", "nobody"), ("redirect_uri", "http://127.0.0.1:9/rp/callback")],
        vec![("redirect_uri", "http://127.0.0.1:9/rp/callback")],
        vec![("client_id", "rp"), ("client_id", "rp"), ("redirect_uri", "http://127.0.0.1:9/rp/callback")],
    ];
    for case in cases {
        let mut params = case.clone();
        params.extend_from_slice(&base);
        let response = http.get(server.url("/authorize")).query(&params).send().await.unwrap();
        assert_eq!(response.status(), 400, "{case:?}");
        assert!(response.headers().get("location").is_none(), "{case:?} must not redirect");
        let html = response.text().await.unwrap();
        assert!(html.contains("invalid sign-in request"), "{html}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn authorize_errors_return_to_the_client() {
    let server = TestServer::start(Backend::Sqlite).await;
    server.add_public_client("spa", &[]);
    let http = http_client();
    let redirect = TestServer::redirect_uri("spa");
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("response_type", "token"), ("scope", "openid")], "unsupported_response_type"),
        (vec![("scope", "openid")], "invalid_request"),
        (vec![("response_type", "code"), ("scope", "profile")], "invalid_scope"),
        // public client without PKCE
        (vec![("response_type", "code"), ("scope", "openid")], "invalid_request"),
        (
            vec![
                ("response_type", "code"),
                ("scope", "openid"),
                ("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
                ("code_challenge_method", "plain"),
            ],
            "invalid_request",
        ),
        (
            vec![
                ("response_type", "code"),
                ("scope", "openid"),
                ("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
                ("code_challenge_method", "S256"),
                ("prompt", "none"),
            ],
            "login_required",
        ),
        (
            vec![
                ("response_type", "code"),
                ("scope", "openid"),
                ("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
                ("code_challenge_method", "S256"),
                ("id_token_hint", "not-a-token"),
            ],
            "invalid_request",
        ),
        (
            // A request object (RFC 9101) signed with `none`, by a client without keys.
            vec![("response_type", "code"), ("scope", "openid"), ("request", "eyJhbGciOiJub25lIn0.e30.")],
            "invalid_request_object",
        ),
    ];
    for (case, error) in cases {
        let mut params = vec![("client_id", "spa"), ("redirect_uri", redirect.as_str()), ("state", "st-1")];
        params.extend_from_slice(&case);
        let response = http.get(server.url("/authorize")).query(&params).send().await.unwrap();
        assert_eq!(response.status(), 303, "{case:?}");
        let to = location(&response);
        assert!(to.starts_with(&redirect), "{to}");
        assert_eq!(query_param(&to, "error").as_deref(), Some(error), "{case:?}: {to}");
        assert_eq!(query_param(&to, "state").as_deref(), Some("st-1"));
        assert_eq!(query_param(&to, "iss").as_deref(), Some(server.base_url.as_str()));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn pkce_is_enforced() {
    let s = signed_in(Backend::Sqlite, &[]).await;
    let redirect = TestServer::redirect_uri("rp");
    let (code, _) = s.code().await;
    let (status, body) =
        s.token(&[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", &redirect)]).await;
    assert_error(status, &body, 400, "invalid_grant");
    let (code, _) = s.code().await;
    let wrong = "x".repeat(43);
    let (status, body) = s
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect),
            ("code_verifier", &wrong),
        ])
        .await;
    assert_error(status, &body, 400, "invalid_grant");
    // A wrong redirect_uri is refused even with the right verifier.
    let (code, verifier) = s.code().await;
    let (status, body) = s
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:9/rp/other"),
            ("code_verifier", verifier.secret()),
        ])
        .await;
    assert_error(status, &body, 400, "invalid_grant");
}

#[tokio::test(flavor = "multi_thread")]
async fn code_reuse_fails_and_revokes_what_it_issued() {
    for backend in Backend::ALL {
        let s = signed_in(backend, &[]).await;
        let (code, verifier) = s.code().await;
        let redirect = TestServer::redirect_uri("rp");
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect.as_str()),
            ("code_verifier", verifier.secret().as_str()),
        ];
        let (status, first) = s.token(&form).await;
        assert_eq!(status, 200, "{first}");
        let (status, second) = s.token(&form).await;
        assert_error(status, &second, 400, "invalid_grant");
        // The tokens of the first redemption are revoked.
        let refresh = first["refresh_token"].as_str().unwrap();
        let (status, body) = s.token(&[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await;
        assert_error(status, &body, 400, "invalid_grant");
        let userinfo = http_client()
            .get(s.server.url("/userinfo"))
            .bearer_auth(first["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(userinfo.status(), 401);
        let challenge = userinfo.headers().get("www-authenticate").unwrap().to_str().unwrap();
        assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_code_is_refused() {
    let s = signed_in(Backend::Sqlite, &[("YAGONA_TOKENS__AUTHORIZATION_CODE", "1")]).await;
    let (code, verifier) = s.code().await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let redirect = TestServer::redirect_uri("rp");
    let (status, body) = s
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect),
            ("code_verifier", verifier.secret()),
        ])
        .await;
    assert_error(status, &body, 400, "invalid_grant");
}

#[tokio::test(flavor = "multi_thread")]
async fn client_authentication_failures() {
    let s = signed_in(Backend::Sqlite, &[]).await;
    let http = http_client();
    let cases: Vec<yagona_tests::reqwest::RequestBuilder> = vec![
        http.post(s.server.url("/token"))
            .basic_auth("rp", Some("wrong-secret"))
            .form(&[("grant_type", "client_credentials")]),
        http.post(s.server.url("/token")).basic_auth("nobody", Some("x")).form(&[("grant_type", "client_credentials")]),
        http.post(s.server.url("/token")).form(&[("grant_type", "client_credentials"), ("client_id", "rp")]),
        http.post(s.server.url("/token")).form(&[("grant_type", "client_credentials")]),
        http.post(s.server.url("/introspect")).form(&[("token", "x"), ("client_id", "rp"), ("client_secret", "nope")]),
    ];
    for case in cases {
        let response = case.send().await.unwrap();
        assert_eq!(response.status(), 401);
        assert!(response.headers().get("www-authenticate").unwrap().to_str().unwrap().starts_with("Basic"));
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client");
    }
    // client_secret_post works, and the client may not use a grant it was not given.
    let (status, body) = {
        let r = http
            .post(s.server.url("/token"))
            .form(&[("grant_type", "client_credentials"), ("client_id", "rp"), ("client_secret", s.secret.as_str())])
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    assert_error(status, &body, 400, "unauthorized_client");
}

#[tokio::test(flavor = "multi_thread")]
async fn refresh_token_reuse_revokes_the_family() {
    for backend in Backend::ALL {
        let s = signed_in(backend, &[]).await;
        let (code, verifier) = s.code().await;
        let tokens = s.rp.redeem_code(code, verifier).await;
        let r1 = tokens.refresh_token().unwrap().secret().clone();
        let (status, body) = s.token(&[("grant_type", "refresh_token"), ("refresh_token", &r1)]).await;
        assert_eq!(status, 200, "{body}");
        let r2 = body["refresh_token"].as_str().unwrap().to_owned();
        // An attacker replays r1: refused, and the whole family (r2) dies with it.
        let (status, body) = s.token(&[("grant_type", "refresh_token"), ("refresh_token", &r1)]).await;
        assert_error(status, &body, 400, "invalid_grant");
        let (status, body) = s.token(&[("grant_type", "refresh_token"), ("refresh_token", &r2)]).await;
        assert_error(status, &body, 400, "invalid_grant");
        // Scope can only narrow.
        let (code, verifier) = s.code().await;
        let redirect = TestServer::redirect_uri("rp");
        let (_, body) = s
            .token(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &redirect),
                ("code_verifier", verifier.secret()),
            ])
            .await;
        let r = body["refresh_token"].as_str().unwrap().to_owned();
        let (status, body) =
            s.token(&[("grant_type", "refresh_token"), ("refresh_token", &r), ("scope", "openid email")]).await;
        assert_error(status, &body, 400, "invalid_scope");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_token_requests_get_rfc_errors() {
    let s = signed_in(Backend::Sqlite, &[]).await;
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![], "invalid_request"),
        (vec![("grant_type", "password")], "unsupported_grant_type"),
        (vec![("grant_type", "authorization_code")], "invalid_request"),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("code", "nope"),
                ("redirect_uri", "http://127.0.0.1:9/rp/callback"),
            ],
            "invalid_grant",
        ),
        (vec![("grant_type", "refresh_token")], "invalid_request"),
        (vec![("grant_type", "refresh_token"), ("refresh_token", "garbage")], "invalid_grant"),
        (vec![("grant_type", "authorization_code"), ("grant_type", "authorization_code")], "invalid_request"),
    ];
    for (form, error) in cases {
        let (status, body) = s.token(&form).await;
        assert_error(status, &body, 400, error);
    }
    // A body that is not form encoding at all.
    let response =
        http_client().post(s.server.url("/token")).basic_auth("rp", Some(&s.secret)).body("%%%").send().await.unwrap();
    assert_eq!(response.status(), 400);
    // Userinfo without a token, with a malformed header, with garbage.
    let http = http_client();
    let r = http.get(s.server.url("/userinfo")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("www-authenticate").unwrap().to_str().unwrap().starts_with("Bearer"));
    let r = http.get(s.server.url("/userinfo")).header("authorization", "Token abc").send().await.unwrap();
    assert_eq!(r.status(), 400);
    let r = http.get(s.server.url("/userinfo")).bearer_auth("a.b.c").send().await.unwrap();
    assert_eq!(r.status(), 401);
    // Revocation of an unknown token is fine (RFC 7009 2.2); an unknown hint is not.
    let r = http
        .post(s.server.url("/revoke"))
        .basic_auth("rp", Some(&s.secret))
        .form(&[("token", "unknown")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .post(s.server.url("/revoke"))
        .basic_auth("rp", Some(&s.secret))
        .form(&[("token", "unknown"), ("token_type_hint", "weird")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "unsupported_token_type");
    // Nothing above was a server error.
    assert!(!s.server.log().contains("status=500"), "{}", s.server.log());
}
