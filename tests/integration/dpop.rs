//! DPoP (RFC 9449) with an independent relying party: panva's `openid-client` and `jose` in
//! Node (`tests/rp-node/dpop.mjs`) make every proof; this test drives the login and checks what
//! the script saw.

use serde_json::Value;
use yagona_tests::{browser, http_client, sign_in, Backend, JsonAnswer as _, TestServer};

use crate::flow::decode_jwt_payload;
use crate::rp::RelyingParty;
use crate::tokens::token;

/// Runs a script of the independent relying party with `input` (JSON) and returns what it
/// printed (JSON).
pub async fn run_node_rp(script: &str, input: &Value) -> Value {
    let path = format!("{}/rp-node/{script}", env!("CARGO_MANIFEST_DIR"));
    let output = tokio::process::Command::new("node")
        .arg(&path)
        .arg(input.to_string())
        .output()
        .await
        .expect("node runs (tests/rp-node needs `npm ci`, which make test runs)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{script} failed: {}\n{stdout}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{script} printed no JSON ({e}): {stdout}"))
}

/// Signs the person in for `client_id` and runs `dpop.mjs` with the callback.
async fn dpop_flow(server: &TestServer, client_id: &str, secret: Option<&str>) -> Value {
    let rp = RelyingParty::discover(server, client_id, secret).await;
    let start = rp.start(&["openid", "profile"], &[]);
    let (login, password) = server.add_person(&format!("p-{client_id}"));
    let callback = sign_in(&browser(), &server.base_url, &start.url, &login, &password).await;
    let input = serde_json::json!({
        "issuer": server.base_url,
        "client_id": client_id,
        "client_secret": secret,
        "callback": callback,
        "code_verifier": start.verifier.secret(),
        "state": start.state.secret(),
        "nonce": start.nonce.secret(),
    });
    run_node_rp("dpop.mjs", &input).await
}

fn refused(out: &Value, check: &str, error: &str) {
    assert_eq!(out[check]["status"], 401, "{check}: {out}");
    assert_eq!(out[check]["error"], error, "{check}: {out}");
    let challenge = out[check]["www_authenticate"].as_str().unwrap_or_default();
    assert!(challenge.starts_with("DPoP algs=") && challenge.contains(error), "{check}: {challenge}");
}

#[tokio::test(flavor = "multi_thread")]
async fn dpop_binds_tokens_to_the_key_of_an_independent_client() {
    for backend in Backend::ALL {
        let server = TestServer::start(backend).await;

        // A confidential client: code exchange, userinfo, introspection and refresh with proofs.
        let secret = server.add_client("dpop-rp", &[]);
        let out = dpop_flow(&server, "dpop-rp", Some(&secret)).await;
        let jkt = out["jkt"].as_str().unwrap();
        assert!(out["dpop_signing_alg_values_supported"].as_array().unwrap().contains(&"ES256".into()), "{out}");
        assert_eq!(out["token_type"].as_str().unwrap().to_lowercase(), "dpop", "{out}");
        let access = decode_jwt_payload(out["access_token"].as_str().unwrap());
        assert_eq!(access["cnf"]["jkt"], jkt, "{access}");
        assert!(!out["userinfo_sub"].as_str().unwrap().is_empty(), "{out}");
        assert_eq!(out["introspection"]["active"], true, "{out}");
        assert_eq!(out["introspection"]["token_type"], "DPoP", "{out}");
        assert_eq!(out["introspection"]["cnf"]["jkt"], jkt, "{out}");
        assert_eq!(out["fresh_proof"]["status"], 200, "{out}");
        assert_eq!(out["fresh_proof"]["dpop_nonce"], true, "{out}");
        refused(&out, "replayed_proof", "invalid_dpop_proof");
        refused(&out, "wrong_key", "invalid_dpop_proof");
        refused(&out, "missing_ath", "invalid_dpop_proof");
        refused(&out, "wrong_method", "invalid_dpop_proof");
        refused(&out, "no_proof", "invalid_dpop_proof");
        assert_eq!(out["as_bearer"]["status"], 401, "{out}");
        assert_eq!(out["as_bearer"]["error"], "invalid_token", "{out}");
        assert_eq!(out["refreshed"]["token_type"].as_str().unwrap().to_lowercase(), "dpop", "{out}");
        assert_eq!(decode_jwt_payload(out["refreshed"]["access_token"].as_str().unwrap())["cnf"]["jkt"], jkt);

        // A public client: its refresh token stays bound to its key; refusals do not spend it.
        server.add_public_client("dpop-app", &[]);
        let out = dpop_flow(&server, "dpop-app", None).await;
        let jkt = out["jkt"].as_str().unwrap();
        assert_eq!(decode_jwt_payload(out["access_token"].as_str().unwrap())["cnf"]["jkt"], jkt);
        assert_eq!(out["refresh_other_key"], "invalid_grant", "{out}");
        assert_eq!(out["refresh_without_proof"], "invalid_dpop_proof", "{out}");
        assert_eq!(decode_jwt_payload(out["refreshed"]["access_token"].as_str().unwrap())["cnf"]["jkt"], jkt);
        assert!(!out["refreshed_userinfo_sub"].as_str().unwrap().is_empty(), "{out}");

        // dpop_bound_access_tokens: a token request without a proof is refused.
        let bound = ["--grant-type", "client_credentials", "--dpop-bound-access-tokens", "--scope", "reports.read"];
        let secret = server.add_client("dpop-batch", &bound);
        let (status, body) = token(&server, "dpop-batch", &secret, &[("grant_type", "client_credentials")]).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"], "invalid_dpop_proof", "{body}");
        assert!(server.cli_ok(&["client", "list"], None).contains("dpop_bound"));

        let discovery: Value = http_client().get(server.url("/.well-known/openid-configuration")).json_answer().await;
        assert_eq!(discovery["dpop_signing_alg_values_supported"][0], "ES256");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dpop_nonces_are_required_when_configured() {
    for backend in Backend::ALL {
        let server = TestServer::start_with(backend, &[("YAGONA_DPOP__REQUIRE_NONCE", "true")]).await;
        // openid-client gets use_dpop_nonce with a DPoP-Nonce at the token endpoint and at
        // userinfo, and retries with the nonce: the whole flow works.
        server.add_public_client("nonce-app", &[]);
        let out = dpop_flow(&server, "nonce-app", None).await;
        assert_eq!(out["token_type"].as_str().unwrap().to_lowercase(), "dpop", "{out}");
        assert!(!out["userinfo_sub"].as_str().unwrap().is_empty(), "{out}");
        assert!(!out["refreshed_userinfo_sub"].as_str().unwrap().is_empty(), "{out}");
        // A proof without a nonce is answered use_dpop_nonce with a fresh nonce.
        refused(&out, "fresh_proof", "use_dpop_nonce");
        assert_eq!(out["fresh_proof"]["dpop_nonce"], true, "{out}");
    }
}
