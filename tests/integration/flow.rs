//! The whole life of a login, as a relying party sees it.

use openidconnect::core::{CoreIdTokenVerifier, CoreUserInfoClaims};
use openidconnect::{AccessToken, AccessTokenHash, OAuth2TokenResponse, TokenIntrospectionResponse, TokenResponse};
use serde_json::Value;
use yagona_tests::{browser, post_form, query_param, sign_in, Backend, JsonAnswer as _, TestServer};

use crate::rp::RelyingParty;

#[tokio::test(flavor = "multi_thread")]
async fn full_flow_sqlite() {
    full_flow(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn full_flow_postgres() {
    full_flow(Backend::Postgres).await;
}

/// discovery -> authorize -> login form -> consent -> token -> ID token verified against the JWKS
/// -> userinfo -> refresh -> revoke -> introspect -> end_session.
async fn full_flow(backend: Backend) {
    let server = TestServer::start(backend).await;
    let secret =
        server.add_client("tax-portal", &["--grant-type", "authorization_code", "--grant-type", "refresh_token"]);
    let (login, password) = server.add_person("alisher");
    let rp = RelyingParty::discover(&server, "tax-portal", Some(&secret)).await;
    let browser = browser();

    let start = rp.start(&["profile", "email", "phone", "pinfl"], &[]);
    let callback = sign_in(&browser, &server.base_url, &start.url, &login, &password).await;
    assert!(callback.starts_with(&TestServer::redirect_uri("tax-portal")), "{callback}");
    assert_eq!(query_param(&callback, "state").as_deref(), Some(start.state.secret().as_str()));
    assert_eq!(query_param(&callback, "iss").as_deref(), Some(server.base_url.as_str()), "RFC 9207 iss");
    let code = query_param(&callback, "code").expect("a code");
    let code_for_log = code.clone();

    let tokens = rp.redeem_code(code, start.verifier).await;
    let id_token = tokens.id_token().expect("an ID token");
    let verifier: CoreIdTokenVerifier<'_> = rp.client.id_token_verifier();
    let claims = id_token.claims(&verifier, &start.nonce).expect("the ID token verifies against the JWKS");
    let expected_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected_hash), "at_hash binds the access token");
    assert_eq!(claims.issuer().as_str(), server.base_url);
    assert!(claims.auth_time().is_some());
    assert_eq!(claims.auth_context_ref().map(|a| a.as_str()), Some("http://eidas.europa.eu/LoA/low"));
    assert_eq!(claims.auth_method_refs().unwrap()[0].as_str(), "pwd");
    assert_eq!(claims.family_name().unwrap().get(None).unwrap().as_str(), "Karimov");
    assert_eq!(claims.email().unwrap().as_str(), "alisher@example.uz");
    assert_eq!(claims.phone_number().unwrap().as_str(), "+998901112233");
    let subject = claims.subject().clone();

    // The raw claims carry Yagona's own: pinfl and account_verified.
    let raw = decode_jwt_payload(&id_token.to_string());
    assert_eq!(raw["pinfl"].as_str().map(str::len), Some(14));
    assert_eq!(raw["passport_number"], format!("AA{}", &yagona_tests::person_pinfl("alisher")[7..]));
    assert_eq!(raw["account_verified"], false);
    assert_eq!(raw["azp"], "tax-portal");

    let userinfo = rp.userinfo(tokens.access_token(), &subject).await;
    assert_eq!(userinfo.given_name().unwrap().get(None).unwrap().as_str(), "Alisher");

    // Refresh: a new refresh token each time.
    let refresh = tokens.refresh_token().expect("a refresh token").clone();
    let refreshed =
        rp.client.exchange_refresh_token(&refresh).unwrap().request_async(&rp.http).await.expect("refresh works");
    let refresh2 = refreshed.refresh_token().expect("a rotated refresh token").clone();
    assert_ne!(refresh.secret(), refresh2.secret());
    let new_id_token = refreshed.id_token().expect("an ID token on refresh");
    let new_claims = new_id_token.claims(&verifier, |_: Option<&openidconnect::Nonce>| Ok(())).unwrap();
    assert_eq!(new_claims.subject(), &subject);

    // Introspection sees the live tokens...
    let active = rp.client.introspect(refreshed.access_token()).request_async(&rp.http).await.unwrap();
    assert!(active.active());
    assert_eq!(active.sub(), Some(subject.as_str()));
    // ...and revocation ends them: the refresh token's grant and its access tokens.
    // (openidconnect refuses a revocation URL that is not https, so the request is made by hand.)
    let revoked = rp
        .http
        .post(server.url("/revoke"))
        .basic_auth("tax-portal", Some(&secret))
        .form(&[("token", refresh2.secret().as_str()), ("token_type_hint", "refresh_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let after = rp.client.introspect(refreshed.access_token()).request_async(&rp.http).await.unwrap();
    assert!(!after.active(), "access tokens of a revoked grant are inactive");
    let refresh_after =
        rp.client.introspect(&AccessToken::new(refresh2.secret().clone())).request_async(&rp.http).await.unwrap();
    assert!(!refresh_after.active());
    let denied: Result<CoreUserInfoClaims, _> =
        rp.client.user_info(refreshed.access_token().clone(), None).unwrap().request_async(&rp.http).await;
    assert!(denied.is_err(), "userinfo refuses a revoked token");

    // RP-initiated logout with id_token_hint and a registered post_logout_redirect_uri.
    let logout = browser
        .get(server.url("/end_session"))
        .query(&[
            ("id_token_hint", id_token.to_string().as_str()),
            ("post_logout_redirect_uri", TestServer::post_logout_uri("tax-portal").as_str()),
            ("state", "bye-1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 303);
    let to = yagona_tests::location(&logout);
    assert!(to.starts_with(&TestServer::post_logout_uri("tax-portal")), "{to}");
    assert_eq!(query_param(&to, "state").as_deref(), Some("bye-1"));

    // The session is gone: prompt=none now answers login_required.
    let again = rp.start(&["profile"], &[("prompt", "none")]);
    let response = browser.get(&again.url).send().await.unwrap();
    let to = yagona_tests::location(&response);
    assert_eq!(query_param(&to, "error").as_deref(), Some("login_required"), "{to}");
    assert_eq!(query_param(&to, "state").as_deref(), Some(again.state.secret().as_str()));

    // No secret, code, token or password reached the log.
    let log = server.log();
    assert!(log.contains("authorization code redeemed"), "the log has the events");
    let id_token_text = id_token.to_string();
    for secret in [
        code_for_log.as_str(),
        tokens.access_token().secret().as_str(),
        refresh.secret().as_str(),
        refresh2.secret().as_str(),
        id_token_text.as_str(),
        secret.as_str(),
        password.as_str(),
    ] {
        assert!(!log.contains(secret), "a secret reached the log");
    }
}

pub fn decode_jwt_payload(jwt: &str) -> Value {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

pub fn decode_jwt_header(jwt: &str) -> Value {
    use base64::Engine as _;
    let header = jwt.split('.').next().unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap()
}

/// A public client (PKCE, no secret), a first-party client (no consent page) and single sign-on:
/// the second client in the same browser needs no login.
#[tokio::test(flavor = "multi_thread")]
async fn public_client_and_single_sign_on() {
    let server = TestServer::start(Backend::Sqlite).await;
    server.add_public_client("mobile-app", &[]);
    let secret = server.add_client("my-gov", &["--first-party"]);
    let (login, password) = server.add_person("nodira");
    let browser = browser();

    let app = RelyingParty::discover(&server, "mobile-app", None).await;
    let start = app.start(&["profile"], &[]);
    let callback = sign_in(&browser, &server.base_url, &start.url, &login, &password).await;
    let code = query_param(&callback, "code").unwrap();
    let tokens = app.redeem_code(code, start.verifier).await;
    let first_sub =
        tokens.id_token().unwrap().claims(&app.client.id_token_verifier(), &start.nonce).unwrap().subject().clone();

    // Second client: the browser is sent straight back with a code, no login and (first party)
    // no consent page.
    let portal = RelyingParty::discover(&server, "my-gov", Some(&secret)).await;
    let start = portal.start(&["profile"], &[]);
    let response = browser.get(&start.url).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let callback = yagona_tests::location(&response);
    assert!(callback.starts_with(&TestServer::redirect_uri("my-gov")), "SSO goes straight back: {callback}");
    let tokens = portal.redeem(&callback, start.verifier).await;
    let claims = tokens.id_token().unwrap().claims(&portal.client.id_token_verifier(), &start.nonce).unwrap();
    assert_eq!(claims.subject(), &first_sub, "one person, one sub");

    // Remembered consent: the public client asks again and gets a code without the consent page.
    let again = app.start(&["profile"], &[]);
    let response = browser.get(&again.url).send().await.unwrap();
    let callback = yagona_tests::location(&response);
    assert!(callback.starts_with(&TestServer::redirect_uri("mobile-app")), "consent remembered: {callback}");
    // prompt=consent asks again.
    let asked = app.start(&["profile"], &[("prompt", "consent")]);
    let response = browser.get(&asked.url).send().await.unwrap();
    assert!(yagona_tests::location(&response).starts_with("/consent?"), "prompt=consent shows the consent page");
    // prompt=login asks for the password again.
    let relogin = app.start(&["profile"], &[("prompt", "login")]);
    let response = browser.get(&relogin.url).send().await.unwrap();
    assert!(yagona_tests::location(&response).starts_with("/login?"), "prompt=login shows the login page");
}

/// `response_mode=form_post` answers with an auto-submitting form to the redirect URI.
#[tokio::test(flavor = "multi_thread")]
async fn form_post_response_mode() {
    let server = TestServer::start(Backend::Sqlite).await;
    let secret = server.add_client("forms", &["--first-party"]);
    let (login, password) = server.add_person("bobur");
    let rp = RelyingParty::discover(&server, "forms", Some(&secret)).await;
    let browser = browser();
    // Log in once with the query mode, then ask with form_post.
    let start = rp.start(&[], &[]);
    sign_in(&browser, &server.base_url, &start.url, &login, &password).await;
    let start = rp.start(&[], &[("response_mode", "form_post")]);
    let response = browser.get(&start.url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let csp = response.headers().get("content-security-policy").unwrap().to_str().unwrap().to_owned();
    assert!(csp.contains("script-src 'sha256-"), "{csp}");
    let html = response.text().await.unwrap();
    assert!(html.contains(&format!("action=\"{}\"", TestServer::redirect_uri("forms"))), "{html}");
    let code = yagona_tests::hidden_input(&html, "code").expect("the code is a hidden field");
    assert_eq!(yagona_tests::hidden_input(&html, "state").as_deref(), Some(start.state.secret().as_str()));
    assert_eq!(yagona_tests::hidden_input(&html, "iss").as_deref(), Some(server.base_url.as_str()));
    rp.redeem_code(code, start.verifier).await;
}

/// Discovery advertises every endpoint and capability; JSON logs carry the request id.
#[tokio::test(flavor = "multi_thread")]
async fn discovery_document_and_json_logs() {
    let server = TestServer::start_with(Backend::Sqlite, &[("YAGONA_LOG__FORMAT", "json")]).await;
    let http = yagona_tests::http_client();
    let doc: Value = http.get(server.url("/.well-known/openid-configuration")).json_answer().await;
    assert_eq!(doc["issuer"], server.base_url);
    for (key, path) in [
        ("authorization_endpoint", "/authorize"),
        ("token_endpoint", "/token"),
        ("userinfo_endpoint", "/userinfo"),
        ("jwks_uri", "/jwks"),
        ("introspection_endpoint", "/introspect"),
        ("revocation_endpoint", "/revoke"),
        ("end_session_endpoint", "/end_session"),
    ] {
        assert_eq!(doc[key], server.url(path), "{key}");
    }
    assert_eq!(doc["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    assert_eq!(doc["response_modes_supported"], serde_json::json!(["query", "form_post"]));
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    assert_eq!(doc["id_token_signing_alg_values_supported"], serde_json::json!(["RS256", "ES256", "PS256", "EdDSA"]));
    assert!(doc["scopes_supported"].as_array().unwrap().contains(&Value::from("pinfl")));
    assert!(doc["claims_supported"].as_array().unwrap().contains(&Value::from("account_verified")));

    let jwks: Value = http.get(server.url("/jwks")).json_answer().await;
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 4, "one key per algorithm (algorithms.rs checks each)");
    let rsa = keys.iter().find(|k| k["alg"] == "RS256").unwrap();
    assert_eq!(rsa["kty"], "RSA");
    assert_eq!(rsa["use"], "sig");
    assert!(rsa.get("d").is_none(), "no private parts are published");
    let ec = keys.iter().find(|k| k["kty"] == "EC").unwrap();
    assert_eq!(ec["crv"], "P-256");
    assert!(ec.get("d").is_none());

    let response = http.get(server.url("/nowhere")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    let request_id = response.headers().get("x-request-id").unwrap().to_str().unwrap().to_owned();
    let log = server.log();
    let lines: Vec<Value> =
        log.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not a JSON line: {l}"))).collect();
    let line = lines
        .iter()
        .find(|l| l["span"]["request_id"] == request_id.as_str())
        .expect("the request's line carries its request id");
    assert_eq!(line["span"]["path"], "/nowhere");
    assert_eq!(line["fields"]["status"], 404);
}

/// `client_credentials` gives a JWT access token (RFC 9068) that introspection reports.
#[tokio::test(flavor = "multi_thread")]
async fn client_credentials_and_introspection() {
    let server = TestServer::start(Backend::Sqlite).await;
    let secret = server.add_client("batch-job", &["--grant-type", "client_credentials", "--scope", "reports.read"]);
    let http = yagona_tests::http_client();
    let response = http
        .post(server.url("/token"))
        .basic_auth("batch-job", Some(&secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "reports.read")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers().get("cache-control").unwrap(), "no-store");
    let body: Value = response.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(body["scope"], "reports.read");
    assert_eq!(decode_jwt_header(token)["typ"], "at+jwt");
    let claims = decode_jwt_payload(token);
    assert_eq!(claims["sub"], "batch-job");
    assert_eq!(claims["client_id"], "batch-job");

    let introspection: Value = post_form(
        &http,
        &server,
        "/introspect",
        &[("token", token), ("client_id", "batch-job"), ("client_secret", &secret)],
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(introspection["active"], true);
    assert_eq!(introspection["client_id"], "batch-job");
    // The access token cannot be used at userinfo: it names no person.
    let userinfo = http.get(server.url("/userinfo")).bearer_auth(token).send().await.unwrap();
    assert_eq!(userinfo.status(), 401);
    // Revoked, it is inactive.
    let revoked = http
        .post(server.url("/revoke"))
        .basic_auth("batch-job", Some(&secret))
        .form(&[("token", token), ("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let introspection: Value = http
        .post(server.url("/introspect"))
        .basic_auth("batch-job", Some(&secret))
        .form(&[("token", token)])
        .json_answer()
        .await;
    assert_eq!(introspection, serde_json::json!({ "active": false }));
}

/// A client registered with `--access-token-format opaque` gets random handles instead of JWTs
/// (on PostgreSQL here; the JWT path runs on both in `full_flow`): they work at userinfo, are
/// reported by introspection, are revoked by RFC 7009, and are bound to the ID token by at_hash.
#[tokio::test(flavor = "multi_thread")]
async fn opaque_access_tokens_for_a_client_that_asks_for_them() {
    let server = TestServer::start(Backend::Postgres).await;
    let secret = server.add_client(
        "registry",
        &[
            "--first-party",
            "--access-token-format",
            "opaque",
            "--grant-type",
            "authorization_code",
            "--grant-type",
            "refresh_token",
            "--grant-type",
            "client_credentials",
        ],
    );
    assert!(server.cli_ok(&["client", "list"], None).contains("access_token=opaque"));
    let bad = server.cli(
        &["client", "add", "--id", "x", "--redirect-uri", "https://x.uz/cb", "--access-token-format", "paseto"],
        None,
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--access-token-format"));
    let (login, password) = server.add_person("gulnora");
    let rp = RelyingParty::discover(&server, "registry", Some(&secret)).await;
    let browser = browser();
    let start = rp.start(&["profile"], &[]);
    let callback = sign_in(&browser, &server.base_url, &start.url, &login, &password).await;
    let tokens = rp.redeem(&callback, start.verifier).await;
    let access = tokens.access_token().clone();
    assert!(!access.secret().contains('.'), "an opaque handle, not a JWT");
    // The issue-time prefix (12 hex digits) and 32 random bytes (yagona_oidc::secrets).
    assert_eq!(access.secret().len(), 55);
    let id_token = tokens.id_token().unwrap();
    let verifier: CoreIdTokenVerifier<'_> = rp.client.id_token_verifier();
    let claims = id_token.claims(&verifier, &start.nonce).unwrap();
    let expected_hash =
        AccessTokenHash::from_token(&access, id_token.signing_alg().unwrap(), id_token.signing_key(&verifier).unwrap())
            .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected_hash));
    let subject = claims.subject().clone();

    let userinfo: CoreUserInfoClaims = rp
        .client
        .user_info(access.clone(), Some(subject.clone()))
        .unwrap()
        .request_async(&rp.http)
        .await
        .expect("userinfo takes the opaque token");
    assert_eq!(userinfo.subject(), &subject);
    assert!(userinfo.family_name().is_some(), "the profile scope's claims");

    let introspect = |token: String| {
        let (server, secret) = (&server, &secret);
        async move {
            let r = yagona_tests::http_client()
                .post(server.url("/introspect"))
                .basic_auth("registry", Some(secret))
                .form(&[("token", token)])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };
    let report = introspect(access.secret().clone()).await;
    assert_eq!(report["active"], true);
    assert_eq!(report["sub"], subject.as_str());
    assert_eq!(report["client_id"], "registry");
    assert_eq!(report["scope"], "openid profile");
    // The handle is stored as its grant and what it adds: the claims put together from the grant
    // are the ones the ID token of the same grant states.
    let id_claims: Value = {
        use base64::Engine as _;
        let payload = id_token.to_string().split('.').nth(1).unwrap().to_owned();
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    };
    for claim in ["iss", "sub", "auth_time", "acr"] {
        assert_eq!(report[claim], id_claims[claim], "{claim} of the opaque token");
    }
    assert_eq!((report["aud"].as_str(), report["jti"].as_str().map(str::len)), (Some("registry"), Some(34)));
    assert!(report["exp"].as_i64().unwrap() > report["iat"].as_i64().unwrap());
    assert_eq!(introspect("A".repeat(43)).await["active"], false, "an unknown handle is inactive");
    // The same issue time with another random part: the prefix alone finds nothing.
    let last = if access.secret().ends_with('B') { 'C' } else { 'B' };
    let sibling = format!("{}{last}", &access.secret()[..access.secret().len() - 1]);
    assert_eq!(introspect(sibling).await["active"], false, "another handle of the same millisecond");

    // Refresh gives a new opaque token; the old one stays valid until revoked.
    let refreshed = rp
        .client
        .exchange_refresh_token(tokens.refresh_token().unwrap())
        .unwrap()
        .request_async(&rp.http)
        .await
        .unwrap();
    let second = refreshed.access_token().clone();
    assert!(!second.secret().contains('.') && second.secret() != access.secret());

    let revoked = yagona_tests::http_client()
        .post(server.url("/revoke"))
        .basic_auth("registry", Some(&secret))
        .form(&[("token", access.secret().as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert_eq!(introspect(access.secret().clone()).await["active"], false);
    let refused =
        yagona_tests::http_client().get(server.url("/userinfo")).bearer_auth(access.secret()).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    assert!(refused.headers()["www-authenticate"].to_str().unwrap().contains("invalid_token"));
    assert_eq!(introspect(second.secret().clone()).await["active"], true, "only the revoked token ends");

    // client_credentials: an opaque token about the client itself.
    let machine: Value = yagona_tests::http_client()
        .post(server.url("/token"))
        .basic_auth("registry", Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .json_answer()
        .await;
    let machine_token = machine["access_token"].as_str().unwrap().to_owned();
    assert!(!machine_token.contains('.'));
    let report = introspect(machine_token).await;
    assert_eq!(report["active"], true);
    assert_eq!(report["sub"], "registry");
}
