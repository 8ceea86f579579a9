//! Requests to client-chosen URLs reach only public addresses unless the operator allows more
//! (`outbound.allow`): checked at registration (`invalid_client_metadata`) and again at every
//! request, after DNS resolution. The test harness allows loopback, where the tests' relying
//! parties listen; these tests take that away.

use serde_json::json;
use yagona_tests::rp_node::{jwks, key_pair, node, JwksServer};
use yagona_tests::{Backend, TestServer};

use crate::dynamic_registration::register;

const NOTHING_ALLOWED: (&str, &str) = ("YAGONA_OUTBOUND__ALLOW", "[]");

#[tokio::test(flavor = "multi_thread")]
async fn client_urls_on_private_addresses_are_refused_at_registration() {
    for backend in Backend::ALL {
        let mut server = TestServer::start_with(backend, &[NOTHING_ALLOWED]).await;
        let token = server.cli_ok(&["client", "registration-token", "--uses", "20"], None).trim().to_owned();
        let redirect = "https://rp.example/cb";
        for jwks_uri in [
            "https://10.1.2.3/jwks",
            "https://169.254.169.254/latest/meta-data",
            "http://[::1]:9/jwks",
            "https://[fd00:ec2::254]/jwks",
            "http://127.0.0.1:9/jwks",
            "http://localhost:9/jwks",
        ] {
            let metadata = json!({
                "redirect_uris": [redirect],
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks_uri": jwks_uri,
            });
            let (status, body) = register(&server, &token, &metadata).await;
            assert_eq!((status, body["error"].as_str()), (400, Some("invalid_client_metadata")), "{jwks_uri}: {body}");
            let said = body["error_description"].as_str().unwrap();
            assert!(said.starts_with("jwks_uri: ") && said.contains("not a public address"), "{said}");
        }
        for (field, uri) in [
            ("backchannel_logout_uri", "http://127.0.0.1:9/backchannel"),
            ("sector_identifier_uri", "https://192.168.0.10/sector.json"),
        ] {
            let metadata = json!({ "redirect_uris": [redirect], field: uri });
            let (status, body) = register(&server, &token, &metadata).await;
            assert_eq!((status, body["error"].as_str()), (400, Some("invalid_client_metadata")), "{field}: {body}");
            assert!(body["error_description"].as_str().unwrap().starts_with(field), "{body}");
        }

        // client add says the same in its own words; an allowed network is accepted.
        let add = ["client", "add", "--id", "internal", "--redirect-uri", redirect, "--auth-method", "private_key_jwt"];
        let args = [&add[..], &["--jwks-uri", "https://10.1.2.3/jwks"]].concat();
        let out = server.cli(&args, None);
        assert!(!out.status.success());
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(said.contains("--jwks-uri") && said.contains("10.1.2.3 is not a public address"), "{said}");
        server.set_env("YAGONA_OUTBOUND__ALLOW", r#"["10.1.0.0/16"]"#);
        server.cli_ok(&args, None);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_are_not_fetched_from_an_address_the_policy_refuses() {
    for backend in Backend::ALL {
        let mut server = TestServer::start(backend).await;
        let (private, public) = key_pair("ES256", "k1");
        let keys = JwksServer::start(jwks(&[&public])).await;
        // Registered while loopback was allowed; the operator then takes that away.
        let mut args = vec!["client", "add", "--id", "pkj", "--redirect-uri", "https://rp.example/cb"];
        args.extend_from_slice(&["--grant-type", "client_credentials", "--scope", "reports.read"]);
        args.extend_from_slice(&["--auth-method", "private_key_jwt", "--jwks-uri", &keys.url]);
        server.cli_ok(&args, None);
        server.stop();
        server.set_env(NOTHING_ALLOWED.0, NOTHING_ALLOWED.1);
        server.spawn().await;

        let env = [("CLIENT_ID", "pkj"), ("KEY", &private.to_string())];
        let result = node(&server.base_url, "private-key-jwt.mjs", &[], &env);
        assert_eq!(result["client_credentials"]["ok"], false, "{result}");
        assert_eq!(result["client_credentials"]["error"], "invalid_client", "{result}");
        let said = result["client_credentials"]["description"].as_str().unwrap_or_default();
        assert!(said.contains("127.0.0.1 is not a public address"), "{said}");
        assert_eq!(keys.requests(), 0, "no connection was made");
        assert!(server.log().contains("outbound request refused"));
    }
}
