//! OpenID Connect Front-Channel Logout 1.0: client metadata (`client add`, dynamic
//! registration), discovery, and the logged-out page that frames each client of the ended
//! session, over HTTP on both backends and in headless Chromium.

use std::time::{Duration, Instant};

use openidconnect::TokenResponse as _;
use serde_json::Value;
use yagona_tests::chrome::{Callback, Chrome};
use yagona_tests::{browser, http_client, sign_in, Backend, JsonAnswer as _, TestServer};

use crate::dynamic_registration::register;
use crate::rp::RelyingParty;

/// Runs a CLI command that must fail; its standard error.
fn cli_err(server: &TestServer, args: &[&str]) -> String {
    let out = server.cli(args, None);
    assert!(!out.status.success(), "yagona {args:?} must be refused");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn frontchannel_logout_metadata_is_validated_and_advertised() {
    for backend in Backend::ALL {
        let server = TestServer::start(backend).await;
        let discovery: Value = http_client().get(server.url("/.well-known/openid-configuration")).json_answer().await;
        assert_eq!(discovery["frontchannel_logout_supported"], true, "{discovery}");
        assert_eq!(discovery["frontchannel_logout_session_supported"], true, "{discovery}");

        // client add: https, or http on loopback; no fragment; the flag needs the URI.
        let fc = "--frontchannel-logout-uri";
        server.add_client(
            "fc-ok",
            &[
                "--redirect-uri",
                "https://rp.example/cb",
                fc,
                "https://rp.example/fc",
                "--frontchannel-logout-session-required",
            ],
        );
        server.add_client("fc-loopback", &[fc, "http://127.0.0.1:9/fc"]);
        // The last two: not the origin of a redirect URI (another host, another port).
        for bad in [
            "http://rp.example/fc",
            "https://rp.example/fc#x",
            "/fc",
            "urn:example:fc",
            "https://other.example/fc",
            "https://rp.example:8443/fc",
        ] {
            let err = cli_err(
                &server,
                &["client", "add", "--id", "fc-bad", "--redirect-uri", "https://rp.example/cb", fc, bad],
            );
            assert!(err.contains("--frontchannel-logout-uri"), "{bad}: {err}");
        }
        let err = cli_err(
            &server,
            &[
                "client",
                "add",
                "--id",
                "fc-flag",
                "--redirect-uri",
                "https://rp.example/cb",
                "--frontchannel-logout-session-required",
            ],
        );
        assert!(err.contains("frontchannel-logout-uri"), "{err}");

        // Dynamic registration: accepted and echoed, or invalid_client_metadata.
        let token = server.cli_ok(&["client", "registration-token", "--uses", "5"], None).trim().to_owned();
        let metadata = serde_json::json!({
            "redirect_uris": ["https://rp.example/cb"],
            "frontchannel_logout_uri": "https://rp.example/fc",
            "frontchannel_logout_session_required": true,
        });
        let (status, registered) = register(&server, &token, &metadata).await;
        assert_eq!(status, 201, "{registered}");
        assert_eq!(registered["frontchannel_logout_uri"], "https://rp.example/fc", "{registered}");
        assert_eq!(registered["frontchannel_logout_session_required"], true, "{registered}");
        for metadata in [
            serde_json::json!({ "redirect_uris": ["https://rp.example/cb"], "frontchannel_logout_uri": "https://rp.example/fc#f" }),
            serde_json::json!({ "redirect_uris": ["https://rp.example/cb"], "frontchannel_logout_uri": "http://rp.example/fc" }),
            serde_json::json!({ "redirect_uris": ["https://rp.example/cb"], "frontchannel_logout_session_required": true }),
            serde_json::json!({ "redirect_uris": ["https://rp.example/cb"], "frontchannel_logout_uri": "https://other.example/fc" }),
        ] {
            let (status, body) = register(&server, &token, &metadata).await;
            assert_eq!((status, body["error"].as_str()), (400, Some("invalid_client_metadata")), "{metadata}: {body}");
            assert!(body["error_description"].as_str().unwrap().contains("frontchannel_logout"), "{body}");
        }
    }
}

/// The `src` of every iframe of a page.
fn iframe_sources(html: &str) -> Vec<String> {
    html.split("<iframe")
        .skip(1)
        .filter_map(|tag| Some(tag.split("src=\"").nth(1)?.split('"').next()?.replace("&#38;", "&")))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn rp_initiated_logout_frames_the_clients_of_the_ended_session() {
    for backend in Backend::ALL {
        let server = TestServer::start(backend).await;
        let fc = "--frontchannel-logout-uri";
        let secret = server.add_client(
            "fc-portal",
            &[
                "--redirect-uri",
                "https://portal.example/cb",
                fc,
                "https://portal.example/fc?a=1",
                "--frontchannel-logout-session-required",
            ],
        );
        server.add_client("fc-tax", &[fc, "http://127.0.0.1:9/fc"]);
        server.add_client("fc-quiet", &[]);
        server.add_client(
            "fc-elsewhere",
            &["--redirect-uri", "https://elsewhere.example/cb", fc, "https://elsewhere.example/fc"],
        );
        let (login, password) = server.add_person("fc-person");
        let b = browser();

        // The person signs in to three clients in one session (not to fc-elsewhere).
        let portal = RelyingParty::discover(&server, "fc-portal", Some(&secret)).await;
        let start = portal.start(&["openid"], &[]);
        let callback = sign_in(&b, &server.base_url, &start.url, &login, &password).await;
        let tokens = portal.redeem(&callback, start.verifier).await;
        let id_token = tokens.id_token().unwrap().to_string();
        let sid = crate::flow::decode_jwt_payload(&id_token)["sid"].as_str().unwrap().to_owned();
        for id in ["fc-tax", "fc-quiet"] {
            let rp = RelyingParty::discover(&server, id, None).await;
            sign_in(&b, &server.base_url, &rp.start(&["openid"], &[]).url, &login, &password).await;
        }

        // RP-initiated logout with the ID token: the session ends at once and the page frames
        // the two clients with a front-channel logout URI, then goes on to the client.
        let bye = TestServer::post_logout_uri("fc-portal");
        let query = [("id_token_hint", id_token.as_str()), ("post_logout_redirect_uri", &bye), ("state", "st-1")];
        let r = b.get(server.url("/end_session")).query(&query).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let csp = r.headers()["content-security-policy"].to_str().unwrap().to_owned();
        assert!(csp.ends_with("; frame-src http://127.0.0.1:9 https://portal.example"), "{csp}");
        assert!(r.headers().get_all("set-cookie").iter().any(|c| c.to_str().unwrap().contains("Max-Age=0")));
        let html = r.text().await.unwrap();
        let mut frames = iframe_sources(&html);
        frames.sort();
        let issuer = url::form_urlencoded::byte_serialize(server.base_url.as_bytes()).collect::<String>();
        assert_eq!(
            frames,
            ["http://127.0.0.1:9/fc".to_owned(), format!("https://portal.example/fc?a=1&iss={issuer}&sid={sid}")]
        );
        let next = format!("{bye}?state=st-1");
        assert!(html.contains(&format!("<meta http-equiv=\"refresh\" content=\"0; url={next}\">")), "{html}");
        assert!(html.contains(&format!("id=\"continue\" href=\"{next}\"")), "{html}");

        // Signed out: a second logout has no session, so nothing to frame: a plain redirect.
        let r = b.get(server.url("/end_session")).query(&query).send().await.unwrap();
        assert_eq!(r.status(), 303);
    }
}

/// Signs the person in to `client_id` in Chromium (login on the first, consent each time);
/// the URL the browser landed on (the client's callback with the code).
async fn sign_in_with_chrome(
    chrome: &Chrome,
    server: &TestServer,
    client_id: &str,
    redirect: &str,
    person: &(String, String),
) -> String {
    let query = [
        ("client_id", client_id),
        ("response_type", "code"),
        ("scope", "openid"),
        ("redirect_uri", redirect),
        ("state", "s"),
    ];
    let url = url::Url::parse_with_params(&server.url("/authorize"), query).unwrap();
    chrome.goto(url.as_str()).await;
    if chrome.path().await.starts_with("/login") {
        chrome.fill("#login", &person.0).await;
        chrome.fill("#password", &person.1).await;
        chrome.submit("button[type=submit]").await;
    }
    if chrome.path().await.starts_with("/consent") {
        chrome.submit("button[value=allow]").await;
    }
    let landed = chrome.url().await;
    assert!(landed.starts_with(redirect), "{landed}");
    landed
}

const SECRET: &str = "secret-of-the-frontchannel-browser-test";

#[tokio::test(flavor = "multi_thread")]
async fn the_browser_loads_each_clients_frontchannel_logout_then_returns_to_the_client() {
    let chrome = Chrome::start("en").await;
    for backend in Backend::ALL {
        let server = TestServer::start(backend).await;
        // Two relying parties on two origins, each recording the requests it gets.
        let portal = Callback::start().await;
        let tax = Callback::start().await;
        for (id, rp, session) in [("portal", &portal, true), ("tax", &tax, false)] {
            let mut args = vec![
                "client".to_owned(),
                "add".into(),
                "--id".into(),
                id.into(),
                "--redirect-uri".into(),
                format!("{}/callback", rp.base_url),
                "--post-logout-redirect-uri".into(),
                format!("{}/bye", rp.base_url),
                "--frontchannel-logout-uri".into(),
                format!("{}/frontchannel", rp.base_url),
                "--secret".into(),
                SECRET.into(),
            ];
            if session {
                args.push("--frontchannel-logout-session-required".into());
            }
            server.cli_ok(&args.iter().map(String::as_str).collect::<Vec<_>>(), None);
        }
        let person = server.add_person(&format!("fc-chrome-{backend:?}").to_lowercase());
        let portal_callback = format!("{}/callback", portal.base_url);
        let landed = sign_in_with_chrome(&chrome, &server, "portal", &portal_callback, &person).await;
        sign_in_with_chrome(&chrome, &server, "tax", &format!("{}/callback", tax.base_url), &person).await;
        // The session's `sid`, from the portal's ID token.
        let code = yagona_tests::query_param(&landed, "code").unwrap();
        let form = [("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", &portal_callback)];
        let (status, tokens) = crate::tokens::token(&server, "portal", SECRET, &form).await;
        assert_eq!(status, 200, "{tokens}");
        let id_token = crate::flow::decode_jwt_payload(tokens["id_token"].as_str().unwrap());
        let sid = id_token["sid"].as_str().unwrap().to_owned();

        // The cabinet's sign-out asks first (no ID token), then frames both clients and goes
        // back to the portal.
        let bye = format!("{}/bye", portal.base_url);
        let logout = url::Url::parse_with_params(
            &server.url("/end_session"),
            [("client_id", "portal"), ("post_logout_redirect_uri", bye.as_str()), ("state", "st-2")],
        )
        .unwrap();
        chrome.goto(logout.as_str()).await;
        chrome.submit("button[name=logout]").await;
        let deadline = Instant::now() + Duration::from_secs(15);
        while !chrome.url().await.starts_with(&bye) {
            assert!(
                Instant::now() < deadline,
                "the logged-out page did not go on to the client: {}",
                chrome.url().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(chrome.url().await, format!("{bye}?state=st-2"));
        let issuer = url::form_urlencoded::byte_serialize(server.base_url.as_bytes()).collect::<String>();
        let hits = portal.hits.lock().unwrap().clone();
        let expected = format!("{}/frontchannel?iss={issuer}&sid={sid}", portal.base_url);
        assert!(hits.contains(&expected), "{expected} not in {hits:?}");
        let hits = tax.hits.lock().unwrap().clone();
        assert!(hits.contains(&format!("{}/frontchannel", tax.base_url)), "{hits:?}");

        // The session is over: the cabinet asks to sign in.
        chrome.goto(&server.url("/account")).await;
        assert!(chrome.path().await.starts_with("/login"), "{}", chrome.path().await);
    }
    chrome.close().await;
}
