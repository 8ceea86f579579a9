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
    }
}
