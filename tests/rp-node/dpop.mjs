// DPoP (RFC 9449) as an independent relying party does it: panva's openid-client makes the
// proofs (its DPoP handle), jose makes the hand-made ones of the negative checks. Yagona's code
// never makes a proof here.
//
// Input (argv[2], JSON): { issuer, client_id, client_secret?, callback, code_verifier, state,
// nonce }. The Rust test drove the login and passes the redirect it got. Output (stdout, JSON):
// what the test asserts.
import * as client from 'openid-client';
import * as jose from 'jose';
import { createHash, randomUUID } from 'node:crypto';

const input = JSON.parse(process.argv[2]);
const issuer = new URL(input.issuer);
const userinfoUrl = `${input.issuer}/userinfo`;
const out = {};

const config = await client.discovery(
  issuer,
  input.client_id,
  input.client_secret ?? undefined,
  input.client_secret ? client.ClientSecretBasic(input.client_secret) : client.None(),
  { execute: [client.allowInsecureRequests] },
);
out.dpop_signing_alg_values_supported = config.serverMetadata().dpop_signing_alg_values_supported;

const key = await client.randomDPoPKeyPair('ES256');
const dpop = client.getDPoPHandle(config, key);
out.jkt = await jose.calculateJwkThumbprint(await jose.exportJWK(key.publicKey), 'sha256');

// The code exchange with a proof: tokens bound to the key.
const tokens = await client.authorizationCodeGrant(
  config,
  new URL(input.callback),
  { pkceCodeVerifier: input.code_verifier, expectedState: input.state, expectedNonce: input.nonce },
  undefined,
  { DPoP: dpop },
);
out.token_type = tokens.token_type;
out.access_token = tokens.access_token;
out.has_refresh_token = typeof tokens.refresh_token === 'string';
const sub = tokens.claims().sub;

// Userinfo with the bound token and a proof of the same key (openid-client adds ath).
const info = await client.fetchUserInfo(config, tokens.access_token, sub, { DPoP: dpop });
out.userinfo_sub = info.sub;

if (input.client_secret) {
  const introspection = await client.tokenIntrospection(config, tokens.access_token);
  out.introspection = { active: introspection.active, token_type: introspection.token_type, cnf: introspection.cnf };
}

// Hand-made proofs (jose) for what a well-behaved library never sends.
const ath = createHash('sha256').update(tokens.access_token).digest('base64url');
async function proof(keyPair, claims) {
  const jwk = await jose.exportJWK(keyPair.publicKey);
  return new jose.SignJWT({ htm: 'GET', htu: userinfoUrl, jti: randomUUID(), iat: Math.floor(Date.now() / 1000), ...claims })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk })
    .sign(keyPair.privateKey);
}
async function userinfo(authorization, dpopHeader) {
  const headers = { authorization };
  if (dpopHeader) headers.dpop = dpopHeader;
  const response = await fetch(userinfoUrl, { headers });
  const body = await response.json().catch(() => null);
  return {
    status: response.status,
    error: body?.error ?? null,
    www_authenticate: response.headers.get('www-authenticate'),
    dpop_nonce: response.headers.has('dpop-nonce'),
  };
}
const bound = `DPoP ${tokens.access_token}`;
const once = await proof(key, { ath });
out.fresh_proof = await userinfo(bound, once);
out.replayed_proof = await userinfo(bound, once);
const otherKey = await client.randomDPoPKeyPair('ES256');
out.wrong_key = await userinfo(bound, await proof(otherKey, { ath }));
out.missing_ath = await userinfo(bound, await proof(key, {}));
out.wrong_method = await userinfo(bound, await proof(key, { ath, htm: 'POST' }));
out.no_proof = await userinfo(bound, null);
out.as_bearer = await userinfo(`Bearer ${tokens.access_token}`, null);

// Refresh: a public client's refresh token works only with a proof of its key; a refused
// refresh does not spend it.
async function refreshError(options) {
  try {
    await client.refreshTokenGrant(config, tokens.refresh_token, undefined, options);
    return null;
  } catch (e) {
    return e.error ?? e.code ?? String(e);
  }
}
if (out.has_refresh_token) {
  if (!input.client_secret) {
    // (A confidential client's refresh token is bound by its authentication, not a key.)
    out.refresh_other_key = await refreshError({ DPoP: client.getDPoPHandle(config, otherKey) });
    out.refresh_without_proof = await refreshError(undefined);
  }
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP: dpop });
  out.refreshed = { token_type: refreshed.token_type, access_token: refreshed.access_token };
  out.refreshed_userinfo_sub = (await client.fetchUserInfo(config, refreshed.access_token, sub, { DPoP: dpop })).sub;
}

console.log(JSON.stringify(out));
