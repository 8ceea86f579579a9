//! Issue 11, items 1 and 4: a role reaches relying parties only while it is live (taken back,
//! expired or replaced, it ends the grants that carry it), and who may link a company as its
//! head (a head's title, a later certificate, shown first, never by a plain EDS login).

use openidconnect::core::CoreTokenResponse;
use openidconnect::{OAuth2TokenResponse, TokenResponse};
use serde_json::Value;
use yagona_tests::{
    browser, hidden_input, http_client, location, post_form, query_param, reqwest, Backend, TestServer,
};

use crate::flow::decode_jwt_payload;
use crate::legal::{bind_signed, confirm_replacement, issue, password_login, post_signed, server_with_ca, sign};
use crate::rp::RelyingParty;

const TIN: &str = "307777777";
const ORG: &str = "\"Chorsu Savdo\" MChJ";
const GRANT_TYPES: [&str; 5] = ["--first-party", "--grant-type", "authorization_code", "--grant-type", "refresh_token"];

/// A confirmed person (their personal certificate bound) with a signed-in browser.
pub(crate) async fn confirmed(
    server: &TestServer,
    ca: &std::path::Path,
    login: &str,
) -> (reqwest::Client, String, String) {
    let (login, password) = server.add_person(login);
    let pinfl = yagona_tests::person_pinfl(&login);
    let (b, csrf) = password_login(server, &login, &password).await;
    let personal = issue(server, ca, &format!("{login}-personal"), &pinfl, &[]);
    let (_, to, _) = bind_signed(&b, server, &csrf, &sign(server, &b, &personal).await).await;
    assert_eq!(to, "/account?done=eds");
    (b, csrf, pinfl)
}

/// A company certificate of `pinfl` with `title`, valid from `days_before` days ago.
fn company_certificate(
    server: &TestServer,
    ca: &std::path::Path,
    file: &str,
    pinfl: &str,
    title: &str,
    days_before: &str,
) -> String {
    issue(server, ca, file, pinfl, &["--tin", TIN, "--org", ORG, "--title", title, "--days-before", days_before])
}

/// The head (browser `b`) gives the person with `pinfl` the role `Accountant`, until `expires`
/// (a date, or empty).
async fn give_accountant_role(server: &TestServer, b: &reqwest::Client, csrf: &str, pinfl: &str, expires: &str) {
    let form = [("csrf_token", csrf), ("tin", TIN), ("pinfl", pinfl), ("role", "Accountant"), ("expires", expires)];
    let r = post_form(b, server, "/account/legal/grant", &form).await;
    assert_eq!(location(&r), "/account?done=role");
}

async fn link(server: &TestServer, b: &reqwest::Client, csrf: &str, p12: &str) -> (u16, String, String) {
    post_signed(b, server, "/account/legal/link", csrf, &sign(server, b, p12).await).await
}

/// Authorizes `rp` with scope `legal` in browser `b`; if the "act as" page comes, chooses `choice`.
async fn authorize_legal(
    server: &TestServer,
    b: &reqwest::Client,
    csrf: &str,
    rp: &RelyingParty,
    choice: &str,
) -> CoreTokenResponse {
    let start = rp.start(&["legal"], &[]);
    let mut r = b.get(&start.url).send().await.unwrap();
    let next = location(&r);
    if next.starts_with("/act_as?") {
        let interaction = query_param(&server.url(&next), "interaction").unwrap();
        let chosen = post_form(
            b,
            server,
            "/act_as",
            &[("csrf_token", csrf), ("interaction", interaction.as_str()), ("act_as", choice)],
        )
        .await;
        r = b.get(server.url(&location(&chosen))).send().await.unwrap();
    }
    let callback = location(&r);
    let code = query_param(&callback, "code").unwrap_or_else(|| panic!("a code: {callback}"));
    rp.redeem_code(code, start.verifier).await
}

