//! Legal entities over HTTP: linking a company with its EDS, acting as it, and the claims.

use openidconnect::{OAuth2TokenResponse, TokenResponse};
use serde_json::Value;
use yagona_tests::{
    browser, hidden_input, http_client, location, post_form, query_param, reqwest, Backend, JsonAnswer as _, TestServer,
};

use crate::flow::decode_jwt_payload;
use crate::rp::RelyingParty;

const TIN: &str = "301234567";
const ORG: &str = "\"Registon Savdo\" MChJ";

pub(crate) fn server_with_ca(backend: Backend) -> (TestServer, std::path::PathBuf) {
    let mut server = TestServer::new(backend, &[]);
    let ca = server.dir.join("ca");
    server.cli_ok(&["pki", "dev-ca", "init", "--out", ca.to_str().unwrap()], None);
    server.set_env("YAGONA_EDS__TRUST_ANCHORS", &format!("[\"{}\"]", ca.join("ca.pem").display()));
    server.set_env("YAGONA_EDS__CRLS", &format!("[\"{}\"]", ca.join("crl.der").display()));
    (server, ca)
}

pub(crate) fn issue(server: &TestServer, ca: &std::path::Path, file: &str, pinfl: &str, extra: &[&str]) -> String {
    let out = ca.join(format!("{file}.p12")).to_str().unwrap().to_owned();
    let mut args =
        vec!["pki", "issue", "--ca", ca.to_str().unwrap(), "--pinfl", pinfl, "--name", "HEAD PERSON", "--out", &out];
    args.push("--password-stdin");
    args.extend_from_slice(extra);
    server.cli_ok(&args, Some("key-password\n"));
    out
}

pub(crate) async fn sign(server: &TestServer, b: &reqwest::Client, p12: &str) -> String {
    let body: Value = b.post(server.url("/eds/challenge")).json_answer().await;
    let challenge = body["challenge"].as_str().unwrap().to_owned();
    server
        .cli_ok(&["pki", "sign", "--p12", p12, "--password-stdin", "--data", &challenge], Some("key-password\n"))
        .trim()
        .to_owned()
}

pub(crate) async fn password_login(server: &TestServer, login: &str, password: &str) -> (reqwest::Client, String) {
    let b = browser();
    let html = b.get(server.url("/login")).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_input(&html, "csrf_token").unwrap();
    let r = post_form(&b, server, "/login", &[("login", login), ("password", password), ("csrf_token", csrf.as_str())])
        .await;
    assert_eq!(location(&r), "/account");
    (b, csrf)
}

/// Confirms the replacement of a company's head on the page `html` that showed the current head
/// (`GET /account/legal/replace`: its form names the kept signature, never carries it).
pub(crate) async fn confirm_replacement(
    b: &reqwest::Client,
    server: &TestServer,
    csrf: &str,
    html: &str,
) -> reqwest::Response {
    assert!(hidden_input(html, "pkcs7").is_none(), "the signature does not travel through the page");
    let pending = hidden_input(html, "pending").expect("the confirmation names the kept signature");
    post_form(b, server, "/account/legal/replace", &[("csrf_token", csrf), ("pending", pending.as_str())]).await
}

/// Registers the certificate that signed `pkcs7` in the cabinet, as a person does: the signing
/// form's POST (303 to the preview page), the preview, and its confirmation. The confirmation's
/// (status, location, body), or the signing form's when it was refused.
pub(crate) async fn bind_signed(
    b: &reqwest::Client,
    server: &TestServer,
    csrf: &str,
    pkcs7: &str,
) -> (u16, String, String) {
    let (status, to, body) = post_signed(b, server, "/account/eds/preview", csrf, pkcs7).await;
    if status != 303 {
        return (status, to, body);
    }
    assert!(to.starts_with("/account/eds/preview?pending="), "{to}");
    let html = b.get(server.url(&to)).send().await.unwrap().text().await.unwrap();
    assert!(hidden_input(&html, "pkcs7").is_none(), "the signature does not travel through the page");
    let pending = hidden_input(&html, "pending").unwrap_or_else(|| panic!("the preview confirms: {html}"));
    let r = post_form(b, server, "/account/eds/bind", &[("csrf_token", csrf), ("pending", pending.as_str())]).await;
    let status = r.status().as_u16();
    let to = r.headers().get("location").map(|l| l.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, to, r.text().await.unwrap())
}

