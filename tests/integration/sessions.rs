//! Browser sessions: cookies, CSRF, throttling, logout.

use yagona_tests::{browser, hidden_input, location, post_form, query_param, sign_in, Backend, TestServer};

use crate::rp::RelyingParty;

/// Starts an authorization and returns the login page's HTML and URL.
async fn login_page(
    browser: &yagona_tests::reqwest::Client,
    server: &TestServer,
    rp: &RelyingParty,
) -> (String, String) {
    let start = rp.start(&[], &[("login_hint", "Hinted")]);
    let response = browser.get(&start.url).send().await.unwrap();
    let page = server.url(&location(&response));
    let html = browser.get(&page).send().await.unwrap().text().await.unwrap();
    (html, page)
}

#[tokio::test(flavor = "multi_thread")]
async fn login_page_cookies_and_csrf() {
    let server = TestServer::start(Backend::Sqlite).await;
    let secret = server.add_client("rp", &["--first-party"]);
    let (login, password) = server.add_person("kamola");
    let rp = RelyingParty::discover(&server, "rp", Some(&secret)).await;
    let browser = browser();
    let (html, _) = login_page(&browser, &server, &rp).await;
    assert!(html.contains("name=\"login\"") && html.contains("name=\"password\""));
    assert!(html.contains("value=\"Hinted\""), "login_hint prefills the login");
    let csrf = hidden_input(&html, "csrf_token").unwrap();
    let interaction = hidden_input(&html, "interaction").unwrap();

    // Without the CSRF token, or with another, the form is refused.
    let refused = post_form(
        &browser,
        &server,
        "/login",
        &[
            ("login", login.as_str()),
            ("password", password.as_str()),
            ("csrf_token", "forged"),
            ("interaction", &interaction),
        ],
    )
    .await;
    assert_eq!(refused.status(), 400);
    // A browser without the cookie cannot use the interaction either.
    let stranger = yagona_tests::browser();
    let login_form = [
        ("login", login.as_str()),
        ("password", password.as_str()),
        ("csrf_token", csrf.as_str()),
        ("interaction", interaction.as_str()),
    ];
    let refused = post_form(&stranger, &server, "/login", &login_form).await;
    assert_eq!(refused.status(), 400);

    let ok = post_form(&browser, &server, "/login", &login_form).await;
    assert_eq!(ok.status(), 303);
    let cookie = ok.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
    assert!(cookie.starts_with("yagona_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"), "{cookie}");
    // The issuer is http here, so no Secure flag (and no __Host- prefix).
    assert!(!cookie.contains("Secure"));
    // Logging in again in the same browser (prompt=login) renews the session id.
    let first_session = cookie.split(';').next().unwrap().to_owned();
    let again = rp.start(&[], &[("prompt", "login")]);
    let r = browser.get(&again.url).send().await.unwrap();
    let page = server.url(&location(&r));
    assert!(page.contains("/login?"), "prompt=login asks again: {page}");
    let html = browser.get(&page).send().await.unwrap().text().await.unwrap();
    let r = post_form(
        &browser,
        &server,
        "/login",
        &[
            ("login", login.as_str()),
            ("password", password.as_str()),
            ("csrf_token", hidden_input(&html, "csrf_token").unwrap().as_str()),
            ("interaction", hidden_input(&html, "interaction").unwrap().as_str()),
        ],
    )
    .await;
    let renewed = r.headers().get("set-cookie").unwrap().to_str().unwrap().split(';').next().unwrap().to_owned();
    assert_ne!(renewed, first_session, "a new session id at every login");
    let r = browser.get(server.url(&location(&r))).send().await.unwrap();
    assert!(query_param(&location(&r), "code").is_some());
    let home = browser.get(server.url("/")).send().await.unwrap();
    assert_eq!(location(&home), "/account", "a signed-in person's home is the cabinet");
    let cabinet = browser.get(server.url("/account")).send().await.unwrap().text().await.unwrap();
    assert!(cabinet.contains("Karimov Alisher Anvarovich"), "{cabinet}");
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_logins_are_throttled() {
    let server = TestServer::start_with(Backend::Sqlite, &[("YAGONA_LOGIN__MAX_FAILURES_PER_ACCOUNT", "3")]).await;
    let secret = server.add_client("rp", &["--first-party"]);
    let (login, password) = server.add_person("jasur");
    let rp = RelyingParty::discover(&server, "rp", Some(&secret)).await;
    let browser = browser();
    let (html, _) = login_page(&browser, &server, &rp).await;
    let csrf = hidden_input(&html, "csrf_token").unwrap();
    let interaction = hidden_input(&html, "interaction").unwrap();
    let attempt = |password: String| {
        let browser = browser.clone();
        let (url, login, csrf, interaction) = (server.url("/login"), login.clone(), csrf.clone(), interaction.clone());
        async move {
            browser
                .post(url)
                .form(&[
                    ("login", login.as_str()),
                    ("password", password.as_str()),
                    ("csrf_token", &csrf),
                    ("interaction", &interaction),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    for _ in 0..3 {
        let r = attempt("wrong-password".into()).await;
        assert_eq!(r.status(), 401);
        assert!(r.text().await.unwrap().contains("login or password is wrong"));
    }
    // Locked now, even with the right password.
    let r = attempt(password.clone()).await;
    assert_eq!(r.status(), 429);
    assert!(r.text().await.unwrap().contains("Too many failed"));
    // An unknown login gets the same answer as a wrong password.
    let r = post_form(
        &browser,
        &server,
        "/login",
        &[("login", "nobody-here"), ("password", "whatever"), ("csrf_token", &csrf), ("interaction", &interaction)],
    )
    .await;
    assert_eq!(r.status(), 401);
    // The password is never logged.
    assert!(!server.log().contains(&password));
    assert!(!server.log().contains("wrong-password"));
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_without_a_matching_hint_asks_first() {
    let server = TestServer::start(Backend::Sqlite).await;
    let secret = server.add_client("rp", &["--first-party"]);
    let (login, password) = server.add_person("shahlo");
    let rp = RelyingParty::discover(&server, "rp", Some(&secret)).await;
    let browser = browser();
    let start = rp.start(&[], &[]);
    sign_in(&browser, &server.base_url, &start.url, &login, &password).await;

    // An unregistered post-logout URI is an error page, not a redirect.
    let r = browser
        .get(server.url("/end_session"))
        .query(&[("client_id", "rp"), ("post_logout_redirect_uri", "https://evil.example/")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());

    // No hint: a confirmation page; the session survives until confirmed.
    let r = browser
        .get(server.url("/end_session"))
        .query(&[
            ("client_id", "rp"),
            ("post_logout_redirect_uri", TestServer::post_logout_uri("rp").as_str()),
            ("state", "s9"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    let csrf = hidden_input(&html, "csrf_token").unwrap();
    let silent = rp.start(&[], &[("prompt", "none")]);
    let r = browser.get(&silent.url).send().await.unwrap();
    assert!(query_param(&location(&r), "code").is_some(), "still signed in");

    let r = post_form(
        &browser,
        &server,
        "/end_session/confirm",
        &[
            ("csrf_token", csrf.as_str()),
            ("client_id", "rp"),
            ("post_logout_redirect_uri", TestServer::post_logout_uri("rp").as_str()),
            ("state", "s9"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let to = location(&r);
    assert!(to.starts_with(&TestServer::post_logout_uri("rp")));
    assert_eq!(query_param(&to, "state").as_deref(), Some("s9"));
    let silent = rp.start(&[], &[("prompt", "none")]);
    let r = browser.get(&silent.url).send().await.unwrap();
    assert_eq!(query_param(&location(&r), "error").as_deref(), Some("login_required"));
}

#[tokio::test(flavor = "multi_thread")]
async fn consent_can_be_denied() {
    let server = TestServer::start(Backend::Sqlite).await;
    let secret = server.add_client("third-party", &[]);
    let (login, password) = server.add_person("malika");
    let rp = RelyingParty::discover(&server, "third-party", Some(&secret)).await;
    let browser = browser();
    let start = rp.start(&["email"], &[]);
    let mut r = browser.get(&start.url).send().await.unwrap();
    let html = browser.get(server.url(&location(&r))).send().await.unwrap().text().await.unwrap();
    r = post_form(
        &browser,
        &server,
        "/login",
        &[
            ("login", login.as_str()),
            ("password", password.as_str()),
            ("csrf_token", hidden_input(&html, "csrf_token").unwrap().as_str()),
            ("interaction", hidden_input(&html, "interaction").unwrap().as_str()),
        ],
    )
    .await;
    let r2 = browser.get(server.url(&location(&r))).send().await.unwrap();
    let consent = location(&r2);
    assert!(consent.starts_with("/consent?"), "{consent}");
    let html = browser.get(server.url(&consent)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("third-party") && html.contains("e-mail"), "{html}");
    let r = post_form(
        &browser,
        &server,
        "/consent",
        &[
            ("decision", "deny"),
            ("csrf_token", hidden_input(&html, "csrf_token").unwrap().as_str()),
            ("interaction", hidden_input(&html, "interaction").unwrap().as_str()),
        ],
    )
    .await;
    let to = location(&r);
    assert_eq!(query_param(&to, "error").as_deref(), Some("access_denied"), "{to}");
    assert_eq!(query_param(&to, "state").as_deref(), Some(start.state.secret().as_str()));
}
