// Pushed (RFC 9126) and signed (RFC 9101) authorization requests made by openid-client, for a
// client that authenticates with private_key_jwt.
//   node par-jar.mjs start   MODE=plain|jar|par|par-jar [SIGN_KEY]: builds the authorization URL;
//                            prints { url, verifier, state, nonce } or the PAR endpoint's error.
//   node par-jar.mjs finish  CALLBACK VERIFIER STATE NONCE: redeems the code; prints the claims.
// Env: ISSUER, CLIENT_ID, KEY (private JWK), REDIRECT_URI.
import * as client from 'openid-client'
import { attempt, discover, env, print, privateKey } from './common.mjs'

const key = await privateKey(JSON.parse(env('KEY')))
const config = await discover(env('CLIENT_ID'), { redirect_uris: [env('REDIRECT_URI')] }, client.PrivateKeyJwt(key))

if (process.argv[2] === 'start') {
  const verifier = client.randomPKCECodeVerifier()
  const state = client.randomState()
  const nonce = client.randomNonce()
  const parameters = {
    redirect_uri: env('REDIRECT_URI'),
    scope: 'openid profile',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  }
  // The request object may be signed with another key than the registered one (a bad signature).
  const signKey = process.env.SIGN_KEY ? await privateKey(JSON.parse(process.env.SIGN_KEY)) : key
  const mode = env('MODE')
  const signed = async () => (await client.buildAuthorizationUrlWithJAR(config, parameters, signKey)).searchParams
  const built = await attempt(async () => {
    switch (mode) {
      case 'plain': return client.buildAuthorizationUrl(config, parameters)
      case 'jar': return client.buildAuthorizationUrlWithJAR(config, parameters, signKey)
      case 'par': return client.buildAuthorizationUrlWithPAR(config, parameters)
      case 'par-jar': return client.buildAuthorizationUrlWithPAR(config, await signed())
      default: throw new Error(`MODE ${mode}?`)
    }
  })
  print(built.ok ? { url: built.value.href, verifier, state, nonce } : built)
} else {
  const tokens = await attempt(() =>
    client.authorizationCodeGrant(config, new URL(env('CALLBACK')), {
      pkceCodeVerifier: env('VERIFIER'),
      expectedState: env('STATE'),
      expectedNonce: env('NONCE'),
      idTokenExpected: true,
    }))
  print(tokens.ok ? { ok: true, claims: tokens.value.claims() } : tokens)
}
