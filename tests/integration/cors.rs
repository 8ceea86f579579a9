//! CORS for browser relying parties: discovery and JWKS for any origin; token, userinfo and
//! revocation only for the web origins of the client the request names, with `DPoP-Nonce` and
//! `WWW-Authenticate` exposed.

use openidconnect::OAuth2TokenResponse as _;
use yagona_tests::reqwest::{Method, Response};
use yagona_tests::{browser, http_client, sign_in, Backend, TestServer};

use crate::rp::RelyingParty;

/// The origin of `TestServer::redirect_uri`: where the test's browser clients "run".
const SPA: &str = "http://127.0.0.1:9";
const STRANGER: &str = "https://evil.example";

fn header(r: &Response, name: &str) -> Option<String> {
    r.headers().get(name).map(|v| v.to_str().unwrap().to_owned())
}

fn readable_by(r: &Response, origin: &str) {
    assert_eq!(header(r, "access-control-allow-origin").as_deref(), Some(origin), "{:?}", r.headers());
    assert_eq!(header(r, "access-control-expose-headers").as_deref(), Some("DPoP-Nonce, WWW-Authenticate"));
}

fn not_readable(r: &Response) {
    assert_eq!(header(r, "access-control-allow-origin"), None, "{:?}", r.headers());
}

#[tokio::test(flavor = "multi_thread")]
async fn browser_clients_read_the_endpoints_from_their_own_origins_only() {
    for backend in Backend::ALL {
        let server = TestServer::start(backend).await;
        let http = http_client();
        for path in ["/.well-known/openid-configuration", "/jwks"] {
            let r = http.get(server.url(path)).header("origin", STRANGER).send().await.unwrap();
            assert_eq!(r.status(), 200);
            readable_by(&r, "*");
        }

        // A preflight for a DPoP token request.
        let r = http
            .request(Method::OPTIONS, server.url("/token"))
            .header("origin", SPA)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "dpop, content-type")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        assert_eq!(header(&r, "access-control-allow-origin").as_deref(), Some(SPA));
        assert!(header(&r, "access-control-allow-headers").unwrap().contains("DPoP"));

        // The token endpoint: an error the client's page can read, from its origin only.
        server.add_public_client("spa", &[]);
        let form = [
            ("grant_type", "authorization_code"),
            ("client_id", "spa"),
            ("code", "no-such-code"),
            ("redirect_uri", &TestServer::redirect_uri("spa")),
            ("code_verifier", &"v".repeat(43)),
        ];
        let post = |origin: &'static str| http.post(server.url("/token")).header("origin", origin).form(&form).send();
        let r = post(SPA).await.unwrap();
        assert_eq!(r.status(), 400);
        readable_by(&r, SPA);
        not_readable(&post(STRANGER).await.unwrap());

        // Userinfo and revocation with a token of the client.
        let (login, password) = server.add_person("cors-person");
        let rp = RelyingParty::discover(&server, "spa", None).await;
        let start = rp.start(&["openid"], &[]);
        let callback = sign_in(&browser(), &server.base_url, &start.url, &login, &password).await;
        let tokens = rp.redeem(&callback, start.verifier).await;
        let access = tokens.access_token().secret().clone();
        let userinfo = |origin: &'static str| {
            http.get(server.url("/userinfo")).bearer_auth(&access).header("origin", origin).send()
        };
        let r = userinfo(SPA).await.unwrap();
        assert_eq!(r.status(), 200);
        readable_by(&r, SPA);
        not_readable(&userinfo(STRANGER).await.unwrap());
        let revoke = [("token", access.as_str()), ("client_id", "spa")];
        let r = http.post(server.url("/revoke")).header("origin", SPA).form(&revoke).send().await.unwrap();
        assert_eq!(r.status(), 200);
        readable_by(&r, SPA);
        // The revoked token's error is still the client's to read.
        let r = userinfo(SPA).await.unwrap();
        assert_eq!(r.status(), 401);
        readable_by(&r, SPA);
        assert!(header(&r, "www-authenticate").is_some());

        // Pages get no CORS headers.
        not_readable(&http.get(server.url("/login")).header("origin", SPA).send().await.unwrap());
    }
}
