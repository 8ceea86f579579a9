//! EDS over HTTP: challenges, login with `acr` high, certificate binding in the cabinet, the
//! first EDS login, and refused certificates. Key files come from the project's own dev CA
//! (`yagona pki ...`), signatures from `yagona pki sign`, as E-IMZO's create_pkcs7 makes them.

use openidconnect::TokenResponse;
use serde_json::Value;
use yagona_tests::{browser, hidden_input, location, post_form, query_param, reqwest, Backend, TestServer};

use crate::flow::decode_jwt_payload;
use crate::registration::pinfl;
use crate::rp::RelyingParty;

const HIGH: &str = "http://eidas.europa.eu/LoA/high";

/// A server (not started) that trusts a fresh development CA kept in its data folder.
pub(crate) fn server_with_ca(backend: Backend) -> (TestServer, std::path::PathBuf) {
    let mut server = TestServer::new(backend, &[]);
    let ca = server.dir.join("ca");
    server.cli_ok(&["pki", "dev-ca", "init", "--out", ca.to_str().unwrap()], None);
    server.set_env("YAGONA_EDS__TRUST_ANCHORS", &format!("[\"{}\"]", ca.join("ca.pem").display()));
    server.set_env("YAGONA_EDS__CRLS", &format!("[\"{}\"]", ca.join("crl.der").display()));
    (server, ca)
}

/// Issues a key file for `pinfl`; returns its path.
pub(crate) fn issue(server: &TestServer, ca: &std::path::Path, name: &str, pinfl: &str, extra: &[&str]) -> String {
    let out = ca.join(format!("{}.p12", pinfl));
    let mut args = vec!["pki", "issue", "--ca", ca.to_str().unwrap(), "--pinfl", pinfl, "--name", name, "--out"];
    let out_text = out.to_str().unwrap().to_owned();
    args.push(&out_text);
    args.push("--password-stdin");
    args.extend_from_slice(extra);
    server.cli_ok(&args, Some("key-password\n"));
    out_text
}

/// Signs a challenge of this browser with a key file, as the browser would.
pub(crate) async fn sign_challenge(server: &TestServer, b: &reqwest::Client, p12: &str) -> String {
    let r = b.post(server.url("/eds/challenge")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["ttl"], 120);
    let challenge = body["challenge"].as_str().unwrap().to_owned();
    server
        .cli_ok(&["pki", "sign", "--p12", p12, "--password-stdin", "--data", &challenge], Some("key-password\n"))
        .trim()
        .to_owned()
}

