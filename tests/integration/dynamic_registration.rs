//! Dynamic client registration (RFC 7591) and management (RFC 7592) by panva's openid-client
//! (tests/rp-node/dcr.mjs), with initial access tokens made by `yagona client registration-token`.

use serde_json::Value;
use yagona_tests::rp_node::{key_pair, node};
use yagona_tests::{Backend, TestServer};

fn refused(result: &Value, step: &str, status: u16, error: &str, description: &str) {
    let r = &result[step];
    assert_eq!(r["ok"], false, "{step}: {r}");
    assert_eq!(r["status"], status, "{step}: {r}");
    assert_eq!(r["error"], error, "{step}: {r}");
    assert!(r["description"].as_str().unwrap_or_default().contains(description), "{step}: {r}");
}

#[tokio::test(flavor = "multi_thread")]
async fn clients_register_and_manage_themselves() {
    for backend in Backend::ALL {
        let server = TestServer::start(backend).await;
        let token = server.cli_ok(&["client", "registration-token", "--uses", "5"], None).trim().to_owned();
        assert_eq!(token.len(), 55, "the token alone on stdout: {token}");
        let (key, public) = key_pair("ES256", "dcr");
        let redirect = "https://rp.example/callback";
        let env = [
            ("TOKEN", token.as_str()),
            ("KEY", &key.to_string()),
            ("PUBLIC", &public.to_string()),
            ("REDIRECT_URI", redirect),
        ];
        let result = node(&server.base_url, "dcr.mjs", &[], &env);

        // Registered and echoed; the person scope is not a client's own.
        let registered = &result["registered"];
        assert_eq!(registered["token_endpoint_auth_method"], "private_key_jwt", "{result}");
        assert_eq!(registered["client_name"], "Registered by openid-client");
        assert_eq!(registered["redirect_uris"], serde_json::json!([redirect]));
        assert_eq!(registered["contacts"], serde_json::json!(["ops@rp.example"]));
        assert_eq!(registered["logo_uri"], "https://rp.example/logo.png");
        assert_eq!(registered["require_pushed_authorization_requests"], true);
        assert_eq!(registered["jwks"]["keys"][0]["kid"], "dcr");
        assert_eq!(registered["scope"], "reports.read");
        assert!(registered["client_secret"].is_null(), "a private_key_jwt client has no secret");
        assert_eq!(
            result["client_credentials"],
            serde_json::json!({ "ok": true, "scope": "reports.read" }),
            "{result}"
        );
        let client_id = registered["client_id"].as_str().unwrap();
        // Deleted by RFC 7592 (below); the client with a secret is listed as `client add` lists.
        let list = server.cli_ok(&["client", "list"], None);
        assert!(!list.contains(client_id) && list.contains("confidential (client_secret_basic)"), "{list}");

        // RFC 7592.
        assert_eq!(result["read"]["status"], 200, "{result}");
        assert_eq!(result["read"]["body"]["client_id"], client_id);
        assert_eq!(result["read_without_token"]["status"], 401);
        assert_eq!(result["read_with_wrong_token"]["status"], 401);
        assert_eq!(result["update"]["status"], 400);
        assert_eq!(result["update"]["body"]["error"], "invalid_redirect_uri");
        assert_eq!(result["updated"]["status"], 200, "{result}");
        assert_eq!(result["updated"]["body"]["client_name"], "Renamed");
        assert_eq!(result["updated"]["body"]["jwks"]["keys"][0]["kid"], "dcr");
        assert_eq!(result["delete"]["status"], 204);
        assert_eq!(result["after_delete"]["error"], "invalid_client", "{result}");

        // Bad metadata: nothing registered, the token not spent.
        refused(&result, "fragment", 400, "invalid_redirect_uri", "fragment");
        refused(&result, "unknown_method", 400, "invalid_client_metadata", "tls_client_auth");
        refused(&result, "http_web", 400, "invalid_redirect_uri", "https");
        refused(&result, "without_token", 401, "invalid_token", "Bearer");
        refused(&result, "wrong_token", 401, "invalid_token", "initial access token");
        assert_eq!(result["secret_client"], serde_json::json!({ "ok": true, "has_secret": true }), "{result}");
        assert_eq!(result["secret_client_grant"], true);
        // Five uses: the private_key_jwt client and the secret one spent two; refused
        // registrations spent none.
        for _ in 0..3 {
            assert_eq!(node(&server.base_url, "dcr.mjs", &["once"], &env)["ok"], true);
        }
        let spent = node(&server.base_url, "dcr.mjs", &["once"], &env);
        assert_eq!(spent["status"], 401, "{spent}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_initial_access_token_registers_nothing() {
    let server = TestServer::start(Backend::Postgres).await;
    let token = server.cli_ok(&["client", "registration-token", "--ttl", "600"], None).trim().to_owned();
    server.sql("UPDATE registration_tokens SET expires_at = 0");
    let env = [("TOKEN", token.as_str()), ("REDIRECT_URI", "https://rp.example/callback")];
    let result = node(&server.base_url, "dcr.mjs", &["once"], &env);
    assert_eq!(result["status"], 401, "{result}");
    assert_eq!(result["error"], "invalid_token", "{result}");
    let doc = server.discovery().await;
    assert_eq!(doc["registration_endpoint"], server.url("/connect/register"));
}

/// Registers `metadata` with the initial access token `token`; the status and the answer.
pub async fn register(server: &TestServer, token: &str, metadata: &Value) -> (u16, Value) {
    let r = yagona_tests::http_client()
        .post(server.url("/connect/register"))
        .bearer_auth(token)
        .json(metadata)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// The token standards' metadata (DPoP, back-channel logout, pairwise subjects, signed userinfo,
/// resource indicators) is accepted, validated and echoed by dynamic registration as by
/// `client add`, and a pairwise client registered so gets a pairwise `sub`.
#[tokio::test(flavor = "multi_thread")]
async fn the_token_standards_metadata_is_registered_dynamically() {
    use openidconnect::PkceCodeChallenge;
    use yagona_tests::{browser, query_param, sign_in};
    for backend in Backend::ALL {
        let server = TestServer::start(backend).await;
        let token = server.cli_ok(&["client", "registration-token", "--uses", "5"], None).trim().to_owned();
        let redirect = "https://rp.example/callback";
        let listed = serde_json::json!([redirect]).to_string();
        let sector = format!("http://localhost:{}/sector.json", crate::pairwise::serve_json(listed).await);
        let metadata = serde_json::json!({
            "client_name": "Token standards",
            "redirect_uris": [redirect],
            "dpop_bound_access_tokens": true,
            "backchannel_logout_uri": "https://rp.example/backchannel",
            "backchannel_logout_session_required": true,
            "subject_type": "pairwise",
            "sector_identifier_uri": sector,
            "userinfo_signed_response_alg": "ES256",
            "allowed_resources": ["https://api.example.uz/tax"],
        });
        let (status, registered) = register(&server, &token, &metadata).await;
        assert_eq!(status, 201, "{backend:?}: {registered}");
        for field in [
            "dpop_bound_access_tokens",
            "backchannel_logout_uri",
            "backchannel_logout_session_required",
            "subject_type",
            "sector_identifier_uri",
            "userinfo_signed_response_alg",
            "allowed_resources",
        ] {
            assert_eq!(registered[field], metadata[field], "{backend:?}: {field} echoed: {registered}");
        }

        // A back-channel logout URI with a fragment, or not http(s): invalid_client_metadata.
        for bad in ["https://rp.example/backchannel#frag", "urn:example:logout"] {
            let metadata = serde_json::json!({ "redirect_uris": [redirect], "backchannel_logout_uri": bad });
            let (status, body) = register(&server, &token, &metadata).await;
            assert_eq!(status, 400, "{bad}: {body}");
            assert_eq!(body["error"], "invalid_client_metadata", "{bad}: {body}");
            assert!(body["error_description"].as_str().unwrap().contains("backchannel_logout_uri"), "{body}");
        }

        // A pairwise client registered here signs a person in with a `sub` other than the
        // public one (the account id a public client sees), the same at each login.
        let (login, password) = server.add_person("dcr-pairwise");
        let pairwise_redirect = TestServer::redirect_uri("dcr-pairwise");
        let metadata = serde_json::json!({ "redirect_uris": [pairwise_redirect], "subject_type": "pairwise" });
        let (status, registered) = register(&server, &token, &metadata).await;
        assert_eq!(status, 201, "{registered}");
        let client_id = registered["client_id"].as_str().unwrap().to_owned();
        let secret = registered["client_secret"].as_str().unwrap().to_owned();
        let public_secret = server.add_client("dcr-public", &[]);
        let b = browser();
        let mut subjects = Vec::new();
        for (id, secret, redirect_uri) in [
            (client_id.as_str(), secret.as_str(), pairwise_redirect.clone()),
            ("dcr-public", public_secret.as_str(), TestServer::redirect_uri("dcr-public")),
            (client_id.as_str(), secret.as_str(), pairwise_redirect.clone()),
        ] {
            let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
            let mut url = url::Url::parse(&server.url("/authorize")).unwrap();
            url.query_pairs_mut().extend_pairs([
                ("client_id", id),
                ("redirect_uri", &redirect_uri),
                ("response_type", "code"),
                ("scope", "openid"),
                ("state", "s"),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
            ]);
            let callback = sign_in(&b, &server.base_url, url.as_str(), &login, &password).await;
            let code = query_param(&callback, "code").expect("a code");
            let form = [
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &redirect_uri),
                ("code_verifier", verifier.secret()),
            ];
            let (status, body) = crate::tokens::token(&server, id, secret, &form).await;
            assert_eq!(status, 200, "{body}");
            let id_token = crate::flow::decode_jwt_payload(body["id_token"].as_str().unwrap());
            subjects.push(id_token["sub"].as_str().unwrap().to_owned());
        }
        assert_ne!(subjects[0], subjects[1], "{backend:?}: pairwise differs from public");
        assert_eq!(subjects[0], subjects[2], "{backend:?}: pairwise is stable");
    }
}
