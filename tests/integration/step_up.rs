//! Step-up: a relying party asking for more assurance than the session has gets a login that
//! reaches it (EDS), or `unmet_authentication_requirements` when the person cannot; a lower `acr`
//! comes back only where the request names it, never for an essential `acr` claim.

use openidconnect::TokenResponse;
use yagona_tests::{browser, hidden_input, location, post_form, query_param, sign_in, Backend, TestServer};

use crate::eds::{issue, page, server_with_ca, sign_challenge};
use crate::flow::decode_jwt_payload;
use crate::rp::RelyingParty;

const LOW: &str = "http://eidas.europa.eu/LoA/low";
const SUBSTANTIAL: &str = "http://eidas.europa.eu/LoA/substantial";
const HIGH: &str = "http://eidas.europa.eu/LoA/high";

/// Follows the browser from an authorization URL to the first page of Yagona it stops at, or to
/// the client's callback; returns that location.
pub(crate) async fn follow(b: &yagona_tests::reqwest::Client, server: &TestServer, url: &str) -> String {
    let mut next = url.to_owned();
    for _ in 0..5 {
        let r = b.get(&next).send().await.unwrap();
        if !r.status().is_redirection() {
            return next;
        }
        let to = location(&r);
        if !to.starts_with('/') {
            return to;
        }
        next = server.url(&to);
    }
    panic!("too many redirects from {url}")
}

#[tokio::test(flavor = "multi_thread")]
async fn substantial_from_a_low_session_steps_up_or_is_unmet() {
    let (mut server, ca) = server_with_ca(Backend::Sqlite);
    server.spawn().await;
    let secret = server.add_client("soliq", &["--first-party"]);
    let (login, password) = server.add_person("zarina");
    let p12 = issue(&server, &ca, "KARIMOVA ZARINA", &yagona_tests::person_pinfl("zarina"), &[]);
    let rp = RelyingParty::discover(&server, "soliq", Some(&secret)).await;
    let b = browser();

    // A password login on an unconfirmed account: `low`.
    let start = rp.start(&[], &[]);
    let callback = sign_in(&b, &server.base_url, &start.url, &login, &password).await;
    let tokens = rp.redeem(&callback, start.verifier).await;
    assert_eq!(decode_jwt_payload(&tokens.id_token().unwrap().to_string())["acr"], LOW);

    // A request that also names `low` allows it: a code at once, its ID token saying `low`.
    let start = rp.start(&[], &[("acr_values", &format!("{SUBSTANTIAL} {LOW}"))]);
    let callback = follow(&b, &server, &start.url).await;
    let tokens = rp.redeem(&callback, start.verifier).await;
    assert_eq!(decode_jwt_payload(&tokens.id_token().unwrap().to_string())["acr"], LOW);

    // `substantial` alone: the login page, not a `low` code.
    let start = rp.start(&[], &[("acr_values", SUBSTANTIAL)]);
    let login_page = follow(&b, &server, &start.url).await;
    assert!(login_page.contains("/login?interaction="), "a step-up login: {login_page}");
    let html = page(&b, &server, login_page.trim_start_matches(&server.base_url)).await;
    assert!(html.contains("id=\"step-up\"") && html.contains("id=\"decline\""), "{html}");
    let csrf = hidden_input(&html, "csrf_token").unwrap();
    let interaction = query_param(&login_page, "interaction").unwrap();
    // The password again reaches only `low`: back to the login page, still no code.
    let form = [
        ("login", login.as_str()),
        ("password", password.as_str()),
        ("csrf_token", csrf.as_str()),
        ("interaction", interaction.as_str()),
    ];
    let r = post_form(&b, &server, "/login", &form).await;
    let again = follow(&b, &server, &server.url(&location(&r))).await;
    assert!(again.contains("/login?interaction="), "a password login does not reach substantial: {again}");
    // An EDS login (`high`) meets it. (The account was never confirmed: the EDS takes it over
    // first, as identity.rs shows, then the authorization resumes.)
    let pkcs7 = sign_challenge(&server, &b, &p12).await;
    let form = [("csrf_token", csrf.as_str()), ("pkcs7", pkcs7.as_str()), ("interaction", interaction.as_str())];
    let r = post_form(&b, &server, "/login/eds", &form).await;
    assert_eq!(location(&r), "/login/eds/takeover");
    let r = post_form(&b, &server, "/login/eds/takeover", &[("csrf_token", csrf.as_str())]).await;
    let callback = follow(&b, &server, &server.url(&location(&r))).await;
    let tokens = rp.redeem(&callback, start.verifier).await;
    let claims = tokens.id_token().unwrap().claims(&rp.client.id_token_verifier(), &start.nonce).unwrap().clone();
    assert_eq!(claims.auth_context_ref().unwrap().as_str(), HIGH);

    // Another person, `low`, who has no EDS: says so on the step-up page, and the relying party
    // learns the requirement was unmet.
    let (login, password) = server.add_person("ravshan");
    let b = browser();
    let start = rp.start(&[], &[]);
    sign_in(&b, &server.base_url, &start.url, &login, &password).await;
    let start = rp.start(&[], &[("acr_values", SUBSTANTIAL)]);
    let login_page = follow(&b, &server, &start.url).await;
    let html = page(&b, &server, login_page.trim_start_matches(&server.base_url)).await;
    let csrf = hidden_input(&html, "csrf_token").unwrap();
    let interaction = query_param(&login_page, "interaction").unwrap();
    let r =
        post_form(&b, &server, "/authorize/decline", &[("csrf_token", csrf.as_str()), ("interaction", &interaction)])
            .await;
    let callback = location(&r);
    assert!(callback.starts_with(&TestServer::redirect_uri("soliq")), "{callback}");
    assert_eq!(query_param(&callback, "error").as_deref(), Some("unmet_authentication_requirements"));
    assert_eq!(query_param(&callback, "state").as_deref(), Some(start.state.secret().as_str()));
    assert!(query_param(&callback, "code").is_none());
    // The interaction is spent: declining twice is an expired page, not a second redirect.
    let r =
        post_form(&b, &server, "/authorize/decline", &[("csrf_token", csrf.as_str()), ("interaction", &interaction)])
            .await;
    assert!(r.headers().get("location").is_none());
}

