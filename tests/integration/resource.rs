//! Resource indicators (RFC 8707): `resource` at the authorization and token endpoints; the
//! access token's `aud` is the resource; only registered resources (`invalid_target`).

use openidconnect::{AuthorizationCode, OAuth2TokenResponse as _};
use yagona_tests::{browser, http_client, query_param, sign_in, Backend, JsonAnswer as _, TestServer};

use crate::flow::decode_jwt_payload;
use crate::rp::RelyingParty;
use crate::tokens::token;

const REPORTS: &str = "https://api.example.uz/reports";
const TAX: &str = "https://api.example.uz/tax";

#[tokio::test(flavor = "multi_thread")]
async fn access_tokens_are_for_the_resource_named() {
    for backend in Backend::ALL {
        let server = TestServer::start(backend).await;
        let api = ["--resource", REPORTS, "--resource", TAX];
        let cc = ["--grant-type", "client_credentials", "--scope", "reports.read"];
        let batch = server.add_client("res-batch", &[&api[..], &cc].concat());
        let grant = ("grant_type", "client_credentials");

        // client_credentials: the resource is the audience; none named, the client itself.
        let (status, body) = token(&server, "res-batch", &batch, &[grant, ("resource", REPORTS)]).await;
        assert_eq!(status, 200, "{body}");
        let claims = decode_jwt_payload(body["access_token"].as_str().unwrap());
        assert_eq!(claims["aud"], REPORTS);
        assert_eq!(claims["client_id"], "res-batch");
        let (_, body) = token(&server, "res-batch", &batch, &[grant]).await;
        assert_eq!(decode_jwt_payload(body["access_token"].as_str().unwrap())["aud"], "res-batch");
        // Unregistered, not a URI, or two at once: invalid_target.
        for form in [
            vec![grant, ("resource", "https://api.example.uz/other")],
            vec![grant, ("resource", "reports")],
            vec![grant, ("resource", REPORTS), ("resource", TAX)],
        ] {
            let (status, body) = token(&server, "res-batch", &batch, &form).await;
            assert_eq!(status, 400, "{form:?}: {body}");
            assert_eq!(body["error"], "invalid_target", "{form:?}: {body}");
        }
        // Introspection reports the audience.
        let (_, body) = token(&server, "res-batch", &batch, &[grant, ("resource", TAX)]).await;
        let access = body["access_token"].as_str().unwrap();
        let introspection: serde_json::Value = http_client()
            .post(server.url("/introspect"))
            .basic_auth("res-batch", Some(&batch))
            .form(&[("token", access)])
            .json_answer()
            .await;
        assert_eq!(introspection["aud"], TAX, "{introspection}");

        // The code flow: resource at /authorize is checked, and the token request names it.
        let secret = server.add_client("res-rp", &api);
        let (login, password) = server.add_person("res-person");
        let rp = RelyingParty::discover(&server, "res-rp", Some(&secret)).await;
        let b = browser();
        let refused = rp.start(&["openid"], &[("resource", "https://api.example.uz/other")]);
        let to = yagona_tests::location(&b.get(&refused.url).send().await.unwrap());
        assert_eq!(query_param(&to, "error").as_deref(), Some("invalid_target"), "{to}");
        let start = rp.start(&["openid"], &[("resource", TAX)]);
        let callback = sign_in(&b, &server.base_url, &start.url, &login, &password).await;
        let tokens = rp
            .client
            .exchange_code(AuthorizationCode::new(query_param(&callback, "code").unwrap()))
            .unwrap()
            .set_pkce_verifier(start.verifier)
            .add_extra_param("resource", TAX)
            .request_async(&rp.http)
            .await
            .expect("the code is redeemed for the resource");
        assert_eq!(decode_jwt_payload(tokens.access_token().secret())["aud"], TAX);
        // A token for a resource server does not open userinfo (as oidc-provider answers):
        // the resource could otherwise replay it to read the person's claims.
        let r = http_client()
            .get(server.url("/userinfo"))
            .bearer_auth(tokens.access_token().secret())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(challenge.contains("invalid_token"), "{challenge}");
    }
}

