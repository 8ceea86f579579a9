//! Single use under concurrency.

use serde_json::Value;
use yagona_tests::{browser, http_client, location, query_param, sign_in, Backend, TestServer};

use crate::rp::RelyingParty;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_code_redeemed_twenty_times_at_once_yields_one_token() {
    for backend in Backend::ALL {
        let server = TestServer::start(backend).await;
        let secret = server.add_client("rp", &["--first-party"]);
        let (login, password) = server.add_person("sardor");
        let rp = RelyingParty::discover(&server, "rp", Some(&secret)).await;
        let browser = browser();
        let start = rp.start(&[], &[]);
        let callback = sign_in(&browser, &server.base_url, &start.url, &login, &password).await;
        let code = query_param(&callback, "code").unwrap();
        let verifier = start.verifier.secret().clone();
        let redirect = TestServer::redirect_uri("rp");
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(20));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (url, secret, code, verifier, redirect, barrier) = (
                server.url("/token"),
                secret.clone(),
                code.clone(),
                verifier.clone(),
                redirect.clone(),
                barrier.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let http = http_client();
                barrier.wait().await;
                let r = http
                    .post(url)
                    .basic_auth("rp", Some(secret))
                    .form(&[
                        ("grant_type", "authorization_code"),
                        ("code", code.as_str()),
                        ("redirect_uri", redirect.as_str()),
                        ("code_verifier", verifier.as_str()),
                    ])
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                (status, r.json::<Value>().await.unwrap())
            }));
        }
        let mut ok = 0;
        for task in tasks {
            let (status, body) = task.await.unwrap();
            match status {
                200 => ok += 1,
                400 => assert_eq!(body["error"], "invalid_grant", "{body}"),
                other => panic!("{backend:?}: unexpected {other}: {body}"),
            }
        }
        assert_eq!(ok, 1, "{backend:?}: exactly one redemption succeeds");
        // The code is spent for good.
        let again = rp.start(&[], &[]);
        let response = browser.get(&again.url).send().await.unwrap();
        assert!(location(&response).contains("code="));
    }
}

/// One refresh token presented twenty times at once: exactly one rotation succeeds, the others
/// are refused as reuse, and the reuse ends the family, the winner's new token included.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_refresh_token_rotated_twenty_times_at_once_yields_one_token() {
    for backend in Backend::ALL {
        let server = TestServer::start(backend).await;
        let secret = server.add_client("rp", &["--first-party"]);
        let (login, password) = server.add_person("malika");
        let rp = RelyingParty::discover(&server, "rp", Some(&secret)).await;
        let start = rp.start(&[], &[]);
        let callback = sign_in(&browser(), &server.base_url, &start.url, &login, &password).await;
        let tokens = rp.redeem(&callback, start.verifier).await;
        let refresh = openidconnect::OAuth2TokenResponse::refresh_token(&tokens).unwrap().secret().clone();
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(20));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (url, secret, refresh, barrier) =
                (server.url("/token"), secret.clone(), refresh.clone(), barrier.clone());
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                let r = http_client()
                    .post(url)
                    .basic_auth("rp", Some(secret))
                    .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())])
                    .send()
                    .await
                    .unwrap();
                (r.status().as_u16(), r.json::<Value>().await.unwrap())
            }));
        }
        let mut winners = Vec::new();
        for task in tasks {
            let (status, body) = task.await.unwrap();
            match status {
                200 => winners.push(body["refresh_token"].as_str().unwrap().to_owned()),
                400 => assert_eq!(body["error"], "invalid_grant", "{body}"),
                other => panic!("{backend:?}: unexpected {other}: {body}"),
            }
        }
        assert_eq!(winners.len(), 1, "{backend:?}: exactly one rotation succeeds");
        let r = http_client()
            .post(server.url("/token"))
            .basic_auth("rp", Some(&secret))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", winners[0].as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{backend:?}: the reuse revoked the family");
    }
}
