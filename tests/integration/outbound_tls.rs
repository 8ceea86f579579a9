//! Requests to client-chosen URLs over https (in production they all are): the server's
//! certificate is checked against the system's trust store plus `outbound.ca_file`, for the
//! host named in the URL. The tests' server has its own CA, which only `outbound.ca_file` makes
//! trusted.

use serde_json::Value;
use yagona_tests::rp_node::{jwks, key_pair, node};
use yagona_tests::tls::{HttpsServer, TestCa};
use yagona_tests::{browser, Backend, TestServer};

use crate::backchannel::{signed_in_id_token, verify_logout_token};
use crate::client_auth::{add_machine_client, assert_assertion_rules};
use crate::flow::decode_jwt_payload;
use crate::rp::RelyingParty;

/// A server with a client `pkj-https` whose keys are at the test CA's HTTPS server; the
/// result of its private_key_jwt script. `trust` says whether `outbound.ca_file` names the CA.
/// `leaf_for`, if given, replaces the server's certificate by one for those names.
async fn authenticate_with_https_jwks(
    backend: Backend,
    trust: bool,
    leaf_for: Option<&str>,
) -> (TestServer, HttpsServer, Value) {
    let mut server = TestServer::new(backend, &[]);
    let mut ca = TestCa::new(&server.dir);
    if let Some(alt_names) = leaf_for {
        ca.issue_leaf("elsewhere", alt_names);
    }
    if trust {
        server.set_env("YAGONA_OUTBOUND__CA_FILE", ca.ca_file.to_str().unwrap());
    }
    server.spawn().await;
    let (key, public) = key_pair("ES256", "tls");
    let (wrong, _) = key_pair("ES256", "tls");
    let keys = HttpsServer::start(&ca, jwks(&[&public]));
    let uri = keys.url("/jwks");
    add_machine_client(&server, "pkj-https", &["--auth-method", "private_key_jwt", "--jwks-uri", &uri]);
    let env = [("CLIENT_ID", "pkj-https"), ("KEY", &key.to_string()), ("WRONG_KEY", &wrong.to_string())];
    let result = node(&server.base_url, "private-key-jwt.mjs", &[], &env);
    (server, keys, result)
}

