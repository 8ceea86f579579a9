//! The command line and configuration, and key rotation as an operator does it.

use openidconnect::TokenResponse;
use yagona_tests::{browser, http_client, query_param, sign_in, Backend, TestServer};

use crate::flow::decode_jwt_header;
use crate::rp::RelyingParty;

#[tokio::test(flavor = "multi_thread")]
async fn bad_configuration_stops_the_start_naming_the_key() {
    let cases = [
        ("YAGONA_HTTP__LISTNE", "x", "listne"),
        ("YAGONA_DATABASE__POOL_SIZE", "lots", "database.pool_size"),
        ("YAGONA_HTTP__LISTEN", "not-an-address", "http.listen"),
        ("YAGONA_KEYS__ENCRYPTION_KEY", "c2hvcnQ=", "keys.encryption_key"),
        ("YAGONA_ISSUER", "ftp://id.example", "issuer"),
        ("YAGONA_DATABASE__URL", "mysql://x", "database.url"),
    ];
    for (key, value, named) in cases {
        let server = TestServer::new(Backend::Sqlite, &[(key, value)]);
        let out = server.cli(&["migrate"], None);
        assert!(!out.status.success(), "{key}={value} must be refused");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(named), "{key}={value}: {stderr}");
    }
    // A configuration file that names an unknown key.
    let server = TestServer::new(Backend::Sqlite, &[]);
    let file = server.dir.join("bad.toml");
    std::fs::write(&file, "[tokens]\naccess_tokn = 5\n").unwrap();
    let out = server.cli(&["--config", file.to_str().unwrap(), "migrate"], None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("access_tokn"));
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_requires_a_key_encryption_key() {
    let server = TestServer::new(Backend::Postgres, &[("YAGONA_KEYS__ENCRYPTION_KEY", "")]);
    let out = server.cli(&["serve"], None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("keys.encryption_key"));
}

#[tokio::test(flavor = "multi_thread")]
async fn every_command_has_help() {
    let server = TestServer::new(Backend::Sqlite, &[]);
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["migrate", "--help"],
        vec!["purge", "--help"],
        vec!["client", "add", "--help"],
        vec!["client", "list", "--help"],
        vec!["client", "remove", "--help"],
        vec!["client", "set-scopes", "--help"],
        vec!["account", "add", "--help"],
        vec!["keys", "list", "--help"],
        vec!["keys", "rotate", "--help"],
    ] {
        let out = server.cli_ok(&args, None);
        assert!(out.contains("Usage:"), "{args:?}: {out}");
    }
}

/// `yagona purge` runs one purge and says what it deleted, table by table; a batch size out of
/// range is refused before anything is deleted (the purge itself: store `oidc::purge::tests`).
#[tokio::test(flavor = "multi_thread")]
async fn purge_reports_every_table_and_refuses_a_bad_batch() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let server = TestServer::new(backend, &[]);
        server.cli_ok(&["migrate"], None);
        let out = server.cli_ok(&["purge", "--json", "--batch", "100"], None);
        let report: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(report["method"], "batches", "{out}");
        assert_eq!(report["rows"], 0, "nothing has expired in a new database: {out}");
        let tables = report["tables"].as_object().unwrap();
        for table in ["authorization_codes", "refresh_tokens", "grants", "sessions", "opaque_access_tokens"] {
            assert_eq!(tables[table], 0, "{table}: {out}");
        }
        assert_eq!(tables.len(), 16, "{out}");
        // The audit trail's retention (365 days by default) runs after the expired rows, timed apart.
        assert_eq!(report["audit_events"], 0, "{out}");
        assert!(report["audit_seconds"].as_f64().is_some_and(|s| s >= 0.0), "{out}");
        let help = server.cli_ok(&["purge", "--help"], None);
        assert!(help.contains("500 rows per batch on SQLite, 5000 on PostgreSQL"), "the defaults are shown: {help}");
        let refused = server.cli(&["purge", "--batch", "0"], None);
        assert!(!refused.status.success());
        assert!(String::from_utf8_lossy(&refused.stderr).contains("--batch"), "{refused:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn clients_and_accounts_from_the_cli() {
    let server = TestServer::new(Backend::Sqlite, &[]);
    server.cli_ok(&["migrate"], None);
    // A generated secret is printed once.
    let out =
        server.cli_ok(&["client", "add", "--id", "portal", "--redirect-uri", "https://portal.example.uz/cb"], None);
    let secret = out.lines().find_map(|l| l.strip_prefix("client_secret: ")).expect("a generated secret");
    assert_eq!(secret.len(), 43);
    let list = server.cli_ok(&["client", "list"], None);
    assert!(list.contains("portal") && list.contains("confidential") && !list.contains(secret), "{list}");
    // Invalid input is refused with a reason.
    let out = server.cli(&["client", "add", "--id", "bad", "--redirect-uri", "http://evil.example/cb"], None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("https"));
    let out = server.cli(&["client", "add", "--id", "portal", "--redirect-uri", "https://portal.example.uz/cb"], None);
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    server.cli_ok(&["client", "remove", "--id", "portal"], None);
    assert!(!server.cli(&["client", "remove", "--id", "portal"], None).status.success());

    let add = |pinfl: &str, birth: &str, password: &str| {
        server.cli(
            &[
                "account",
                "add",
                "--login",
                "zafar",
                "--password-stdin",
                "--pinfl",
                pinfl,
                "--surname",
                "Yusupov",
                "--first-name",
                "Zafar",
                "--birth-date",
                birth,
            ],
            Some(&format!("{password}\n")),
        )
    };
    let err = |out: std::process::Output| String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(err(add("31205900260012", "1990-05-12", "Long-enough-pass-1")).contains("check digit"));
    assert!(err(add("31205900260011", "1991-05-12", "Long-enough-pass-1")).contains("birth date"));
    assert!(err(add("31205900260011", "1990-05-12", "short")).contains("at least"));
    assert!(err(add("31205900260011", "1990-05-12", "zafar-is-my-password")).contains("login"));
    assert!(add("31205900260011", "1990-05-12", "Long-enough-pass-1").status.success());
    assert!(err(add("31205900260011", "1990-05-12", "Long-enough-pass-1")).contains("already"));
}

