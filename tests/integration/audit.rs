//! The audit trail (issue 12 item 7): each kind of security event is stored and logged, and
//! `yagona audit list` filters by account and time and prints JSON.

use serde_json::Value;
use yagona_tests::{browser, hidden_input, http_client, location, post_form, Backend, TestServer};

use crate::rp::RelyingParty;

fn events(server: &TestServer, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["audit", "list", "--json", "--limit", "1000"];
    all.extend_from_slice(args);
    server.cli_ok(&all, None).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_audit_trail_records_each_kind_of_event() {
    for backend in Backend::ALL {
        let server = TestServer::start(backend).await;
        let secret = server.add_client("soliq", &[]);
        let (login, password) = server.add_person("auditee");
        let rp = RelyingParty::discover(&server, "soliq", Some(&secret)).await;
        let b = browser();

        // A wrong password, then a login with consent.
        let start = rp.start(&["email"], &[]);
        let r = b.get(&start.url).send().await.unwrap();
        let html = b.get(server.url(&location(&r))).send().await.unwrap().text().await.unwrap();
        let (csrf, interaction) =
            (hidden_input(&html, "csrf_token").unwrap(), hidden_input(&html, "interaction").unwrap());
        let mut form = vec![("login", login.as_str()), ("password", "wrong-password"), ("csrf_token", &csrf)];
        form.push(("interaction", &interaction));
        assert_eq!(post_form(&b, &server, "/login", &form).await.status(), 401);
        form[1] = ("password", password.as_str());
        let r = post_form(&b, &server, "/login", &form).await;
        let consent = location(&b.get(server.url(&location(&r))).send().await.unwrap());
        let html = b.get(server.url(&consent)).send().await.unwrap().text().await.unwrap();
        let (csrf, interaction) =
            (hidden_input(&html, "csrf_token").unwrap(), hidden_input(&html, "interaction").unwrap());
        let decision = [("decision", "allow"), ("csrf_token", csrf.as_str()), ("interaction", interaction.as_str())];
        let r = post_form(&b, &server, "/consent", &decision).await;
        let callback = location(&b.get(server.url(&location(&r))).send().await.unwrap());
        let tokens = rp.redeem(&callback, start.verifier).await;
        // A refresh token used twice: the second use is reuse.
        use openidconnect::OAuth2TokenResponse as _;
        let refresh = tokens.refresh_token().unwrap().secret().clone();
        let http = http_client();
        for expected in [200, 400] {
            let r = http
                .post(server.url("/token"))
                .basic_auth("soliq", Some(&secret))
                .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), expected);
        }
        // The person withdraws the service's access in the cabinet.
        let cabinet = b.get(server.url("/account")).send().await.unwrap().text().await.unwrap();
        let csrf = hidden_input(&cabinet, "csrf_token").unwrap();
        let revoke = [("csrf_token", csrf.as_str()), ("client_id", "soliq")];
        let r = post_form(&b, &server, "/account/services/revoke", &revoke).await;
        assert_eq!(location(&r), "/account?done=revoked");
        // Operator commands.
        server.cli_ok(&["account", "disable", &login], None);
        server.cli_ok(&["account", "enable", &login], None);
        server.cli_ok(&["client", "remove", "--id", "soliq"], None);

        let all = events(&server, &[]);
        let kinds: Vec<&str> = all.iter().map(|e| e["kind"].as_str().unwrap()).collect();
        for kind in [
            "client_added",
            "account_created",
            "login_failed",
            "login_succeeded",
            "consent_granted",
            "token_reuse_detected",
            "consent_revoked",
            "account_disabled",
            "account_enabled",
            "client_removed",
        ] {
            assert!(kinds.contains(&kind), "{kind} is recorded ({backend:?}): {kinds:?}");
        }
        let failed = all.iter().find(|e| e["kind"] == "login_failed").unwrap();
        assert_eq!(failed["detail"]["login"], login.as_str());
        assert_eq!(failed["detail"]["address"], "127.0.0.1");
        assert!(!serde_json::to_string(&all).unwrap().contains(&password), "no password in the trail");
        let ok = all.iter().find(|e| e["kind"] == "login_succeeded").unwrap();
        assert_eq!(ok["detail"]["method"], "password");
        assert_eq!(ok["actor"], ok["subject"]);

        // Filters: by login, by time.
        let mine = events(&server, &["--account", &login]);
        assert!(!mine.is_empty() && mine.iter().all(|e| e["subject"] == ok["subject"]), "{mine:?}");
        assert!(mine.iter().all(|e| e["kind"] != "client_added"));
        assert!(events(&server, &["--since", "2999-01-01"]).is_empty());
        assert_eq!(events(&server, &["--since", "2000-01-01"]).len(), all.len());
        // The events are log lines too, under the `audit` target.
        assert!(server.log().contains("audit event"), "{}", server.log());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fatal_start_up_error_is_a_json_line_when_logs_are_json() {
    let mut server = TestServer::new(Backend::Sqlite, &[("YAGONA_LOG__FORMAT", "json")]);
    server.set_env("YAGONA_HTTP__LISTEN", "not-an-address");
    let out = server.cli(&["serve"], None);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line: Value = serde_json::from_str(stderr.lines().last().unwrap()).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    assert_eq!(line["level"], "ERROR");
    assert!(line["fields"]["message"].as_str().unwrap().contains("http.listen"), "{line}");
}