pub(crate) async fn page(b: &reqwest::Client, server: &TestServer, path: &str) -> String {
    b.get(server.url(path)).send().await.unwrap().text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn eds_login_steps_up_to_high_and_confirms_the_account() {
    for backend in Backend::ALL {
        let (mut server, ca) = server_with_ca(backend);
        server.spawn().await;
        let secret = server.add_client("soliq", &["--first-party"]);
        let (login, password) = server.add_person("alisher");
        let person_pinfl = yagona_tests::person_pinfl("alisher");
        let p12 = issue(&server, &ca, "KARIMOV ALISHER ANVAROVICH", &person_pinfl, &[]);
        let rp = RelyingParty::discover(&server, "soliq", Some(&secret)).await;
        let b = browser();

        // A password session first.
        let start = rp.start(&[], &[]);
        yagona_tests::sign_in(&b, &server.base_url, &start.url, &login, &password).await;
        // The relying party asks for `high`: the login page asks for EDS only.
        let start = rp.start(&["profile"], &[("acr_values", HIGH)]);
        let r = b.get(&start.url).send().await.unwrap();
        let login_page = location(&r);
        assert!(login_page.starts_with("/login?"), "step-up shows the login page: {login_page}");
        let html = page(&b, &server, &login_page).await;
        assert!(html.contains("id=\"eds-required\"") && !html.contains("name=\"password\""), "{html}");
        let csrf = hidden_input(&html, "csrf_token").unwrap();
        let interaction = query_param(&server.url(&login_page), "interaction").unwrap();

        let pkcs7 = sign_challenge(&server, &b, &p12).await;
        let form = [("csrf_token", csrf.as_str()), ("pkcs7", pkcs7.as_str()), ("interaction", interaction.as_str())];
        let r = post_form(&b, &server, "/login/eds", &form).await;
        // The account was never confirmed: the EDS takes it over (identity.rs has the details),
        // then the authorization resumes.
        assert_eq!(location(&r), "/login/eds/takeover");
        let r = post_form(&b, &server, "/login/eds/takeover", &[("csrf_token", csrf.as_str())]).await;
        assert_eq!(location(&r), format!("/authorize/resume?interaction={interaction}"));
        let r = b.get(server.url(&location(&r))).send().await.unwrap();
        let callback = location(&r);
        let tokens = rp.redeem(&callback, start.verifier).await;
        let id_token = tokens.id_token().unwrap();
        let claims = id_token.claims(&rp.client.id_token_verifier(), &start.nonce).unwrap();
        assert_eq!(claims.auth_context_ref().unwrap().as_str(), HIGH);
        assert_eq!(claims.auth_method_refs().unwrap()[0].as_str(), "swk");
        assert_eq!(decode_jwt_payload(&id_token.to_string())["account_verified"], true, "the EDS login confirmed it");

        // The same signature again: the challenge is spent.
        let replay = [("csrf_token", csrf.as_str()), ("pkcs7", pkcs7.as_str())];
        let r = post_form(&b, &server, "/login/eds", &replay).await;
        assert_eq!(r.status(), 401);
        assert!(r.text().await.unwrap().contains("expired or was already used"));
        // A challenge of another browser is refused here.
        let other = browser();
        let foreign = sign_challenge(&server, &other, &p12).await;
        let r =
            post_form(&b, &server, "/login/eds", &[("csrf_token", csrf.as_str()), ("pkcs7", foreign.as_str())]).await;
        assert!(r.text().await.unwrap().contains("expired or was already used"));
        // Garbage is a message, not a 500.
        let r = post_form(&b, &server, "/login/eds", &[("csrf_token", csrf.as_str()), ("pkcs7", "bm90IGEgY21z")]).await;
        assert_eq!(r.status(), 401);
        assert!(!server.log().contains("status=500"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cabinet_registers_an_eds_with_the_same_pinfl() {
    let (mut server, ca) = server_with_ca(Backend::Sqlite);
    server.spawn().await;
    let (login, password) = server.add_person("bahrom");
    let (other_login, other_password) = server.add_person("sevara");
    let mine = issue(&server, &ca, "TOSHEV BAHROM", &yagona_tests::person_pinfl("bahrom"), &[]);
    let strangers = issue(&server, &ca, "ALIEVA SEVARA", &yagona_tests::person_pinfl("sevara"), &["--alg", "ecdsa"]);
    let b = browser();
    let html = page(&b, &server, "/login").await;
    let r = post_form(
        &b,
        &server,
        "/login",
        &[
            ("login", login.as_str()),
            ("password", password.as_str()),
            ("csrf_token", hidden_input(&html, "csrf_token").unwrap().as_str()),
        ],
    )
    .await;
    assert_eq!(location(&r), "/account");
    let cabinet = page(&b, &server, "/account").await;
    assert!(cabinet.contains("id=\"eds-form\""));
    let csrf = hidden_input(&cabinet, "csrf_token").unwrap();

    // Another person's certificate is refused with a reason.
    let pkcs7 = sign_challenge(&server, &b, &strangers).await;
    let r = post_form(&b, &server, "/account/eds/preview", &[("csrf_token", csrf.as_str()), ("pkcs7", pkcs7.as_str())])
        .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("belongs to another person"));

    // Mine: preview shows the certificate, saving binds it and confirms the account.
    let pkcs7 = sign_challenge(&server, &b, &mine).await;
    let r = post_form(&b, &server, "/account/eds/preview", &[("csrf_token", csrf.as_str()), ("pkcs7", pkcs7.as_str())])
        .await;
    assert_eq!(r.status(), 303, "the preview is a page of its own");
    let preview = page(&b, &server, &location(&r)).await;
    assert!(preview.contains("TOSHEV BAHROM") && preview.contains(&yagona_tests::person_pinfl("bahrom")), "{preview}");
    let pending = hidden_input(&preview, "pending").unwrap();
    let r =
        post_form(&b, &server, "/account/eds/bind", &[("csrf_token", csrf.as_str()), ("pending", pending.as_str())])
            .await;
    assert_eq!(location(&r), "/account?done=eds");
    let cabinet = page(&b, &server, "/account?done=eds").await;
    assert!(cabinet.contains("Confirmed with EDS") && cabinet.contains("id=\"certificates\""), "{cabinet}");
    assert!(server.cli_ok(&["account", "show", "bahrom"], None).contains("confirmed"));

    // The same certificate cannot confirm someone else's account.
    let b2 = browser();
    let html = page(&b2, &server, "/login").await;
    post_form(
        &b2,
        &server,
        "/login",
        &[
            ("login", other_login.as_str()),
            ("password", other_password.as_str()),
            ("csrf_token", hidden_input(&html, "csrf_token").unwrap().as_str()),
        ],
    )
    .await;
    let csrf2 = hidden_input(&page(&b2, &server, "/account").await, "csrf_token").unwrap();
    let pkcs7 = sign_challenge(&server, &b2, &mine).await;
    let r =
        post_form(&b2, &server, "/account/eds/preview", &[("csrf_token", csrf2.as_str()), ("pkcs7", pkcs7.as_str())])
            .await;
    assert!(r.text().await.unwrap().contains("belongs to another person"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_first_eds_login_creates_a_confirmed_account() {
    let (mut server, ca) = server_with_ca(Backend::Sqlite);
    server.spawn().await;
    let foreigner = pinfl(911);
    let p12 = issue(&server, &ca, "SMITH JOHN", &foreigner, &[]);
    let b = browser();
    let html = page(&b, &server, "/login").await;
    assert!(html.contains("id=\"eds-form\""), "the login page offers EDS");
    let csrf = hidden_input(&html, "csrf_token").unwrap();
    let pkcs7 = sign_challenge(&server, &b, &p12).await;
    let r = post_form(&b, &server, "/login/eds", &[("csrf_token", csrf.as_str()), ("pkcs7", pkcs7.as_str())]).await;
    assert_eq!(location(&r), "/login/eds/signup");
    let signup = page(&b, &server, "/login/eds/signup").await;
    assert!(signup.contains("SMITH JOHN") && signup.contains(&foreigner), "{signup}");
    let r =
        post_form(&b, &server, "/login/eds/signup", &[("csrf_token", csrf.as_str()), ("accept_offer", "yes")]).await;
    assert_eq!(location(&r), "/account");
    let cabinet = page(&b, &server, "/account").await;
    assert!(cabinet.contains("Confirmed with EDS") && cabinet.contains("SMITH JOHN"), "{cabinet}");
    let list = server.cli_ok(&["account", "list"], None);
    assert!(list.contains(&format!("p{foreigner}")) && list.contains("confirmed"), "{list}");

    // Signed in with the EDS, the person sets a password without knowing one (recovery works the
    // same way), then logs in with it.
    assert!(!cabinet.contains("name=\"current_password\""), "no current password asked after an EDS login");
    let csrf = hidden_input(&cabinet, "csrf_token").unwrap();
    let r = post_form(
        &b,
        &server,
        "/account/password",
        &[
            ("csrf_token", csrf.as_str()),
            ("new_password", "Chorsu-Bozori-12"),
            ("new_password_confirm", "Chorsu-Bozori-12"),
        ],
    )
    .await;
    assert_eq!(location(&r), "/account?done=password");
    let fresh = browser();
    let html = page(&fresh, &server, "/login").await;
    let login = format!("p{foreigner}");
    let r = post_form(
        &fresh,
        &server,
        "/login",
        &[
            ("login", login.as_str()),
            ("password", "Chorsu-Bozori-12"),
            ("csrf_token", hidden_input(&html, "csrf_token").unwrap().as_str()),
        ],
    )
    .await;
    assert_eq!(location(&r), "/account");
    // A password session must still give the current password.
    let cabinet = page(&fresh, &server, "/account").await;
    assert!(cabinet.contains("name=\"current_password\""));
}

#[tokio::test(flavor = "multi_thread")]
async fn revoked_and_expired_certificates_are_refused_with_their_reason() {
    let (mut server, ca) = server_with_ca(Backend::Sqlite);
    let revoked = issue(&server, &ca, "REVOKED PERSON", &pinfl(501), &[]);
    let expired = issue(&server, &ca, "EXPIRED PERSON", &pinfl(502), &["--days", "-1", "--days-before", "30"]);
    let early = issue(&server, &ca, "EARLY PERSON", &pinfl(503), &["--days-before", "-2"]);
    // A certificate of a CA the server does not trust.
    let foreign_ca = server.dir.join("foreign-ca");
    server.cli_ok(&["pki", "dev-ca", "init", "--out", foreign_ca.to_str().unwrap()], None);
    let untrusted = issue(&server, &foreign_ca, "FOREIGN PERSON", &pinfl(504), &[]);
    server.cli_ok(&["pki", "revoke", "--ca", ca.to_str().unwrap(), "--cert", &revoked.replace(".p12", ".crt")], None);
    // The CRL comes from its distribution point over HTTP.
    let crl_url = yagona_tests::chrome::serve_file(ca.join("crl.der")).await;
    server.set_env("YAGONA_EDS__CRLS", &format!("[\"{crl_url}\"]"));
    server.spawn().await;
    let b = browser();
    let csrf = hidden_input(&page(&b, &server, "/login").await, "csrf_token").unwrap();
    let today = chrono_today();
    // Each reason has its own message (issue 14, item 11).
    for (p12, message) in [
        (revoked.as_str(), format!("revoked on {today}")),
        (expired.as_str(), "The certificate expired on ".to_owned()),
        (early.as_str(), "The certificate is valid only from ".to_owned()),
        (untrusted.as_str(), "not issued by a certification authority this service trusts".to_owned()),
    ] {
        let pkcs7 = sign_challenge(&server, &b, p12).await;
        let r = post_form(&b, &server, "/login/eds", &[("csrf_token", csrf.as_str()), ("pkcs7", pkcs7.as_str())]).await;
        assert_eq!(r.status(), 401);
        let html = r.text().await.unwrap();
        assert!(html.contains(&message), "{message}: {html}");
    }
}

pub(crate) fn chrono_today() -> String {
    let out = std::process::Command::new("date").args(["-u", "+%Y-%m-%d"]).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A stand-in E-IMZO-server: `POST /frontend/challenge` and `POST /backend/auth`, answering as
/// domain.md documents (`{status, message, subjectCertificateInfo{serialNumber, subjectName,
/// validFrom, validTo}}`; -20 for an unknown challenge).
struct EimzoServerStandIn {
    base_url: String,
    requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl EimzoServerStandIn {
    async fn start(pinfl: String) -> EimzoServerStandIn {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let issued = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let recorded = requests.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (recorded, issued, pinfl) = (recorded.clone(), issued.clone(), pinfl.clone());
                tokio::spawn(async move {
                    let mut raw = Vec::new();
                    let mut buffer = [0u8; 8192];
                    // Read the head, then as much body as Content-Length says.
                    let (head, body_start) = loop {
                        let n = socket.read(&mut buffer).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        raw.extend_from_slice(&buffer[..n]);
                        if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                            break (String::from_utf8_lossy(&raw[..at]).to_string(), at + 4);
                        }
                    };
                    let length: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    while raw.len() < body_start + length {
                        let n = socket.read(&mut buffer).await.unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        raw.extend_from_slice(&buffer[..n]);
                    }
                    let body = String::from_utf8_lossy(&raw[body_start..]).to_string();
                    let target = head.split_whitespace().nth(1).unwrap_or("").to_owned();
                    recorded.lock().unwrap().push(head.clone());
                    let answer = match target.as_str() {
                        "/frontend/challenge" => {
                            let challenge = format!(
                                "eimzo-{}",
                                std::process::id() as u64 * 7919 + issued.lock().unwrap().len() as u64
                            );
                            issued.lock().unwrap().push(challenge.clone());
                            serde_json::json!({"status": 1, "challenge": challenge, "ttl": 120})
                        }
                        "/backend/auth" => {
                            use base64::Engine as _;
                            let headers = head.to_ascii_lowercase();
                            assert!(headers.contains("x-real-ip:") && headers.contains("host:"), "{head}");
                            let der = base64::engine::general_purpose::STANDARD.decode(body.trim()).unwrap_or_default();
                            let known =
                                issued.lock().unwrap().iter().any(|c| der.windows(c.len()).any(|w| w == c.as_bytes()));
                            if known {
                                serde_json::json!({
                                    "status": 1, "message": "",
                                    "subjectCertificateInfo": {
                                        "serialNumber": "7E1A2B3C4D",
                                        "subjectName": {"CN": "NAZAROV OYBEK", "1.2.860.3.16.1.2": pinfl, "UID": "512345678"},
                                        "validFrom": "2026.01.01 00:00:00", "validTo": "2028.01.01 00:00:00",
                                    }
                                })
                            } else {
                                serde_json::json!({"status": -20, "message": "challenge not found or expired"})
                            }
                        }
                        _ => serde_json::json!({"status": -1, "message": "unknown"}),
                    };
                    let body = answer.to_string();
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                });
            }
        });
        EimzoServerStandIn { base_url, requests }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn national_algorithm_certificates_are_verified_by_the_e_imzo_server() {
    let mut server = TestServer::new(Backend::Sqlite, &[]);
    let ca = server.dir.join("national-ca");
    server.cli_ok(&["pki", "dev-ca", "init", "--out", ca.to_str().unwrap(), "--name", "National CA"], None);
    let (login, _) = server.add_person("oybek");
    let person_pinfl = yagona_tests::person_pinfl("oybek");
    let p12 = issue(&server, &ca, "NAZAROV OYBEK", &person_pinfl, &[]);
    let eimzo = EimzoServerStandIn::start(person_pinfl.clone()).await;
    // Only the E-IMZO-server knows this CA: Yagona's own verifier has no anchors.
    server.set_env("YAGONA_EDS__EIMZO_SERVER_URL", &eimzo.base_url);
    server.set_env("YAGONA_EDS__EIMZO_SERVER_ANCHORS", &format!("[\"{}\"]", ca.join("ca.pem").display()));
    server.spawn().await;

    let b = browser();
    let csrf = hidden_input(&page(&b, &server, "/login").await, "csrf_token").unwrap();
    let pkcs7 = sign_challenge(&server, &b, &p12).await;
    let r = post_form(&b, &server, "/login/eds", &[("csrf_token", csrf.as_str()), ("pkcs7", pkcs7.as_str())]).await;
    assert_eq!(location(&r), "/login/eds/takeover", "the unconfirmed account is offered for takeover");
    let r = post_form(&b, &server, "/login/eds/takeover", &[("csrf_token", csrf.as_str())]).await;
    assert_eq!(location(&r), "/account", "signed in through the E-IMZO-server");
    let cabinet = page(&b, &server, "/account").await;
    assert!(cabinet.contains("Confirmed with EDS") && cabinet.contains("7e1a2b3c4d"), "{cabinet}");
    assert!(server.cli_ok(&["account", "show", &login], None).contains("confirmed"));
    let requests = eimzo.requests.lock().unwrap().clone();
    assert!(requests.iter().any(|r| r.starts_with("POST /frontend/challenge")));
    assert!(requests.iter().any(|r| r.starts_with("POST /backend/auth")));

    // A signature over anything but a challenge the service issued is refused (its status -20).
    let forged = server
        .cli_ok(
            &["pki", "sign", "--p12", &p12, "--password-stdin", "--data", "not-a-challenge"],
            Some("key-password\n"),
        )
        .trim()
        .to_owned();
    let b2 = browser();
    let csrf2 = hidden_input(&page(&b2, &server, "/login").await, "csrf_token").unwrap();
    let r = post_form(&b2, &server, "/login/eds", &[("csrf_token", csrf2.as_str()), ("pkcs7", forged.as_str())]).await;
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("expired or was already used"));
}