/// The token endpoint's answer to a refresh: (status, body).
async fn refresh(server: &TestServer, client: &str, secret: &str, tokens: &CoreTokenResponse) -> (u16, Value) {
    let r = http_client()
        .post(server.url("/token"))
        .basic_auth(client, Some(secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", tokens.refresh_token().unwrap().secret().as_str())])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn userinfo_status(server: &TestServer, tokens: &CoreTokenResponse) -> (u16, String) {
    let r =
        http_client().get(server.url("/userinfo")).bearer_auth(tokens.access_token().secret()).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn introspect(server: &TestServer, client: &str, secret: &str, token: &str) -> Value {
    http_client()
        .post(server.url("/introspect"))
        .basic_auth(client, Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_role_taken_back_stops_reaching_relying_parties_sqlite() {
    a_role_taken_back_stops_reaching_relying_parties(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_role_taken_back_stops_reaching_relying_parties_postgres() {
    a_role_taken_back_stops_reaching_relying_parties(Backend::Postgres).await;
}

/// The head takes the `Accountant` role back: the holder's refresh tokens, JWT and opaque access
/// tokens stop working, and the next login of the same session no longer carries the role.
async fn a_role_taken_back_stops_reaching_relying_parties(backend: Backend) {
    let (mut server, ca) = server_with_ca(backend);
    server.spawn().await;
    let jwt_secret = server.add_client("soliq", &GRANT_TYPES);
    let mut opaque_args = GRANT_TYPES.to_vec();
    opaque_args.extend(["--access-token-format", "opaque"]);
    let opaque_secret = server.add_client("kassa", &opaque_args);
    let (head, head_csrf, head_pinfl) = confirmed(&server, &ca, "jamshid").await;
    let (staff, staff_csrf, staff_pinfl) = confirmed(&server, &ca, "dilnoza").await;
    let company = company_certificate(&server, &ca, "company", &head_pinfl, "Direktor", "1");
    let (_, to, _) = link(&server, &head, &head_csrf, &company).await;
    assert_eq!(to, "/account?done=legal");
    give_accountant_role(&server, &head, &head_csrf, &staff_pinfl, "").await;

    // The accountant signs in to two services as the company's accountant.
    let jwt_rp = RelyingParty::discover(&server, "soliq", Some(&jwt_secret)).await;
    let opaque_rp = RelyingParty::discover(&server, "kassa", Some(&opaque_secret)).await;
    let choice = format!("legal:{TIN}:Accountant");
    let jwt_tokens = authorize_legal(&server, &staff, &staff_csrf, &jwt_rp, &choice).await;
    let opaque_tokens = authorize_legal(&server, &staff, &staff_csrf, &opaque_rp, &choice).await;
    assert_eq!(
        decode_jwt_payload(&jwt_tokens.id_token().unwrap().to_string())["roles"],
        serde_json::json!(["Accountant"])
    );
    let opaque_access = opaque_tokens.access_token().secret().clone();
    assert_eq!(
        introspect(&server, "kassa", &opaque_secret, &opaque_access).await["roles"],
        serde_json::json!(["Accountant"])
    );
    assert_eq!(refresh(&server, "soliq", &jwt_secret, &jwt_tokens).await.0, 200);
    let jwt_tokens = authorize_legal(&server, &staff, &staff_csrf, &jwt_rp, &choice).await;

    // The head takes the role back.
    let staff_id = server
        .cli_ok(&["legal", "members", TIN], None)
        .lines()
        .find(|l| l.contains("Accountant"))
        .unwrap()
        .split('\t')
        .next()
        .unwrap()
        .to_owned();
    let r = post_form(
        &head,
        &server,
        "/account/legal/revoke",
        &[("csrf_token", head_csrf.as_str()), ("tin", TIN), ("account_id", staff_id.as_str()), ("role", "Accountant")],
    )
    .await;
    assert_eq!(location(&r), "/account?done=role_revoked");

    // Nothing issued with the role works any more.
    let (status, body) = refresh(&server, "soliq", &jwt_secret, &jwt_tokens).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    let (status, body) = refresh(&server, "kassa", &opaque_secret, &opaque_tokens).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    let (status, body) = userinfo_status(&server, &jwt_tokens).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(userinfo_status(&server, &opaque_tokens).await.0, 401);
    let jwt_access = jwt_tokens.access_token().secret().clone();
    assert_eq!(introspect(&server, "soliq", &jwt_secret, &jwt_access).await, serde_json::json!({"active": false}));
    assert_eq!(
        introspect(&server, "kassa", &opaque_secret, &opaque_access).await,
        serde_json::json!({"active": false})
    );
    let jwt_refresh = jwt_tokens.refresh_token().unwrap().secret().clone();
    assert_eq!(introspect(&server, "soliq", &jwt_secret, &jwt_refresh).await, serde_json::json!({"active": false}));

    // The same session's next login no longer acts as the accountant: with no membership left,
    // the person acts as an individual.
    let tokens = authorize_legal(&server, &staff, &staff_csrf, &jwt_rp, "individual").await;
    let claims = decode_jwt_payload(&tokens.id_token().unwrap().to_string());
    assert_eq!(claims["user_type"], "individual", "{claims}");
    assert!(claims.get("roles").is_none(), "{claims}");

    // The audit trail shows the role's end, by the head, about the accountant.
    let audit = server.cli_ok(&["audit", "list"], None);
    let ended = audit.lines().find(|l| l.contains("\trole_ended\t")).unwrap_or_else(|| panic!("{audit}"));
    assert!(ended.contains(&staff_id) && ended.contains("Accountant"), "{ended}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_role_stops_reaching_relying_parties_sqlite() {
    an_expired_role_stops_reaching_relying_parties(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_role_stops_reaching_relying_parties_postgres() {
    an_expired_role_stops_reaching_relying_parties(Backend::Postgres).await;
}

/// A role past its expiry (the date moved into the past in the database: only time would do it
/// otherwise) is refused at every use at once, before the periodic purge ends it.
async fn an_expired_role_stops_reaching_relying_parties(backend: Backend) {
    let (mut server, ca) = server_with_ca(backend);
    server.spawn().await;
    let secret = server.add_client("soliq", &GRANT_TYPES);
    let (head, head_csrf, head_pinfl) = confirmed(&server, &ca, "jamshid").await;
    let (staff, staff_csrf, staff_pinfl) = confirmed(&server, &ca, "dilnoza").await;
    let company = company_certificate(&server, &ca, "company", &head_pinfl, "Direktor", "1");
    assert_eq!(link(&server, &head, &head_csrf, &company).await.1, "/account?done=legal");
    give_accountant_role(&server, &head, &head_csrf, &staff_pinfl, "2099-12-31").await;
    let rp = RelyingParty::discover(&server, "soliq", Some(&secret)).await;
    let tokens = authorize_legal(&server, &staff, &staff_csrf, &rp, &format!("legal:{TIN}:Accountant")).await;
    assert_eq!(userinfo_status(&server, &tokens).await.0, 200);

    server.sql("UPDATE memberships SET expires_at = 1000 WHERE role = 'Accountant'");
    let (status, body) = refresh(&server, "soliq", &secret, &tokens).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    assert_eq!(userinfo_status(&server, &tokens).await.0, 401);
    let access = tokens.access_token().secret().clone();
    assert_eq!(introspect(&server, "soliq", &secret, &access).await, serde_json::json!({"active": false}));
    let tokens = authorize_legal(&server, &staff, &staff_csrf, &rp, "individual").await;
    let claims = decode_jwt_payload(&tokens.id_token().unwrap().to_string());
    assert_eq!(claims["user_type"], "individual", "{claims}");
}

#[tokio::test(flavor = "multi_thread")]
async fn only_a_head_with_a_later_certificate_replaces_the_head_sqlite() {
    only_a_head_with_a_later_certificate_replaces_the_head(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn only_a_head_with_a_later_certificate_replaces_the_head_postgres() {
    only_a_head_with_a_later_certificate_replaces_the_head(Backend::Postgres).await;
}

/// Who is head: a non-head title is refused; an EDS login links nothing; an older certificate
/// cannot replace the head; a newer one is shown the current head first and replaces them on
/// confirmation, which ends the former head's grants; the former head cannot take the company
/// back with their older certificate; a head cannot give themselves a second role.
async fn only_a_head_with_a_later_certificate_replaces_the_head(backend: Backend) {
    let (mut server, ca) = server_with_ca(backend);
    server.spawn().await;
    let secret = server.add_client("soliq", &GRANT_TYPES);
    let rp = RelyingParty::discover(&server, "soliq", Some(&secret)).await;
    let (first, first_csrf, first_pinfl) = confirmed(&server, &ca, "alisher").await;
    let (second, second_csrf, second_pinfl) = confirmed(&server, &ca, "sevara").await;

    // Only a head's title links as head.
    let accountant = company_certificate(&server, &ca, "accountant", &first_pinfl, "Bosh buxgalter", "40");
    let (status, _, html) = link(&server, &first, &first_csrf, &accountant).await;
    assert_eq!(status, 400, "{html}");
    assert!(html.contains("Bosh buxgalter") && html.contains("not a head"), "{html}");
    assert!(!server.cli_ok(&["legal", "list"], None).contains("Chorsu"));
    // A head's title links, whatever its case and spacing.
    let first_head = company_certificate(&server, &ca, "first-head", &first_pinfl, "  DIREKTOR ", "30");
    let (_, to, _) = link(&server, &first, &first_csrf, &first_head).await;
    assert_eq!(to, "/account?done=legal");
    let tokens = authorize_legal(&server, &first, &first_csrf, &rp, &format!("legal:{TIN}:Common For Head")).await;
    assert_eq!(
        decode_jwt_payload(&tokens.id_token().unwrap().to_string())["roles"],
        serde_json::json!(["Common For Head"])
    );

    // A plain EDS login with a company certificate links and replaces nothing.
    let second_head = company_certificate(&server, &ca, "second-head", &second_pinfl, "Direktor", "1");
    let fresh = browser();
    let html = fresh.get(server.url("/login")).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_input(&html, "csrf_token").unwrap();
    let pkcs7 = sign(&server, &fresh, &second_head).await;
    let r = post_form(&fresh, &server, "/login/eds", &[("csrf_token", csrf.as_str()), ("pkcs7", pkcs7.as_str())]).await;
    assert_eq!(location(&r), "/account");
    let members = server.cli_ok(&["legal", "members", TIN], None);
    assert!(members.contains("alisher") && !members.contains("sevara"), "{members}");

    // A certificate issued before the current head's cannot replace them.
    let older = company_certificate(&server, &ca, "older", &second_pinfl, "Direktor", "60");
    let (status, _, html) = link(&server, &second, &second_csrf, &older).await;
    assert_eq!(status, 400, "{html}");
    assert!(html.contains("issued before"), "{html}");

    // A later certificate: the current head is shown first, on a page of its own (a 303 to it),
    // nothing changes yet.
    let (status, to, html) = link(&server, &second, &second_csrf, &second_head).await;
    assert_eq!(status, 303, "{html}");
    assert!(to.starts_with("/account/legal/replace?pending="), "{to}");
    let html = second.get(server.url(&to)).send().await.unwrap().text().await.unwrap();
    // The current head's name is the one their certificate confirmed ("HEAD PERSON"), masked.
    assert!(html.contains("H*** P*****") && html.contains("DIREKTOR") && html.contains("Chorsu Savdo"), "{html}");
    let members = server.cli_ok(&["legal", "members", TIN], None);
    assert!(members.contains("alisher") && !members.contains("sevara"), "{members}");
    // Confirmation without this browser's CSRF token is refused.
    assert_eq!(confirm_replacement(&second, &server, "forged", &html).await.status().as_u16(), 400);
    let r = confirm_replacement(&second, &server, &second_csrf, &html).await;
    assert_eq!(location(&r), "/account?done=legal");
    let members = server.cli_ok(&["legal", "members", TIN], None);
    assert!(members.contains("sevara") && !members.contains("alisher"), "{members}");

    // The former head's grants as head ended with the membership.
    let (status, body) = refresh(&server, "soliq", &secret, &tokens).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    assert_eq!(userinfo_status(&server, &tokens).await.0, 401);
    // Their session no longer acts for the company: with no membership left, as an individual.
    let tokens = authorize_legal(&server, &first, &first_csrf, &rp, "individual").await;
    assert_eq!(decode_jwt_payload(&tokens.id_token().unwrap().to_string())["user_type"], "individual");
    // Nor can they take the company back with their older certificate.
    let (status, _, html) = link(&server, &first, &first_csrf, &first_head).await;
    assert_eq!(status, 400, "{html}");
    assert!(html.contains("issued before"), "{html}");

    // The head cannot give themselves a second role.
    let r = post_form(
        &second,
        &server,
        "/account/legal/grant",
        &[("csrf_token", second_csrf.as_str()), ("tin", TIN), ("pinfl", second_pinfl.as_str()), ("role", "Accountant")],
    )
    .await;
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().await.unwrap().contains("yourself"));
    assert!(!server.cli_ok(&["legal", "members", TIN], None).contains("Accountant"));

    // The audit trail shows the replacement with both certificates' dates.
    let audit = server.cli_ok(&["audit", "list"], None);
    let replaced = audit.lines().find(|l| l.contains("\thead_replaced\t")).unwrap_or_else(|| panic!("{audit}"));
    assert!(replaced.contains(TIN) && replaced.contains("certificate_valid_from"), "{replaced}");
}
