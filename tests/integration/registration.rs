//! The registration wizard and the cabinet over HTTP: every validation rule, the step order,
//! concurrent registrations of one PINFL, and the return to a relying party.

use openidconnect::{OAuth2TokenResponse, TokenResponse};
use yagona_tests::{browser, hidden_input, location, post_form, query_param, reqwest, sign_in, Backend, TestServer};

use crate::rp::RelyingParty;

/// The PINFL of someone born on 12 May 1990 with the given serial (check digit computed).
pub fn pinfl(serial: u32) -> String {
    let body = format!("3120590026{serial:03}");
    let weights = [7u32, 3, 1];
    let sum: u32 = body.bytes().enumerate().map(|(i, b)| u32::from(b - b'0') * weights[i % 3]).sum();
    format!("{body}{}", sum % 10)
}

/// A person going through the wizard in one browser.
pub struct Registrant<'a> {
    pub server: &'a TestServer,
    pub browser: reqwest::Client,
    csrf: String,
}

pub fn person_form(pinfl: &str) -> Vec<(&'static str, String)> {
    vec![
        ("surname", "Rashidova".into()),
        ("first_name", "Nilufar".into()),
        ("middle_name", "".into()),
        ("birth_date", "1990-05-12".into()),
        ("pinfl", pinfl.into()),
        ("passport", "AB7654321".into()),
    ]
}

pub fn credentials_form(login: &str) -> Vec<(&'static str, String)> {
    vec![
        ("login", login.into()),
        ("password", "Buxoro-Ark-2026".into()),
        ("password_confirm", "Buxoro-Ark-2026".into()),
        ("phone", "+998 90 765 43 21".into()),
        ("email", "nilufar@example.uz".into()),
    ]
}

