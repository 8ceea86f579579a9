//! Client authentication with JWT assertions (RFC 7523, OIDC Core 9): `private_key_jwt` with
//! keys registered inline or at a `jwks_uri`, and `client_secret_jwt`. The assertions are made
//! by panva's openid-client (tests/rp-node/private-key-jwt.mjs), not by Yagona's code.

use serde_json::Value;
use yagona_tests::rp_node::{jwks, key_pair, node, JwksServer};
use yagona_tests::{Backend, TestServer};

/// Registers a client_credentials client with `extra` options; its id.
pub(crate) fn add_machine_client(server: &TestServer, id: &str, extra: &[&str]) {
    let mut args = vec!["client", "add", "--id", id, "--redirect-uri", "https://rp.example/cb"];
    args.extend_from_slice(&["--grant-type", "client_credentials", "--scope", "reports.read"]);
    args.extend_from_slice(extra);
    server.cli_ok(&args, None);
}

fn refused(result: &Value, step: &str, description: &str) {
    assert_eq!(result[step]["ok"], false, "{step}: {result}");
    assert_eq!(result[step]["error"], "invalid_client", "{step}: {result}");
    let said = result[step]["description"].as_str().unwrap_or_default();
    assert!(said.contains(description), "{step}: {said}");
}

/// What every assertion client must show: the grant, introspection and revocation work with
/// assertions; a replayed assertion, a wrong key or secret, and bad claims are `invalid_client`.
pub(crate) fn assert_assertion_rules(result: &Value) {
    assert_eq!(result["client_credentials"], serde_json::json!({ "ok": true, "token_type": "bearer" }), "{result}");
    assert_eq!(result["introspection"], serde_json::json!({ "ok": true, "active": true }), "{result}");
    assert_eq!(result["replay"]["status"], 401, "{result}");
    assert_eq!(result["replay"]["body"]["error"], "invalid_client", "{result}");
    assert!(result["replay"]["body"]["error_description"].as_str().unwrap().contains("replay"), "{result}");
    assert_eq!(result["revocation"]["ok"], true, "{result}");
    assert_eq!(result["active_after_revocation"], false, "{result}");
    assert_eq!(result["aud_token_endpoint"]["value"], "granted", "{result}");
    refused(result, "aud_elsewhere", "aud");
    refused(result, "no_exp", "exp is required");
    refused(result, "expired", "expired");
    refused(result, "wrong_iss", "iss");
}

