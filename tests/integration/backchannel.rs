//! Back-channel logout (OpenID Connect Back-Channel Logout 1.0): a relying party's loopback
//! endpoint receives the logout token, which is verified against the JWKS with `jsonwebtoken`
//! (not Yagona's code), after RP-initiated logout and when the account is disabled; a refused
//! delivery is retried.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use openidconnect::TokenResponse as _;
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use yagona_tests::{browser, free_port, http_client, sign_in, Backend, JsonAnswer as _, TestServer};

use crate::flow::decode_jwt_payload;
use crate::rp::RelyingParty;

/// A relying party's back-channel logout endpoint on loopback: answers the statuses in `plan`
/// in turn (then 200) and hands over every `logout_token` it was sent.
pub(crate) struct Receiver {
    pub(crate) url: String,
    tokens: tokio::sync::mpsc::UnboundedReceiver<String>,
}

pub(crate) async fn receiver(plan: Vec<u16>) -> Receiver {
    let port = free_port();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let plan = Arc::new(Mutex::new(plan.into_iter()));
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else { return };
            let tx = tx.clone();
            let plan = plan.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                // Read the head, then the body its Content-Length announces.
                loop {
                    let n = socket.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&request).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text[..end]
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length").then(|| v.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        if request.len() >= end + 4 + length {
                            let body = &text[end + 4..end + 4 + length];
                            let token = url::form_urlencoded::parse(body.as_bytes())
                                .find(|(k, _)| k == "logout_token")
                                .map(|(_, v)| v.into_owned())
                                .unwrap_or_default();
                            let status = plan.lock().unwrap().next().unwrap_or(200);
                            let _ = tx.send(token);
                            let reply =
                                format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                            let _ = socket.write_all(reply.as_bytes()).await;
                            return;
                        }
                    }
                }
            });
        }
    });
    Receiver { url: format!("http://127.0.0.1:{port}/backchannel-logout"), tokens: rx }
}

impl Receiver {
    /// The next logout token sent (waiting for the server's worker and its retries).
    pub(crate) async fn next(&mut self) -> String {
        tokio::time::timeout(Duration::from_secs(60), self.tokens.recv())
            .await
            .expect("a logout token arrives")
            .expect("the receiver runs")
    }
}

/// Signs the person in with `browser` at `rp` (scope `openid`); the ID token it redeems.
pub(crate) async fn signed_in_id_token(
    server: &TestServer,
    rp: &RelyingParty,
    browser: &reqwest::Client,
    login: &str,
    password: &str,
) -> String {
    let start = rp.start(&["openid"], &[]);
    let callback = sign_in(browser, &server.base_url, &start.url, login, password).await;
    let tokens = rp.redeem(&callback, start.verifier).await;
    tokens.id_token().unwrap().to_string()
}

/// Verifies a logout token as a relying party does (Back-Channel Logout 1.0, 2.6) with
/// `jsonwebtoken` against the JWKS: signature, `iss`, `aud`, `exp`, `typ`, the event, no nonce.
pub(crate) async fn verify_logout_token(server: &TestServer, token: &str, client_id: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    let jwks: jsonwebtoken::jwk::JwkSet =
        http_client().get(server.url("/jwks")).send().await.unwrap().json().await.unwrap();
    let jwk = jwks.find(header.kid.as_deref().unwrap()).expect("the key is published");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_audience(&[client_id]);
    validation.set_issuer(&[&server.base_url]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "iat", "jti"]);
    let claims: Value = jsonwebtoken::decode(token, &key, &validation).expect("the logout token verifies").claims;
    assert!(claims["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object(), "{claims}");
    assert!(claims.get("nonce").is_none(), "{claims}");
    claims
}

#[tokio::test(flavor = "multi_thread")]
async fn backchannel_logout_notifies_the_clients_of_the_session() {
    for backend in Backend::ALL {
        let server = TestServer::start(backend).await;
        // The first delivery is refused (500): the worker tries again.
        let mut rp_endpoint = receiver(vec![500]).await;
        let secret = server.add_client(
            "bcl-rp",
            &["--backchannel-logout-uri", &rp_endpoint.url, "--backchannel-logout-session-required"],
        );
        let discovery: Value = http_client().get(server.url("/.well-known/openid-configuration")).json_answer().await;
        assert_eq!(discovery["backchannel_logout_supported"], true);
        assert_eq!(discovery["backchannel_logout_session_supported"], true);

        let (login, password) = server.add_person("bcl-person");
        let rp = RelyingParty::discover(&server, "bcl-rp", Some(&secret)).await;
        let b = browser();
        let id_token = signed_in_id_token(&server, &rp, &b, &login, &password).await;
        let id_claims = decode_jwt_payload(&id_token);
        assert!(id_claims["sid"].is_string(), "{id_claims}");

        // RP-initiated logout: the person is sent on at once; the token follows.
        let logout =
            b.get(server.url("/end_session")).query(&[("id_token_hint", id_token.as_str())]).send().await.unwrap();
        assert!(logout.status().is_success() || logout.status().is_redirection(), "{}", logout.status());
        let refused = rp_endpoint.next().await;
        let delivered = rp_endpoint.next().await;
        for token in [&refused, &delivered] {
            let claims = verify_logout_token(&server, token, "bcl-rp").await;
            assert_eq!(claims["sid"], id_claims["sid"], "{claims}");
            assert_eq!(claims["sub"], id_claims["sub"], "{claims}");
        }
        // Each attempt is a new token.
        assert_ne!(decode_jwt_payload(&refused)["jti"], decode_jwt_payload(&delivered)["jti"]);

        // Disabling the account ends its sessions: a new login's session is notified too.
        let other_sid =
            decode_jwt_payload(&signed_in_id_token(&server, &rp, &browser(), &login, &password).await)["sid"].clone();
        server.cli_ok(&["account", "disable", &login], None);
        let claims = verify_logout_token(&server, &rp_endpoint.next().await, "bcl-rp").await;
        assert_eq!(claims["sid"], other_sid, "{claims}");
    }
}