/// An essential `acr` claim (OIDC Core 5.5.1.1) is never met silently by a lower level: it steps
/// up like `acr_values`, and a person who cannot gets `unmet_authentication_requirements`.
#[tokio::test(flavor = "multi_thread")]
async fn an_essential_acr_claim_is_never_met_by_a_lower_level() {
    let server = TestServer::start(Backend::Sqlite).await;
    let secret = server.add_client("soliq", &["--first-party"]);
    let (login, password) = server.add_person("lola");
    let rp = RelyingParty::discover(&server, "soliq", Some(&secret)).await;
    let b = browser();
    let start = rp.start(&[], &[]);
    sign_in(&b, &server.base_url, &start.url, &login, &password).await;

    let claims = format!(r#"{{"id_token":{{"acr":{{"essential":true,"values":["{SUBSTANTIAL}"]}}}}}}"#);
    let start = rp.start(&[], &[("claims", &claims)]);
    let login_page = follow(&b, &server, &start.url).await;
    assert!(login_page.contains("/login?interaction="), "no `low` code for an essential substantial: {login_page}");
    let html = page(&b, &server, login_page.trim_start_matches(&server.base_url)).await;
    let csrf = hidden_input(&html, "csrf_token").unwrap();
    let interaction = query_param(&login_page, "interaction").unwrap();
    let r =
        post_form(&b, &server, "/authorize/decline", &[("csrf_token", csrf.as_str()), ("interaction", &interaction)])
            .await;
    assert_eq!(query_param(&location(&r), "error").as_deref(), Some("unmet_authentication_requirements"));

    // `high` on a server without EDS sign-in: nobody can, so the answer comes at once.
    let claims = format!(r#"{{"id_token":{{"acr":{{"essential":true,"value":"{HIGH}"}}}}}}"#);
    let start = rp.start(&[], &[("claims", &claims)]);
    let callback = follow(&b, &server, &start.url).await;
    assert_eq!(query_param(&callback, "error").as_deref(), Some("unmet_authentication_requirements"), "{callback}");
    // A `claims` that is not JSON is a clear error for the client.
    let start = rp.start(&[], &[("claims", "{not json")]);
    let callback = follow(&b, &server, &start.url).await;
    assert_eq!(query_param(&callback, "error").as_deref(), Some("invalid_request"), "{callback}");
}