pub(crate) async fn post_signed(
    b: &reqwest::Client,
    server: &TestServer,
    path: &str,
    csrf: &str,
    pkcs7: &str,
) -> (u16, String, String) {
    let r = post_form(b, server, path, &[("csrf_token", csrf), ("pkcs7", pkcs7)]).await;
    let status = r.status().as_u16();
    let to = r.headers().get("location").map(|l| l.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, to, r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_head_links_the_company_and_acts_for_it() {
    let (mut server, ca) = server_with_ca(Backend::Sqlite);
    server.spawn().await;
    let secret = server.add_client("soliq", &["--first-party"]);
    let (login, password) = server.add_person("alisher");
    let (other_login, other_password) = server.add_person("sevara");
    let mine = yagona_tests::person_pinfl("alisher");
    let theirs = yagona_tests::person_pinfl("sevara");
    let personal = issue(&server, &ca, "personal", &mine, &[]);
    let company = issue(&server, &ca, "company", &mine, &["--tin", TIN, "--org", ORG, "--title", "Direktor"]);
    // Issued after Alisher's (valid from now, his from a day ago): it may replace him later.
    let foreign_company = issue(
        &server,
        &ca,
        "foreign",
        &theirs,
        &["--tin", TIN, "--org", ORG, "--title", "Direktor", "--days-before", "0"],
    );
    let expired_company =
        issue(&server, &ca, "expired", &mine, &["--tin", TIN, "--org", ORG, "--days", "-1", "--days-before", "30"]);
    let (b, csrf) = password_login(&server, &login, &password).await;

    // Unconfirmed accounts are told to confirm first.
    let (status, _, html) =
        post_signed(&b, &server, "/account/legal/link", &csrf, &sign(&server, &b, &company).await).await;
    assert_eq!(status, 400);
    assert!(html.contains("Confirm your account with your EDS first."), "{html}");
    // Confirm with the personal certificate.
    let pkcs7 = sign(&server, &b, &personal).await;
    let (_, to, _) = bind_signed(&b, &server, &csrf, &pkcs7).await;
    assert_eq!(to, "/account?done=eds");
    // An individual's certificate, another person's company certificate and an expired one are refused.
    for (p12, message) in [
        (&personal, "This is an individual"),
        (&foreign_company, "belongs to another person"),
        (&expired_company, "The certificate expired on"),
    ] {
        let (status, _, html) =
            post_signed(&b, &server, "/account/legal/link", &csrf, &sign(&server, &b, p12).await).await;
        assert_eq!(status, 400, "{message}");
        assert!(html.contains(message), "{message}: {html}");
    }
    // The company's own certificate links it.
    let (_, to, _) = post_signed(&b, &server, "/account/legal/link", &csrf, &sign(&server, &b, &company).await).await;
    assert_eq!(to, "/account?done=legal");
    let cabinet = b.get(server.url("/account?done=legal")).send().await.unwrap().text().await.unwrap();
    assert!(cabinet.contains("Registon Savdo") && cabinet.contains("Common For Head"), "{cabinet}");

    // A relying party asks for scope `legal`: the person chooses to act for the company.
    let rp = RelyingParty::discover(&server, "soliq", Some(&secret)).await;
    let start = rp.start(&["legal"], &[]);
    let r = b.get(&start.url).send().await.unwrap();
    let act_as = location(&r);
    assert!(act_as.starts_with("/act_as?"), "{act_as}");
    let html = b.get(server.url(&act_as)).send().await.unwrap().text().await.unwrap();
    assert!(
        html.contains("value=\"individual\"") && html.contains(&format!("value=\"legal:{TIN}:Common For Head\"")),
        "{html}"
    );
    let interaction = query_param(&server.url(&act_as), "interaction").unwrap();
    let choose = |value: &str| {
        let (b, url, csrf, interaction, value) =
            (b.clone(), server.url("/act_as"), csrf.clone(), interaction.clone(), value.to_owned());
        async move {
            b.post(url)
                .form(&[
                    ("csrf_token", csrf.as_str()),
                    ("interaction", interaction.as_str()),
                    ("act_as", value.as_str()),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    // A company the person does not belong to is not a choice.
    assert_eq!(choose("legal:309999999:Common For Head").await.status(), 400);
    let r = choose(&format!("legal:{TIN}:Common For Head")).await;
    let r = b.get(server.url(&location(&r))).send().await.unwrap();
    let code = query_param(&location(&r), "code").unwrap();
    let tokens = rp.redeem_code(code, start.verifier).await;
    let id_token = tokens.id_token().unwrap();
    id_token.claims(&rp.client.id_token_verifier(), &start.nonce).expect("the ID token verifies");
    let claims = decode_jwt_payload(&id_token.to_string());
    assert_eq!(claims["user_type"], "legal_entity");
    assert_eq!(claims["legal_entity"], serde_json::json!({"tin": TIN, "name": ORG, "short_name": "Registon Savdo"}));
    assert_eq!(claims["roles"], serde_json::json!(["Common For Head"]));
    let access = decode_jwt_payload(tokens.access_token().secret());
    assert_eq!(access["legal_entity"]["tin"], TIN);
    let userinfo: Value =
        http_client().get(server.url("/userinfo")).bearer_auth(tokens.access_token().secret()).json_answer().await;
    assert_eq!(userinfo["user_type"], "legal_entity");
    assert_eq!(userinfo["roles"], serde_json::json!(["Common For Head"]));
    let introspection: Value = http_client()
        .post(server.url("/introspect"))
        .basic_auth("soliq", Some(&secret))
        .form(&[("token", tokens.access_token().secret().as_str())])
        .json_answer()
        .await;
    assert_eq!(introspection["legal_entity"]["short_name"], "Registon Savdo");
    // The choice is fixed for the session: the next authorization does not ask again.
    let again = rp.start(&["legal"], &[]);
    let r = b.get(&again.url).send().await.unwrap();
    assert!(query_param(&location(&r), "code").is_some(), "no new choice without a new login");

    // The same person in another browser acts as an individual: no legal claims.
    let (b2, csrf2) = password_login(&server, &login, &password).await;
    let start = rp.start(&["legal"], &[]);
    let r = b2.get(&start.url).send().await.unwrap();
    let act_as = location(&r);
    let interaction = query_param(&server.url(&act_as), "interaction").unwrap();
    let r = post_form(
        &b2,
        &server,
        "/act_as",
        &[("csrf_token", csrf2.as_str()), ("interaction", interaction.as_str()), ("act_as", "individual")],
    )
    .await;
    let r = b2.get(server.url(&location(&r))).send().await.unwrap();
    let tokens = rp.redeem_code(query_param(&location(&r), "code").unwrap(), start.verifier).await;
    let claims = decode_jwt_payload(&tokens.id_token().unwrap().to_string());
    assert_eq!(claims["user_type"], "individual");
    assert!(claims.get("legal_entity").is_none() && claims.get("roles").is_none());

    // A newer head takes over: Sevara, confirmed, links the same company with her later
    // certificate and confirms that she replaces the current head.
    let (b3, csrf3) = password_login(&server, &other_login, &other_password).await;
    let her_personal = issue(&server, &ca, "her-personal", &theirs, &[]);
    bind_signed(&b3, &server, &csrf3, &sign(&server, &b3, &her_personal).await).await;
    let (status, to, _) =
        post_signed(&b3, &server, "/account/legal/link", &csrf3, &sign(&server, &b3, &foreign_company).await).await;
    assert_eq!(status, 303, "the current head is shown first, on a page of its own");
    assert!(to.starts_with("/account/legal/replace?pending="), "{to}");
    let html = b3.get(server.url(&to)).send().await.unwrap().text().await.unwrap();
    let r = confirm_replacement(&b3, &server, &csrf3, &html).await;
    assert_eq!(location(&r), "/account?done=legal");
    let members = server.cli_ok(&["legal", "members", TIN], None);
    assert_eq!(members.lines().count(), 1, "{members}");
    assert!(members.contains("sevara") && members.contains("Common For Head"), "{members}");
    let show = server.cli_ok(&["legal", "show", TIN], None);
    assert!(show.contains("replaced") && show.contains("linked"), "{show}");
    assert!(server.cli_ok(&["legal", "list"], None).contains("Registon Savdo"));
}

/// A login with the company's EDS certificate acts at once for the company the person heads
/// (linked in the cabinet before: the login itself links nothing).
#[tokio::test(flavor = "multi_thread")]
async fn an_eds_login_with_the_company_certificate_acts_for_it() {
    let (mut server, ca) = server_with_ca(Backend::Sqlite);
    server.spawn().await;
    let secret = server.add_client("soliq", &["--first-party"]);
    let (login, password) = server.add_person("bobur");
    let mine = yagona_tests::person_pinfl("bobur");
    let personal = issue(&server, &ca, "personal", &mine, &[]);
    let company =
        issue(&server, &ca, "company", &mine, &["--tin", "209876543", "--org", "Bobur Tech", "--title", "Direktor"]);
    let (b, csrf) = password_login(&server, &login, &password).await;
    bind_signed(&b, &server, &csrf, &sign(&server, &b, &personal).await).await;
    let (_, to, _) = post_signed(&b, &server, "/account/legal/link", &csrf, &sign(&server, &b, &company).await).await;
    assert_eq!(to, "/account?done=legal");

    let rp = RelyingParty::discover(&server, "soliq", Some(&secret)).await;
    let fresh = browser();
    let start = rp.start(&["legal"], &[]);
    let r = fresh.get(&start.url).send().await.unwrap();
    let login_page = location(&r);
    let html = fresh.get(server.url(&login_page)).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_input(&html, "csrf_token").unwrap();
    let interaction = query_param(&server.url(&login_page), "interaction").unwrap();
    let pkcs7 = sign(&server, &fresh, &company).await;
    let r = post_form(
        &fresh,
        &server,
        "/login/eds",
        &[("csrf_token", csrf.as_str()), ("pkcs7", pkcs7.as_str()), ("interaction", interaction.as_str())],
    )
    .await;
    let r = fresh.get(server.url(&location(&r))).send().await.unwrap();
    let callback = location(&r);
    let code = query_param(&callback, "code").unwrap_or_else(|| panic!("straight back to the service: {callback}"));
    let tokens = rp.redeem_code(code, start.verifier).await;
    let claims = decode_jwt_payload(&tokens.id_token().unwrap().to_string());
    assert_eq!(claims["user_type"], "legal_entity");
    assert_eq!(claims["legal_entity"]["tin"], "209876543");
    assert_eq!(claims["acr"], "http://eidas.europa.eu/LoA/high");
}

/// The head gives roles; only the head may; a role from the catalogue only; the holder can act
/// for the company with it; taking it back ends it.
#[tokio::test(flavor = "multi_thread")]
async fn the_head_gives_and_takes_back_roles() {
    let (mut server, ca) = server_with_ca(Backend::Sqlite);
    server.spawn().await;
    let secret = server.add_client("soliq", &["--first-party"]);
    let (head_login, head_password) = server.add_person("jamshid");
    let (staff_login, staff_password) = server.add_person("dilnoza");
    let head_pinfl = yagona_tests::person_pinfl("jamshid");
    let staff_pinfl = yagona_tests::person_pinfl("dilnoza");
    let (b, csrf) = password_login(&server, &head_login, &head_password).await;
    bind_signed(&b, &server, &csrf, &sign(&server, &b, &issue(&server, &ca, "h", &head_pinfl, &[])).await).await;
    let company =
        issue(&server, &ca, "c", &head_pinfl, &["--tin", "305555555", "--org", "Jamshid Savdo", "--title", "Direktor"]);
    post_signed(&b, &server, "/account/legal/link", &csrf, &sign(&server, &b, &company).await).await;

    let grant = |b: reqwest::Client, csrf: String, pinfl: String, role: &'static str| {
        let url = server.url("/account/legal/grant");
        async move {
            let r = b
                .post(url)
                .form(&[
                    ("csrf_token", csrf.as_str()),
                    ("tin", "305555555"),
                    ("pinfl", pinfl.as_str()),
                    ("role", role),
                    ("expires", "2099-12-31"),
                ])
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let to = r.headers().get("location").map(|l| l.to_str().unwrap().to_owned()).unwrap_or_default();
            (status, to, r.text().await.unwrap())
        }
    };
    // The staff member must be confirmed first.
    let (status, _, html) = grant(b.clone(), csrf.clone(), staff_pinfl.clone(), "Accountant").await;
    assert_eq!(status, 400);
    assert!(html.contains("Confirm your account with your EDS first."), "{html}");
    let (sb, scsrf) = password_login(&server, &staff_login, &staff_password).await;
    bind_signed(&sb, &server, &scsrf, &sign(&server, &sb, &issue(&server, &ca, "s", &staff_pinfl, &[])).await).await;
    // Not in the catalogue.
    let (status, _, html) = grant(b.clone(), csrf.clone(), staff_pinfl.clone(), "Owner").await;
    assert_eq!(status, 400);
    assert!(html.contains("not in the catalogue"), "{html}");
    // Given by the head.
    let (_, to, _) = grant(b.clone(), csrf.clone(), staff_pinfl.clone(), "Accountant").await;
    assert_eq!(to, "/account?done=role");
    // A non-head cannot give roles.
    let (status, _, html) = grant(sb.clone(), scsrf.clone(), head_pinfl.clone(), "Employee").await;
    assert_eq!(status, 400);
    assert!(html.contains("Only the head"), "{html}");
    let members = server.cli_ok(&["legal", "members", "305555555"], None);
    assert!(
        members.contains("dilnoza") && members.contains("Accountant") && members.contains("2099-12-31"),
        "{members}"
    );

    // The staff member acts for the company as its accountant.
    let rp = RelyingParty::discover(&server, "soliq", Some(&secret)).await;
    let start = rp.start(&["legal"], &[]);
    let r = sb.get(&start.url).send().await.unwrap();
    let act_as = location(&r);
    let interaction = query_param(&server.url(&act_as), "interaction").unwrap();
    let r = post_form(
        &sb,
        &server,
        "/act_as",
        &[
            ("csrf_token", scsrf.as_str()),
            ("interaction", interaction.as_str()),
            ("act_as", "legal:305555555:Accountant"),
        ],
    )
    .await;
    let r = sb.get(server.url(&location(&r))).send().await.unwrap();
    let tokens = rp.redeem_code(query_param(&location(&r), "code").unwrap(), start.verifier).await;
    let claims = decode_jwt_payload(&tokens.id_token().unwrap().to_string());
    assert_eq!(claims["roles"], serde_json::json!(["Accountant"]));
    assert_eq!(claims["legal_entity"]["short_name"], "Jamshid Savdo");

    // Taken back: it is gone, and recorded.
    let account_id = members.lines().find(|l| l.contains("Accountant")).unwrap().split('\t').next().unwrap().to_owned();
    let r = post_form(
        &b,
        &server,
        "/account/legal/revoke",
        &[
            ("csrf_token", csrf.as_str()),
            ("tin", "305555555"),
            ("account_id", account_id.as_str()),
            ("role", "Accountant"),
        ],
    )
    .await;
    assert_eq!(location(&r), "/account?done=role_revoked");
    assert!(!server.cli_ok(&["legal", "members", "305555555"], None).contains("Accountant"));
    let show = server.cli_ok(&["legal", "show", "305555555"], None);
    assert!(show.contains("granted") && show.contains("revoked"), "{show}");
}