#[tokio::test(flavor = "multi_thread")]
async fn private_key_jwt_with_an_https_jwks_uri_trusted_through_the_ca_file() {
    for backend in Backend::ALL {
        let (_server, keys, result) = authenticate_with_https_jwks(backend, true, None).await;
        assert_assertion_rules(&result);
        let requests = keys.received();
        assert_eq!(requests.len(), 1, "fetched once over TLS, then cached: {requests:?}");
        assert!(requests[0].starts_with("GET /jwks HTTP/1.1"), "{requests:?}");
        // SNI and the Host header carry the URL's host name.
        assert!(requests[0].to_ascii_lowercase().contains("host: localhost:"), "{requests:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_untrusted_https_jwks_uri_is_invalid_client_and_logged() {
    for backend in Backend::ALL {
        let (server, keys, result) = authenticate_with_https_jwks(backend, false, None).await;
        assert_refused_for(&server, &keys, &result, "invalid peer certificate: UnknownIssuer");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trusted_certificate_for_another_host_is_refused() {
    // The CA is trusted, but the certificate names other.example, not the URL's localhost:
    // verification uses the URL's host, not the address connected to.
    for backend in Backend::ALL {
        let (server, keys, result) = authenticate_with_https_jwks(backend, true, Some("DNS:other.example")).await;
        assert_refused_for(&server, &keys, &result, r#"certificate not valid for name "localhost""#);
    }
}

/// The client's authentication failed with `invalid_client`, nothing reached the key server,
/// and the log gives `reason`.
fn assert_refused_for(server: &TestServer, keys: &HttpsServer, result: &Value, reason: &str) {
    assert_eq!(result["client_credentials"]["ok"], false, "{result}");
    assert_eq!(result["client_credentials"]["error"], "invalid_client", "{result}");
    let said = result["client_credentials"]["description"].as_str().unwrap_or_default();
    assert!(said.contains("jwks_uri could not be used"), "{said}");
    assert!(keys.received().is_empty(), "no request is sent over an unverified connection");
    let log = server.log();
    let line = log.lines().find(|l| l.contains("fetching a client's keys failed")).unwrap_or_default();
    assert!(line.contains(reason), "the log says why: {log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_ca_file_stops_the_server_from_starting() {
    let mut server = TestServer::new(Backend::Sqlite, &[]);
    let missing = server.dir.join("no-such-ca.pem");
    server.set_env("YAGONA_OUTBOUND__CA_FILE", missing.to_str().unwrap());
    let out = server.command().arg("serve").output().unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("outbound.ca_file") && said.contains("no-such-ca.pem"), "{said}");
    // A file that holds no certificate is refused too, not silently ignored.
    std::fs::write(&missing, "not a certificate").unwrap();
    let out = server.command().arg("serve").output().unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("outbound.ca_file") && said.contains("no certificate"), "{said}");
}

#[tokio::test(flavor = "multi_thread")]
async fn backchannel_logout_is_posted_over_https() {
    for backend in Backend::ALL {
        let mut server = TestServer::new(backend, &[]);
        let ca = TestCa::new(&server.dir);
        server.set_env("YAGONA_OUTBOUND__CA_FILE", ca.ca_file.to_str().unwrap());
        server.spawn().await;
        let rp_endpoint = HttpsServer::start(&ca, "{}".into());
        let secret =
            server.add_client("bcl-https", &["--backchannel-logout-uri", &rp_endpoint.url("/backchannel-logout")]);
        let (login, password) = server.add_person("bcl-https-person");
        let rp = RelyingParty::discover(&server, "bcl-https", Some(&secret)).await;
        let b = browser();
        let id_token = signed_in_id_token(&server, &rp, &b, &login, &password).await;

        let logout =
            b.get(server.url("/end_session")).query(&[("id_token_hint", id_token.as_str())]).send().await.unwrap();
        assert!(logout.status().is_success() || logout.status().is_redirection(), "{}", logout.status());
        let request = rp_endpoint.next_request().await;
        assert!(request.starts_with("POST /backchannel-logout HTTP/1.1"), "{request}");
        let body = &request[request.find("\r\n\r\n").unwrap() + 4..];
        let token = url::form_urlencoded::parse(body.as_bytes())
            .find(|(k, _)| k == "logout_token")
            .map(|(_, v)| v.into_owned())
            .expect("a logout_token");
        let claims = verify_logout_token(&server, &token, "bcl-https").await;
        assert_eq!(claims["sid"], decode_jwt_payload(&id_token)["sid"], "{claims}");
    }
}

/// A CRL distribution point that redirects to https (found in review: the CRL download had no
/// TLS settings, and ureq, built without a TLS provider of its own, panicked at start). It is
/// fetched with the outbound trust: an untrusted certificate stops the start with a message
/// naming `eds.crls`, never a panic; trusted through `outbound.ca_file`, the redirect is followed
/// over TLS (and the body, not being a CRL, is refused by name).
#[tokio::test(flavor = "multi_thread")]
async fn a_crl_redirected_to_https_is_fetched_with_the_outbound_trust() {
    let mut server = TestServer::new(Backend::Sqlite, &[]);
    let ca = TestCa::new(&server.dir);
    let https = HttpsServer::start(&ca, "not a CRL".into());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let target = https.url("/crl");
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut request = [0u8; 4096];
            let _ = std::io::Read::read(&mut stream, &mut request);
            let answer = format!(
                "HTTP/1.1 301 Moved Permanently\r\nLocation: {target}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = std::io::Write::write_all(&mut stream, answer.as_bytes());
        }
    });
    server.set_env("YAGONA_EDS__CRLS", &format!("[\"http://127.0.0.1:{port}/crl\"]"));
    let out = server.command().arg("serve").output().unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("eds.crls") && !said.contains("panicked"), "untrusted: {said}");
    assert!(https.received().is_empty(), "no request over an untrusted connection");

    server.set_env("YAGONA_OUTBOUND__CA_FILE", ca.ca_file.to_str().unwrap());
    let out = server.command().arg("serve").output().unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("eds.crls") && !said.contains("panicked"), "trusted: {said}");
    assert_eq!(https.received().len(), 1, "the redirect was followed over TLS");
}
