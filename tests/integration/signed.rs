//! Per-client algorithms, seen by the `openidconnect` crate: ES256 ID tokens and signed userinfo
//! responses (`application/jwt`) verified against the JWKS.

use openidconnect::core::{CoreIdTokenVerifier, CoreJwsSigningAlgorithm, CoreUserInfoClaims};
use openidconnect::{OAuth2TokenResponse as _, TokenResponse as _};
use yagona_tests::{browser, http_client, sign_in, Backend, JsonAnswer as _, TestServer};

use crate::flow::decode_jwt_header;
use crate::rp::RelyingParty;

#[tokio::test(flavor = "multi_thread")]
async fn es256_id_tokens_and_signed_userinfo() {
    for backend in Backend::ALL {
        let server = TestServer::start(backend).await;
        let (login, password) = server.add_person("sig-person");
        let secret = server.add_client("sig-rp", &["--id-token-alg", "ES256", "--userinfo-alg", "RS256"]);
        let plain = server.add_client("plain-rp", &[]);
        let discovery: serde_json::Value =
            http_client().get(server.url("/.well-known/openid-configuration")).json_answer().await;
        let algs = serde_json::json!(["RS256", "ES256", "PS256", "EdDSA"]);
        assert_eq!(discovery["userinfo_signing_alg_values_supported"], algs);

        let b = browser();
        let rp = RelyingParty::discover(&server, "sig-rp", Some(&secret)).await;
        let start = rp.start(&["openid", "profile"], &[]);
        let callback = sign_in(&b, &server.base_url, &start.url, &login, &password).await;
        let tokens = rp.redeem(&callback, start.verifier).await;
        let id_token = tokens.id_token().unwrap();
        assert_eq!(decode_jwt_header(&id_token.to_string())["alg"], "ES256");
        let verifier: CoreIdTokenVerifier<'_> =
            rp.client.id_token_verifier().set_allowed_algs(vec![CoreJwsSigningAlgorithm::EcdsaP256Sha256]);
        let claims = id_token.claims(&verifier, &start.nonce).expect("the ES256 ID token verifies");
        let subject = claims.subject().clone();

        // Userinfo comes signed; the crate verifies it (signature, iss, aud, sub).
        let raw = http_client().get(server.url("/userinfo")).bearer_auth(tokens.access_token().secret()).send().await;
        let raw = raw.unwrap();
        assert_eq!(raw.headers()["content-type"], "application/jwt");
        let userinfo: CoreUserInfoClaims = rp
            .client
            .user_info(tokens.access_token().clone(), Some(subject.clone()))
            .unwrap()
            .require_signed_response(true)
            .request_async(&rp.http)
            .await
            .expect("the signed userinfo verifies");
        assert_eq!(userinfo.given_name().unwrap().get(None).unwrap().as_str(), "Alisher");

        // A client without the setting gets plain JSON, which a signed-only request refuses.
        let rp = RelyingParty::discover(&server, "plain-rp", Some(&plain)).await;
        let start = rp.start(&["openid"], &[]);
        let callback = sign_in(&b, &server.base_url, &start.url, &login, &password).await;
        let tokens = rp.redeem(&callback, start.verifier).await;
        let refused: Result<CoreUserInfoClaims, _> = rp
            .client
            .user_info(tokens.access_token().clone(), None)
            .unwrap()
            .require_signed_response(true)
            .request_async(&rp.http)
            .await;
        assert!(refused.is_err());
    }
}
