//! Issue 14, security: each test plays one reproduced defect (it failed on the code before the
//! fix) and checks the fix holds, on SQLite and PostgreSQL where the database takes part.

use std::os::unix::fs::PermissionsExt as _;

use yagona_tests::{
    browser, hidden_input, http_client, location, post_form, query_param, reqwest, Backend, TestServer,
};

use crate::registration::{credentials_form, person_form, pinfl, Registrant};
use crate::rp::RelyingParty;

/// A browser that has a CSRF cookie, and its token (from the login page).
async fn browser_with_csrf(server: &TestServer) -> (reqwest::Client, String) {
    let b = browser();
    let html = b.get(server.url("/login")).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_input(&html, "csrf_token").expect("the login page has a CSRF token");
    (b, csrf)
}

/// Item 1: `/lang?back=` returns only to a path of this site, and never answers 500.
#[tokio::test(flavor = "multi_thread")]
async fn language_switch_returns_only_to_this_site() {
    let server = TestServer::start(Backend::Sqlite).await;
    let http = http_client();
    let refused = [
        "/\t/evil.example",
        "//evil.example",
        "/\\evil.example",
        "https://evil.example/",
        "http:evil.example",
        "/\r\nSet-Cookie: x=1",
        " /account",
        "/ /evil.example",
        "/\u{7f}x",
        "",
        "account",
    ];
    for back in refused {
        let response = http.get(server.url("/lang")).query(&[("set", "en"), ("back", back)]).send().await.unwrap();
        assert_eq!(response.status(), 303, "back={back:?}");
        assert_eq!(location(&response), "/", "back={back:?} must not be followed");
    }
    // Raw bytes a query builder would have escaped.
    for raw in [
        "/lang?set=en&back=/%09/evil.example",
        "/lang?set=en&back=/%0d%0aSet-Cookie:x",
        "/lang?set=en&back=/%00/x",
        "/lang?set=en&back=%2F%2Fevil.example",
        "/lang?set=en&back=/%E2%80%AE",
    ] {
        let response = http.get(server.url(raw)).send().await.unwrap();
        assert_eq!(response.status(), 303, "{raw}");
        assert_eq!(location(&response), "/", "{raw}");
    }
    for back in ["/account", "/login?interaction=abc", "/register/person", "/authorize?client_id=a&scope=openid%20x"] {
        let response = http.get(server.url("/lang")).query(&[("set", "ru"), ("back", back)]).send().await.unwrap();
        assert_eq!(response.status(), 303);
        assert_eq!(location(&response), back, "a path of this site is kept");
    }
}

/// Item 2: NUL and other control characters in page forms are a 400 with a readable message,
/// never a 500 (PostgreSQL refuses 0x00 in text).
#[tokio::test(flavor = "multi_thread")]
async fn control_characters_in_forms_are_refused_readably() {
    for backend in Backend::ALL {
        let server = TestServer::start(backend).await;
        let (b, csrf) = browser_with_csrf(&server).await;
        for login in ["ali\0sher", "ali\u{1}sher", "\u{7f}"] {
            let r =
                post_form(&b, &server, "/login", &[("login", login), ("password", "x"), ("csrf_token", &csrf)]).await;
            assert_eq!(r.status(), 400, "{backend:?} login {login:?}");
            let html = r.text().await.unwrap();
            assert!(html.contains("control characters"), "{backend:?}: {html}");
        }
        // The wizard: surname at the person step, e-mail at the last one.
        let registrant = Registrant::start(&server, "/register").await;
        let mut form = person_form(&pinfl(401));
        form[0].1 = "Rashi\0dova".into();
        let r = registrant.post("/register/person", &form).await;
        assert_eq!(r.status(), 400, "{backend:?} surname");
        assert!(r.text().await.unwrap().contains("control characters"));
        registrant.person_and_confirm(&pinfl(401)).await;
        let mut form = credentials_form("nul_tester");
        form[4].1 = "a\0b@example.uz".into();
        let r = registrant.post("/register/account", &form).await;
        assert_eq!(r.status(), 400, "{backend:?} email");
        form[4].1 = "nul@example.uz".into();
        form[0].1 = "nul\0tester".into();
        assert_eq!(registrant.post("/register/account", &form).await.status(), 400, "{backend:?} login");
        // Russian and Uzbek pages say it in their language.
        for (lang, text) in [("ru", "управляющие символы"), ("uz-Latn", "boshqaruv belgilari")] {
            let r = b
                .post(server.url("/login"))
                .header("accept-language", lang)
                .header("cookie", format!("yagona_lang={lang}"))
                .form(&[("login", "a\0"), ("password", "x"), ("csrf_token", &csrf)])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 400);
            let html = r.text().await.unwrap();
            assert!(html.contains(text), "{lang}: {html}");
        }
    }
}

