//! A cluster: two real server processes on one PostgreSQL database (issue 12). A key rotation
//! never makes a node refuse a token any node signed: the new key is published everywhere (at
//! once, by LISTEN/NOTIFY) before any node signs with it, and every node switches by itself.

use std::time::{Duration, Instant};

use serde_json::Value;
use yagona_tests::{http_client, reqwest, Backend, TestServer};

use crate::flow::decode_jwt_header;

async fn token(http: &reqwest::Client, node: &TestServer, secret: &str) -> String {
    let r = http
        .post(node.url("/token"))
        .basic_auth("batch", Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "node {} issues tokens", node.base_url);
    r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
}

async fn published_kids(http: &reqwest::Client, node: &TestServer) -> Vec<String> {
    let jwks: Value = http.get(node.url("/jwks")).send().await.unwrap().json().await.unwrap();
    jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
}

async fn active_at(http: &reqwest::Client, node: &TestServer, secret: &str, token: &str) -> bool {
    let r = http.post(node.url("/introspect")).basic_auth("batch", Some(secret)).form(&[("token", token)]);
    r.send().await.unwrap().json::<Value>().await.unwrap()["active"] == true
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotation_while_two_nodes_serve_never_rejects_a_token() {
    let mut a = TestServer::new(Backend::Postgres, &[("YAGONA_KEYS__PUBLISH_DELAY", "4")]);
    a.spawn().await;
    let mut b = a.replica();
    b.spawn().await;
    let secret = a.add_client("batch", &["--grant-type", "client_credentials"]);
    let http = http_client();
    let first = token(&http, &a, &secret).await;
    let old_kid = decode_jwt_header(&first)["kid"].as_str().unwrap().to_owned();
    assert!(active_at(&http, &b, &secret, &first).await, "a token of node A verifies at node B");

    let rotated = Instant::now();
    let out = a.cli_ok(&["keys", "rotate", "--alg", "RS256"], None);
    let new_kid = out.split_whitespace().nth(1).unwrap().to_owned();
    assert!(out.contains("published now, signs from"), "{out}");
    // Both nodes publish the new key at once: the notification, not the 30-second poll.
    let mut everywhere = false;
    while rotated.elapsed() < Duration::from_secs(3) && !everywhere {
        everywhere =
            published_kids(&http, &a).await.contains(&new_kid) && published_kids(&http, &b).await.contains(&new_kid);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(everywhere, "both nodes publish the new key within a moment of the rotation");

    // Tokens from both nodes, verified at both, through the switch.
    let mut first_new_signature = None;
    while rotated.elapsed() < Duration::from_secs(8) {
        for signer in [&a, &b] {
            let t = token(&http, signer, &secret).await;
            let kid = decode_jwt_header(&t)["kid"].as_str().unwrap().to_owned();
            assert!(kid == old_kid || kid == new_kid, "{kid}");
            if kid == new_kid && first_new_signature.is_none() {
                first_new_signature = Some(rotated.elapsed());
            }
            for verifier in [&a, &b] {
                assert!(published_kids(&http, verifier).await.contains(&kid), "{kid} is in every JWKS");
                assert!(active_at(&http, verifier, &secret, &t).await, "every token verifies at every node");
            }
            assert!(active_at(&http, signer, &secret, &first).await, "the first token stays valid");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let first_new = first_new_signature.expect("after the publish delay the nodes sign with the new key");
    assert!(first_new >= Duration::from_secs(3), "no node signs before the key was published long enough");
    for node in [&a, &b] {
        let t = token(&http, node, &secret).await;
        assert_eq!(decode_jwt_header(&t)["kid"], new_kid.as_str(), "both nodes switched by themselves");
    }
    let list = a.cli_ok(&["keys", "list"], None);
    assert!(list.lines().any(|l| l.starts_with(&old_kid) && l.contains("\tretired\tpublished\t")), "{list}");
    assert!(list.lines().any(|l| l.starts_with(&new_kid) && l.contains("\tactive\tpublished\t")), "{list}");
    let audit = a.cli_ok(&["audit", "list"], None);
    assert!(audit.lines().any(|l| l.contains("\tkey_rotated\t") && l.contains(&new_kid)), "{audit}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_removed_client_is_refused_by_every_node_and_one_node_drains_while_the_other_serves() {
    let mut a = TestServer::new(Backend::Postgres, &[("YAGONA_HTTP__SHUTDOWN_GRACE", "3")]);
    a.spawn().await;
    let mut b = a.replica();
    b.spawn().await;
    let secret = a.add_client("batch", &["--grant-type", "client_credentials"]);
    let http = http_client();
    let from_b = token(&http, &b, &secret).await;
    assert!(active_at(&http, &a, &secret, &from_b).await);

    // A client removed with the CLI is refused by both nodes within their one-second cache.
    let doomed = a.add_client("doomed", &["--grant-type", "client_credentials"]);
    for node in [&a, &b] {
        let r = http.post(node.url("/token")).basic_auth("doomed", Some(&doomed));
        assert_eq!(r.form(&[("grant_type", "client_credentials")]).send().await.unwrap().status(), 200);
    }
    a.cli_ok(&["client", "remove", "--id", "doomed"], None);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for node in [&a, &b] {
        let r = http.post(node.url("/token")).basic_auth("doomed", Some(&doomed));
        let r = r.form(&[("grant_type", "client_credentials")]).send().await.unwrap();
        assert_eq!(r.status(), 401, "node {} refuses the removed client", node.base_url);
    }

    // Node B drains: its readiness says so at once, node A stays ready and serves B's tokens.
    b.signal("TERM");
    let mut draining = false;
    for _ in 0..40 {
        if http.get(b.url("/health/ready")).send().await.unwrap().status() == 503 {
            draining = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(draining, "the draining node leaves the load balancer's rotation");
    assert_eq!(http.get(a.url("/health/ready")).send().await.unwrap().status(), 200);
    assert!(active_at(&http, &a, &secret, &from_b).await, "B's tokens stay valid at A");
    token(&http, &a, &secret).await;
    let exit = b.wait_exit(Duration::from_secs(30)).await.expect("B stops after its grace period");
    assert!(exit.success());
    assert!(active_at(&http, &a, &secret, &from_b).await, "and after B is gone");
}
