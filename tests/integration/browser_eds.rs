//! EDS in headless Chromium with the in-browser signer (/assets/eds.js): a .p12 key file from the
//! development CA is decrypted and used in the page with WebCrypto.

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge, RedirectUrl,
    TokenResponse,
};
use yagona_tests::chrome::{Callback, Chrome};
use yagona_tests::{query_param, Backend, TestServer};

use crate::registration::pinfl;

const HIGH: &str = "http://eidas.europa.eu/LoA/high";

fn server_with_ca() -> (TestServer, std::path::PathBuf) {
    let mut server = TestServer::new(Backend::Sqlite, &[]);
    let ca = server.dir.join("ca");
    server.cli_ok(&["pki", "dev-ca", "init", "--out", ca.to_str().unwrap()], None);
    server.set_env("YAGONA_EDS__TRUST_ANCHORS", &format!("[\"{}\"]", ca.join("ca.pem").display()));
    server.set_env("YAGONA_EDS__CRLS", &format!("[\"{}\"]", ca.join("crl.der").display()));
    (server, ca)
}

fn issue(server: &TestServer, ca: &std::path::Path, name: &str, pinfl: &str, alg: &str) -> String {
    let out = ca.join(format!("{pinfl}.p12")).to_str().unwrap().to_owned();
    server.cli_ok(
        &[
            "pki",
            "issue",
            "--ca",
            ca.to_str().unwrap(),
            "--pinfl",
            pinfl,
            "--name",
            name,
            "--alg",
            alg,
            "--out",
            &out,
            "--password-stdin",
        ],
        Some("kalit-paroli\n"),
    );
    out
}

/// Issues a certificate of the head of "Farrux Invest" (TIN 307777777), valid from
/// `days_before` days ago; returns its key file.
fn issue_company(
    server: &TestServer,
    ca: &std::path::Path,
    file: &str,
    pinfl: &str,
    name: &str,
    days_before: &str,
) -> String {
    let out = ca.join(format!("{file}.p12")).to_str().unwrap().to_owned();
    let ca = ca.to_str().unwrap();
    server.cli_ok(
        &["pki", "issue", "--ca", ca, "--pinfl", pinfl, "--name", name, "--tin", "307777777"]
            .into_iter()
            .chain(["--org", "\"Farrux Invest\" MChJ", "--title", "Direktor", "--days-before", days_before])
            .chain(["--out", &out, "--password-stdin"])
            .collect::<Vec<_>>(),
        Some("kalit-paroli\n"),
    );
    out
}

/// Picks the key file, types its password and signs.
async fn sign_with_key_file(chrome: &Chrome, p12: &str, password: &str) {
    let file = chrome.client.find(fantoccini_css("#eds-file")).await.unwrap();
    file.send_keys(p12).await.unwrap();
    chrome.fill("#eds-password", password).await;
    chrome.submit("#eds-sign").await;
}

fn fantoccini_css(css: &str) -> yagona_tests::chrome::fantoccini::Locator<'_> {
    yagona_tests::chrome::fantoccini::Locator::Css(css)
}

