//! A relying party built on the `openidconnect` crate, as an e-government service would use it.

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreTokenResponse};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet,
    IntrospectionUrl, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
};
use yagona_tests::{http_client, query_param, reqwest, TestServer};

pub type Client =
    CoreClient<EndpointSet, EndpointNotSet, EndpointSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

pub struct RelyingParty {
    pub client: Client,
    pub http: reqwest::Client,
}

pub struct AuthorizationStart {
    pub url: String,
    pub state: CsrfToken,
    pub nonce: Nonce,
    pub verifier: PkceCodeVerifier,
}

impl RelyingParty {
    /// Discovers the provider and configures a client, as a relying party does at start.
    pub async fn discover(server: &TestServer, client_id: &str, secret: Option<&str>) -> Self {
        let http = http_client();
        let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(server.base_url.clone()).unwrap(), &http)
            .await
            .expect("discovery succeeds");
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(client_id.to_owned()),
            secret.map(|s| ClientSecret::new(s.to_owned())),
        )
        .set_redirect_uri(RedirectUrl::new(TestServer::redirect_uri(client_id)).unwrap())
        .set_introspection_url(IntrospectionUrl::new(server.url("/introspect")).unwrap());
        Self { client, http }
    }

    /// An authorization request with PKCE (S256), state and nonce.
    pub fn start(&self, scopes: &[&str], extra: &[(&str, &str)]) -> AuthorizationStart {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = self
            .client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .set_pkce_challenge(challenge);
        for scope in scopes {
            request = request.add_scope(Scope::new((*scope).to_owned()));
        }
        for (k, v) in extra {
            request = request.add_extra_param(*k, *v);
        }
        let (url, state, nonce) = request.url();
        AuthorizationStart { url: url.to_string(), state, nonce, verifier }
    }

    /// Redeems the code in `callback` with the request's PKCE verifier, as the relying party does
    /// at its redirect URI.
    pub async fn redeem(&self, callback: &str, verifier: PkceCodeVerifier) -> CoreTokenResponse {
        self.redeem_code(query_param(callback, "code").expect("a code in the callback"), verifier).await
    }

    /// The userinfo of `token`, which must name `subject`; panics if refused.
    pub async fn userinfo(
        &self,
        token: &openidconnect::AccessToken,
        subject: &openidconnect::SubjectIdentifier,
    ) -> openidconnect::core::CoreUserInfoClaims {
        self.client
            .user_info(token.clone(), Some(subject.clone()))
            .unwrap()
            .request_async(&self.http)
            .await
            .expect("userinfo answers")
    }

    /// Redeems `code` at the token endpoint with its PKCE verifier; panics if refused.
    pub async fn redeem_code(&self, code: String, verifier: PkceCodeVerifier) -> CoreTokenResponse {
        self.client
            .exchange_code(AuthorizationCode::new(code))
            .unwrap()
            .set_pkce_verifier(verifier)
            .request_async(&self.http)
            .await
            .expect("the code is redeemed")
    }
}
