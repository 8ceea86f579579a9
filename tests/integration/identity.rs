//! Issue 11, "assert only what is true now": an EDS never confirms an account whose password it
//! did not prove (takeover by the rightful owner instead), confirmation writes the certificate's
//! data, registration refuses untrue data, a disabled account is refused on every path, and the
//! small holes (reserved `p<PINFL>` logins, who is signed in before a step-up).

use openidconnect::core::CoreUserInfoClaims;
use openidconnect::{OAuth2TokenResponse, TokenResponse};
use yagona_tests::{browser, hidden_input, location, post_form, query_param, reqwest, Backend, TestServer};

use crate::eds::{issue, page, server_with_ca, sign_challenge};
use crate::flow::decode_jwt_payload;
use crate::registration::{credentials_form, person_form, pinfl, Registrant};
use crate::rp::RelyingParty;

const HIGH: &str = "http://eidas.europa.eu/LoA/high";

/// A PINFL with a check digit: `first` the century-and-sex digit, `ddmmyy` the birth date.
fn pinfl_born(first: u32, ddmmyy: &str, serial: u32) -> String {
    let body = format!("{first}{ddmmyy}026{serial:03}");
    let weights = [7u32, 3, 1];
    let sum: u32 = body.bytes().enumerate().map(|(i, b)| u32::from(b - b'0') * weights[i % 3]).sum();
    format!("{body}{}", sum % 10)
}

/// Posts a signed challenge to `/login/eds`; the response.
async fn eds_login(
    server: &TestServer,
    b: &reqwest::Client,
    p12: &str,
    interaction: Option<&str>,
) -> reqwest::Response {
    let csrf = hidden_input(&page(b, server, "/login").await, "csrf_token").unwrap();
    let pkcs7 = sign_challenge(server, b, p12).await;
    let mut form = vec![("csrf_token", csrf), ("pkcs7", pkcs7)];
    if let Some(id) = interaction {
        form.push(("interaction", id.to_owned()));
    }
    post_form(b, server, "/login/eds", &form).await
}

async fn password_login(server: &TestServer, b: &reqwest::Client, login: &str, password: &str) -> reqwest::Response {
    let csrf = hidden_input(&page(b, server, "/login").await, "csrf_token").unwrap();
    post_form(b, server, "/login", &[("login", login), ("password", password), ("csrf_token", csrf.as_str())]).await
}

