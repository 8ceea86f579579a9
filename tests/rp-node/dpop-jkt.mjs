// dpop_jkt (RFC 9449 10) as an independent relying party does it: openid-client binds the
// authorization code to its DPoP key, by the `dpop_jkt` parameter at /authorize or by a proof
// at the pushed authorization request endpoint, and redeems the code with a proof.
//
// Input (argv[2], JSON): { phase: "start" | "redeem", issuer, client_id, client_secret?,
// key: { private, public } (JWKs from keys.mjs), par?: bool } and, for "redeem", the callback
// with the code_verifier, state and nonce "start" printed. Output (stdout, JSON): "start":
// { url, jkt, code_verifier, state, nonce }; "redeem": { token_type, access_token } or { error }.
import * as client from 'openid-client';
import * as jose from 'jose';

const input = JSON.parse(process.argv[2]);
const config = await client.discovery(
  new URL(input.issuer),
  input.client_id,
  input.client_secret ?? undefined,
  input.client_secret ? client.ClientSecretBasic(input.client_secret) : client.None(),
  { execute: [client.allowInsecureRequests] },
);
const keyPair = {
  privateKey: await jose.importJWK(input.key.private, 'ES256'),
  publicKey: await jose.importJWK(input.key.public, 'ES256', { extractable: true }),
};
const DPoP = client.getDPoPHandle(config, keyPair);
const out = {};

if (input.phase === 'start') {
  const code_verifier = client.randomPKCECodeVerifier();
  const parameters = {
    redirect_uri: input.redirect_uri,
    scope: 'openid',
    code_challenge: await client.calculatePKCECodeChallenge(code_verifier),
    code_challenge_method: 'S256',
    state: client.randomState(),
    nonce: client.randomNonce(),
  };
  out.jkt = await DPoP.calculateThumbprint();
  let url;
  if (input.par) {
    // The proof at the PAR endpoint binds the code; no dpop_jkt parameter is sent.
    url = await client.buildAuthorizationUrlWithPAR(config, parameters, { DPoP });
  } else {
    url = client.buildAuthorizationUrl(config, { ...parameters, dpop_jkt: out.jkt });
  }
  Object.assign(out, { url: url.href, code_verifier, state: parameters.state, nonce: parameters.nonce });
} else {
  try {
    const tokens = await client.authorizationCodeGrant(
      config,
      new URL(input.callback),
      { pkceCodeVerifier: input.code_verifier, expectedState: input.state, expectedNonce: input.nonce },
      undefined,
      { DPoP },
    );
    out.token_type = tokens.token_type;
    out.access_token = tokens.access_token;
  } catch (e) {
    out.error = e.error ?? e.code ?? String(e);
  }
}
console.log(JSON.stringify(out));
