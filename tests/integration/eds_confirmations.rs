//! Issue 14, item 12: the cabinet's signing forms are post/redirect/get. The EDS certificate
//! preview and the head-replacement question are GET pages naming a signature kept server-side
//! (bound to the browser and the account, single use, short-lived); the signature never travels
//! back through a hidden field, reloading shows the same page, confirming works once, and a
//! confirmation that is spent, expired, or another browser's or account's is a page saying so,
//! never a 500.

use yagona_tests::{browser, hidden_input, location, post_form, reqwest, Backend, TestServer};

use crate::eds::{issue, page, server_with_ca, sign_challenge};
use crate::legal::{password_login, post_signed, sign};
use crate::legal_live::confirmed;

/// The page a spent, expired or foreign confirmation gets: 400, readable, with a way on.
async fn assert_expired_page(r: reqwest::Response, what: &str) {
    assert_eq!(r.status(), 400, "{what}");
    let html = r.text().await.unwrap();
    assert!(html.contains("This page has expired") && html.contains("This confirmation has expired"), "{what}: {html}");
    assert!(html.contains("id=\"error-way-on\"") && html.contains("href=\"/account\""), "{what}: a way on: {html}");
}

/// The `<dl id=ID>` of a page (the data it shows), for comparing two loads of it.
fn section(html: &str, id: &str) -> String {
    let start = html.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no #{id}: {html}"));
    html[start..].split("</dl>").next().unwrap().to_owned()
}

/// The certificates listed in the cabinet.
async fn certificates(b: &reqwest::Client, server: &TestServer) -> usize {
    let cabinet = page(b, server, "/account").await;
    cabinet
        .split("id=\"certificates\"")
        .nth(1)
        .map_or(0, |list| list.split("</ul>").next().unwrap().matches("<li>").count())
}

