// Ed25519 keys as openid-client 6 uses them: its private_key_jwt assertions and DPoP proofs carry
// the fully-specified `alg: Ed25519` (RFC 9864), not `EdDSA`. Env: ISSUER, CLIENT_ID, KEY (the
// client's private Ed25519 JWK). Prints the grant's outcome, the algorithms the requests named,
// and what introspection says of the token.
import * as client from 'openid-client'
import * as jose from 'jose'
import { attempt, discover, env, print, privateKey, recordRequests } from './common.mjs'

const config = await discover(env('CLIENT_ID'), {}, client.PrivateKeyJwt(await privateKey(JSON.parse(env('KEY')))))
const sent = recordRequests(config)
const dpopKey = await client.randomDPoPKeyPair('Ed25519')
const jkt = await jose.calculateJwkThumbprint(await jose.exportJWK(dpopKey.publicKey), 'sha256')
const grant = await attempt(() => client.clientCredentialsGrant(config, {}, { DPoP: client.getDPoPHandle(config, dpopKey) }))
const result = { grant: grant.ok ? { ok: true, token_type: grant.value.token_type } : grant, jkt }
const request = sent[0]
result.assertion_alg = jose.decodeProtectedHeader(new URLSearchParams(request.body).get('client_assertion')).alg
result.dpop_alg = jose.decodeProtectedHeader(request.headers.get('dpop')).alg
if (grant.ok) {
  const introspected = await attempt(() => client.tokenIntrospection(config, grant.value.access_token))
  result.introspection = introspected.ok ? introspected.value : introspected
}
print(result)
