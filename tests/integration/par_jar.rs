//! Pushed authorization requests (RFC 9126) and signed request objects (RFC 9101), made by
//! panva's openid-client (tests/rp-node/par-jar.mjs) for a private_key_jwt client; the person's
//! login is driven here, the code is redeemed by openid-client again.

use serde_json::Value;
use yagona_tests::rp_node::{jwks, key_pair, node};
use yagona_tests::{browser, sign_in, Backend, TestServer};

struct Rp<'a> {
    server: &'a TestServer,
    client_id: &'a str,
    key: String,
    redirect_uri: String,
}

impl<'a> Rp<'a> {
    /// Registers `client_id` (private_key_jwt, keys inline) with `extra` options.
    fn register(server: &'a TestServer, client_id: &'a str, extra: &[&str]) -> Self {
        let (key, public) = key_pair("ES256", "a");
        let file = server.dir.join(format!("{client_id}-jwks.json"));
        std::fs::write(&file, jwks(&[&public])).unwrap();
        let redirect_uri = TestServer::redirect_uri(client_id);
        let mut args = vec!["client", "add", "--id", client_id, "--redirect-uri", &redirect_uri, "--first-party"];
        args.extend_from_slice(&["--auth-method", "private_key_jwt", "--jwks-file", file.to_str().unwrap()]);
        args.extend_from_slice(extra);
        server.cli_ok(&args, None);
        Self { server, client_id, key: key.to_string(), redirect_uri }
    }

    fn start(&self, mode: &str, sign_key: Option<&Value>) -> Value {
        let sign_key = sign_key.map(Value::to_string).unwrap_or_default();
        let mut env = vec![
            ("CLIENT_ID", self.client_id),
            ("KEY", self.key.as_str()),
            ("REDIRECT_URI", self.redirect_uri.as_str()),
            ("MODE", mode),
        ];
        if !sign_key.is_empty() {
            env.push(("SIGN_KEY", &sign_key));
        }
        node(&self.server.base_url, "par-jar.mjs", &["start"], &env)
    }

    fn finish(&self, started: &Value, callback: &str) -> Value {
        let text = |k: &str| started[k].as_str().unwrap().to_owned();
        let (verifier, state, nonce) = (text("verifier"), text("state"), text("nonce"));
        let env = [
            ("CLIENT_ID", self.client_id),
            ("KEY", self.key.as_str()),
            ("REDIRECT_URI", self.redirect_uri.as_str()),
            ("CALLBACK", callback),
            ("VERIFIER", verifier.as_str()),
            ("STATE", state.as_str()),
            ("NONCE", nonce.as_str()),
        ];
        node(&self.server.base_url, "par-jar.mjs", &["finish"], &env)
    }

    /// A whole authorization in `mode`: the person signs in, openid-client redeems the code.
    async fn authorize(&self, mode: &str, login: &str, password: &str) -> (Value, String) {
        let started = self.start(mode, None);
        let url = started["url"].as_str().unwrap_or_else(|| panic!("{mode}: {started}")).to_owned();
        let callback = sign_in(&browser(), &self.server.base_url, &url, login, password).await;
        let tokens = self.finish(&started, &callback);
        assert_eq!(tokens["ok"], true, "{mode}: {tokens}");
        assert_eq!(tokens["claims"]["aud"], self.client_id, "{mode}: {tokens}");
        (tokens, url)
    }
}

/// What `/authorize` answers `url` with when it refuses it: the error page, or, when the
/// request names a registered redirect URI outside any request object, the error sent there.
async fn refused_page(url: &str) -> String {
    let response = browser().get(url).send().await.unwrap();
    if response.status() == 303 {
        let to = yagona_tests::location(&response);
        let error = yagona_tests::query_param(&to, "error").unwrap_or_default();
        let description = yagona_tests::query_param(&to, "error_description").unwrap_or_default();
        return format!("{error}: {description}");
    }
    assert_eq!(response.status(), 400, "{url}");
    response.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn pushed_and_signed_requests_with_openid_client() {
    for backend in Backend::ALL {
        let server = TestServer::start(backend).await;
        let (login, password) = server.add_person("nodira");
        let rp = Rp::register(&server, "par-rp", &[]);
        for mode in ["plain", "jar", "par", "par-jar"] {
            let (_, url) = rp.authorize(mode, &login, &password).await;
            if mode.starts_with("par") {
                // The request_uri is single use.
                let page = refused_page(&url).await;
                assert!(page.contains("invalid_request_uri"), "{mode}: {page}");
            }
        }
        // An expired request_uri.
        let started = rp.start("par", None);
        server.sql("UPDATE pushed_authorization_requests SET expires_at = 0");
        let page = refused_page(started["url"].as_str().unwrap()).await;
        assert!(page.contains("invalid_request_uri"), "{page}");
        // A request object signed with another key (same kid): refused at PAR and at /authorize.
        let (stranger, _) = key_pair("ES256", "a");
        let pushed = rp.start("par-jar", Some(&stranger));
        assert_eq!(pushed["ok"], false, "{pushed}");
        assert_eq!(pushed["error"], "invalid_request_object", "{pushed}");
        let direct = rp.start("jar", Some(&stranger));
        let page = refused_page(direct["url"].as_str().unwrap()).await;
        assert!(page.contains("invalid_request_object"), "{page}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn clients_and_servers_can_require_pushed_and_signed_requests() {
    let server = TestServer::start(Backend::Sqlite).await;
    let (login, password) = server.add_person("bahodir");
    let must_push = Rp::register(&server, "must-push", &["--require-par"]);
    let plain = must_push.start("plain", None);
    let page = refused_page(plain["url"].as_str().unwrap()).await;
    assert!(page.contains("pushed"), "{page}");
    must_push.authorize("par", &login, &password).await;

    let must_sign = Rp::register(&server, "must-sign", &["--require-signed-request-object"]);
    let unsigned = must_sign.start("par", None);
    assert_eq!(unsigned["error"], "invalid_request", "{unsigned}");
    let page = refused_page(must_sign.start("plain", None)["url"].as_str().unwrap()).await;
    assert!(page.contains("signed request objects"), "{page}");
    must_sign.authorize("jar", &login, &password).await;
    must_sign.authorize("par-jar", &login, &password).await;

    let doc = server.discovery().await;
    assert_eq!(doc["pushed_authorization_request_endpoint"], server.url("/par"));
    assert_eq!(doc["request_parameter_supported"], true);
    assert_eq!(doc["require_pushed_authorization_requests"], false);
    assert!(doc["request_object_signing_alg_values_supported"].as_array().unwrap().iter().any(|a| a == "ES256"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_can_require_pushed_requests_for_everyone() {
    let server =
        TestServer::start_with(Backend::Postgres, &[("YAGONA_CLIENTS__REQUIRE_PUSHED_AUTHORIZATION_REQUESTS", "true")])
            .await;
    let (login, password) = server.add_person("malika");
    let rp = Rp::register(&server, "any-rp", &[]);
    let page = refused_page(rp.start("jar", None)["url"].as_str().unwrap()).await;
    assert!(page.contains("pushed"), "{page}");
    rp.authorize("par-jar", &login, &password).await;
}