#[tokio::test(flavor = "multi_thread")]
async fn private_key_jwt_with_registered_jwks() {
    for backend in Backend::ALL {
        let server = TestServer::start(backend).await;
        let (key, public) = key_pair("ES256", "a");
        let (wrong, _) = key_pair("ES256", "a");
        let file = server.dir.join("client-jwks.json");
        std::fs::write(&file, jwks(&[&public])).unwrap();
        let file = file.to_str().unwrap();
        add_machine_client(&server, "pkj", &["--auth-method", "private_key_jwt", "--jwks-file", file]);
        let env = [("CLIENT_ID", "pkj"), ("KEY", &key.to_string()), ("WRONG_KEY", &wrong.to_string())];
        let result = node(&server.base_url, "private-key-jwt.mjs", &[], &env);
        assert_assertion_rules(&result);
        refused(&result, "wrong_key", "signature does not verify");
        // A client registered for private_key_jwt cannot fall back to a secret, and the
        // method is in the CLI's list.
        let basic = yagona_tests::http_client()
            .post(server.url("/token"))
            .basic_auth("pkj", Some("guess"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(basic.status(), 401);
        let body: Value = basic.json().await.unwrap();
        assert!(body["error_description"].as_str().unwrap().contains("private_key_jwt"), "{body}");
        assert!(server.cli_ok(&["client", "list"], None).contains("confidential (private_key_jwt)"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn private_key_jwt_with_a_jwks_uri_fetches_again_for_an_unknown_kid() {
    for backend in Backend::ALL {
        let server = TestServer::start(backend).await;
        let (first, first_public) = key_pair("RS256", "first");
        let (second, second_public) = key_pair("ES384", "second");
        let (stranger, _) = key_pair("ES256", "stranger");
        let keys = JwksServer::start(jwks(&[&first_public])).await;
        add_machine_client(&server, "pkj-uri", &["--auth-method", "private_key_jwt", "--jwks-uri", &keys.url]);
        let result = node(
            &server.base_url,
            "private-key-jwt.mjs",
            &[],
            &[("CLIENT_ID", "pkj-uri"), ("KEY", &first.to_string())],
        );
        assert_assertion_rules(&result);
        assert_eq!(keys.requests(), 1, "fetched once, then cached");
        // The client rotates to a new key: its first use names a kid Yagona lacks, so the set
        // is fetched again and the new key verifies.
        keys.serve(jwks(&[&first_public, &second_public]));
        let env = [("CLIENT_ID", "pkj-uri"), ("KEY", &second.to_string()), ("WRONG_KEY", &stranger.to_string())];
        let rotated = node(&server.base_url, "private-key-jwt.mjs", &[], &env);
        assert_assertion_rules(&rotated);
        // A stranger's kid right after that refetch: no fetch during the cooldown, refused.
        refused(&rotated, "wrong_key", "no registered key");
        assert_eq!(keys.requests(), 2, "one refetch for the rotated key, none for the stranger");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn client_secret_jwt() {
    for backend in Backend::ALL {
        let server = TestServer::start(backend).await;
        let secret = "a-long-shared-secret-for-hmac-0123456789";
        add_machine_client(&server, "csj", &["--auth-method", "client_secret_jwt", "--secret", secret]);
        let env =
            [("CLIENT_ID", "csj"), ("SECRET", secret), ("WRONG_SECRET", "another-secret-of-the-same-length-0123")];
        let result = node(&server.base_url, "private-key-jwt.mjs", &[], &env);
        assert_assertion_rules(&result);
        refused(&result, "wrong_key", "signature does not verify");
        // The secret itself is not accepted as a password: the client signs with it.
        let basic = yagona_tests::http_client()
            .post(server.url("/token"))
            .basic_auth("csj", Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(basic.status(), 401);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn discovery_advertises_the_methods() {
    let server = TestServer::start(Backend::Sqlite).await;
    let doc = server.discovery().await;
    let methods = doc["token_endpoint_auth_methods_supported"].as_array().unwrap();
    for m in ["client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt", "none"] {
        assert!(methods.iter().any(|v| v == m), "{m}");
    }
    let algs = doc["token_endpoint_auth_signing_alg_values_supported"].as_array().unwrap();
    assert!(algs.iter().any(|v| v == "ES256") && algs.iter().any(|v| v == "HS256"), "{algs:?}");
    assert!(!algs.iter().any(|v| v == "none"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_refuses_unusable_authentication_settings() {
    let server = TestServer::new(Backend::Sqlite, &[]);
    server.cli_ok(&["migrate"], None);
    let refused = |args: &[&str], says: &str| {
        let mut all = vec!["client", "add", "--id", "x", "--redirect-uri", "https://x.example/cb"];
        all.extend_from_slice(args);
        let out = server.cli(&all, None);
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    };
    refused(&["--auth-method", "private_key_jwt"], "needs --jwks-file or --jwks-uri");
    refused(&["--auth-method", "tls_client_auth"], "--auth-method \"tls_client_auth\" is not supported");
    refused(
        &["--auth-method", "private_key_jwt", "--jwks-uri", "http://keys.example/jwks"],
        "--jwks-uri must use https",
    );
    refused(&["--public", "--auth-method", "private_key_jwt"], "--public is --auth-method none");
    let private = server.dir.join("private.json");
    std::fs::write(&private, r#"{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","d":"jpsQnnGQmL-YBIffH1136cLY5sbz6"}]}"#).unwrap();
    refused(&["--auth-method", "private_key_jwt", "--jwks-file", private.to_str().unwrap()], "private key");
    refused(&["--require-signed-request-object"], "--require-signed-request-object needs --jwks-file or --jwks-uri");
    // A private_key_jwt client gets no secret printed.
    let (_, public) = key_pair("ES256", "k");
    let file = server.dir.join("public.json");
    std::fs::write(&file, jwks(&[&public])).unwrap();
    let out = server.cli_ok(
        &[
            "client",
            "add",
            "--id",
            "ok",
            "--redirect-uri",
            "https://x.example/cb",
            "--auth-method",
            "private_key_jwt",
            "--jwks-file",
            file.to_str().unwrap(),
        ],
        None,
    );
    assert!(!out.contains("client_secret"), "{out}");
}
