//! Issue 13: the legacy OneID API for a person acting for a legal entity: a head by password and
//! "act as", a head signed in with the company's EDS (`LEPKCSMETHOD`), and an accountant whose
//! role, taken back, is no longer reported.

use yagona_tests::{browser, hidden_input, location, post_form, query_param, reqwest, Backend, TestServer};

use crate::legacy::{assert_same_shape, documented, without_legal_login, LegacyRp, Style};
use crate::legal::{issue, post_signed, server_with_ca, sign};
use crate::legal_live::confirmed;

#[tokio::test(flavor = "multi_thread")]
async fn acting_for_a_legal_entity_sqlite() {
    acting_for_a_legal_entity(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn acting_for_a_legal_entity_postgres() {
    acting_for_a_legal_entity(Backend::Postgres).await;
}

const TIN: &str = "307777777";
const ORG: &str = "\"Chorsu Savdo\" MChJ";

/// The browser's one_code request; when the "act as" page comes, `choice` is chosen. The code.
async fn legacy_code_acting(
    server: &TestServer,
    b: &reqwest::Client,
    csrf: &str,
    rp: &LegacyRp<'_>,
    choice: &str,
) -> String {
    let mut r = b.get(rp.login_url("s")).send().await.unwrap();
    let next = location(&r);
    if next.starts_with("/act_as?") {
        let interaction = query_param(&server.url(&next), "interaction").unwrap();
        let form = [("csrf_token", csrf), ("interaction", interaction.as_str()), ("act_as", choice)];
        let chosen = post_form(b, server, "/act_as", &form).await;
        r = b.get(server.url(&location(&chosen))).send().await.unwrap();
    }
    let callback = location(&r);
    query_param(&callback, "code").unwrap_or_else(|| panic!("a code: {callback}"))
}

/// A head acting for their company (a password session, then an EDS login with the company's
/// certificate: `LEPKCSMETHOD`), and an accountant whose role, taken back, is no longer reported.
async fn acting_for_a_legal_entity(backend: Backend) {
    let (mut server, ca) = server_with_ca(backend);
    server.spawn().await;
    let rp = LegacyRp::new(&server, "soliq", &["--first-party"]);

    // A confirmed head who links the company in the cabinet.
    let (head, csrf, pinfl) = confirmed(&server, &ca, "jamshid").await;
    let company = issue(
        &server,
        &ca,
        "company",
        &pinfl,
        &["--tin", TIN, "--org", ORG, "--title", "Direktor", "--days-before", "1"],
    );
    let (_, to, _) =
        post_signed(&head, &server, "/account/legal/link", &csrf, &sign(&server, &head, &company).await).await;
    assert_eq!(to, "/account?done=legal");

    // The password session acts for the company, chosen on the "act as" page.
    let choice = format!("legal:{TIN}:Common For Head");
    let code = legacy_code_acting(&server, &head, &csrf, &rp, &choice).await;
    let tokens = rp.tokens(Style::Form, &code).await;
    let (_, person) = rp.identify(Style::Form, tokens["access_token"].as_str().unwrap()).await;
    assert_same_shape(&person, &without_legal_login(&documented("identify-example")));
    assert_eq!((person["user_type"].as_str(), person["valid"].as_str()), (Some("L"), Some("true")));
    assert_eq!(person["valid_methods"], serde_json::json!(["PKCSMETHOD"]));
    assert_eq!(person["auth_method"], "LOGINPASSMETHOD");
    let entity = serde_json::json!({
        "is_basic": true, "tin": TIN, "acron_UZ": "Chorsu Savdo", "le_tin": TIN, "le_name": ORG,
    });
    assert_eq!(person["legal_info"], serde_json::json!([entity]));

    // An EDS login with the company's certificate: LEPKCSMETHOD and pkcs_legal_tin, exactly the
    // documented shape.
    let fresh = browser();
    let r = fresh.get(rp.login_url("eds")).send().await.unwrap();
    let login_page = location(&r);
    let interaction = query_param(&server.url(&login_page), "interaction").unwrap();
    let html = fresh.get(server.url(&login_page)).send().await.unwrap().text().await.unwrap();
    let fresh_csrf = hidden_input(&html, "csrf_token").unwrap();
    let pkcs7 = sign(&server, &fresh, &company).await;
    let form = [("csrf_token", fresh_csrf.as_str()), ("pkcs7", pkcs7.as_str()), ("interaction", interaction.as_str())];
    let r = post_form(&fresh, &server, "/login/eds", &form).await;
    let r = fresh.get(server.url(&location(&r))).send().await.unwrap();
    let code = query_param(&location(&r), "code").expect("straight back to the service");
    let tokens = rp.tokens(Style::Query, &code).await;
    let (_, person) = rp.identify(Style::Query, tokens["access_token"].as_str().unwrap()).await;
    assert_same_shape(&person, &documented("identify-example"));
    assert_eq!((person["auth_method"].as_str(), person["pkcs_legal_tin"].as_str()), (Some("LEPKCSMETHOD"), Some(TIN)));
    assert_eq!(person["legal_info"], serde_json::json!([entity]));

    // An accountant acting for the company; the head takes the role back: no longer reported.
    let (staff, staff_csrf, staff_pinfl) = confirmed(&server, &ca, "dilnoza").await;
    let form = [
        ("csrf_token", csrf.as_str()),
        ("tin", TIN),
        ("pinfl", staff_pinfl.as_str()),
        ("role", "Accountant"),
        ("expires", ""),
    ];
    assert_eq!(location(&post_form(&head, &server, "/account/legal/grant", &form).await), "/account?done=role");
    let code = legacy_code_acting(&server, &staff, &staff_csrf, &rp, &format!("legal:{TIN}:Accountant")).await;
    let tokens = rp.tokens(Style::Form, &code).await;
    let access = tokens["access_token"].as_str().unwrap();
    let (_, person) = rp.identify(Style::Form, access).await;
    assert_eq!((person["user_type"].as_str(), person["auth_method"].as_str()), (Some("L"), Some("LOGINPASSMETHOD")));
    assert_eq!(person["legal_info"][0]["is_basic"], serde_json::json!(true));
    assert!(person.get("pkcs_legal_tin").is_none());
    let members = server.cli_ok(&["legal", "members", TIN], None);
    let staff_id = members.lines().find(|l| l.contains("Accountant")).unwrap().split('\t').next().unwrap().to_owned();
    let form = [("csrf_token", csrf.as_str()), ("tin", TIN), ("account_id", staff_id.as_str()), ("role", "Accountant")];
    assert_eq!(
        location(&post_form(&head, &server, "/account/legal/revoke", &form).await),
        "/account?done=role_revoked"
    );
    let (status, body) = rp.identify(Style::Form, access).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_token")), "{body}");
    let (_, body) = rp.refresh(Style::Form, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(body["error"], "invalid_grant");
}
