//! Binding the authorization code to a DPoP key (RFC 9449 10): `dpop_jkt` at `/authorize`, or a
//! proof at the pushed authorization request endpoint. The independent relying party (panva's
//! `openid-client`, `tests/rp-node/dpop-jkt.mjs`) makes the keys' thumbprints and every proof;
//! this test drives the logins.

use serde_json::{json, Value};
use yagona_tests::rp_node::key_pair;
use yagona_tests::{browser, http_client, query_param, sign_in, Backend, TestServer};

use crate::dpop::run_node_rp;
use crate::flow::decode_jwt_payload;
use crate::tokens::token;

/// A client of the relying party (a public client has no secret) and the browser of the person
/// who signs in to it.
struct Rp<'a> {
    server: &'a TestServer,
    client_id: &'a str,
    secret: Option<&'a str>,
    browser: yagona_tests::reqwest::Client,
    person: (String, String),
}

impl<'a> Rp<'a> {
    fn new(server: &'a TestServer, client_id: &'a str, secret: Option<&'a str>) -> Self {
        let person = server.add_person(&format!("person-{client_id}"));
        Self { server, client_id, secret, browser: browser(), person }
    }

    fn input(&self, phase: &str, key: &(Value, Value)) -> Value {
        json!({
            "phase": phase,
            "issuer": self.server.base_url,
            "client_id": self.client_id,
            "client_secret": self.secret,
            "redirect_uri": TestServer::redirect_uri(self.client_id),
            "key": { "private": key.0, "public": key.1 },
        })
    }

    /// Starts an authorization bound to `key` (by PAR with a proof, or by `dpop_jkt`) and signs
    /// the person in: what `start` printed, with the callback.
    async fn authorize(&self, key: &(Value, Value), par: bool) -> Value {
        let mut input = self.input("start", key);
        input["par"] = par.into();
        let mut started = run_node_rp("dpop-jkt.mjs", &input).await;
        let url = started["url"].as_str().unwrap().to_owned();
        let (login, password) = &self.person;
        started["callback"] = sign_in(&self.browser, &self.server.base_url, &url, login, password).await.into();
        started
    }

    /// Redeems the code of `started` with a proof of `key`: what `redeem` printed.
    async fn redeem(&self, started: &Value, key: &(Value, Value)) -> Value {
        let mut input = self.input("redeem", key);
        for field in ["callback", "code_verifier", "state", "nonce"] {
            input[field] = started[field].clone();
        }
        run_node_rp("dpop-jkt.mjs", &input).await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dpop_jkt_binds_the_code_to_the_key_of_an_independent_client() {
    for backend in Backend::ALL {
        let server = TestServer::start(backend).await;
        let key = key_pair("ES256", "rp");
        let other = key_pair("ES256", "other");
        server.add_public_client("jkt-app", &[]);
        let secret = server.add_client("jkt-web", &[]);
        let public = Rp::new(&server, "jkt-app", None);
        let confidential = Rp::new(&server, "jkt-web", Some(&secret));

        for (rp, par) in [(&public, false), (&confidential, true)] {
            // The code redeemed with a proof of the key it is bound to: tokens bound to that key.
            let started = rp.authorize(&key, par).await;
            assert!(started["url"].as_str().unwrap().contains(if par { "request_uri=" } else { "dpop_jkt=" }));
            let out = rp.redeem(&started, &key).await;
            assert_eq!(out["token_type"].as_str().unwrap_or_default().to_lowercase(), "dpop", "{out}");
            assert_eq!(decode_jwt_payload(out["access_token"].as_str().unwrap())["cnf"]["jkt"], started["jkt"]);

            // With a proof of another key: invalid_grant.
            let started = rp.authorize(&key, par).await;
            let out = rp.redeem(&started, &other).await;
            assert_eq!(out["error"], "invalid_grant", "{client}: {out}", client = rp.client_id);
        }

        // Without a proof (a confidential client, so only the binding can refuse): invalid_grant.
        let started = confidential.authorize(&key, false).await;
        let code = query_param(started["callback"].as_str().unwrap(), "code").unwrap();
        let redirect_uri = TestServer::redirect_uri("jkt-web");
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect_uri.as_str()),
            ("code_verifier", started["code_verifier"].as_str().unwrap()),
        ];
        let (status, body) = token(&server, "jkt-web", &secret, &form).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_dpop_jkt_is_an_invalid_request() {
    for backend in Backend::ALL {
        let server = TestServer::start(backend).await;
        let secret = server.add_client("jkt-bad", &[]);
        let rp = crate::rp::RelyingParty::discover(&server, "jkt-bad", Some(&secret)).await;
        let jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
        for bad in ["not-a-thumbprint", &jkt[..42], &format!("{jkt}=="), &format!("{}+", &jkt[..42])] {
            let start = rp.start(&["openid"], &[("dpop_jkt", bad)]);
            let response = browser().get(start.url.as_str()).send().await.unwrap();
            let location = response.headers()["location"].to_str().unwrap().to_owned();
            assert_eq!(query_param(&location, "error").as_deref(), Some("invalid_request"), "{bad}: {location}");
            assert!(query_param(&location, "error_description").unwrap().contains("dpop_jkt"), "{location}");
        }
        // At the PAR endpoint too, and a well-formed one is accepted there.
        let push = |jkt: &str| {
            let form = [
                ("response_type", "code"),
                ("scope", "openid"),
                ("redirect_uri", &TestServer::redirect_uri("jkt-bad")),
                ("dpop_jkt", jkt),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()));
            http_client().post(server.url("/par")).basic_auth("jkt-bad", Some(&secret)).form(&form).send()
        };
        let refused = push("short").await.unwrap();
        assert_eq!(refused.status(), 400);
        assert_eq!(refused.json::<Value>().await.unwrap()["error"], "invalid_request");
        assert_eq!(push(jkt).await.unwrap().status(), 201);
    }
}