#[tokio::test(flavor = "multi_thread")]
async fn confirm_an_account_and_step_up_to_high_with_the_in_browser_signer() {
    let (mut server, ca) = server_with_ca();
    server.spawn().await;
    let callback = Callback::start().await;
    let redirect = format!("{}/callback", callback.base_url);
    server.cli_ok(
        &[
            "client",
            "add",
            "--id",
            "soliq",
            "--name",
            "Soliq",
            "--redirect-uri",
            &redirect,
            "--secret",
            "soliq-secret-123",
            "--first-party",
        ],
        None,
    );
    let (login, password) = server.add_person("gulnora");
    let p12 = issue(&server, &ca, "USMONOVA GULNORA", &yagona_tests::person_pinfl("gulnora"), "rsa");

    let chrome = Chrome::start("en").await;
    chrome.goto(&server.url("/login")).await;
    chrome.fill("#login", &login).await;
    chrome.fill("#password", &password).await;
    chrome.submit("form[action='/login'] button[type=submit]").await;
    assert_eq!(chrome.path().await, "/account");

    // Register EDS: sign in the page, see the certificate, save.
    sign_with_key_file(&chrome, &p12, "kalit-paroli").await;
    // The signing form's POST was answered with a redirect: the preview is a GET page.
    let preview = chrome.path().await;
    assert!(preview.starts_with("/account/eds/preview?pending="), "{preview}");
    let certificate = chrome.text("#certificate").await;
    assert!(certificate.contains("USMONOVA GULNORA"), "{certificate}");
    // Reload, Back and Forward load it again without resubmitting anything.
    chrome.client.refresh().await.unwrap();
    assert_eq!((chrome.path().await, chrome.text("#certificate").await), (preview.clone(), certificate.clone()));
    chrome.client.back().await.unwrap();
    assert_eq!(chrome.path().await, "/account", "Back leads to the cabinet, not to a form's POST");
    chrome.client.forward().await.unwrap();
    assert_eq!((chrome.path().await, chrome.text("#certificate").await), (preview.clone(), certificate));
    chrome.screenshot("eds-preview").await;
    chrome.assert_fits_phone("eds-preview").await;
    chrome.submit("#eds-save").await;
    assert!(chrome.text("#notice").await.contains("the account is confirmed"));
    assert!(chrome.text("#status").await.contains("Confirmed with EDS"));
    // Back to the preview once saved (the browser may show it from its back/forward cache),
    // and reloaded: a GET, never a resubmission; the page says it is done with, and leads on.
    chrome.client.back().await.unwrap();
    assert_eq!(chrome.path().await, preview);
    chrome.client.refresh().await.unwrap();
    assert!(chrome.text("h1").await.contains("This page has expired"));
    chrome.submit("#error-way-on").await;
    assert_eq!(chrome.path().await, "/account");

    // A service asks for `high`: the password session is not enough; the EDS login is.
    let http = yagona_tests::http_client();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(server.base_url.clone()).unwrap(), &http).await.unwrap();
    let rp = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new("soliq".into()),
        Some(ClientSecret::new("soliq-secret-123".into())),
    )
    .set_redirect_uri(RedirectUrl::new(redirect.clone()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _, nonce) = rp
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .set_pkce_challenge(challenge)
        .add_extra_param("acr_values", HIGH)
        .url();
    chrome.goto(url.as_str()).await;
    assert!(chrome.path().await.starts_with("/login?"));
    assert!(chrome.text("#eds-required").await.contains("requires sign-in with your electronic digital signature"));
    chrome.screenshot("eds-login").await;
    chrome.assert_fits_phone("eds-login").await;
    sign_with_key_file(&chrome, &p12, "kalit-paroli").await;
    let landed = chrome.url().await;
    assert!(landed.starts_with(&redirect), "{landed}");
    let tokens = rp
        .exchange_code(AuthorizationCode::new(query_param(&landed, "code").unwrap()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    let claims = tokens.id_token().unwrap().claims(&rp.id_token_verifier(), &nonce).unwrap();
    assert_eq!(claims.auth_context_ref().unwrap().as_str(), HIGH);
    assert_eq!(claims.auth_method_refs().unwrap()[0].as_str(), "swk");
    chrome.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_foreign_citizens_first_eds_login_and_a_revoked_certificate() {
    let (mut server, ca) = server_with_ca();
    let foreigner = issue(&server, &ca, "MÜLLER ANNA", &pinfl(777), "ecdsa");
    let revoked = issue(&server, &ca, "REVOKED PERSON", &pinfl(778), "rsa");
    server.cli_ok(&["pki", "revoke", "--ca", ca.to_str().unwrap(), "--cert", &revoked.replace(".p12", ".crt")], None);
    server.spawn().await;

    let chrome = Chrome::start("en").await;
    // A wrong password is said so, in the page.
    chrome.goto(&server.url("/login")).await;
    let file = chrome.client.find(fantoccini_css("#eds-file")).await.unwrap();
    file.send_keys(&foreigner).await.unwrap();
    chrome.fill("#eds-password", "wrong").await;
    chrome.click("#eds-sign").await;
    let mut said = String::new();
    for _ in 0..100 {
        said = chrome.text("#eds-status").await;
        if said.contains("password is wrong") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(said.contains("password is wrong"), "{said}");
    // An error, not a grey hint (issue 14, item 11).
    assert_eq!(chrome.attribute("#eds-status", "class").await.as_deref(), Some("status error"));
    assert_eq!(chrome.attribute("#eds-status", "role").await.as_deref(), Some("alert"));
    // A file that is not a key file is told apart from a wrong password.
    chrome.goto(&server.url("/login")).await;
    let file = chrome.client.find(fantoccini_css("#eds-file")).await.unwrap();
    file.send_keys(&foreigner.replace(".p12", ".crt")).await.unwrap();
    chrome.fill("#eds-password", "kalit-paroli").await;
    chrome.click("#eds-sign").await;
    for _ in 0..100 {
        said = chrome.text("#eds-status").await;
        if said.contains("not a key file") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(said.contains("This is not a key file"), "{said}");
    chrome.screenshot("eds-not-a-key-file").await;
    chrome.goto(&server.url("/login")).await;
    let file = chrome.client.find(fantoccini_css("#eds-file")).await.unwrap();
    file.send_keys(&foreigner).await.unwrap();

    // The right password: no account has this PINFL, so the first-login page offers one.
    chrome.fill("#eds-password", "kalit-paroli").await;
    chrome.submit("#eds-sign").await;
    assert_eq!(chrome.path().await, "/login/eds/signup");
    assert!(chrome.text("#certificate").await.contains("MÜLLER ANNA"));
    chrome.click("#accept_offer").await;
    chrome.submit("#eds-create").await;
    assert_eq!(chrome.path().await, "/account");
    assert!(chrome.text("#status").await.contains("Confirmed with EDS"));
    chrome.close().await;

    // A revoked certificate is refused with its date.
    let chrome = Chrome::start("en").await;
    chrome.goto(&server.url("/login")).await;
    sign_with_key_file(&chrome, &revoked, "kalit-paroli").await;
    let error = chrome.text("#login-error").await;
    assert!(error.contains("was revoked on"), "{error}");
    chrome.screenshot("eds-revoked").await;
    chrome.close().await;
}

/// A stand-in for E-IMZO's local WebSocket API, speaking the documented messages
/// (`pfx.list_all_certificates`, `pfx.load_key`, `pkcs7.create_pkcs7 [data_b64, keyId, 'no']`), and
/// signing with a development-CA key file as E-IMZO would with the person's key.
struct EimzoStandIn {
    url: String,
    messages: std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
}

/// An E-IMZO key alias as E-IMZO lists it: the subject's fields, then the validity.
const ALIAS: &str = "cn=usmonova gulnora,name=gulnora,surname=usmonova,uid=412345678,1.2.860.3.16.1.2=31205900260011,\
                     validfrom=2025.01.01 00:00:00,validto=2099.12.31 23:59:59,serialnumber=7a1b";

impl EimzoStandIn {
    async fn start(p12: String) -> EimzoStandIn {
        use futures_util::{SinkExt as _, StreamExt as _};
        use tokio_tungstenite::tungstenite::Message;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://127.0.0.1:{}/service/cryptapi", listener.local_addr().unwrap().port());
        let messages = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let recorded = messages.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (recorded, p12) = (recorded.clone(), p12.clone());
                tokio::spawn(async move {
                    let Ok(mut socket) = tokio_tungstenite::accept_async(stream).await else { return };
                    let Some(Ok(Message::Text(text))) = socket.next().await else { return };
                    let request: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
                    recorded.lock().unwrap().push(request.clone());
                    let answer = match (request["plugin"].as_str(), request["name"].as_str()) {
                        (Some("pfx"), Some("list_all_certificates")) => serde_json::json!({
                            "success": true,
                            "certificates": [{"disk": "D:", "path": "DSKEYS", "name": "DS3120590026", "alias": ALIAS}],
                        }),
                        (Some("pfx"), Some("load_key")) => serde_json::json!({"success": true, "keyId": "key-1"}),
                        (Some("pkcs7"), Some("create_pkcs7")) => {
                            use base64::Engine as _;
                            let data = request["arguments"][0].as_str().unwrap().to_owned();
                            let text =
                                String::from_utf8(base64::engine::general_purpose::STANDARD.decode(data).unwrap())
                                    .unwrap();
                            let p12 = p12.clone();
                            let pkcs7 = tokio::task::spawn_blocking(move || {
                                let mut child = std::process::Command::new(yagona_tests::yagona_binary())
                                    .args(["pki", "sign", "--p12", &p12, "--password-stdin", "--data", &text])
                                    .stdin(std::process::Stdio::piped())
                                    .stdout(std::process::Stdio::piped())
                                    .spawn()
                                    .unwrap();
                                use std::io::Write as _;
                                child.stdin.take().unwrap().write_all(b"kalit-paroli\n").unwrap();
                                String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap().trim().to_owned()
                            })
                            .await
                            .unwrap();
                            serde_json::json!({"success": true, "pkcs7_64": pkcs7})
                        }
                        _ => serde_json::json!({"success": false, "reason": "unknown"}),
                    };
                    let _ = socket.send(Message::text(answer.to_string())).await;
                });
            }
        });
        EimzoStandIn { url, messages }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_signs_with_e_imzo_when_it_answers() {
    let (mut server, ca) = server_with_ca();
    server.add_person("gulnora");
    let p12 = issue(&server, &ca, "USMONOVA GULNORA", &yagona_tests::person_pinfl("gulnora"), "rsa");
    let eimzo = EimzoStandIn::start(p12).await;
    server.set_env("YAGONA_EDS__EIMZO_URLS", &format!("[\"{}\"]", eimzo.url));
    server.spawn().await;

    let chrome = Chrome::start("en").await;
    chrome.goto(&server.url("/login")).await;
    // The page found E-IMZO: its key list replaces the key-file inputs.
    let mut shown = false;
    for _ in 0..50 {
        if chrome.attribute("#eds-eimzo", "hidden").await.is_none() {
            shown = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(shown, "the E-IMZO key list is shown");
    // The key is listed by name, PINFL and validity, not by its raw alias; a key file stays a choice.
    let listed = chrome.text("#eds-eimzo-keys option").await;
    assert!(listed.starts_with("usmonova gulnora · PINFL 31205900260011 · valid until 2099-12-31"), "{listed}");
    assert!(!listed.contains("cn="), "{listed}");
    let choices = chrome.client.find_all(fantoccini_css("#eds-eimzo-keys option")).await.unwrap();
    assert_eq!(choices.len(), 2, "the E-IMZO key and a key file");
    chrome.submit("#eds-sign").await;
    // The account was registered but never confirmed: the EDS offers to take it over.
    assert_eq!(chrome.path().await, "/login/eds/takeover");
    assert!(chrome.text("#takeover-effects").await.contains("signs it out everywhere"));
    chrome.screenshot("eds-takeover").await;
    chrome.submit("#takeover-confirm").await;
    assert_eq!(chrome.path().await, "/account", "signed in through E-IMZO");
    assert!(chrome.text("#status").await.contains("Confirmed with EDS"));
    let messages = eimzo.messages.lock().unwrap().clone();
    let names: Vec<_> =
        messages.iter().map(|m| format!("{}.{}", m["plugin"].as_str().unwrap(), m["name"].as_str().unwrap())).collect();
    // (The cabinet's own EDS form asks for the key list again when it loads.)
    assert_eq!(names[..3], ["pfx.list_all_certificates", "pfx.load_key", "pkcs7.create_pkcs7"], "{messages:?}");
    assert_eq!(messages[1]["arguments"], serde_json::json!(["D:", "DSKEYS", "DS3120590026", ALIAS]));
    assert_eq!(messages[2]["arguments"][1], "key-1");
    assert_eq!(messages[2]["arguments"][2], "no");
    chrome.close().await;
}

/// Step 8 in a browser: link the company with its EDS, sign out, log in to a service as the
/// company with `Common For Head`; as an individual, no legal claims.
#[tokio::test(flavor = "multi_thread")]
async fn a_head_links_the_company_and_logs_in_to_a_service_as_it() {
    let (mut server, ca) = server_with_ca();
    server.spawn().await;
    let callback = Callback::start().await;
    let redirect = format!("{}/callback", callback.base_url);
    server.cli_ok(
        &[
            "client",
            "add",
            "--id",
            "davxizmat",
            "--name",
            "Davlat xizmati",
            "--redirect-uri",
            &redirect,
            "--secret",
            "davxizmat-secret-1",
            "--first-party",
        ],
        None,
    );
    let (login, password) = server.add_person("farrux");
    let pinfl = yagona_tests::person_pinfl("farrux");
    let personal = issue(&server, &ca, "TOSHMATOV FARRUX", &pinfl, "ecdsa");
    let company = issue_company(&server, &ca, "company", &pinfl, "TOSHMATOV FARRUX", "1");

    let chrome = Chrome::start("en").await;
    chrome.goto(&server.url("/login")).await;
    chrome.fill("#login", &login).await;
    chrome.fill("#password", &password).await;
    chrome.submit("form[action='/login'] button[type=submit]").await;
    // Confirm the account, then link the company, both with the in-browser signer.
    sign_with_key_file(&chrome, &personal, "kalit-paroli").await;
    chrome.submit("#eds-save").await;
    let file = chrome.client.find(fantoccini_css("#legal-file")).await.unwrap();
    file.send_keys(&company).await.unwrap();
    chrome.fill("#legal-password", "kalit-paroli").await;
    chrome.submit("#legal-sign").await;
    assert!(chrome.text("#notice").await.contains("The legal entity is linked"));
    let memberships = chrome.text("#memberships").await;
    assert!(memberships.contains("Farrux Invest") && memberships.contains("Common For Head"), "{memberships}");
    chrome.screenshot("cabinet-legal").await;
    chrome.assert_fits_phone("cabinet-legal").await;
    chrome.goto(&server.url("/end_session")).await;
    chrome.submit("button[name=logout]").await;

    let http = yagona_tests::http_client();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(server.base_url.clone()).unwrap(), &http).await.unwrap();
    let rp = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new("davxizmat".into()),
        Some(ClientSecret::new("davxizmat-secret-1".into())),
    )
    .set_redirect_uri(RedirectUrl::new(redirect.clone()).unwrap());
    let log_in_as = |choice: &'static str| {
        let (chrome, rp, http, server, login, password, redirect) =
            (&chrome, &rp, &http, &server, &login, &password, &redirect);
        async move {
            let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
            let (url, _, nonce) = rp
                .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
                .add_scope(openidconnect::Scope::new("legal".into()))
                .set_pkce_challenge(challenge)
                .url();
            chrome.goto(url.as_str()).await;
            chrome.fill("#login", login).await;
            chrome.fill("#password", password).await;
            chrome.submit("form[action='/login'] button[type=submit]").await;
            assert!(chrome.path().await.starts_with("/act_as?"), "{}", chrome.path().await);
            chrome.click(&format!("input[value='{choice}']")).await;
            chrome.screenshot("act-as").await;
            chrome.assert_fits_phone("act-as").await;
            chrome.submit("#act-as-continue").await;
            let landed = chrome.url().await;
            assert!(landed.starts_with(redirect.as_str()), "{landed}");
            let tokens = rp
                .exchange_code(AuthorizationCode::new(query_param(&landed, "code").unwrap()))
                .unwrap()
                .set_pkce_verifier(verifier)
                .request_async(http)
                .await
                .unwrap();
            let id_token = tokens.id_token().unwrap().clone();
            id_token.claims(&rp.id_token_verifier(), &nonce).expect("the ID token verifies");
            chrome.goto(&server.url("/end_session")).await;
            chrome.submit("button[name=logout]").await;
            crate::flow::decode_jwt_payload(&id_token.to_string())
        }
    };
    let claims = log_in_as("legal:307777777:Common For Head").await;
    assert_eq!(claims["user_type"], "legal_entity");
    assert_eq!(claims["legal_entity"]["tin"], "307777777");
    assert_eq!(claims["legal_entity"]["short_name"], "Farrux Invest");
    assert_eq!(claims["roles"], serde_json::json!(["Common For Head"]));
    let claims = log_in_as("individual").await;
    assert_eq!(claims["user_type"], "individual");
    assert!(claims.get("legal_entity").is_none() && claims.get("roles").is_none());

    // A newer head (confirmed, her company certificate issued after Farrux's) signs in the
    // cabinet: the question of replacing him is a page of its own (post/redirect/get).
    let (_, _, her_pinfl) = crate::legal_live::confirmed(&server, &ca, "nodira").await;
    let newer = issue_company(&server, &ca, "newer-company", &her_pinfl, "SOLIYEVA NODIRA", "0");
    chrome.goto(&server.url("/login")).await;
    chrome.fill("#login", "nodira").await;
    chrome.fill("#password", "Samarqand-Registon-1").await;
    chrome.submit("form[action='/login'] button[type=submit]").await;
    let file = chrome.client.find(fantoccini_css("#legal-file")).await.unwrap();
    file.send_keys(&newer).await.unwrap();
    chrome.fill("#legal-password", "kalit-paroli").await;
    chrome.submit("#legal-sign").await;
    let question = chrome.path().await;
    assert!(question.starts_with("/account/legal/replace?pending="), "{question}");
    let current = chrome.text("#current-head").await;
    assert!(current.contains("T******** F*****"), "{current}");
    chrome.client.refresh().await.unwrap();
    assert_eq!((chrome.path().await, chrome.text("#current-head").await), (question.clone(), current));
    chrome.screenshot("legal-replace").await;
    chrome.assert_fits_phone("legal-replace").await;
    chrome.submit("#legal-replace").await;
    assert!(chrome.text("#notice").await.contains("The legal entity is linked"));
    chrome.client.back().await.unwrap();
    assert_eq!(chrome.path().await, question);
    chrome.client.refresh().await.unwrap();
    assert!(chrome.text("h1").await.contains("This page has expired"));
    chrome.close().await;
}