/// Item 3: thirty parallel wrong passwords for one login (limit 5): five are checked, the rest
/// refused before any check, on both backends.
#[tokio::test(flavor = "multi_thread")]
async fn parallel_wrong_passwords_are_checked_at_most_the_limit() {
    for backend in Backend::ALL {
        let server = TestServer::start(backend).await;
        let (login, _) = server.add_person("parallel");
        let mut tasks = Vec::new();
        for _ in 0..30 {
            let url = server.url("/login");
            let html_url = server.url("/login");
            let login = login.clone();
            tasks.push(tokio::spawn(async move {
                let b = browser();
                let html = b.get(html_url).send().await.unwrap().text().await.unwrap();
                let csrf = hidden_input(&html, "csrf_token").unwrap();
                let r = b
                    .post(url)
                    .form(&[("login", login.as_str()), ("password", "wrong-password-1"), ("csrf_token", &csrf)])
                    .send()
                    .await
                    .unwrap();
                r.status().as_u16()
            }));
        }
        let mut statuses = Vec::new();
        for t in tasks {
            statuses.push(t.await.unwrap());
        }
        let checked = statuses.iter().filter(|s| **s == 401).count();
        let throttled = statuses.iter().filter(|s| **s == 429).count();
        assert_eq!((checked, throttled), (5, 25), "{backend:?}: {statuses:?}");
    }
}

/// Item 3: wrong current passwords in the cabinet count under the account's throttle; after too
/// many the session ends.
#[tokio::test(flavor = "multi_thread")]
async fn the_cabinet_password_form_is_not_a_password_oracle() {
    for backend in Backend::ALL {
        let server = TestServer::start(backend).await;
        let secret = server.add_client("rp", &["--first-party"]);
        let (login, password) = server.add_person("oracle");
        let rp = RelyingParty::discover(&server, "rp", Some(&secret)).await;
        let b = browser();
        let start = rp.start(&[], &[]);
        yagona_tests::sign_in(&b, &server.base_url, &start.url, &login, &password).await;
        let html = b.get(server.url("/account")).send().await.unwrap().text().await.unwrap();
        let csrf = hidden_input(&html, "csrf_token").unwrap();
        let mut statuses = Vec::new();
        for i in 0..8 {
            let wrong = format!("Wrong-guess-{i}-xyz");
            let r = post_form(
                &b,
                &server,
                "/account/password",
                &[
                    ("csrf_token", csrf.as_str()),
                    ("current_password", &wrong),
                    ("new_password", "Samarqand-Ko'k-Saroy-9"),
                    ("new_password_confirm", "Samarqand-Ko'k-Saroy-9"),
                ],
            )
            .await;
            statuses.push((r.status().as_u16(), r.headers().get("location").map(|l| l.to_str().unwrap().to_owned())));
        }
        // The fifth wrong guess is the last one checked; then the session is over.
        assert!(statuses[..4].iter().all(|(s, _)| *s == 400), "{backend:?}: {statuses:?}");
        assert!(statuses[5..].iter().all(|(s, l)| *s == 303 && l.as_deref() == Some("/login")), "{statuses:?}");
        let r = b.get(server.url("/account")).send().await.unwrap();
        assert_eq!(location(&r), "/login", "{backend:?}: the session has ended");
        // And the password login of the account is throttled too, right password or not.
        let (b2, csrf) = browser_with_csrf(&server).await;
        let r = post_form(
            &b2,
            &server,
            "/login",
            &[("login", login.as_str()), ("password", &password), ("csrf_token", &csrf)],
        )
        .await;
        assert_eq!(r.status(), 429, "{backend:?}");
    }
}

