//! Production operations (issue 12): a database outage fails fast with 503 and spares what
//! needs no database, probes, graceful drain on SIGTERM, the client address behind trusted
//! proxies with `yagona throttle`, and request ids from the load balancer.

use std::time::Duration;

use serde_json::Value;
use yagona_tests::proxy::TcpProxy;
use yagona_tests::{hidden_input, http_client, location, reqwest, Backend, TestServer};

use crate::rp::RelyingParty;

async fn status(http: &reqwest::Client, server: &TestServer, path: &str) -> u16 {
    http.get(server.url(path)).send().await.unwrap().status().as_u16()
}

async fn client_credentials(http: &reqwest::Client, server: &TestServer, secret: &str) -> reqwest::Response {
    http.post(server.url("/token"))
        .basic_auth("batch", Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_outage_fails_fast_with_503_and_spares_what_needs_no_database() {
    let mut server = TestServer::new(Backend::Postgres, &[("YAGONA_DATABASE__ACQUIRE_TIMEOUT_MS", "500")]);
    let proxy = TcpProxy::start("127.0.0.1:5432").await;
    let url = server.env_value("YAGONA_DATABASE__URL").unwrap();
    server.set_env("YAGONA_DATABASE__URL", &url.replace("127.0.0.1:5432", &format!("127.0.0.1:{}", proxy.port)));
    server.spawn().await;
    let secret = server.add_client("batch", &["--grant-type", "client_credentials"]);
    let http = http_client();
    let r = client_credentials(&http, &server, &secret).await;
    assert_eq!(r.status(), 200);
    let token = r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(status(&http, &server, "/health/ready").await, 200);

    proxy.cut();
    // What needs no database still answers.
    assert_eq!(status(&http, &server, "/health/live").await, 200);
    assert_eq!(status(&http, &server, "/jwks").await, 200);
    assert_eq!(status(&http, &server, "/.well-known/openid-configuration").await, 200);
    // Readiness says the node should get no traffic.
    let r = http.get(server.url("/health/ready")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "unavailable");
    // Introspection (the revocation list is in the database) answers RFC 6749
    // temporarily_unavailable with Retry-After, not 500 after a 10 s hang.
    let r = http
        .post(server.url("/introspect"))
        .basic_auth("batch", Some(&secret))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().get("retry-after").is_some(), "Retry-After is set");
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "temporarily_unavailable");
    // So does the token endpoint once its one-second client cache has to ask the database.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = client_credentials(&http, &server, &secret).await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "temporarily_unavailable");
    // A page that needs the database says so in words, with 503.
    let r = http.get(server.url("/login?interaction=0123456789abcdef")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().get("retry-after").is_some(), "Retry-After is set");
    assert!(r.text().await.unwrap().contains("temporarily unavailable"));

    // The database comes back: the node recovers without a restart.
    proxy.restore().await;
    let mut ready = false;
    for _ in 0..100 {
        if status(&http, &server, "/health/ready").await == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "readiness recovers: {}", server.log());
    assert_eq!(client_credentials(&http, &server, &secret).await.status(), 200);
    assert!(!server.log().contains("status=500"), "no request was a server error: {}", server.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_drains_readiness_first_then_stops() {
    let mut server = TestServer::new(Backend::Sqlite, &[("YAGONA_HTTP__SHUTDOWN_GRACE", "3")]);
    server.spawn().await;
    let http = http_client();
    assert_eq!(status(&http, &server, "/health/ready").await, 200);
    server.signal("TERM");
    let mut draining = false;
    for _ in 0..40 {
        let r = http.get(server.url("/health/ready")).send().await.unwrap();
        if r.status() == 503 {
            assert_eq!(r.json::<Value>().await.unwrap()["status"], "draining");
            draining = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(draining, "readiness turns 503 after SIGTERM");
    // During the grace period the node still serves (the load balancer is still moving away).
    assert_eq!(status(&http, &server, "/health/live").await, 200);
    assert_eq!(status(&http, &server, "/jwks").await, 200);
    let exit = server.wait_exit(Duration::from_secs(30)).await.expect("the server stops after the grace period");
    assert!(exit.success(), "a drained stop is a clean exit: {exit}");
    assert!(http.get(server.url("/health/live")).send().await.is_err(), "the listener is closed");
    assert!(server.log().contains("SIGTERM: draining"), "{}", server.log());
}

/// A client whose requests carry `X-Forwarded-For: <address>` (as the load balancer adds it).
fn browser_from(address: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-forwarded-for", address.parse().unwrap());
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .unwrap()
}

async fn try_login(server: &TestServer, rp: &RelyingParty, b: &reqwest::Client, login: &str, password: &str) -> u16 {
    let start = rp.start(&[], &[]);
    let r = b.get(&start.url).send().await.unwrap();
    let html = b.get(server.url(&location(&r))).send().await.unwrap().text().await.unwrap();
    let (csrf, interaction) = (hidden_input(&html, "csrf_token").unwrap(), hidden_input(&html, "interaction").unwrap());
    let form = [("login", login), ("password", password), ("csrf_token", &csrf), ("interaction", &interaction)];
    b.post(server.url("/login")).form(&form).send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_a_trusted_proxy_throttling_counts_the_real_client_and_throttle_clear_lifts_it() {
    let server = TestServer::start_with(
        Backend::Sqlite,
        &[
            ("YAGONA_HTTP__TRUSTED_PROXIES", "[\"127.0.0.1/32\"]"),
            ("YAGONA_LOGIN__MAX_FAILURES_PER_ADDRESS", "3"),
            ("YAGONA_LOGIN__MAX_FAILURES_PER_ACCOUNT", "100"),
        ],
    )
    .await;
    let secret = server.add_client("rp", &["--first-party"]);
    let (login, password) = server.add_person("dilnoza");
    let rp = RelyingParty::discover(&server, "rp", Some(&secret)).await;
    let attacker = browser_from("198.51.100.7");
    for _ in 0..3 {
        assert_eq!(try_login(&server, &rp, &attacker, &login, "wrong-password").await, 401);
    }
    assert_eq!(try_login(&server, &rp, &attacker, &login, &password).await, 429, "the attacker's address is locked");
    // Everyone else behind the same load balancer can still log in.
    let citizen = browser_from("198.51.100.8");
    assert_eq!(try_login(&server, &rp, &citizen, &login, &password).await, 303);

    let list = server.cli_ok(&["throttle", "list"], None);
    let line = list.lines().find(|l| l.contains("198.51.100.7")).unwrap_or_else(|| panic!("{list}"));
    assert!(line.starts_with("address\t198.51.100.7\t3\t") && line.ends_with("locked"), "{line}");
    assert!(!list.contains("127.0.0.1"), "the proxy's own address is not what is counted: {list}");
    let cleared = server.cli_ok(&["throttle", "clear", "--address", "198.51.100.7"], None);
    assert!(cleared.starts_with("3 failure(s) cleared"), "{cleared}");
    assert_eq!(try_login(&server, &rp, &attacker, &login, &password).await, 303, "cleared: the address may log in");
    let out = server.cli(&["throttle", "clear"], None);
    assert!(!out.status.success(), "clear without saying which is refused");

    // The forwarded header from a peer that is not a trusted proxy is ignored.
    let direct = TestServer::start_with(Backend::Sqlite, &[("YAGONA_LOGIN__MAX_FAILURES_PER_ADDRESS", "2")]).await;
    let secret = direct.add_client("rp", &["--first-party"]);
    let (login, password) = direct.add_person("dilnoza");
    let rp = RelyingParty::discover(&direct, "rp", Some(&secret)).await;
    for _ in 0..2 {
        assert_eq!(try_login(&direct, &rp, &browser_from("198.51.100.7"), &login, "wrong-password").await, 401);
    }
    let status = try_login(&direct, &rp, &browser_from("198.51.100.9"), &login, &password).await;
    assert_eq!(status, 429, "a spoofed X-Forwarded-For does not escape the lock of the real peer");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_well_formed_request_id_is_kept_and_echoed() {
    let server = TestServer::start(Backend::Sqlite).await;
    let http = http_client();
    let r = http.get(server.url("/health/live")).header("x-request-id", "lb-7f3a.42").send().await.unwrap();
    assert_eq!(r.headers()["x-request-id"], "lb-7f3a.42");
    let r = http.get(server.url("/health/live")).header("x-request-id", "bad id\"<script>").send().await.unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()), "a malformed id is replaced: {id}");
    assert!(server.log().contains("lb-7f3a.42"), "the kept id names the request in the log");
}

/// The value of the sample of `name` whose labels include every one of `labels`.
fn sample(metrics: &str, name: &str, labels: &[&str]) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let matches = series.starts_with(&format!("{name}{{")) || series == name;
        (matches && labels.iter().all(|l| series.contains(l))).then(|| value.parse().ok()).flatten()
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_logins_tokens_and_requests_apart_from_the_public_listener() {
    let server = TestServer::start(Backend::Sqlite).await;
    let secret = server.add_client("rp", &["--first-party"]);
    let batch = server.add_client("batch", &["--grant-type", "client_credentials"]);
    let (login, password) = server.add_person("metrics");
    let rp = RelyingParty::discover(&server, "rp", Some(&secret)).await;
    let b = yagona_tests::browser();
    assert_eq!(try_login(&server, &rp, &b, &login, "wrong-password").await, 401);
    let start = rp.start(&[], &[]);
    let callback = yagona_tests::sign_in(&b, &server.base_url, &start.url, &login, &password).await;
    rp.redeem(&callback, start.verifier).await;
    let http = http_client();
    assert_eq!(client_credentials(&http, &server, &batch).await.status(), 200);

    let text = http.get(&server.metrics_url).send().await.unwrap().text().await.unwrap();
    let at_least_one = |name: &str, labels: &[&str]| {
        let value = sample(&text, name, labels).unwrap_or_else(|| panic!("{name} {labels:?} in:\n{text}"));
        assert!(value >= 1.0, "{name} {labels:?} = {value}");
    };
    at_least_one("yagona_logins_total", &["method=\"password\"", "outcome=\"success\""]);
    at_least_one("yagona_logins_total", &["method=\"password\"", "outcome=\"failure\""]);
    at_least_one("yagona_tokens_issued_total", &["grant_type=\"authorization_code\"", "client=\"rp\""]);
    at_least_one("yagona_tokens_issued_total", &["grant_type=\"client_credentials\"", "client=\"batch\""]);
    at_least_one("yagona_http_requests_total", &["route=\"/token\"", "method=\"POST\"", "status=\"200\""]);
    at_least_one("yagona_http_request_duration_seconds_count", &["route=\"/token\""]);
    at_least_one("yagona_db_pool_max", &[]);
    at_least_one("yagona_db_pool_wait_seconds_count", &[]);
    let age = sample(&text, "yagona_signing_key_age_seconds", &["alg=\"RS256\"", "state=\"active\""]);
    assert!(age.is_some_and(|a| a >= 0.0), "the active RS256 key's age is reported:\n{text}");
    assert!(
        text.lines().filter(|l| l.contains("route=\"")).all(|l| !l.contains('?') && !l.contains("interaction")),
        "route labels are patterns, never paths with their query"
    );
    // Not on the public listener.
    assert_eq!(status(&http, &server, "/metrics").await, 404);
}
