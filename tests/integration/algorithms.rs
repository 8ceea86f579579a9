//! Per-client signing algorithms (issue 15 item 8): PS256 and EdDSA ID tokens and signed
//! userinfo, signed introspection responses (RFC 9701), verified by independent parties (the
//! `openidconnect` crate and jose in Node) against the published JWKS; registration refuses
//! what is not supported; a database made before the new algorithms gets their keys at start.

use openidconnect::core::{CoreIdTokenVerifier, CoreJwsSigningAlgorithm};
use openidconnect::{OAuth2TokenResponse as _, TokenResponse as _};
use serde_json::{json, Value};
use yagona_tests::rp_node::node;
use yagona_tests::{browser, http_client, sign_in, Backend, JsonAnswer as _, TestServer};

use crate::flow::decode_jwt_header;
use crate::rp::RelyingParty;

const ALL_ALGS: [&str; 4] = ["RS256", "ES256", "PS256", "EdDSA"];
const INTROSPECTION_JWT: &str = "application/token-introspection+jwt";

/// One JWT for jose to verify: its name in the answer, the algorithm, `typ` and audience it
/// must have.
fn to_verify(name: &str, jwt: &str, alg: &str, typ: &str, audience: &str) -> Value {
    json!({ "name": name, "jwt": jwt, "alg": alg, "typ": typ, "audience": audience })
}

/// jose's verdicts on `jwts`, each asserted to verify; the verified payloads by name.
fn verified_by_jose(server: &TestServer, jwts: &[Value]) -> Value {
    let answer = node(&server.base_url, "verify-jws.mjs", &[], &[("JWTS", &Value::from(jwts).to_string())]);
    for jwt in jwts {
        let name = jwt["name"].as_str().unwrap();
        let verdict = &answer[name];
        assert_eq!(verdict["ok"], true, "jose refused {name}: {verdict}");
        assert_eq!(verdict["alg"], jwt["alg"], "{name}");
    }
    answer
}

/// Signs a person in at `client_id` and redeems the code; the token response, with the ID token
/// verified by the `openidconnect` crate for `alg` only.
async fn sign_in_with(
    server: &TestServer,
    client_id: &str,
    secret: &str,
    alg: CoreJwsSigningAlgorithm,
    person: &(String, String),
) -> openidconnect::core::CoreTokenResponse {
    let rp = RelyingParty::discover(server, client_id, Some(secret)).await;
    let start = rp.start(&["openid", "profile"], &[]);
    let callback = sign_in(&browser(), &server.base_url, &start.url, &person.0, &person.1).await;
    let tokens = rp.redeem(&callback, start.verifier).await;
    let id_token = tokens.id_token().expect("an ID token");
    let verifier: CoreIdTokenVerifier<'_> = rp.client.id_token_verifier().set_allowed_algs(vec![alg]);
    let claims = id_token.claims(&verifier, &start.nonce).expect("the ID token verifies with openidconnect");
    // at_hash with the algorithm's hash (SHA-512 for Ed25519), checked by the crate.
    let at_hash = claims.access_token_hash().expect("at_hash");
    let expected = openidconnect::AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(at_hash, &expected, "{client_id}: at_hash");
    tokens
}