async fn confirm_bind(b: &reqwest::Client, server: &TestServer, csrf: &str, pending: &str) -> reqwest::Response {
    post_form(b, server, "/account/eds/bind", &[("csrf_token", csrf), ("pending", pending)]).await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_eds_preview_is_a_page_confirmed_once_sqlite() {
    the_eds_preview_is_a_page_confirmed_once(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_eds_preview_is_a_page_confirmed_once_postgres() {
    the_eds_preview_is_a_page_confirmed_once(Backend::Postgres).await;
}

async fn the_eds_preview_is_a_page_confirmed_once(backend: Backend) {
    let (mut server, ca) = server_with_ca(backend);
    server.spawn().await;
    let (login, password) = server.add_person("bahrom");
    let (other_login, other_password) = server.add_person("sevara");
    let mine = yagona_tests::person_pinfl("bahrom");
    let p12 = issue(&server, &ca, "TOSHEV BAHROM", &mine, &[]);
    let (b, csrf) = password_login(&server, &login, &password).await;

    // The signing form's POST answers 303 to the preview page.
    let pkcs7 = sign_challenge(&server, &b, &p12).await;
    let r = post_form(&b, &server, "/account/eds/preview", &[("csrf_token", csrf.as_str()), ("pkcs7", pkcs7.as_str())])
        .await;
    assert_eq!(r.status(), 303);
    let preview_url = location(&r);
    assert!(preview_url.starts_with("/account/eds/preview?pending="), "{preview_url}");
    let html = page(&b, &server, &preview_url).await;
    assert!(html.contains("TOSHEV BAHROM") && html.contains(&mine), "{html}");
    assert!(!html.contains(&pkcs7) && hidden_input(&html, "pkcs7").is_none(), "the signature stays on the server");
    let pending = hidden_input(&html, "pending").unwrap();
    // Reloading shows the same preview.
    let again = b.get(server.url(&preview_url)).send().await.unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(section(&again.text().await.unwrap(), "certificate"), section(&html, "certificate"));
    // The signature itself cannot be posted again: its challenge was spent.
    let r = post_form(&b, &server, "/account/eds/preview", &[("csrf_token", csrf.as_str()), ("pkcs7", pkcs7.as_str())])
        .await;
    assert!(r.text().await.unwrap().contains("expired or was already used"));

    // Another browser of the same person: neither the page nor the confirmation.
    let (other_browser, other_csrf) = password_login(&server, &login, &password).await;
    assert_expired_page(other_browser.get(server.url(&preview_url)).send().await.unwrap(), "another browser's page")
        .await;
    assert_expired_page(confirm_bind(&other_browser, &server, &other_csrf, &pending).await, "another browser").await;
    // Another account in the same browser: neither.
    let r = post_form(
        &b,
        &server,
        "/login",
        &[("login", other_login.as_str()), ("password", other_password.as_str()), ("csrf_token", csrf.as_str())],
    )
    .await;
    assert_eq!(location(&r), "/account");
    assert_expired_page(b.get(server.url(&preview_url)).send().await.unwrap(), "another account's page").await;
    assert_expired_page(confirm_bind(&b, &server, &csrf, &pending).await, "another account").await;
    assert!(server.cli_ok(&["account", "show", &login], None).contains("unconfirmed"), "nothing was bound");
    // Without this browser's CSRF token: refused, and the confirmation still waits.
    let r =
        post_form(&b, &server, "/login", &[("login", login.as_str()), ("password", &password), ("csrf_token", &csrf)])
            .await;
    assert_eq!(location(&r), "/account");
    assert_eq!(confirm_bind(&b, &server, "forged", &pending).await.status(), 400);

    // The owner confirms, once: of five confirmations at the same moment, one binds.
    let attempts = futures_util::future::join_all((0..5).map(|_| confirm_bind(&b, &server, &csrf, &pending))).await;
    let (bound, refused): (Vec<_>, Vec<_>) = attempts.into_iter().partition(|r| r.status() == 303);
    assert_eq!(bound.len(), 1, "one confirmation binds");
    assert_eq!(location(&bound[0]), "/account?done=eds");
    for r in refused {
        assert_expired_page(r, "a concurrent confirmation").await;
    }
    assert!(server.cli_ok(&["account", "show", &login], None).contains("status:      confirmed"));
    assert_eq!(certificates(&b, &server).await, 1);
    assert_expired_page(confirm_bind(&b, &server, &csrf, &pending).await, "a replay").await;
    // Back to the preview after confirming: a page saying it is done with, no form to resubmit.
    assert_expired_page(b.get(server.url(&preview_url)).send().await.unwrap(), "the spent page").await;

    // An expired preview (a renewed certificate signed, then left too long).
    let renewed = issue(&server, &ca, "TOSHEV BAHROM", &mine, &["--alg", "ecdsa"]);
    let r = post_form(
        &b,
        &server,
        "/account/eds/preview",
        &[("csrf_token", csrf.as_str()), ("pkcs7", sign_challenge(&server, &b, &renewed).await.as_str())],
    )
    .await;
    let preview_url = location(&r);
    let pending = hidden_input(&page(&b, &server, &preview_url).await, "pending").unwrap();
    server.sql("UPDATE pending_signatures SET expires_at = 0");
    assert_expired_page(b.get(server.url(&preview_url)).send().await.unwrap(), "an expired page").await;
    assert_expired_page(confirm_bind(&b, &server, &csrf, &pending).await, "an expired confirmation").await;
    assert_eq!(certificates(&b, &server).await, 1, "the expired preview bound nothing");
    // A missing or made-up id is the same page.
    assert_expired_page(b.get(server.url("/account/eds/preview")).send().await.unwrap(), "no id").await;
    assert_expired_page(confirm_bind(&b, &server, &csrf, "made-up").await, "a made-up id").await;
    // Signed out, the pages lead to the login.
    let signed_out = browser();
    assert_eq!(location(&signed_out.get(server.url(&preview_url)).send().await.unwrap()), "/login");
    assert!(!server.log().contains("status=500"), "no server error");
}

const TIN: &str = "306666666";
const ORG: &str = "\"Samarqand Non\" MChJ";

fn company(server: &TestServer, ca: &std::path::Path, file: &str, pinfl: &str, days_before: &str) -> String {
    crate::legal::issue(
        server,
        ca,
        file,
        pinfl,
        &["--tin", TIN, "--org", ORG, "--title", "Direktor", "--days-before", days_before],
    )
}

async fn confirm_replace(b: &reqwest::Client, server: &TestServer, csrf: &str, pending: &str) -> reqwest::Response {
    post_form(b, server, "/account/legal/replace", &[("csrf_token", csrf), ("pending", pending)]).await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_head_replacement_question_is_a_page_confirmed_once_sqlite() {
    the_head_replacement_question_is_a_page_confirmed_once(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_head_replacement_question_is_a_page_confirmed_once_postgres() {
    the_head_replacement_question_is_a_page_confirmed_once(Backend::Postgres).await;
}

async fn the_head_replacement_question_is_a_page_confirmed_once(backend: Backend) {
    let (mut server, ca) = server_with_ca(backend);
    server.spawn().await;
    let (first, first_csrf, first_pinfl) = confirmed(&server, &ca, "alisher").await;
    let (second, second_csrf, second_pinfl) = confirmed(&server, &ca, "sevara").await;
    let members = |server: &TestServer| server.cli_ok(&["legal", "members", TIN], None);
    let first_head = company(&server, &ca, "first-head", &first_pinfl, "30");
    let (_, to, _) =
        post_signed(&first, &server, "/account/legal/link", &first_csrf, &sign(&server, &first, &first_head).await)
            .await;
    assert_eq!(to, "/account?done=legal");

    // A later certificate of another person: 303 to the question, a page of its own.
    let second_head = company(&server, &ca, "second-head", &second_pinfl, "10");
    let pkcs7 = sign(&server, &second, &second_head).await;
    let (status, question_url, _) = post_signed(&second, &server, "/account/legal/link", &second_csrf, &pkcs7).await;
    assert_eq!(status, 303);
    assert!(question_url.starts_with("/account/legal/replace?pending="), "{question_url}");
    let html = page(&second, &server, &question_url).await;
    assert!(html.contains("H*** P*****") && html.contains("Samarqand Non"), "{html}");
    assert!(!html.contains(&pkcs7) && hidden_input(&html, "pkcs7").is_none(), "the signature stays on the server");
    let pending = hidden_input(&html, "pending").unwrap();
    assert_eq!(section(&page(&second, &server, &question_url).await, "current-head"), section(&html, "current-head"));

    // The current head's browser (another browser and account) can neither see nor confirm it.
    assert_expired_page(first.get(server.url(&question_url)).send().await.unwrap(), "another browser's page").await;
    assert_expired_page(confirm_replace(&first, &server, &first_csrf, &pending).await, "another browser").await;
    // The cabinet's EDS confirmation does not take it either (another purpose).
    assert_expired_page(
        post_form(
            &second,
            &server,
            "/account/eds/bind",
            &[("csrf_token", second_csrf.as_str()), ("pending", &pending)],
        )
        .await,
        "another purpose",
    )
    .await;
    assert_eq!(confirm_replace(&second, &server, "forged", &pending).await.status(), 400);
    assert!(members(&server).contains("alisher") && !members(&server).contains("sevara"));

    // Confirmed once: Sevara heads the company; a replay is refused with the page.
    let r = confirm_replace(&second, &server, &second_csrf, &pending).await;
    assert_eq!(location(&r), "/account?done=legal");
    assert!(members(&server).contains("sevara") && !members(&server).contains("alisher"), "{}", members(&server));
    assert_expired_page(confirm_replace(&second, &server, &second_csrf, &pending).await, "a replay").await;
    assert_expired_page(second.get(server.url(&question_url)).send().await.unwrap(), "the spent page").await;

    // A question overtaken: Alisher, with the newest certificate, is asked about Sevara; before he
    // answers, Bobur (a certificate later than Sevara's) replaces her. Alisher's answer was about
    // Sevara: it must not replace Bobur, whom he was never shown.
    let (third, third_csrf, third_pinfl) = confirmed(&server, &ca, "bobur").await;
    let newest = company(&server, &ca, "newest-head", &first_pinfl, "0");
    let (_, overtaken_url, _) =
        post_signed(&first, &server, "/account/legal/link", &first_csrf, &sign(&server, &first, &newest).await).await;
    let overtaken = hidden_input(&page(&first, &server, &overtaken_url).await, "pending").unwrap();
    let third_head = company(&server, &ca, "third-head", &third_pinfl, "5");
    let (_, third_url, _) =
        post_signed(&third, &server, "/account/legal/link", &third_csrf, &sign(&server, &third, &third_head).await)
            .await;
    let third_pending = hidden_input(&page(&third, &server, &third_url).await, "pending").unwrap();
    assert_eq!(location(&confirm_replace(&third, &server, &third_csrf, &third_pending).await), "/account?done=legal");
    assert!(members(&server).contains("bobur") && !members(&server).contains("sevara"));
    assert_expired_page(first.get(server.url(&overtaken_url)).send().await.unwrap(), "a question overtaken").await;
    let answer = confirm_replace(&first, &server, &first_csrf, &overtaken).await;
    let (status, said) = (answer.status(), answer.text().await.unwrap());
    let refusal =
        ["Confirm first that you replace the current head.", "Avval hozirgi rahbarni almashtirishni tasdiqlang."];
    assert!(status == 400 && refusal.iter().any(|r| said.contains(r)), "{status}: the cabinet says why: {said}");
    assert!(members(&server).contains("bobur") && !members(&server).contains("alisher"), "{}", members(&server));

    // An expired question: Alisher, with a newer certificate, asks to replace Bobur, too late.
    let newer = company(&server, &ca, "newer-head", &first_pinfl, "0");
    let (status, question_url, _) =
        post_signed(&first, &server, "/account/legal/link", &first_csrf, &sign(&server, &first, &newer).await).await;
    assert_eq!(status, 303);
    let pending = hidden_input(&page(&first, &server, &question_url).await, "pending").unwrap();
    server.sql("UPDATE pending_signatures SET expires_at = 0");
    assert_expired_page(first.get(server.url(&question_url)).send().await.unwrap(), "an expired page").await;
    assert_expired_page(confirm_replace(&first, &server, &first_csrf, &pending).await, "expired").await;
    assert!(members(&server).contains("bobur") && !members(&server).contains("alisher"), "nothing changed");
    assert!(!server.log().contains("status=500"), "no server error");
}
