//! The `claims` request parameter (OIDC Core 5.5), sent by the `openidconnect` crate as an extra
//! authorization parameter: requested claims come back within the granted scopes, an essential
//! `acr` steps up or is refused, a requested `sub` names the person, a malformed one is refused.

use openidconnect::{OAuth2TokenResponse as _, TokenResponse as _};
use yagona_tests::{
    browser, hidden_input, http_client, location, post_form, query_param, sign_in, Backend, JsonAnswer as _, TestServer,
};

use crate::eds::page;
use crate::flow::decode_jwt_payload;
use crate::rp::RelyingParty;
use crate::step_up::follow;

const SUBSTANTIAL: &str = "http://eidas.europa.eu/LoA/substantial";

#[tokio::test(flavor = "multi_thread")]
async fn requested_claims_are_released_within_the_granted_scopes() {
    for backend in Backend::ALL {
        let server = TestServer::start(backend).await;
        let discovery: serde_json::Value =
            http_client().get(server.url("/.well-known/openid-configuration")).json_answer().await;
        assert_eq!(discovery["claims_parameter_supported"], true, "{backend:?}");
        let secret = server.add_client("claims-rp", &["--first-party"]);
        let (login, password) = server.add_person("claims-person");
        let rp = RelyingParty::discover(&server, "claims-rp", Some(&secret)).await;
        let b = browser();

        // `email` is asked for in both places, but only `profile` is granted: it is not released.
        let claims = r#"{"id_token":{"given_name":{"essential":true},"email":null},"userinfo":{"family_name":null,"email":{"essential":true}}}"#;
        let start = rp.start(&["profile"], &[("claims", claims)]);
        let callback = sign_in(&b, &server.base_url, &start.url, &login, &password).await;
        let tokens = rp.redeem(&callback, start.verifier).await;
        let id_token = tokens.id_token().unwrap();
        let verified = id_token.claims(&rp.client.id_token_verifier(), &start.nonce).unwrap();
        let given = verified.given_name().and_then(|n| n.get(None)).map(|n| n.as_str().to_owned());
        assert_eq!(given.as_deref(), Some("Alisher"), "{backend:?}");
        assert!(verified.email().is_none(), "email without its scope: {backend:?}");
        let info = rp.userinfo(tokens.access_token(), verified.subject()).await;
        assert!(info.family_name().is_some(), "{backend:?}");
        assert!(info.email().is_none(), "email without its scope at userinfo: {backend:?}");

        // With the `email` scope the same request releases it.
        let start = rp.start(&["profile", "email"], &[("claims", claims)]);
        let callback = follow(&b, &server, &start.url).await;
        let tokens = rp.redeem(&callback, start.verifier).await;
        let payload = decode_jwt_payload(&tokens.id_token().unwrap().to_string());
        assert_eq!(payload["email"], "alisher@example.uz", "{backend:?}");
        let subject = payload["sub"].as_str().unwrap().to_owned();

        // A `sub` asked for with a value names the person: the session's passes without a login,
        // anyone else's needs one (here prompt=none: login_required).
        let mine = format!(r#"{{"id_token":{{"sub":{{"value":"{subject}"}}}}}}"#);
        let start = rp.start(&[], &[("claims", &mine), ("prompt", "none")]);
        let callback = follow(&b, &server, &start.url).await;
        assert!(query_param(&callback, "code").is_some(), "{backend:?}: {callback}");
        let theirs = r#"{"id_token":{"sub":{"value":"somebody-else"}}}"#;
        let start = rp.start(&[], &[("claims", theirs), ("prompt", "none")]);
        let callback = follow(&b, &server, &start.url).await;
        assert_eq!(query_param(&callback, "error").as_deref(), Some("login_required"), "{backend:?}: {callback}");

        // Malformed: not JSON, or a claim's request of the wrong shape.
        for bad in ["{not json", r#"{"id_token":{"acr":{"essential":"yes"}}}"#, r#"{"userinfo":["email"]}"#] {
            let start = rp.start(&[], &[("claims", bad)]);
            let callback = follow(&b, &server, &start.url).await;
            assert_eq!(query_param(&callback, "error").as_deref(), Some("invalid_request"), "{bad}: {callback}");
            assert_eq!(query_param(&callback, "state").as_deref(), Some(start.state.secret().as_str()));
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_essential_acr_steps_up_or_is_unmet_on_both_backends() {
    for backend in Backend::ALL {
        let server = TestServer::start(backend).await;
        let secret = server.add_client("acr-rp", &["--first-party"]);
        let (login, password) = server.add_person("acr-person");
        let rp = RelyingParty::discover(&server, "acr-rp", Some(&secret)).await;
        let b = browser();
        let start = rp.start(&[], &[]);
        sign_in(&b, &server.base_url, &start.url, &login, &password).await;

        // Above the `low` session: the step-up login page, and declining it is unmet.
        let claims = format!(r#"{{"userinfo":{{"acr":{{"essential":true,"values":["{SUBSTANTIAL}"]}}}}}}"#);
        let start = rp.start(&[], &[("claims", &claims)]);
        let login_page = follow(&b, &server, &start.url).await;
        assert!(login_page.contains("/login?interaction="), "{backend:?}: {login_page}");
        let html = page(&b, &server, login_page.trim_start_matches(&server.base_url)).await;
        assert!(html.contains("id=\"step-up\""), "{html}");
        let csrf = hidden_input(&html, "csrf_token").unwrap();
        let interaction = query_param(&login_page, "interaction").unwrap();
        let form = [("csrf_token", csrf.as_str()), ("interaction", interaction.as_str())];
        let r = post_form(&b, &server, "/authorize/decline", &form).await;
        let callback = location(&r);
        assert_eq!(query_param(&callback, "error").as_deref(), Some("unmet_authentication_requirements"));
        assert!(query_param(&callback, "code").is_none());

        // An essential acr naming only levels Yagona does not offer: refused, never another acr.
        let unknown = r#"{"id_token":{"acr":{"essential":true,"values":["urn:example:loa:4"]}}}"#;
        let start = rp.start(&[], &[("claims", unknown)]);
        let callback = follow(&b, &server, &start.url).await;
        assert_eq!(
            query_param(&callback, "error").as_deref(),
            Some("unmet_authentication_requirements"),
            "{backend:?}: {callback}"
        );

        // Met by the session: the ID token's acr is the one asked for.
        let low = "http://eidas.europa.eu/LoA/low";
        let met = format!(r#"{{"id_token":{{"acr":{{"essential":true,"values":["{low}","{SUBSTANTIAL}"]}}}}}}"#);
        let start = rp.start(&[], &[("claims", &met)]);
        let callback = follow(&b, &server, &start.url).await;
        let tokens = rp.redeem(&callback, start.verifier).await;
        assert_eq!(decode_jwt_payload(&tokens.id_token().unwrap().to_string())["acr"], low, "{backend:?}");
        assert!(!tokens.access_token().secret().is_empty());
    }
}