/// The relying party's tokens for whoever `b` signs in as (already signed in: no login page).
async fn tokens_of_session(
    rp: &RelyingParty,
    b: &reqwest::Client,
    scopes: &[&str],
) -> openidconnect::core::CoreTokenResponse {
    let start = rp.start(scopes, &[]);
    let r = b.get(&start.url).send().await.unwrap();
    let callback = location(&r);
    assert!(callback.contains("code="), "signed in, the code comes at once: {callback}");
    rp.redeem(&callback, start.verifier).await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_eds_takes_over_an_account_registered_with_the_owners_pinfl() {
    for backend in Backend::ALL {
        let (mut server, ca) = server_with_ca(backend);
        server.spawn().await;
        let secret = server.add_client(
            "soliq",
            &["--first-party", "--grant-type", "authorization_code", "--grant-type", "refresh_token"],
        );
        let rp = RelyingParty::discover(&server, "soliq", Some(&secret)).await;
        let victim = pinfl(777);

        // The attacker registers with the victim's PINFL (printed on the ID card) and signs in
        // at a service.
        let attacker = Registrant::start(&server, "/register").await;
        attacker.person_and_confirm(&victim).await;
        let r = attacker.post("/register/account", &credentials_form("squatter")).await;
        assert_eq!(location(&r), "/register/done");
        let attackers_tokens = tokens_of_session(&rp, &attacker.browser, &["profile"]).await;
        let attackers_refresh = attackers_tokens.refresh_token().expect("a refresh token").clone();

        // The owner logs in with their EDS: not signed in as that account, but shown it first.
        let p12 = issue(&server, &ca, "YUSUPOVA DILNOZA BAHODIROVNA", &victim, &[]);
        let owner = browser();
        let r = eds_login(&server, &owner, &p12, None).await;
        assert_eq!(location(&r), "/login/eds/takeover", "{backend:?}");
        assert_eq!(owner.get(server.url("/account")).send().await.unwrap().status(), 303, "not signed in yet");
        let html = page(&owner, &server, "/login/eds/takeover").await;
        assert!(html.contains("squatter") && html.contains("Rashidova"), "the account's data: {html}");
        assert!(html.contains("YUSUPOVA"), "the certificate's data: {html}");
        assert!(!html.contains("nilufar@example.uz") && !html.contains("+998907654321"), "contacts masked: {html}");
        assert!(html.contains("id=\"differences\""), "the differences are listed: {html}");
        // Without the page's CSRF token nothing happens; another browser has no pending takeover.
        let r = post_form(&owner, &server, "/login/eds/takeover", &[("csrf_token", "forged")]).await;
        assert_eq!(r.status(), 400);
        let stranger = browser();
        let stranger_csrf = hidden_input(&page(&stranger, &server, "/login").await, "csrf_token").unwrap();
        let r = post_form(&stranger, &server, "/login/eds/takeover", &[("csrf_token", stranger_csrf.as_str())]).await;
        assert_ne!(r.status(), 303, "no takeover in a browser that did not sign");
        let csrf = hidden_input(&html, "csrf_token").unwrap();
        let r = post_form(&owner, &server, "/login/eds/takeover", &[("csrf_token", csrf.as_str())]).await;
        assert_eq!(location(&r), "/account");
        let cabinet = page(&owner, &server, "/account").await;
        assert!(cabinet.contains("Confirmed with EDS") && cabinet.contains("YUSUPOVA"), "{cabinet}");
        assert!(!cabinet.contains("name=\"current_password\""), "the owner may set a password at once");

        // The attacker's password, session and service access are gone; the contacts too.
        let r = password_login(&server, &browser(), "squatter", "Buxoro-Ark-2026").await;
        assert_eq!(r.status(), 401, "the attacker's password no longer works");
        assert_eq!(location(&attacker.get("/account").await), "/login", "the attacker's session ended");
        let refreshed = rp.client.exchange_refresh_token(&attackers_refresh).unwrap().request_async(&rp.http).await;
        assert!(refreshed.is_err(), "the attacker's grant is revoked");
        let shown = server.cli_ok(&["account", "show", "squatter"], None);
        assert!(shown.contains("status:      confirmed") && shown.contains("YUSUPOVA DILNOZA BAHODIROVNA"), "{shown}");
        assert!(!shown.contains("nilufar@example.uz") && !shown.contains("+998907654321"), "{shown}");
        assert!(server.cli_ok(&["audit", "list"], None).contains("account_taken_over"));

        // The owner's session is `high` and verified with the certificate's name.
        let tokens = tokens_of_session(&rp, &owner, &["profile"]).await;
        let claims = decode_jwt_payload(&tokens.id_token().unwrap().to_string());
        assert_eq!(claims["account_verified"], true);
        assert_eq!(claims["acr"], HIGH);
        assert_eq!(claims["family_name"], "YUSUPOVA");

        // Later EDS logins of the owner (a renewed certificate too) sign in at once.
        let renewed = issue(&server, &ca, "YUSUPOVA DILNOZA BAHODIROVNA", &victim, &["--alg", "ecdsa"]);
        let r = eds_login(&server, &browser(), &renewed, None).await;
        assert_eq!(location(&r), "/account");
        assert!(!server.log().contains("status=500"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn confirming_writes_the_certificates_name_and_shows_the_differences() {
    let (mut server, ca) = server_with_ca(Backend::Sqlite);
    server.spawn().await;
    let secret = server.add_client("soliq", &["--first-party"]);
    let rp = RelyingParty::discover(&server, "soliq", Some(&secret)).await;
    let mine = pinfl(778);
    // Registered with a name the certificate does not carry.
    let person = Registrant::start(&server, "/register").await;
    person.person_and_confirm(&mine).await;
    assert_eq!(location(&person.post("/register/account", &credentials_form("nilufar")).await), "/register/done");
    let p12 = issue(&server, &ca, "RASHIDOVA NILUFAR SHAVKATOVNA", &mine, &[]);
    let cabinet = page(&person.browser, &server, "/account").await;
    let csrf = hidden_input(&cabinet, "csrf_token").unwrap();
    let pkcs7 = sign_challenge(&server, &person.browser, &p12).await;
    let form = [("csrf_token", csrf.as_str()), ("pkcs7", pkcs7.as_str())];
    let r = post_form(&person.browser, &server, "/account/eds/preview", &form).await;
    let preview = page(&person.browser, &server, &location(&r)).await;
    assert!(preview.contains("id=\"differences\""), "{preview}");
    assert!(
        preview.contains("Rashidova") && preview.contains("RASHIDOVA"),
        "entered and certificate values: {preview}"
    );
    assert!(preview.contains("SHAVKATOVNA"), "the patronymic the account lacked: {preview}");
    let pending = hidden_input(&preview, "pending").unwrap();
    let form = [("csrf_token", csrf.as_str()), ("pending", pending.as_str())];
    let r = post_form(&person.browser, &server, "/account/eds/bind", &form).await;
    assert_eq!(location(&r), "/account?done=eds");

    let tokens = tokens_of_session(&rp, &person.browser, &["profile"]).await;
    let claims = decode_jwt_payload(&tokens.id_token().unwrap().to_string());
    assert_eq!(claims["account_verified"], true);
    assert_eq!(claims["family_name"], "RASHIDOVA", "{claims}");
    assert_eq!(claims["given_name"], "NILUFAR", "{claims}");
    assert_eq!(claims["middle_name"], "SHAVKATOVNA", "{claims}");
    assert_eq!(claims["birthdate"], "1990-05-12", "{claims}");
    let userinfo: CoreUserInfoClaims = rp
        .client
        .user_info(tokens.access_token().clone(), None)
        .unwrap()
        .request_async(&rp.http)
        .await
        .expect("userinfo answers");
    assert_eq!(userinfo.family_name().unwrap().get(None).unwrap().as_str(), "RASHIDOVA");
}

#[tokio::test(flavor = "multi_thread")]
async fn registration_refuses_untrue_data() {
    let server = TestServer::start(Backend::Sqlite).await;
    // Someone registered with passport AB7654321 first.
    let first = Registrant::start(&server, "/register").await;
    first.person_and_confirm(&pinfl(201)).await;
    assert_eq!(location(&first.post("/register/account", &credentials_form("first")).await), "/register/done");

    let reg = Registrant::start(&server, "/register").await;
    let good = person_form(&pinfl(202));
    let with = |key: &str, value: &str| -> Vec<(&'static str, String)> {
        good.iter().map(|(k, v)| (*k, if *k == key { value.to_owned() } else { v.clone() })).collect()
    };
    let born_2030 = pinfl_born(5, "140330", 1);
    let mut future = with("birth_date", "2030-03-14");
    future.iter_mut().for_each(|(k, v)| {
        if *k == "pinfl" {
            *v = born_2030.clone()
        }
    });
    let cases = [
        (future, "birth_date", "in the future"),
        (with("surname", "Rashidova2"), "surname", "letters"),
        (with("first_name", "Nilu\u{202e}far"), "first_name", "letters"),
        (with("surname", &"R".repeat(200)), "surname", "too long"),
        (with("passport", "AB7654321"), "passport", "already used by another account"),
    ];
    for (form, field, message) in cases {
        let r = reg.post("/register/person", &form).await;
        assert_eq!(r.status(), 400, "{field}: {message}");
        let html = r.text().await.unwrap();
        assert!(html.contains(&format!("id=\"{field}-error\"")), "{field}: no error shown\n{html}");
        assert!(html.contains(message), "{field}: expected {message:?}\n{html}");
    }
    // A control character is refused with the whole form (issue 14), before any field's rule.
    let r = reg.post("/register/person", &with("middle_name", "Shavkat\u{7}")).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("control characters"));
    // An operator cannot store them either.
    let out = server.cli(
        &[
            "account",
            "add",
            "--login",
            "future",
            "--password-stdin",
            "--pinfl",
            &born_2030,
            "--surname",
            "Ali",
            "--first-name",
            "Vali",
            "--birth-date",
            "2030-03-14",
        ],
        Some("Samarqand-Registon-1\n"),
    );
    assert!(!out.status.success(), "a birth date in the future is refused");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_disabled_account_is_refused_on_every_path() {
    let (mut server, ca) = server_with_ca(Backend::Sqlite);
    server.spawn().await;
    let secret = server
        .add_client("soliq", &["--first-party", "--grant-type", "authorization_code", "--grant-type", "refresh_token"]);
    let rp = RelyingParty::discover(&server, "soliq", Some(&secret)).await;
    let (login, password) = server.add_person("dilnoza");
    let mine = yagona_tests::person_pinfl("dilnoza");
    let personal = issue(&server, &ca, "KARIMOV ALISHER ANVAROVICH", &mine, &[]);
    // Confirmed in the cabinet, with offline access granted to a service.
    let b = browser();
    assert_eq!(location(&password_login(&server, &b, &login, &password).await), "/account");
    let csrf = hidden_input(&page(&b, &server, "/account").await, "csrf_token").unwrap();
    let pkcs7 = sign_challenge(&server, &b, &personal).await;
    let (_, to, _) = crate::legal::bind_signed(&b, &server, &csrf, &pkcs7).await;
    assert_eq!(to, "/account?done=eds");
    let start = rp.start(&["offline_access"], &[("prompt", "consent")]);
    let callback = yagona_tests::sign_in(&b, &server.base_url, &start.url, &login, &password).await;
    let offline = rp.redeem(&callback, start.verifier).await.refresh_token().expect("a refresh token").clone();

    server.cli_ok(&["account", "disable", &login], None);

    // A certificate not yet bound (renewed), and a company certificate of the same person.
    let renewed = issue(&server, &ca, "KARIMOV ALISHER ANVAROVICH", &mine, &["--alg", "ecdsa"]);
    let company = {
        let out = server.dir.join("ca").join("company.p12").to_str().unwrap().to_owned();
        let ca_dir = ca.to_str().unwrap().to_owned();
        server.cli_ok(
            &[
                "pki",
                "issue",
                "--ca",
                &ca_dir,
                "--pinfl",
                &mine,
                "--name",
                "KARIMOV ALISHER ANVAROVICH",
                "--out",
                &out,
                "--password-stdin",
                "--tin",
                "301234567",
                "--org",
                "Registon MChJ",
                "--title",
                "Direktor",
            ],
            Some("key-password\n"),
        );
        out
    };
    for (p12, what) in [(&renewed, "unbound certificate"), (&personal, "bound certificate"), (&company, "company")] {
        let b = browser();
        let r = eds_login(&server, &b, p12, None).await;
        assert_eq!(r.status(), 403, "{what}: refused");
        assert!(r.text().await.unwrap().contains("disabled"), "{what}");
        assert_eq!(b.get(server.url("/account")).send().await.unwrap().status(), 303, "{what}: no session");
    }
    let r = password_login(&server, &browser(), &login, &password).await;
    assert_eq!(r.status(), 403, "password");
    let refreshed = rp.client.exchange_refresh_token(&offline).unwrap().request_async(&rp.http).await;
    let Err(openidconnect::RequestTokenError::ServerResponse(refused)) = refreshed else {
        panic!("the refresh of a disabled account's offline grant is refused")
    };
    assert_eq!(refused.error().as_ref(), "invalid_grant");
    // Nothing was written: no company linked, and after enabling, the unbound certificate is
    // still unbound (so it does not sign in by itself as a bound one would).
    let shown = server.cli_ok(&["legal", "list"], None);
    assert!(!shown.contains("301234567"), "no company linked: {shown}");
    server.cli_ok(&["account", "enable", &login], None);
    let again = rp.client.exchange_refresh_token(&offline).unwrap().request_async(&rp.http).await;
    assert!(again.is_ok(), "the refused refresh spent nothing: {again:?}");
    // Re-enabled, the account is unconfirmed but a certificate proved it before: the owner's
    // renewed certificate signs in at once (no takeover) and confirms it again.
    let r = eds_login(&server, &browser(), &renewed, None).await;
    assert_eq!(location(&r), "/account");
    assert!(server.cli_ok(&["account", "show", &login], None).contains("status:      confirmed"));
}

#[tokio::test(flavor = "multi_thread")]
async fn p_pinfl_logins_are_reserved_for_first_eds_logins() {
    let (mut server, ca) = server_with_ca(Backend::Sqlite);
    server.spawn().await;
    let foreigner = pinfl(913);
    let squatter = Registrant::start(&server, "/register").await;
    squatter.person_and_confirm(&pinfl(914)).await;
    let login = format!("p{foreigner}");
    let r = squatter.post("/register/account", &credentials_form(&login)).await;
    assert_eq!(r.status(), 400);
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"login-error\"") && html.contains("reserved"), "{html}");
    let upper = format!("P{foreigner}");
    assert_eq!(squatter.post("/register/account", &credentials_form(&upper)).await.status(), 400);

    // The owner's first EDS login gets that login.
    let p12 = issue(&server, &ca, "SMITH JOHN", &foreigner, &[]);
    let b = browser();
    assert_eq!(location(&eds_login(&server, &b, &p12, None).await), "/login/eds/signup");
    let csrf = hidden_input(&page(&b, &server, "/login/eds/signup").await, "csrf_token").unwrap();
    let r =
        post_form(&b, &server, "/login/eds/signup", &[("csrf_token", csrf.as_str()), ("accept_offer", "yes")]).await;
    assert_eq!(location(&r), "/account");
    assert!(server.cli_ok(&["account", "list"], None).contains(&login));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_eds_only_login_page_says_who_is_signed_in() {
    let (mut server, _ca) = server_with_ca(Backend::Sqlite);
    server.spawn().await;
    let secret = server.add_client("soliq", &["--first-party"]);
    let rp = RelyingParty::discover(&server, "soliq", Some(&secret)).await;
    let (login, password) = server.add_person("alisher");
    let b = browser();
    let start = rp.start(&[], &[]);
    yagona_tests::sign_in(&b, &server.base_url, &start.url, &login, &password).await;
    let start = rp.start(&["profile"], &[("acr_values", HIGH)]);
    let login_page = location(&b.get(&start.url).send().await.unwrap());
    assert!(query_param(&server.url(&login_page), "interaction").is_some());
    let html = page(&b, &server, &login_page).await;
    assert!(html.contains("id=\"eds-required\""), "{html}");
    assert!(html.contains("id=\"signed-in-as\""), "the page says who is signed in: {html}");
    assert!(html.contains("Karimov Alisher") && html.contains("alisher"), "{html}");
    // Without a session there is nobody to name.
    let fresh = browser();
    let html = page(&fresh, &server, "/login").await;
    assert!(!html.contains("id=\"signed-in-as\""));
}