/// Item 4: the wizard's existence checks (PINFL, passport, login) are throttled per address; an
/// existing PINFL says to log in or recover with the EDS.
#[tokio::test(flavor = "multi_thread")]
async fn registration_lookups_are_throttled_per_address() {
    for backend in Backend::ALL {
        let server = TestServer::start_with(backend, &[("YAGONA_REGISTRATION__MAX_CHECKS_PER_ADDRESS", "6")]).await;
        let (_, _) = server.add_person("holder");
        let taken = yagona_tests::person_pinfl("holder");
        let registrant = Registrant::start(&server, "/register").await;
        let r = registrant.post("/register/person", &person_form(&taken)).await;
        assert_eq!(r.status(), 400);
        let html = r.text().await.unwrap();
        assert!(html.contains("Log in to it") && html.contains("recover it with your EDS"), "{html}");
        // A way on (issue 14, item 12): the login page (password or EDS) and password recovery.
        assert!(html.contains(r#"id="taken-login" href="/login""#), "{html}");
        assert!(html.contains(r#"id="taken-recover" href="/recover""#), "{html}");
        let mut statuses = vec![];
        for serial in 500..510 {
            statuses.push(registrant.post("/register/person", &person_form(&pinfl(serial))).await.status().as_u16());
            // Each free PINFL moves on to confirm; go back to the person step for the next probe.
        }
        assert!(statuses[..5].iter().all(|s| *s == 303), "{backend:?}: {statuses:?}");
        assert!(statuses[5..].iter().all(|s| *s == 429), "{backend:?}: {statuses:?}");
        let r = registrant.post("/register/person", &person_form(&taken)).await;
        assert_eq!(r.status(), 429);
        assert!(!r.text().await.unwrap().contains("already exists"), "no answer about the PINFL once throttled");
    }
}

/// Item 5: wrong client secrets are throttled per client (429, invalid_client, Retry-After);
/// a client that already proved its secret on this node goes on, and other clients are untouched.
#[tokio::test(flavor = "multi_thread")]
async fn client_authentication_failures_are_throttled() {
    for backend in Backend::ALL {
        let server = TestServer::start_with(backend, &[("YAGONA_CLIENT_AUTH__MAX_FAILURES_PER_CLIENT", "4")]).await;
        let secret_a = server.add_client("svc-a", &["--grant-type", "client_credentials"]);
        let secret_b = server.add_client("svc-b", &["--grant-type", "client_credentials"]);
        let http = http_client();
        let token = |id: &'static str, secret: String| {
            let http = http.clone();
            let url = server.url("/token");
            async move {
                let r = http
                    .post(url)
                    .basic_auth(id, Some(secret))
                    .form(&[("grant_type", "client_credentials")])
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                let retry = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
                let body: serde_json::Value = r.json().await.unwrap();
                (status, retry, body)
            }
        };
        assert_eq!(token("svc-a", secret_a.clone()).await.0, 200, "{backend:?}");
        for i in 0..4 {
            let (status, _, body) = token("svc-a", format!("wrong-{i}")).await;
            assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{backend:?}");
        }
        let (status, retry, body) = token("svc-a", "wrong-again".into()).await;
        assert_eq!(status, 429, "{backend:?}: {body}");
        assert_eq!(body["error"], "invalid_client");
        assert!(retry.is_some_and(|r| r.parse::<u64>().unwrap() > 0), "Retry-After");
        // The client's own known secret still works; another client is not affected.
        assert_eq!(token("svc-a", secret_a.clone()).await.0, 200, "{backend:?}");
        assert_eq!(token("svc-b", secret_b.clone()).await.0, 200, "{backend:?}");
    }
}

/// Item 6: a closed output pipe ends a CLI command quietly (no panic).
#[tokio::test(flavor = "multi_thread")]
async fn the_cli_exits_quietly_when_its_output_closes() {
    let server = TestServer::start(Backend::Sqlite).await;
    for args in [
        vec!["client", "add", "--id", "piped", "--redirect-uri", "https://rp.example/cb"],
        vec!["client", "list"],
        vec!["keys", "list"],
    ] {
        let mut child = server
            .command()
            .args(&args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // `| head -0`: the reader is gone before the command writes.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_ne!(out.status.code(), Some(101), "{args:?}: {stderr}");
    }
}

/// Item 6: a malformed PKCE verifier is told as such; duplicate `state` and `response_mode` are
/// `invalid_request`.
#[tokio::test(flavor = "multi_thread")]
async fn pkce_and_duplicate_parameters_are_told_precisely() {
    let server = TestServer::start(Backend::Sqlite).await;
    let secret = server.add_client("rp", &["--first-party"]);
    let (login, password) = server.add_person("pkce");
    let rp = RelyingParty::discover(&server, "rp", Some(&secret)).await;
    let b = browser();
    let start = rp.start(&[], &[]);
    let callback = yagona_tests::sign_in(&b, &server.base_url, &start.url, &login, &password).await;
    let code = query_param(&callback, "code").unwrap();
    for verifier in ["short", &"a".repeat(129), &format!("{}!", "a".repeat(42))] {
        let r = http_client()
            .post(server.url("/token"))
            .basic_auth("rp", Some(&secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &TestServer::redirect_uri("rp")),
                ("code_verifier", verifier),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{body}");
        let description = body["error_description"].as_str().unwrap();
        assert!(description.contains("43") && description.contains("128"), "{description}");
    }
    // The malformed verifier did not spend the code: the right one still redeems it.
    rp.redeem(&callback, start.verifier).await;

    let redirect = TestServer::redirect_uri("rp");
    let base = format!(
        "/authorize?client_id=rp&response_type=code&scope=openid&redirect_uri={}",
        url::form_urlencoded::byte_serialize(redirect.as_bytes()).collect::<String>()
    );
    for dup in ["&state=a&state=b", "&response_mode=form_post&response_mode=form_post"] {
        let r = b.get(server.url(&format!("{base}{dup}"))).send().await.unwrap();
        assert_eq!(r.status(), 303, "{dup}");
        let to = location(&r);
        assert!(to.starts_with(&redirect), "{to}");
        assert_eq!(query_param(&to, "error").as_deref(), Some("invalid_request"), "{dup}: {to}");
        assert!(query_param(&to, "code").is_none(), "{to}");
        assert!(query_param(&to, "state").is_none(), "no state is guessed: {to}");
    }
}

/// Item 7: a strength estimate refuses `aaaaaaaaaa` and its like; an optional breached list
/// refuses listed passwords (plain or SHA-1).
#[tokio::test(flavor = "multi_thread")]
async fn weak_and_breached_passwords_are_refused() {
    let server = TestServer::new(Backend::Sqlite, &[]);
    let list = server.dir.join("breached.txt");
    // "Toshkent-Chorsu-77" as itself, "Xiva-Ichan-Qala-1" as its SHA-1 (upper-case hex, as
    // the Pwned Passwords files have it).
    let sha1 = std::process::Command::new("openssl")
        .args(["dgst", "-sha1", "-r"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write as _;
            c.stdin.take().unwrap().write_all(b"Xiva-Ichan-Qala-1")?;
            c.wait_with_output()
        })
        .unwrap();
    let sha1_line = String::from_utf8(sha1.stdout).unwrap().split_whitespace().next().unwrap().to_uppercase();
    std::fs::write(&list, format!("# a comment\nToshkent-Chorsu-77\n{sha1_line}\n")).unwrap();
    let mut server = server;
    server.set_env("YAGONA_PASSWORD__BREACHED_LIST", list.to_str().unwrap());
    server.spawn().await;
    let add = |login: &str, password: &str| {
        server.cli(
            &[
                "account",
                "add",
                "--login",
                login,
                "--password-stdin",
                "--pinfl",
                &yagona_tests::person_pinfl(login),
                "--surname",
                "Karimov",
                "--first-name",
                "Alisher",
                "--birth-date",
                "1990-05-12",
            ],
            Some(password),
        )
    };
    for (login, weak) in
        [("weak1", "aaaaaaaaaa"), ("weak2", "1234567890"), ("weak3", "qwertyuiop"), ("weak4", "passwordpassword")]
    {
        let out = add(login, weak);
        assert!(!out.status.success(), "{weak} must be refused");
        assert!(String::from_utf8_lossy(&out.stderr).contains("too easy to guess"), "{weak}: {out:?}");
    }
    for (login, breached) in [("br1", "Toshkent-Chorsu-77"), ("br2", "Xiva-Ichan-Qala-1")] {
        let out = add(login, breached);
        assert!(!out.status.success(), "{breached} must be refused");
        assert!(String::from_utf8_lossy(&out.stderr).contains("data breach"), "{breached}: {out:?}");
    }
    assert!(add("strong", "Buxoro-Ark-Minorasi-2026").status.success());
}

/// Item 8: the SQLite database files and `pki issue`'s key file are readable by their owner only.
#[tokio::test(flavor = "multi_thread")]
async fn database_and_key_files_are_private() {
    let server = TestServer::start(Backend::Sqlite).await;
    server.add_person("files");
    for name in ["yagona.db", "yagona.db-wal", "yagona.db-shm"] {
        let path = server.dir.join(name);
        let mode = std::fs::metadata(&path).unwrap_or_else(|e| panic!("{name}: {e}")).permissions().mode();
        assert_eq!(mode & 0o077, 0, "{name} is {mode:o}");
    }
    let ca = server.dir.join("ca");
    server.cli_ok(&["pki", "dev-ca", "init", "--out", ca.to_str().unwrap()], None);
    let p12 = server.dir.join("person.p12");
    server.cli_ok(
        &[
            "pki",
            "issue",
            "--ca",
            ca.to_str().unwrap(),
            "--pinfl",
            &yagona_tests::person_pinfl("files"),
            "--name",
            "Karimov Alisher",
            "--out",
            p12.to_str().unwrap(),
            "--password-stdin",
        ],
        Some("key-pass\n"),
    );
    let mode = std::fs::metadata(&p12).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, ".p12 is {mode:o}");
}

/// Item 8: a key-encryption key next to the database is warned about outside `--dev`.
#[tokio::test(flavor = "multi_thread")]
async fn a_kek_next_to_the_database_is_warned_about() {
    let mut server = TestServer::new(Backend::Sqlite, &[]);
    let kek = server.dir.join("kek");
    std::fs::write(&kek, "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n").unwrap();
    server.remove_env("YAGONA_KEYS__ENCRYPTION_KEY");
    server.set_env("YAGONA_KEYS__ENCRYPTION_KEY_FILE", kek.to_str().unwrap());
    server.spawn().await;
    assert!(server.log().contains("the key-encryption key lies in the database's folder"), "{}", server.log());
}

/// Item 8: pages get Permissions-Policy and CSP form-action; an https issuer gets HSTS.
#[tokio::test(flavor = "multi_thread")]
async fn security_headers() {
    let server = TestServer::start(Backend::Sqlite).await;
    let r = http_client().get(server.url("/login")).send().await.unwrap();
    let header = |name: &str| r.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
    let csp = header("content-security-policy").unwrap();
    assert!(csp.contains("form-action 'self'"), "{csp}");
    assert!(header("permissions-policy").is_some_and(|p| p.contains("camera=()")), "Permissions-Policy");
    assert!(header("strict-transport-security").is_none(), "no HSTS over http");

    // The issuer is https (TLS would end at a proxy in front); the test talks plain HTTP to it.
    let mut https = TestServer::new(Backend::Sqlite, &[]);
    let issuer = https.base_url.replace("http://", "https://");
    https.set_env("YAGONA_ISSUER", &issuer);
    https.spawn().await;
    let r = http_client().get(https.url("/.well-known/openid-configuration")).send().await.unwrap();
    let hsts = r.headers().get("strict-transport-security").map(|v| v.to_str().unwrap().to_owned());
    assert!(hsts.is_some_and(|h| h.contains("max-age=")), "HSTS when the issuer is https");
    drop(https);
}

/// Item 9: the consent page names the `legal` scope: the service gets the company and role.
#[tokio::test(flavor = "multi_thread")]
async fn consent_names_the_legal_scope() {
    let server = TestServer::start(Backend::Sqlite).await;
    let secret = server.add_client("rp", &[]);
    let (login, password) = server.add_person("legalscope");
    let rp = RelyingParty::discover(&server, "rp", Some(&secret)).await;
    let b = browser();
    let start = rp.start(&["legal"], &[]);
    let r = b.get(&start.url).send().await.unwrap();
    let login_page = server.url(&location(&r));
    let html = b.get(&login_page).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_input(&html, "csrf_token").unwrap();
    let interaction = hidden_input(&html, "interaction").unwrap();
    let r = post_form(
        &b,
        &server,
        "/login",
        &[("login", login.as_str()), ("password", &password), ("csrf_token", &csrf), ("interaction", &interaction)],
    )
    .await;
    let resume = b.get(server.url(&location(&r))).send().await.unwrap();
    let consent = location(&resume);
    assert!(consent.starts_with("/consent"), "{consent}");
    let html = b.get(server.url(&consent)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("company") && html.contains("role"), "the legal scope is named: {html}");
}
