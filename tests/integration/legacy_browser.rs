//! Issue 13 in headless Chromium: a legacy relying party's login with Yagona's real pages (login
//! form, consent), the code at the service's redirect URI, and browser single logout.

use serde_json::Value;
use yagona_tests::chrome::{Callback, Chrome};
use yagona_tests::{query_param, Backend, TestServer};

use crate::legacy::{LegacyRp, Style};

#[tokio::test(flavor = "multi_thread")]
async fn a_legacy_login_and_single_logout_in_chromium() {
    let server = TestServer::start(Backend::Sqlite).await;
    let callback = Callback::start().await;
    let redirect = format!("{}/oneid/callback", callback.base_url);
    let bye = format!("{}/bye", callback.base_url);
    let secret = "soliq-secret-for-the-browser-test";
    let args = [
        "client",
        "add",
        "--id",
        "soliq",
        "--name",
        "Soliq xizmati",
        "--legacy",
        "--redirect-uri",
        &redirect,
        "--post-logout-redirect-uri",
        &bye,
        "--secret",
        secret,
    ];
    server.cli_ok(&args, None);
    let (login, password) = server.add_person("malika");
    let rp = LegacyRp { server: &server, id: "soliq".into(), secret: secret.into(), redirect: redirect.clone() };
    let chrome = Chrome::start("en").await;

    chrome.goto(&rp.login_url("from-chrome")).await;
    assert!(chrome.path().await.starts_with("/login?interaction="), "{}", chrome.path().await);
    assert!(chrome.text("main").await.contains("Soliq xizmati"));
    chrome.fill("#login", &login).await;
    chrome.fill("#password", &password).await;
    chrome.submit("button[type=submit]").await;
    assert!(chrome.path().await.starts_with("/consent?"), "{}", chrome.path().await);
    assert!(chrome.text("main").await.contains("Soliq xizmati"));
    chrome.submit("button[value=allow]").await;
    let landed = chrome.url().await;
    assert!(landed.starts_with(&redirect), "{landed}");
    assert_eq!(callback.last().as_deref(), Some(landed.as_str()));
    assert_eq!(query_param(&landed, "state").as_deref(), Some("from-chrome"));

    let tokens = rp.tokens(Style::Query, &query_param(&landed, "code").unwrap()).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let (_, person) = rp.identify(Style::Form, &access).await;
    assert_eq!(person["user_id"], Value::String(login.clone()));

    // Single logout from the browser: to the registered post-logout URI, the session ended.
    chrome.goto(&server.url("/sso/svc/tk/SLO.do?id=soliq")).await;
    assert!(chrome.url().await.starts_with(&bye), "{}", chrome.url().await);
    let (_, body) = rp.identify(Style::Form, &access).await;
    assert_eq!(body["error"], "invalid_token");
    chrome.goto(&rp.login_url("again")).await;
    assert!(chrome.path().await.starts_with("/login?interaction="), "the login form again");
    chrome.close().await;
}
