//! Password recovery by a confirmed e-mail (issue 14, item 15), end to end: the server sends
//! through a real SMTP conversation to a sink on loopback; the test reads the links from the
//! captured mail, confirms the address, then resets the password.

use yagona_tests::smtp::SmtpSink;
use yagona_tests::{browser, hidden_input, location, post_form, Backend, TestServer};

use crate::legal::password_login;

/// The first link to `path` in a captured mail.
fn link_in(mail: &yagona_tests::smtp::Mail, path: &str) -> String {
    let body = mail.decoded();
    let start = body.find(path).unwrap_or_else(|| panic!("no {path} link in: {body}"));
    body[start..].split_whitespace().next().unwrap().to_owned()
}

async fn ask_for_a_link(server: &TestServer, identifier: &str) -> reqwest::StatusCode {
    let b = browser();
    let html = b.get(server.url("/recover")).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_input(&html, "csrf_token").unwrap_or_else(|| panic!("{html}"));
    let r = post_form(&b, server, "/recover", &[("csrf_token", csrf.as_str()), ("identifier", identifier)]).await;
    if r.status() == 303 {
        assert_eq!(location(&r), "/recover/sent", "the same answer whether or not an account was found");
    }
    r.status()
}

use yagona_tests::reqwest;

#[tokio::test(flavor = "multi_thread")]
async fn a_confirmed_e_mail_recovers_the_password_once_and_signs_out_everywhere() {
    for backend in Backend::ALL {
        let sink = SmtpSink::start().await;
        let server = TestServer::start_with(
            backend,
            &[("YAGONA_MAIL__SMTP_URL", sink.url.as_str()), ("YAGONA_MAIL__FROM", "Yagona <id@example.uz>")],
        )
        .await;
        let (login, password) = server.add_person("alisher");

        // An address nobody confirmed is not trusted: no mail, and the same answer as for nobody.
        assert_eq!(ask_for_a_link(&server, &login).await, 303);
        assert_eq!(ask_for_a_link(&server, "alisher@example.uz").await, 303);
        assert_eq!(ask_for_a_link(&server, "nobody-here").await, 303);
        assert!(sink.mails().is_empty(), "{:?}", sink.mails());

        // The person confirms the address from the cabinet, by the link mailed to it.
        let (b, csrf) = password_login(&server, &login, &password).await;
        let cabinet = b.get(server.url("/account")).send().await.unwrap().text().await.unwrap();
        assert!(cabinet.contains("id=\"verify-email\""), "{cabinet}");
        let r = post_form(&b, &server, "/account/email/verify", &[("csrf_token", csrf.as_str())]).await;
        assert_eq!(location(&r), "/account?done=email_sent");
        let mails = sink.mails();
        assert_eq!(mails.len(), 1);
        assert_eq!(mails[0].to, ["alisher@example.uz"]);
        assert!(mails[0].data.contains("From: Yagona <id@example.uz>"), "{}", mails[0].data);
        let verify = link_in(&mails[0], &server.url("/email/verify?token="));
        let r = b.get(&verify).send().await.unwrap();
        assert_eq!(location(&r), "/account?done=email_confirmed");
        let cabinet = b.get(server.url("/account")).send().await.unwrap().text().await.unwrap();
        assert!(cabinet.contains("id=\"email-state\">✓"), "{cabinet}");
        // The confirmation link is single use.
        assert_eq!(b.get(&verify).send().await.unwrap().status(), 410);

        // Recovery by the confirmed address.
        assert_eq!(ask_for_a_link(&server, "alisher@example.uz").await, 303);
        let mails = sink.mails();
        assert_eq!(mails.len(), 2);
        assert!(mails[1].decoded().contains(&login), "the mail names the login");
        let reset = link_in(&mails[1], &server.url("/recover/reset?token="));
        let stranger = browser();
        let form = stranger.get(&reset).send().await.unwrap().text().await.unwrap();
        let csrf2 = hidden_input(&form, "csrf_token").unwrap();
        let token = hidden_input(&form, "token").unwrap();
        // A password the policy refuses re-renders the form; the link stays usable.
        let weak = [
            ("csrf_token", csrf2.as_str()),
            ("token", token.as_str()),
            ("new_password", "short"),
            ("new_password_confirm", "short"),
        ];
        let r = post_form(&stranger, &server, "/recover/reset", &weak).await;
        assert_eq!(r.status(), 400);
        let good = [
            ("csrf_token", csrf2.as_str()),
            ("token", token.as_str()),
            ("new_password", "Buxoro-Ark-Qalasi-9"),
            ("new_password_confirm", "Buxoro-Ark-Qalasi-9"),
        ];
        let r = post_form(&stranger, &server, "/recover/reset", &good).await;
        assert_eq!(location(&r), "/recover/done");
        // Spent: the link works once.
        let r = post_form(&stranger, &server, "/recover/reset", &good).await;
        assert_eq!(r.status(), 410);
        assert_eq!(stranger.get(&reset).send().await.unwrap().status(), 410);
        // Every session ended; the old password is gone, the new one works.
        let r = b.get(server.url("/account")).send().await.unwrap();
        assert_eq!(location(&r), "/login", "the earlier session ended");
        let b3 = browser();
        let html = b3.get(server.url("/login")).send().await.unwrap().text().await.unwrap();
        let csrf3 = hidden_input(&html, "csrf_token").unwrap();
        let old = [("login", login.as_str()), ("password", password.as_str()), ("csrf_token", csrf3.as_str())];
        assert_eq!(post_form(&b3, &server, "/login", &old).await.status(), 401);
        password_login(&server, &login, "Buxoro-Ark-Qalasi-9").await;
        let trail = server.cli_ok(&["audit", "list"], None);
        for kind in ["email_verified", "recovery_requested", "password_recovered"] {
            assert!(trail.contains(kind), "{kind}: {trail}");
        }

        // Throttled per account: at most mail.max_per_account (3) links in the window.
        for _ in 0..4 {
            ask_for_a_link(&server, &login).await;
        }
        let sent = sink.mails().len() - 2;
        assert_eq!(sent, 2, "one link was sent before in this window, two more may go");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn without_e_mail_recovery_says_how_else() {
    let server = TestServer::start(Backend::Sqlite).await;
    let b = browser();
    let html = b.get(server.url("/recover")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("not available on this server"), "{html}");
    let login = b.get(server.url("/login")).send().await.unwrap().text().await.unwrap();
    assert!(!login.contains("id=\"recover-link\""), "not offered where it cannot work");
}

/// Issue 14, item 14: an account without a passport number (made by an EDS, or taken over) adds
/// it and its phone in the cabinet; the number is then fixed, and a changed e-mail is
/// unconfirmed.
#[tokio::test(flavor = "multi_thread")]
async fn the_cabinet_adds_a_passport_once_and_edits_contacts() {
    for backend in Backend::ALL {
        // With EDS on, so the cabinet has its EDS and legal-entity sections.
        let (mut server, _ca) = crate::eds::server_with_ca(backend);
        server.set_env("YAGONA_MAIL__SMTP_URL", "smtp://127.0.0.1:9");
        server.spawn().await;
        let pinfl = crate::registration::pinfl(90);
        let args = [
            "account",
            "add",
            "--login",
            "bobur",
            "--password-stdin",
            "--pinfl",
            &pinfl,
            "--surname",
            "Aliyev",
            "--first-name",
            "Bobur",
            "--birth-date",
            "1990-05-12",
        ];
        server.cli_ok(&args, Some("Samarqand-Registon-1\n"));
        let (b, csrf) = password_login(&server, "bobur", "Samarqand-Registon-1").await;
        let cabinet = b.get(server.url("/account")).send().await.unwrap().text().await.unwrap();
        assert!(cabinet.contains("id=\"passport\""), "a passport number can be added");
        assert!(cabinet.contains("id=\"legal-confirm-first\""), "no legal-entity form for an unconfirmed account");
        assert!(!cabinet.contains("id=\"legal-form\""));

        // A bad phone is told, nothing is saved.
        let bad = [("csrf_token", csrf.as_str()), ("phone", "12345"), ("email", ""), ("passport", "AB1234567")];
        let r = post_form(&b, &server, "/account/contacts", &bad).await;
        assert_eq!(r.status(), 400);
        assert!(r.text().await.unwrap().contains("id=\"phone-error\""));
        // A control character (NUL: PostgreSQL refuses it in text) is refused as in every page
        // form (issue 14, item 2), readably and before the database is asked.
        let nul = [("csrf_token", csrf.as_str()), ("phone", ""), ("email", "a\0b@example.uz"), ("passport", "")];
        let r = post_form(&b, &server, "/account/contacts", &nul).await;
        assert_eq!(r.status(), 400);
        assert!(r.text().await.unwrap().contains("control characters"));
        let good = [
            ("csrf_token", csrf.as_str()),
            ("phone", "+998 90 111 22 33"),
            ("email", "bobur@example.uz"),
            ("passport", "AB1234567"),
        ];
        let r = post_form(&b, &server, "/account/contacts", &good).await;
        assert_eq!(location(&r), "/account?done=contacts");
        let cabinet = b.get(server.url("/account")).send().await.unwrap().text().await.unwrap();
        for shown in ["+998901112233", "bobur@example.uz", "AB1234567", "id=\"verify-email\""] {
            assert!(cabinet.contains(shown), "{shown}: {cabinet}");
        }
        assert!(!cabinet.contains("id=\"passport\""), "the passport number is fixed once set");
        // A passport number sent anyway is not changed.
        let again = [("csrf_token", csrf.as_str()), ("phone", ""), ("email", ""), ("passport", "AC7654321")];
        post_form(&b, &server, "/account/contacts", &again).await;
        let cabinet = b.get(server.url("/account")).send().await.unwrap().text().await.unwrap();
        assert!(cabinet.contains("AB1234567") && !cabinet.contains("AC7654321") && !cabinet.contains("+998901112233"));
    }
}
