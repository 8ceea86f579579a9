// Verifies JWTs Yagona signed, as a relying party or resource server would: jose's jwtVerify
// against the provider's JWKS (fetched from discovery's jwks_uri), with the algorithm, `typ`,
// issuer and audience each JWT must have. Env: ISSUER, JWTS (a JSON array of { name, jwt, alg,
// typ, audience }). Prints { name: { ok, alg, typ, kid, payload } | { ok: false, error } }.
import * as jose from 'jose'
import { env, print } from './common.mjs'

const issuer = env('ISSUER')
const discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()
const jwks = jose.createRemoteJWKSet(new URL(discovery.jwks_uri))
const result = {}
for (const { name, jwt, alg, typ, audience } of JSON.parse(env('JWTS'))) {
  try {
    const { payload, protectedHeader } = await jose.jwtVerify(jwt, jwks, { issuer, audience, algorithms: [alg], typ })
    result[name] = { ok: true, alg: protectedHeader.alg, typ: protectedHeader.typ, kid: protectedHeader.kid, payload }
  } catch (e) {
    result[name] = { ok: false, error: e.code ?? String(e) }
  }
}
print(result)