async fn introspect(server: &TestServer, client: (&str, &str), token: &str, accept: Option<&str>) -> (String, String) {
    let mut request = http_client().post(server.url("/introspect")).basic_auth(client.0, Some(client.1));
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = request.form(&[("token", token)]).send().await.unwrap();
    assert_eq!(response.status(), 200, "introspection by {}", client.0);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    (content_type, response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn ps256_and_eddsa_tokens_userinfo_and_introspection_verify_independently() {
    for backend in Backend::ALL {
        let server = TestServer::start(backend).await;
        let person = server.add_person("alg-person");
        let ps_secret = server.add_client(
            "ps-rp",
            &["--id-token-alg", "PS256", "--userinfo-alg", "EdDSA", "--introspection-alg", "EdDSA"],
        );
        let ed_secret = server.add_client("ed-rp", &["--id-token-alg", "EdDSA", "--userinfo-alg", "PS256"]);

        let discovery: Value = http_client().get(server.url("/.well-known/openid-configuration")).json_answer().await;
        for field in [
            "id_token_signing_alg_values_supported",
            "userinfo_signing_alg_values_supported",
            "introspection_signing_alg_values_supported",
        ] {
            assert_eq!(discovery[field], json!(ALL_ALGS), "{backend:?}: {field}");
        }
        // The JWKS: one key per algorithm, each saying what it is (RFC 7517, RFC 8037).
        let jwks: Value = http_client().get(server.url("/jwks")).json_answer().await;
        let keys = jwks["keys"].as_array().unwrap();
        for (alg, kty, crv) in [
            ("RS256", "RSA", None),
            ("ES256", "EC", Some("P-256")),
            ("PS256", "RSA", None),
            ("EdDSA", "OKP", Some("Ed25519")),
        ] {
            let of_alg: Vec<&Value> = keys.iter().filter(|k| k["alg"] == alg).collect();
            assert_eq!(of_alg.len(), 1, "{backend:?}: one {alg} key: {jwks}");
            assert_eq!(of_alg[0]["kty"], kty, "{alg}");
            assert_eq!(of_alg[0]["crv"].as_str(), crv, "{alg}");
            assert!(of_alg[0].get("d").is_none(), "{alg}: no private member");
        }

        let ps = sign_in_with(&server, "ps-rp", &ps_secret, CoreJwsSigningAlgorithm::RsaSsaPssSha256, &person).await;
        let ed = sign_in_with(&server, "ed-rp", &ed_secret, CoreJwsSigningAlgorithm::EdDsa, &person).await;
        let ps_id = ps.id_token().unwrap().to_string();
        let ed_id = ed.id_token().unwrap().to_string();
        assert_eq!(decode_jwt_header(&ps_id)["alg"], "PS256");
        assert_eq!(decode_jwt_header(&ed_id)["alg"], "EdDSA");

        // Signed userinfo: application/jwt, signed as each client registered.
        let mut userinfo = Vec::new();
        for tokens in [&ps, &ed] {
            let r = http_client().get(server.url("/userinfo")).bearer_auth(tokens.access_token().secret()).send();
            let r = r.await.unwrap();
            assert_eq!(r.headers()["content-type"], "application/jwt");
            userinfo.push(r.text().await.unwrap());
        }

        // Introspection: ps-rp is registered for EdDSA responses; ed-rp asks with Accept and
        // gets RS256 (RFC 9701's default); without Accept it gets plain JSON.
        let (ps_type, ps_intro) = introspect(&server, ("ps-rp", &ps_secret), ps.access_token().secret(), None).await;
        assert_eq!(ps_type, INTROSPECTION_JWT);
        assert_eq!(decode_jwt_header(&ps_intro)["typ"], "token-introspection+jwt");
        let asked = Some("application/json;q=0.5, application/token-introspection+jwt");
        let (ed_type, ed_intro) = introspect(&server, ("ed-rp", &ed_secret), ed.access_token().secret(), asked).await;
        assert_eq!(ed_type, INTROSPECTION_JWT);
        let (plain_type, plain) = introspect(&server, ("ed-rp", &ed_secret), ed.access_token().secret(), None).await;
        assert!(plain_type.starts_with("application/json"), "{plain_type}");
        assert_eq!(serde_json::from_str::<Value>(&plain).unwrap()["active"], true);
        // Another client's token is inactive, and said so in the same signed form.
        let (_, other) =
            introspect(&server, ("ed-rp", &ed_secret), ps.access_token().secret(), Some(INTROSPECTION_JWT)).await;

        let verdicts = verified_by_jose(
            &server,
            &[
                to_verify("ps_id_token", &ps_id, "PS256", "JWT", "ps-rp"),
                to_verify("ed_id_token", &ed_id, "EdDSA", "JWT", "ed-rp"),
                to_verify("ps_userinfo", &userinfo[0], "EdDSA", "JWT", "ps-rp"),
                to_verify("ed_userinfo", &userinfo[1], "PS256", "JWT", "ed-rp"),
                to_verify("ps_introspection", &ps_intro, "EdDSA", "token-introspection+jwt", "ps-rp"),
                to_verify("ed_introspection", &ed_intro, "RS256", "token-introspection+jwt", "ed-rp"),
                to_verify("other_introspection", &other, "RS256", "token-introspection+jwt", "ed-rp"),
            ],
        );
        assert_eq!(verdicts["ps_userinfo"]["payload"]["given_name"], "Alisher", "{backend:?}");
        for (name, client) in [("ps_introspection", "ps-rp"), ("ed_introspection", "ed-rp")] {
            let payload = &verdicts[name]["payload"];
            assert!(payload["iat"].is_i64(), "{name}: {payload}");
            assert!(payload.get("exp").is_none() && payload.get("sub").is_none(), "{name}: no top-level sub/exp");
            let response = &payload["token_introspection"];
            assert_eq!(response["active"], true, "{name}: {payload}");
            assert_eq!(response["client_id"], client, "{name}");
            assert_eq!(response["token_type"], "Bearer", "{name}");
        }
        assert_eq!(verdicts["other_introspection"]["payload"]["token_introspection"], json!({ "active": false }));
        // jose checks typ: an ID token does not pass for an introspection response.
        let mismatch = node(
            &server.base_url,
            "verify-jws.mjs",
            &[],
            &[("JWTS", &json!([to_verify("x", &ed_id, "EdDSA", "token-introspection+jwt", "ed-rp")]).to_string())],
        );
        assert_eq!(mismatch["x"]["ok"], false, "{mismatch}");

        // The resource server of docs/relying-parties.md, in Node: asks, verifies, reads.
        let env = [
            ("CLIENT_ID", "ed-rp"),
            ("SECRET", ed_secret.as_str()),
            ("TOKEN", ed.access_token().secret().as_str()),
            ("ALG", "RS256"),
        ];
        let documented = node(&server.base_url, "introspect-jwt.mjs", &[], &env);
        assert_eq!(documented["content_type"], INTROSPECTION_JWT, "{documented}");
        assert_eq!(documented["typ"], "token-introspection+jwt");
        assert_eq!(documented["token_introspection"]["active"], true, "{documented}");
        assert_eq!(documented["token_introspection"]["scope"], "openid profile", "{documented}");

        // A failed introspection stays an RFC 7662 JSON error, whatever was asked.
        let refused = http_client()
            .post(server.url("/introspect"))
            .basic_auth("ed-rp", Some("wrong"))
            .header("accept", INTROSPECTION_JWT)
            .form(&[("token", ed.access_token().secret().as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 401);
        assert_eq!(refused.json::<Value>().await.unwrap()["error"], "invalid_client");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_new_algorithms_register_and_unsupported_ones_are_invalid_client_metadata() {
    for backend in Backend::ALL {
        let server = TestServer::start(backend).await;
        let token = server.cli_ok(&["client", "registration-token", "--uses", "20"], None).trim().to_owned();
        let register = |metadata: Value| {
            let request = http_client().post(server.url("/connect/register")).bearer_auth(&token).json(&metadata);
            async move {
                let r = request.send().await.unwrap();
                (r.status().as_u16(), r.json::<Value>().await.unwrap())
            }
        };
        let redirect = "https://rp.example/cb";
        for alg in ["PS256", "EdDSA"] {
            let metadata = json!({
                "redirect_uris": [redirect], "id_token_signed_response_alg": alg,
                "userinfo_signed_response_alg": alg, "introspection_signed_response_alg": alg,
            });
            let (status, registered) = register(metadata.clone()).await;
            assert_eq!(status, 201, "{backend:?} {alg}: {registered}");
            for field in
                ["id_token_signed_response_alg", "userinfo_signed_response_alg", "introspection_signed_response_alg"]
            {
                assert_eq!(registered[field], alg, "{field} echoed");
            }
        }
        // HS256 (a symmetric key the client shares), none, the fully-specified Ed25519 name
        // (Yagona signs as EdDSA), RS512 (not offered): refused, the field named.
        for field in
            ["id_token_signed_response_alg", "userinfo_signed_response_alg", "introspection_signed_response_alg"]
        {
            for alg in ["HS256", "none", "Ed25519", "RS512"] {
                let (status, body) = register(json!({ "redirect_uris": [redirect], field: alg })).await;
                assert_eq!(status, 400, "{field} {alg}: {body}");
                assert_eq!(body["error"], "invalid_client_metadata", "{field} {alg}: {body}");
                let description = body["error_description"].as_str().unwrap();
                assert!(description.contains(alg), "{field} {alg}: {description}");
            }
        }
        // The command line: the same rule, in the option's name.
        for (option, field) in
            [("--id-token-alg", "id_token"), ("--userinfo-alg", "userinfo"), ("--introspection-alg", "introspection")]
        {
            let out = server.cli(
                &["client", "add", "--id", &format!("bad-{field}"), "--redirect-uri", redirect, option, "HS256"],
                None,
            );
            assert!(!out.status.success(), "{option}");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.contains(option) && stderr.contains("HS256"), "{option}: {stderr}");
        }
        server.cli_ok(
            &["client", "add", "--id", "cli-eddsa", "--redirect-uri", redirect, "--id-token-alg", "EdDSA"],
            None,
        );
    }
}

/// A database made before PS256 and EdDSA: its servers had RS256 and ES256 keys only. Starting
/// the new server on it creates the missing keys (no startup failure), keeps the old ones, and
/// `keys rotate` then covers every algorithm.
#[tokio::test(flavor = "multi_thread")]
async fn a_database_from_before_the_new_algorithms_gets_their_keys_at_start() {
    for backend in Backend::ALL {
        let mut server = TestServer::start(backend).await;
        let before: Value = http_client().get(server.url("/jwks")).json_answer().await;
        server.stop();
        server.sql("DELETE FROM signing_keys WHERE alg IN ('PS256', 'EdDSA')");
        let listed = server.cli_ok(&["keys", "list"], None);
        assert!(!listed.contains("PS256") && !listed.contains("EdDSA"), "{listed}");

        server.spawn().await;
        let after: Value = http_client().get(server.url("/jwks")).json_answer().await;
        let kids = |jwks: &Value, alg: &str| -> Vec<String> {
            jwks["keys"].as_array().unwrap().iter().filter(|k| k["alg"] == alg).map(|k| k["kid"].to_string()).collect()
        };
        for alg in ["RS256", "ES256"] {
            assert_eq!(kids(&after, alg), kids(&before, alg), "{backend:?}: the {alg} key is kept");
        }
        for alg in ["PS256", "EdDSA"] {
            assert_eq!(kids(&after, alg).len(), 1, "{backend:?}: a new {alg} key: {after}");
            assert_ne!(kids(&after, alg), kids(&before, alg), "{backend:?}: {alg} is a new key");
        }
        assert!(server.log().contains("EdDSA"), "the start logs the key it created: {}", server.log());
        // The new keys sign at once: an EdDSA client signs in with the key just created.
        let person = server.add_person("old-db-person");
        let secret = server.add_client("old-db-rp", &["--id-token-alg", "EdDSA"]);
        sign_in_with(&server, "old-db-rp", &secret, CoreJwsSigningAlgorithm::EdDsa, &person).await;

        // Rotation covers every algorithm: four keys scheduled, all published at once.
        let rotated = server.cli_ok(&["keys", "rotate"], None);
        for alg in ALL_ALGS {
            assert!(rotated.contains(&format!("{alg} ")), "{rotated}");
        }
        server.cli_ok(&["keys", "rotate", "--alg", "EdDSA", "--now"], None);
        let listed = server.cli_ok(&["keys", "list"], None);
        let eddsa_rows = listed.lines().filter(|l| l.split('\t').nth(1) == Some("EdDSA")).count();
        assert_eq!(eddsa_rows, 3, "{listed}");
    }
}

/// openid-client names an Ed25519 key `Ed25519` (RFC 9864) in its client assertions and DPoP
/// proofs, and jose exports the key's JWK with that `alg`: Yagona reads it as `EdDSA`.
#[tokio::test(flavor = "multi_thread")]
async fn ed25519_assertions_and_dpop_proofs_from_openid_client_are_accepted() {
    for backend in Backend::ALL {
        let server = TestServer::start(backend).await;
        let (key, public) = yagona_tests::rp_node::key_pair("Ed25519", "ed");
        assert_eq!(public["alg"], "Ed25519");
        let file = server.dir.join("ed-jwks.json");
        std::fs::write(&file, yagona_tests::rp_node::jwks(&[&public])).unwrap();
        server.cli_ok(
            &[
                "client",
                "add",
                "--id",
                "ed-machine",
                "--redirect-uri",
                "https://rp.example/cb",
                "--grant-type",
                "client_credentials",
                "--auth-method",
                "private_key_jwt",
                "--jwks-file",
                file.to_str().unwrap(),
            ],
            None,
        );
        let discovery = server.discovery().await;
        for field in ["dpop_signing_alg_values_supported", "token_endpoint_auth_signing_alg_values_supported"] {
            assert!(discovery[field].as_array().unwrap().contains(&"Ed25519".into()), "{field}: {discovery}");
        }
        let result =
            node(&server.base_url, "ed25519.mjs", &[], &[("CLIENT_ID", "ed-machine"), ("KEY", &key.to_string())]);
        assert_eq!(result["assertion_alg"], "Ed25519", "{result}");
        assert_eq!(result["dpop_alg"], "Ed25519", "{result}");
        assert_eq!(result["grant"], json!({ "ok": true, "token_type": "dpop" }), "{backend:?}: {result}");
        assert_eq!(result["introspection"]["active"], true, "{result}");
        assert_eq!(result["introspection"]["cnf"]["jkt"], result["jkt"], "bound to the Ed25519 proof key: {result}");
    }
}

/// What else a client's ID token algorithm signs or reads: an EdDSA (or PS256) ID token is an
/// `id_token_hint` Yagona verifies (RP-initiated logout ends the session without asking), and
/// the back-channel logout token that follows is signed with the client's algorithm.
#[tokio::test(flavor = "multi_thread")]
async fn id_token_hints_and_logout_tokens_follow_the_clients_algorithm() {
    for backend in Backend::ALL {
        let server = TestServer::start(backend).await;
        let person = server.add_person("hint-person");
        for (client_id, alg, crate_alg) in [
            ("ed-hint", "EdDSA", CoreJwsSigningAlgorithm::EdDsa),
            ("ps-hint", "PS256", CoreJwsSigningAlgorithm::RsaSsaPssSha256),
        ] {
            let mut endpoint = crate::backchannel::receiver(vec![]).await;
            let secret =
                server.add_client(client_id, &["--id-token-alg", alg, "--backchannel-logout-uri", &endpoint.url]);
            // The browser whose session the ID token names: the hint identifies it, so no confirmation.
            let b = browser();
            let rp = RelyingParty::discover(&server, client_id, Some(&secret)).await;
            let start = rp.start(&["openid"], &[]);
            let callback = sign_in(&b, &server.base_url, &start.url, &person.0, &person.1).await;
            let tokens = rp.redeem(&callback, start.verifier).await;
            let verifier: CoreIdTokenVerifier<'_> = rp.client.id_token_verifier().set_allowed_algs(vec![crate_alg]);
            tokens.id_token().unwrap().claims(&verifier, &start.nonce).expect("the ID token verifies");
            let id_token = tokens.id_token().unwrap().to_string();
            let post_logout = TestServer::post_logout_uri(client_id);
            let logout = b
                .get(server.url("/end_session"))
                .query(&[("id_token_hint", id_token.as_str()), ("post_logout_redirect_uri", post_logout.as_str())])
                .send()
                .await
                .unwrap();
            assert!(logout.status().is_redirection(), "{alg}: {}", logout.status());
            assert_eq!(yagona_tests::location(&logout), post_logout, "{alg}: sent on at once");
            let logout_token = endpoint.next().await;
            let verdict =
                verified_by_jose(&server, &[to_verify("logout", &logout_token, alg, "logout+jwt", client_id)]);
            assert!(verdict["logout"]["payload"]["events"].is_object(), "{verdict}");
        }
    }
}