/// RFC 8707 2.2: the resources named at /authorize are remembered with the grant; a token
/// request (code or refresh) may name only those, another registered one is `invalid_target`.
#[tokio::test(flavor = "multi_thread")]
async fn a_token_request_names_only_resources_of_the_authorization() {
    for backend in Backend::ALL {
        let server = TestServer::start(backend).await;
        let secret = server.add_client("res-grant", &["--resource", REPORTS, "--resource", TAX, "--first-party"]);
        let (login, password) = server.add_person("res-grant-person");
        let rp = RelyingParty::discover(&server, "res-grant", Some(&secret)).await;
        let b = browser();
        let redirect_uri = TestServer::redirect_uri("res-grant");
        let code_form = |code: &str, verifier: &str, resource: Option<&'static str>| {
            let mut form = vec![
                ("grant_type", "authorization_code".to_owned()),
                ("code", code.to_owned()),
                ("redirect_uri", redirect_uri.clone()),
                ("code_verifier", verifier.to_owned()),
            ];
            form.extend(resource.map(|r| ("resource", r.to_owned())));
            form
        };
        let redeem = |form: Vec<(&'static str, String)>| {
            let (server, secret) = (&server, &secret);
            async move {
                let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
                token(server, "res-grant", secret, &form).await
            }
        };

        // Authorized for TAX: a code redeemed for REPORTS (registered, but not named) is refused.
        let start = rp.start(&["openid"], &[("resource", TAX)]);
        let callback = sign_in(&b, &server.base_url, &start.url, &login, &password).await;
        let code = query_param(&callback, "code").unwrap();
        let (status, body) = redeem(code_form(&code, start.verifier.secret(), Some(REPORTS))).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_target")), "{backend:?}: {body}");

        // Named at /authorize: the token is for it, and so is a refresh; REPORTS still refused.
        let start = rp.start(&["openid"], &[("resource", TAX)]);
        let callback = crate::step_up::follow(&b, &server, &start.url).await;
        let code = query_param(&callback, "code").unwrap();
        let (status, body) = redeem(code_form(&code, start.verifier.secret(), Some(TAX))).await;
        assert_eq!(status, 200, "{backend:?}: {body}");
        assert_eq!(decode_jwt_payload(body["access_token"].as_str().unwrap())["aud"], TAX);
        let refresh_token = body["refresh_token"].as_str().expect("a refresh token").to_owned();
        let refresh = |resource: &'static str| {
            vec![
                ("grant_type", "refresh_token".to_owned()),
                ("refresh_token", refresh_token.clone()),
                ("resource", resource.to_owned()),
            ]
        };
        let (status, body) = redeem(refresh(REPORTS)).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_target")), "{backend:?}: {body}");
        // The refused refresh did not spend the token.
        let (status, body) = redeem(refresh(TAX)).await;
        assert_eq!(status, 200, "{backend:?}: {body}");
        assert_eq!(decode_jwt_payload(body["access_token"].as_str().unwrap())["aud"], TAX);

        // Authorized for no resource: the token request may name none.
        let start = rp.start(&["openid"], &[]);
        let callback = crate::step_up::follow(&b, &server, &start.url).await;
        let code = query_param(&callback, "code").unwrap();
        let (status, body) = redeem(code_form(&code, start.verifier.secret(), Some(TAX))).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_target")), "{backend:?}: {body}");
        let start = rp.start(&["openid"], &[]);
        let callback = crate::step_up::follow(&b, &server, &start.url).await;
        let code = query_param(&callback, "code").unwrap();
        let (status, body) = redeem(code_form(&code, start.verifier.secret(), None)).await;
        assert_eq!(status, 200, "{backend:?}: {body}");
        assert_eq!(decode_jwt_payload(body["access_token"].as_str().unwrap())["aud"], "res-grant");
    }
}
