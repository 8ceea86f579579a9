//! Pairwise subject identifiers (OpenID Connect Core 8.1), seen by the `openidconnect` crate: one
//! person has a different, stable `sub` per sector, the same in the ID token, userinfo and
//! introspection; the sector comes from the redirect URIs' host or a checked
//! `sector_identifier_uri`.

use openidconnect::core::CoreIdTokenVerifier;
use openidconnect::{OAuth2TokenResponse as _, TokenIntrospectionResponse as _, TokenResponse as _};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use yagona_tests::{browser, free_port, sign_in, Backend, TestServer};

use crate::rp::RelyingParty;

/// Serves `body` (JSON) to every request on loopback, as a relying party's sector document.
pub(crate) async fn serve_json(body: String) -> u16 {
    let port = free_port();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(reply.as_bytes()).await;
            });
        }
    });
    port
}

/// Signs the person in for `client_id` (single sign-on after the first login) and returns the
/// `sub` of the verified ID token, after checking userinfo and introspection say the same, and
/// the ID token.
async fn signed_in(
    server: &TestServer,
    b: &yagona_tests::reqwest::Client,
    client_id: &str,
    secret: &str,
) -> (String, String) {
    let rp = RelyingParty::discover(server, client_id, Some(secret)).await;
    let start = rp.start(&["openid", "profile"], &[]);
    let callback = sign_in(b, &server.base_url, &start.url, "pw-person", "Samarqand-Registon-1").await;
    let tokens = rp.redeem(&callback, start.verifier).await;
    let verifier: CoreIdTokenVerifier<'_> = rp.client.id_token_verifier();
    let claims = tokens.id_token().unwrap().claims(&verifier, &start.nonce).expect("the ID token verifies");
    let subject = claims.subject().clone();
    let userinfo = rp.userinfo(tokens.access_token(), &subject).await;
    assert_eq!(userinfo.subject(), &subject);
    let introspection = rp.client.introspect(tokens.access_token()).request_async(&rp.http).await.unwrap();
    assert_eq!(introspection.sub(), Some(subject.as_str()));
    (subject.to_string(), tokens.id_token().unwrap().to_string())
}

async fn subject_for(server: &TestServer, b: &yagona_tests::reqwest::Client, client_id: &str, secret: &str) -> String {
    signed_in(server, b, client_id, secret).await.0
}

#[tokio::test(flavor = "multi_thread")]
async fn pairwise_subjects_differ_per_sector_and_stay_stable() {
    for backend in Backend::ALL {
        let server = TestServer::start(backend).await;
        server.add_person("pw-person");
        let pairwise = ["--subject-type", "pairwise"];
        let a = server.add_client("pw-a", &pairwise);
        // Same redirect host (127.0.0.1): the same sector.
        let a2 = server.add_client("pw-a2", &pairwise);
        // Its own sector: the host of its sector_identifier_uri (localhost), whose document lists
        // its redirect URI.
        let listed = serde_json::json!([TestServer::redirect_uri("pw-b")]).to_string();
        let sector = format!("http://localhost:{}/sector.json", serve_json(listed).await);
        let b = server.add_client("pw-b", &[&pairwise[..], &["--sector-identifier-uri", &sector]].concat());
        let public = server.add_client("pw-public", &[]);

        let browser = browser();
        let sub_a = subject_for(&server, &browser, "pw-a", &a).await;
        let sub_a2 = subject_for(&server, &browser, "pw-a2", &a2).await;
        let sub_b = subject_for(&server, &browser, "pw-b", &b).await;
        let sub_public = subject_for(&server, &browser, "pw-public", &public).await;
        assert_eq!(sub_a, sub_a2, "one sector, one subject");
        assert_ne!(sub_a, sub_b, "another sector, another subject");
        assert_ne!(sub_a, sub_public);
        assert_ne!(sub_b, sub_public);
        // Stable: a later login (another browser) gets the same subjects.
        assert_eq!(subject_for(&server, &yagona_tests::browser(), "pw-a", &a).await, sub_a);
        assert_eq!(subject_for(&server, &yagona_tests::browser(), "pw-public", &public).await, sub_public);
        // An ID token with a pairwise subject names its session at logout: it ends at once.
        let other = yagona_tests::browser();
        let (_, id_token) = signed_in(&server, &other, "pw-b", &b).await;
        let bye = TestServer::post_logout_uri("pw-b");
        let logout = other
            .get(server.url("/end_session"))
            .query(&[("id_token_hint", id_token.as_str()), ("post_logout_redirect_uri", bye.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(logout.status(), 303);
        assert!(yagona_tests::location(&logout).starts_with(&bye));

        // A sector document that does not list the redirect URIs is refused at registration, and
        // so is a pairwise client with redirect URIs on two hosts and no sector.
        let out = server.cli(
            &[
                "client",
                "add",
                "--id",
                "pw-c",
                "--redirect-uri",
                "http://127.0.0.1:9/pw-c/callback",
                "--subject-type",
                "pairwise",
                "--sector-identifier-uri",
                &sector,
            ],
            None,
        );
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("http://127.0.0.1:9/pw-c/callback"));
        let out = server.cli(
            &[
                "client",
                "add",
                "--id",
                "pw-d",
                "--redirect-uri",
                "http://127.0.0.1:9/pw-d/callback",
                "--redirect-uri",
                "http://localhost:9/pw-d/callback",
                "--subject-type",
                "pairwise",
            ],
            None,
        );
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("--sector-identifier-uri"));
    }
}