/// `keys rotate` publishes a new key and keeps the old one until its tokens have expired: a
/// relying party still verifies ID tokens signed before the rotation.
#[tokio::test(flavor = "multi_thread")]
async fn key_rotation_keeps_old_tokens_verifiable() {
    let mut server = TestServer::start(Backend::Sqlite).await;
    let secret = server.add_client("rp", &["--first-party"]);
    let (login, password) = server.add_person("ulugbek");
    let rp = RelyingParty::discover(&server, "rp", Some(&secret)).await;
    let browser = browser();
    let start = rp.start(&[], &[]);
    let callback = sign_in(&browser, &server.base_url, &start.url, &login, &password).await;
    let old = rp.redeem(&callback, start.verifier).await;
    let old_id_token = old.id_token().unwrap().clone();
    let old_kid = decode_jwt_header(&old_id_token.to_string())["kid"].as_str().unwrap().to_owned();

    let before = server.cli_ok(&["keys", "list"], None);
    // One active key per algorithm: RS256, ES256, PS256, EdDSA.
    assert_eq!(before.lines().filter(|l| l.contains("\tactive\t")).count(), 4, "{before}");
    // `--now`: the compromised-key path, active at once (the scheduled path: cluster.rs).
    server.cli_ok(&["keys", "rotate", "--now"], None);
    let after = server.cli_ok(&["keys", "list"], None);
    assert!(after.lines().any(|l| l.starts_with(&old_kid) && l.contains("\tretired\tpublished\t")), "{after}");

    // Restart so the new keys are used at once (a running server picks them up within 30 s).
    server.stop();
    server.spawn().await;
    let rp = RelyingParty::discover(&server, "rp", Some(&secret)).await;
    old_id_token
        .claims(&rp.client.id_token_verifier(), &start.nonce)
        .expect("an ID token signed before the rotation still verifies");
    let start = rp.start(&[], &[]);
    let response = browser.get(&start.url).send().await.unwrap();
    let code = query_param(&yagona_tests::location(&response), "code").unwrap();
    let new = rp.redeem_code(code, start.verifier).await;
    let new_kid = decode_jwt_header(&new.id_token().unwrap().to_string())["kid"].as_str().unwrap().to_owned();
    assert_ne!(new_kid, old_kid, "new tokens are signed with the new key");
    new.id_token().unwrap().claims(&rp.client.id_token_verifier(), &start.nonce).unwrap();
}

/// Several replicas starting at once on one PostgreSQL database migrate once and end with one
/// active key per algorithm.
#[tokio::test(flavor = "multi_thread")]
async fn replicas_starting_together_do_not_race() {
    let server = TestServer::new(Backend::Postgres, &[]);
    let ports: Vec<u16> = (0..4).map(|_| yagona_tests::free_port()).collect();
    let mut replicas: Vec<std::process::Child> = ports
        .iter()
        .map(|port| {
            let mut cmd = server.command();
            // Each replica its own ports (the metrics listener too).
            cmd.env("YAGONA_HTTP__LISTEN", format!("127.0.0.1:{port}"))
                .env("YAGONA_METRICS__LISTEN", "")
                .arg("serve")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            cmd.spawn().unwrap()
        })
        .collect();
    let http = yagona_tests::http_client();
    for port in &ports {
        let mut up = false;
        for _ in 0..600 {
            if let Ok(r) = http.get(format!("http://127.0.0.1:{port}/health")).send().await {
                up = r.status().is_success();
                if up {
                    break;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(up, "replica on port {port} did not start");
    }
    for child in &mut replicas {
        let _ = child.kill();
        let _ = child.wait();
    }
    let keys = server.cli_ok(&["keys", "list"], None);
    assert_eq!(keys.lines().filter(|l| l.contains("\tactive\t")).count(), 4, "one per algorithm: {keys}");
    assert_eq!(keys.lines().count(), 4, "no extra keys were made: {keys}");
}

/// Clients are read through a one-second cache (docs/architecture.md): a client removed with the
/// CLI while the server runs is refused once that second has passed.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_removed_from_the_cli_is_refused_by_the_running_server() {
    let server = TestServer::start(Backend::Sqlite).await;
    let secret = server.add_client("nightly", &["--grant-type", "client_credentials"]);
    let grant = || async {
        http_client()
            .post(server.url("/token"))
            .basic_auth("nightly", Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap()
    };
    assert_eq!(grant().await.status(), 200);
    server.cli_ok(&["client", "remove", "--id", "nightly"], None);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let refused = grant().await;
    assert_eq!(refused.status(), 401);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
}
