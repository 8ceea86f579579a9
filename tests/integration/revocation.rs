//! Revocation fails closed (issue 11, item 6): a trust anchor without a revocation source refuses
//! its certificates unless the operator opts it out; the start-up log and `yagona pki status`
//! say which anchor has which source and when the server last loaded it.

use yagona_tests::{browser, hidden_input, post_form, Backend};

use crate::eds::{issue, page, server_with_ca, sign_challenge};
use crate::registration::pinfl;

#[tokio::test(flavor = "multi_thread")]
async fn an_anchor_without_a_revocation_list_refuses_its_certificates() {
    let (mut server, ca) = server_with_ca(Backend::Sqlite);
    // The operator configured the anchor but no CRL: a revoked certificate must not pass.
    server.set_env("YAGONA_EDS__CRLS", "[]");
    let revoked = issue(&server, &ca, "REVOKED PERSON", &pinfl(601), &[]);
    server.cli_ok(&["pki", "revoke", "--ca", ca.to_str().unwrap(), "--cert", &revoked.replace(".p12", ".crt")], None);
    server.spawn().await;
    assert!(
        server.log().contains("no revocation source: its certificates are refused"),
        "the start-up log warns about the anchor: {}",
        server.log()
    );

    let b = browser();
    let csrf = hidden_input(&page(&b, &server, "/login").await, "csrf_token").unwrap();
    let pkcs7 = sign_challenge(&server, &b, &revoked).await;
    let r = post_form(&b, &server, "/login/eds", &[("csrf_token", csrf.as_str()), ("pkcs7", pkcs7.as_str())]).await;
    assert_eq!(r.status(), 401, "a certificate whose status cannot be checked is refused");
    let html = r.text().await.unwrap();
    assert!(html.contains("revocation status cannot be checked"), "{html}");

    // `pki status` names the anchor, says it has no source, and fails (for monitoring).
    let out = server.cli(&["pki", "status"], None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "an anchor that refuses everything is a failing status: {text}");
    assert!(text.contains("Yagona Development CA") || text.contains("CN="), "{text}");
    assert!(text.contains("revocation: none (its certificates are refused)"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_anchor_opted_out_of_revocation_checks_is_accepted_and_reported() {
    let (mut server, ca) = server_with_ca(Backend::Sqlite);
    server.set_env("YAGONA_EDS__CRLS", "[]");
    server.set_env("YAGONA_EDS__ANCHORS_WITHOUT_REVOCATION", &format!("[\"{}\"]", ca.join("ca.pem").display()));
    let person = issue(&server, &ca, "TOSHMATOV ESHMAT", &pinfl(602), &[]);
    server.spawn().await;
    assert!(server.log().contains("revocation not checked (operator opt-out)"), "{}", server.log());
    let b = browser();
    let csrf = hidden_input(&page(&b, &server, "/login").await, "csrf_token").unwrap();
    let pkcs7 = sign_challenge(&server, &b, &person).await;
    let r = post_form(&b, &server, "/login/eds", &[("csrf_token", csrf.as_str()), ("pkcs7", pkcs7.as_str())]).await;
    assert_eq!(r.status(), 303, "the opted-out anchor's certificate is accepted: {}", r.text().await.unwrap());
    let text = server.cli_ok(&["pki", "status"], None);
    assert!(text.contains("revocation: not checked (operator opt-out)"), "{text}");

    // An opt-out that names no configured anchor is a configuration error, named.
    let mut wrong = yagona_tests::TestServer::new(Backend::Sqlite, &[]);
    wrong.set_env("YAGONA_EDS__TRUST_ANCHORS", &format!("[\"{}\"]", ca.join("ca.pem").display()));
    wrong.set_env("YAGONA_EDS__ANCHORS_WITHOUT_REVOCATION", "[\"/nowhere/other.pem\"]");
    let out = wrong.cli(&["pki", "status"], None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("eds.anchors_without_revocation"));
}

#[tokio::test(flavor = "multi_thread")]
async fn pki_status_shows_each_crl_and_when_the_server_last_loaded_it() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let (mut server, ca) = server_with_ca(backend);
        let before = server.cli_ok(&["pki", "status"], None);
        assert!(before.contains("revocation: CRL"), "{before}");
        assert!(before.contains("never loaded by a server"), "{before}");
        server.spawn().await;
        assert!(server.log().contains("revocation by CRL"), "{}", server.log());
        let text = server.cli_ok(&["pki", "status"], None);
        assert!(text.contains(&format!("crl {}", ca.join("crl.der").display())), "{text}");
        assert!(text.contains("next update "), "{text}");
        assert!(text.contains(&format!("loaded by a server at {}", crate::eds::chrono_today())), "{text}");
    }
}