impl<'a> Registrant<'a> {
    /// Opens the offer page (optionally from a login page's link) and accepts the offer.
    pub async fn start(server: &'a TestServer, from: &str) -> Registrant<'a> {
        let browser = browser();
        Self::start_in(server, browser, from).await
    }

    pub async fn start_in(server: &'a TestServer, browser: reqwest::Client, from: &str) -> Registrant<'a> {
        let html = browser.get(server.url(from)).send().await.unwrap().text().await.unwrap();
        let csrf = hidden_input(&html, "csrf_token").expect("the offer page has a CSRF token");
        let mut form = vec![("csrf_token", csrf.clone()), ("accept_offer", "yes".to_owned())];
        if let Some(interaction) = hidden_input(&html, "interaction") {
            form.push(("interaction", interaction));
        }
        let r = post_form(&browser, server, "/register", &form).await;
        assert_eq!(location(&r), "/register/person");
        Registrant { server, browser, csrf }
    }

    pub async fn post(&self, path: &str, form: &[(&str, String)]) -> reqwest::Response {
        let mut form = form.to_vec();
        form.push(("csrf_token", self.csrf.clone()));
        self.browser.post(self.server.url(path)).form(&form).send().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.browser.get(self.server.url(path)).send().await.unwrap()
    }

    /// Steps 2 and 3 with valid data.
    pub async fn person_and_confirm(&self, pinfl: &str) {
        let r = self.post("/register/person", &person_form(pinfl)).await;
        assert_eq!(location(&r), "/register/confirm");
        let html = self.get("/register/confirm").await.text().await.unwrap();
        assert!(html.contains("Rashidova") && html.contains(pinfl) && html.contains("AB7654321"), "{html}");
        let r = self.post("/register/confirm", &[]).await;
        assert_eq!(location(&r), "/register/account");
    }
}

fn with(mut form: Vec<(&'static str, String)>, key: &str, value: &str) -> Vec<(&'static str, String)> {
    for (k, v) in &mut form {
        if *k == key {
            *v = value.to_owned();
        }
    }
    form
}

/// The field carries the error and the page says why.
async fn assert_field_error(r: reqwest::Response, field: &str, message: &str) {
    assert_eq!(r.status(), 400);
    let html = r.text().await.unwrap();
    assert!(html.contains(&format!("id=\"{field}-error\"")), "{field}: no error shown\n{html}");
    assert!(html.contains(message), "{field}: expected {message:?}\n{html}");
    assert!(html.contains(&format!("id=\"{field}\" name=\"{field}\"")), "the field is shown again");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_validation_rule_has_a_message() {
    let server = TestServer::start(Backend::Sqlite).await;
    server.add_person("taken-login");
    let existing_pinfl = pinfl(
        "taken-login".bytes().map(u32::from).sum::<u32>() % 1000, // the harness's PINFL for that login
    );

    // Step 1: the offer must be accepted.
    let b = browser();
    let html = b.get(server.url("/register")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("name=\"accept_offer\""));
    let csrf = hidden_input(&html, "csrf_token").unwrap();
    let r = post_form(&b, &server, "/register", &[("csrf_token", csrf.as_str())]).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("You must accept the terms"));

    let reg = Registrant::start(&server, "/register").await;
    let good = person_form(&pinfl(1));
    let cases = [
        (with(good.clone(), "surname", " "), "surname", "This field is required."),
        (with(good.clone(), "first_name", ""), "first_name", "This field is required."),
        (with(good.clone(), "pinfl", "1234"), "pinfl", "exactly 14 digits"),
        (with(good.clone(), "pinfl", &format!("{}0", &pinfl(1)[..13])), "pinfl", "check the digits"),
        (with(good.clone(), "birth_date", "1991-05-12"), "pinfl", "does not match the date of birth"),
        (with(good.clone(), "birth_date", "12.05.1990"), "birth_date", "Enter a valid date."),
        (with(good.clone(), "passport", "A123"), "passport", "two Latin capitals and seven digits"),
        (with(good.clone(), "pinfl", &existing_pinfl), "pinfl", "An account with this PINFL already exists."),
    ];
    for (form, field, message) in cases {
        assert_field_error(reg.post("/register/person", &form).await, field, message).await;
    }
    // The step order holds: nothing past step 2 yet.
    assert_eq!(location(&reg.get("/register/account").await), "/register/person");
    reg.person_and_confirm(&pinfl(1)).await;
    // The back button: step 2 shows what was entered.
    let html = reg.get("/register/person").await.text().await.unwrap();
    assert!(html.contains("value=\"Rashidova\"") && html.contains("value=\"AB7654321\""), "{html}");
    // Going back to step 2 and submitting again asks for confirmation again.
    let r = reg.post("/register/person", &good).await;
    assert_eq!(location(&r), "/register/confirm");
    assert_eq!(location(&reg.get("/register/account").await), "/register/confirm");
    reg.post("/register/confirm", &[]).await;

    let good = credentials_form("nilufar");
    let cases = [
        (with(good.clone(), "login", "1x"), "login", "The login must be 3 to 64 characters"),
        (with(good.clone(), "login", "taken-login"), "login", "This login is already taken."),
        (
            with(with(good.clone(), "password", "short"), "password_confirm", "short"),
            "password",
            "at least 10 characters",
        ),
        (
            with(with(good.clone(), "password", "nilufar-2026-pass"), "password_confirm", "nilufar-2026-pass"),
            "password",
            "must not contain the login",
        ),
        (
            with(with(good.clone(), "password", "password123"), "password_confirm", "password123"),
            "password",
            "too easy to guess",
        ),
        (
            with(with(good.clone(), "password", "aaaaaaaaaa"), "password_confirm", "aaaaaaaaaa"),
            "password",
            "too easy to guess",
        ),
        (with(good.clone(), "password_confirm", "Buxoro-Ark-2027"), "password_confirm", "do not match"),
        (with(good.clone(), "phone", "90 765 43 21"), "phone", "international format"),
        (with(good.clone(), "phone", ""), "phone", "This field is required."),
        (with(good.clone(), "email", "nilufar@"), "email", "valid e-mail"),
    ];
    for (form, field, message) in cases {
        assert_field_error(reg.post("/register/account", &form).await, field, message).await;
    }
    // A valid submission creates the unconfirmed account and signs the person in.
    let r = reg.post("/register/account", &good).await;
    assert_eq!(location(&r), "/register/done");
    let html = reg.get("/register/done").await.text().await.unwrap();
    assert!(html.contains("not confirmed yet") && html.contains("Register EDS"), "{html}");
    let cabinet = reg.get("/account").await.text().await.unwrap();
    assert!(cabinet.contains("Rashidova Nilufar") && cabinet.contains("Unconfirmed"), "{cabinet}");
    assert!(cabinet.contains("+998907654321"), "the phone is stored normalised");
    // The wizard is over: its state is gone.
    assert_eq!(location(&reg.get("/register/account").await), "/register");
    let show = server.cli_ok(&["account", "show", "nilufar"], None);
    assert!(show.contains("unconfirmed") && show.contains(&pinfl(1)), "{show}");
    // Nothing above was a server error, and no password was logged.
    let log = server.log();
    assert!(!log.contains("status=500"));
    assert!(!log.contains("Buxoro-Ark-2026"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_pinfl_registered_concurrently_makes_one_account() {
    for backend in Backend::ALL {
        let server = TestServer::start(backend).await;
        let mut registrants = Vec::new();
        for _ in 0..6 {
            let reg = Registrant::start(&server, "/register").await;
            reg.person_and_confirm(&pinfl(7)).await;
            registrants.push(reg);
        }
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(registrants.len()));
        let tasks: Vec<_> = registrants
            .iter()
            .enumerate()
            .map(|(i, reg)| {
                let (barrier, browser, url) = (barrier.clone(), reg.browser.clone(), server.url("/register/account"));
                let mut form = credentials_form(&format!("person{i}"));
                form.push(("csrf_token", reg.csrf.clone()));
                tokio::spawn(async move {
                    barrier.wait().await;
                    let r = browser.post(url).form(&form).send().await.unwrap();
                    let status = r.status().as_u16();
                    (status, r.text().await.unwrap())
                })
            })
            .collect();
        let mut responses = Vec::new();
        for task in tasks {
            responses.push(task.await.unwrap());
        }
        let mut created = 0;
        for (status, body) in responses {
            match status {
                303 => created += 1,
                400 => assert!(body.contains("An account with this PINFL already exists."), "{body}"),
                other => panic!("{backend:?}: unexpected status {other}: {body}"),
            }
        }
        assert_eq!(created, 1, "{backend:?}: exactly one account for one PINFL");
        let list = server.cli_ok(&["account", "list"], None);
        assert_eq!(list.lines().count(), 1, "{list}");
    }
}

/// A registration that starts on a relying party's login page returns to it, signed in.
#[tokio::test(flavor = "multi_thread")]
async fn registration_inside_an_authorization_returns_to_the_relying_party() {
    let server = TestServer::start(Backend::Sqlite).await;
    let secret = server.add_client("e-services", &[]);
    let rp = RelyingParty::discover(&server, "e-services", Some(&secret)).await;
    let b = browser();
    let start = rp.start(&["profile", "pinfl"], &[]);
    let r = b.get(&start.url).send().await.unwrap();
    let login_page = location(&r);
    let html = b.get(server.url(&login_page)).send().await.unwrap().text().await.unwrap();
    let interaction = query_param(&server.url(&login_page), "interaction").unwrap();
    assert!(html.contains(&format!("href=\"/register?interaction={interaction}\"")), "{html}");

    let reg = Registrant::start_in(&server, b.clone(), &format!("/register?interaction={interaction}")).await;
    reg.person_and_confirm(&pinfl(3)).await;
    let r = reg.post("/register/account", &credentials_form("nilufar")).await;
    assert_eq!(location(&r), format!("/register/done?interaction={interaction}"));
    let html = reg.get(&format!("/register/done?interaction={interaction}")).await.text().await.unwrap();
    assert!(html.contains("Continue to e-services"), "{html}");
    // Continue: the consent page, then back to the relying party with a code.
    let callback =
        sign_in(&b, &server.base_url, &server.url(&format!("/authorize/resume?interaction={interaction}")), "-", "-")
            .await;
    let code = query_param(&callback, "code").expect("a code for the new account");
    let tokens = rp.redeem_code(code, start.verifier).await;
    let claims = tokens.id_token().unwrap().claims(&rp.client.id_token_verifier(), &start.nonce).unwrap();
    assert_eq!(claims.family_name().unwrap().get(None).unwrap().as_str(), "Rashidova");
    let raw = crate::flow::decode_jwt_payload(&tokens.id_token().unwrap().to_string());
    assert_eq!(raw["pinfl"], pinfl(3));
    assert_eq!(raw["account_verified"], false);
    assert!(tokens.access_token().secret().len() > 20);
}
