// The benchmark peer: panva's oidc-provider with its default in-memory storage, configured with
// the same client, scopes and token lifetimes as Yagona's bench setup. PORT from the environment.
import Provider from "oidc-provider";

const port = Number(process.env.PORT || 3000);
const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  clients: [
    {
      client_id: "bench",
      client_secret: "bench-secret-0123456789",
      grant_types: ["client_credentials", "authorization_code", "refresh_token"],
      redirect_uris: ["http://127.0.0.1:9/bench/callback"],
      response_types: ["code"],
      scope: "openid profile offline_access api",
    },
  ],
  scopes: ["openid", "profile", "offline_access", "api"],
  features: {
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    // JWT (RS256) access tokens for client_credentials, as Yagona issues them.
    resourceIndicators: {
      enabled: true,
      // No resource asked: an opaque token (introspectable from the in-memory store); with
      // resource=urn:bench (at client_credentials, or at the authorization request of the logins
      // behind the plain refresh_token and code_exchange rows): a JWT access token signed RS256,
      // as Yagona's `bench` client issues.
      defaultResource: () => undefined,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: "api",
        audience: "urn:bench",
        accessTokenTTL: 600,
        accessTokenFormat: "jwt",
        jwt: { sign: { alg: "RS256" } },
      }),
    },
  },
  // Rotation on every refresh, as Yagona does (its default rotates only when the token is old).
  rotateRefreshToken: true,
  ttl: { AccessToken: 600, ClientCredentials: 600, IdToken: 600, AuthorizationCode: 60, RefreshToken: 2592000 },
});
provider.listen(port, "127.0.0.1", () => console.log(`peer listening on ${issuer}`));
