//! The cabinet: password change, sessions, services, history; the admin CLI; languages.

use openidconnect::OAuth2TokenResponse;
use serde_json::Value;
use yagona_tests::{
    browser, hidden_input, http_client, location, post_form, query_param, sign_in, Backend, JsonAnswer as _, TestServer,
};

use crate::rp::RelyingParty;

async fn cabinet_csrf(b: &yagona_tests::reqwest::Client, server: &TestServer) -> (String, String) {
    let html = b.get(server.url("/account")).send().await.unwrap().text().await.unwrap();
    (hidden_input(&html, "csrf_token").expect("the cabinet has forms"), html)
}

#[tokio::test(flavor = "multi_thread")]
async fn cabinet_password_sessions_services_history() {
    let server = TestServer::start(Backend::Sqlite).await;
    let secret = server.add_client("soliq", &["--name", "Soliq xizmati"]);
    let (login, password) = server.add_person("timur");
    let rp = RelyingParty::discover(&server, "soliq", Some(&secret)).await;

    // Two browsers (a phone and a laptop), both signed in to the service.
    let with_agent = |agent: &str| {
        yagona_tests::reqwest::Client::builder()
            .cookie_store(true)
            .redirect(yagona_tests::reqwest::redirect::Policy::none())
            .user_agent(agent)
            .build()
            .unwrap()
    };
    let laptop = with_agent("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0");
    let phone = with_agent(
        "Mozilla/5.0 (Linux; Android 14; SM-A546E) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
    );
    let mut refresh_tokens = Vec::new();
    for b in [&laptop, &phone] {
        let start = rp.start(&["profile"], &[]);
        let callback = sign_in(b, &server.base_url, &start.url, &login, &password).await;
        let tokens = rp.redeem(&callback, start.verifier).await;
        refresh_tokens.push(tokens.refresh_token().unwrap().secret().clone());
    }

    let (csrf, html) = cabinet_csrf(&laptop, &server).await;
    assert!(html.contains("Soliq xizmati"), "the service is listed: {html}");
    assert_eq!(html.matches("class=\"secondary end-session\"").count(), 1, "one other session: {html}");
    assert!(html.contains("<strong>This session</strong>"));
    assert_eq!(html.matches("Login and password").count(), 2, "two logins in the history");
    // Sessions name their browser and device; the other session's button does not say "this".
    assert!(
        html.contains("<strong>Firefox on Windows</strong>") && html.contains("<strong>Chrome on Android</strong>")
    );
    assert!(html.contains(">End session</button>") && !html.contains("End this session"), "{html}");
    // Scopes by name, dates in words in ui.time_zone, not raw scope lists or UTC stamps.
    assert!(html.contains("Identifier, Name, birth date and login"), "{html}");
    assert!(!html.contains(" UTC") && !html.contains("openid profile"), "{html}");

    // End the phone's session from the laptop.
    let sid = html.split("name=\"sid\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let r =
        post_form(&laptop, &server, "/account/sessions/end", &[("csrf_token", csrf.as_str()), ("sid", sid.as_str())])
            .await;
    assert_eq!(location(&r), "/account?done=session");
    let silent = rp.start(&[], &[("prompt", "none")]);
    let r = phone.get(&silent.url).send().await.unwrap();
    assert_eq!(query_param(&location(&r), "error").as_deref(), Some("login_required"), "the phone is signed out");
    // ...and the tokens issued in that session are revoked with it.
    let http = http_client();
    let refresh = |token: String| {
        let (http, url, secret) = (http.clone(), server.url("/token"), secret.clone());
        async move {
            http.post(url)
                .basic_auth("soliq", Some(secret))
                .form(&[("grant_type", "refresh_token"), ("refresh_token", token.as_str())])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(refresh(refresh_tokens[1].clone()).await, 400);

    // Change the password: a wrong current password is refused; then it works.
    let r = post_form(
        &laptop,
        &server,
        "/account/password",
        &[
            ("csrf_token", csrf.as_str()),
            ("current_password", "wrong"),
            ("new_password", "Yangi-Parol-2026"),
            ("new_password_confirm", "Yangi-Parol-2026"),
        ],
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("The current password is wrong."));
    let r = post_form(
        &laptop,
        &server,
        "/account/password",
        &[
            ("csrf_token", csrf.as_str()),
            ("current_password", password.as_str()),
            ("new_password", "Yangi-Parol-2026"),
            ("new_password_confirm", "Yangi-Parol-2026"),
        ],
    )
    .await;
    assert_eq!(location(&r), "/account?done=password");
    let html = laptop.get(server.url("/account?done=password")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("The password is changed."));
    // The old password no longer works, the new one does.
    let fresh = browser();
    let start = rp.start(&[], &[]);
    let r = fresh.get(&start.url).send().await.unwrap();
    let page = fresh.get(server.url(&location(&r))).send().await.unwrap().text().await.unwrap();
    let form = |p: &str| {
        vec![
            ("login", login.clone()),
            ("password", p.to_owned()),
            ("csrf_token", hidden_input(&page, "csrf_token").unwrap()),
            ("interaction", hidden_input(&page, "interaction").unwrap()),
        ]
    };
    let r = post_form(&fresh, &server, "/login", &form(&password)).await;
    assert_eq!(r.status(), 401);
    let r = post_form(&fresh, &server, "/login", &form("Yangi-Parol-2026")).await;
    assert_eq!(r.status(), 303);

    // Revoke the service: its refresh tokens stop working and consent is asked again.
    let r = post_form(
        &laptop,
        &server,
        "/account/services/revoke",
        &[("csrf_token", csrf.as_str()), ("client_id", "soliq")],
    )
    .await;
    assert_eq!(location(&r), "/account?done=revoked");
    assert_eq!(refresh(refresh_tokens[0].clone()).await, 400);
    let html = laptop.get(server.url("/account")).send().await.unwrap().text().await.unwrap();
    let services = html.split("id=\"services\"").nth(1).unwrap().split("</ul>").next().unwrap();
    assert!(!services.contains("Soliq xizmati"), "no longer listed: {services}");
    assert!(html.contains("You have not allowed any service yet."));
    let again = rp.start(&["profile"], &[]);
    let r = laptop.get(&again.url).send().await.unwrap();
    assert!(location(&r).starts_with("/consent?"));

    // Forms without the CSRF token are refused.
    let r =
        post_form(&laptop, &server, "/account/services/revoke", &[("csrf_token", "forged"), ("client_id", "soliq")])
            .await;
    assert_eq!(r.status(), 400);
    // Without a session the cabinet sends people to the login page.
    let r = browser().get(server.url("/account")).send().await.unwrap();
    assert_eq!(location(&r), "/login");
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_cli_disable_enable_unlock() {
    let server = TestServer::start_with(Backend::Sqlite, &[("YAGONA_LOGIN__MAX_FAILURES_PER_ACCOUNT", "2")]).await;
    let secret = server.add_client("rp", &["--first-party"]);
    let (login, password) = server.add_person("aziza");
    let rp = RelyingParty::discover(&server, "rp", Some(&secret)).await;
    let b = browser();
    let start = rp.start(&[], &[]);
    sign_in(&b, &server.base_url, &start.url, &login, &password).await;

    let list = server.cli_ok(&["account", "list"], None);
    assert!(list.contains("aziza") && list.contains("unconfirmed"), "{list}");
    let show = server.cli_ok(&["account", "show", "aziza"], None);
    assert!(show.contains("sessions:    1"), "{show}");

    let out = server.cli_ok(&["account", "disable", "aziza"], None);
    assert!(out.contains("1 session(s) ended"), "{out}");
    let silent = rp.start(&[], &[("prompt", "none")]);
    let r = b.get(&silent.url).send().await.unwrap();
    assert_eq!(query_param(&location(&r), "error").as_deref(), Some("login_required"));
    let attempt = |password: String| {
        let (server_url, login) = (server.base_url.clone(), login.clone());
        let rp_url = rp.start(&[], &[]).url;
        async move {
            let b = browser();
            let r = b.get(&rp_url).send().await.unwrap();
            let html = b.get(format!("{server_url}{}", location(&r))).send().await.unwrap().text().await.unwrap();
            let r = b
                .post(format!("{server_url}/login"))
                .form(&[
                    ("login", login.as_str()),
                    ("password", password.as_str()),
                    ("csrf_token", hidden_input(&html, "csrf_token").unwrap().as_str()),
                    ("interaction", hidden_input(&html, "interaction").unwrap().as_str()),
                ])
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.text().await.unwrap_or_default())
        }
    };
    let (status, body) = attempt(password.clone()).await;
    assert_eq!(status, 403);
    assert!(body.contains("This account is disabled."));
    server.cli_ok(&["account", "enable", "aziza"], None);
    assert_eq!(attempt(password.clone()).await.0, 303);

    // Two failures lock it; unlock lifts the lock.
    assert_eq!(attempt("nope".into()).await.0, 401);
    assert_eq!(attempt("nope".into()).await.0, 401);
    assert_eq!(attempt(password.clone()).await.0, 429);
    assert!(server.cli_ok(&["account", "show", "aziza"], None).contains("(locked)"));
    server.cli_ok(&["account", "unlock", "aziza"], None);
    assert_eq!(attempt(password.clone()).await.0, 303);
    assert!(!server.cli(&["account", "show", "nobody"], None).status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_speak_the_persons_language() {
    let server = TestServer::start_with(Backend::Sqlite, &[("YAGONA_UI__DEFAULT_LOCALE", "uz-Latn")]).await;
    let secret = server.add_client("rp", &[]);
    let http = http_client();
    let lang_of = |html: &str| html.split("<html lang=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();

    // The default, then Accept-Language.
    let html = http.get(server.url("/register")).send().await.unwrap().text().await.unwrap();
    assert_eq!(lang_of(&html), "uz-Latn");
    let html = http
        .get(server.url("/register"))
        .header("accept-language", "fr, ru;q=0.9, en;q=0.8")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(lang_of(&html), "ru");
    // ui_locales from the relying party names the login page's language.
    let rp = RelyingParty::discover(&server, "rp", Some(&secret)).await;
    let b = browser();
    let start = rp.start(&[], &[("ui_locales", "en")]);
    let r = b.get(&start.url).send().await.unwrap();
    let login_page = location(&r);
    let html = b.get(server.url(&login_page)).send().await.unwrap().text().await.unwrap();
    assert_eq!(lang_of(&html), "en");
    assert!(html.contains(">Sign in<"));
    // The switcher: remembered in a cookie, and it returns to the same page.
    let r = b.get(server.url("/lang")).query(&[("set", "ru"), ("back", login_page.as_str())]).send().await.unwrap();
    assert_eq!(location(&r), login_page);
    let html = b.get(server.url(&login_page)).send().await.unwrap().text().await.unwrap();
    assert_eq!(lang_of(&html), "ru", "the person's choice wins over ui_locales");
    // Only local paths are accepted as the way back.
    let r = b.get(server.url("/lang")).query(&[("set", "en"), ("back", "//evil.example/")]).send().await.unwrap();
    assert_eq!(location(&r), "/");
    let status: Value = http.get(server.url("/health")).json_answer().await;
    assert_eq!(status["status"], "ok");
}
