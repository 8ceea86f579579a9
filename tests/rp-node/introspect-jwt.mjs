// A resource server asking for a signed introspection answer (RFC 9701) and verifying it with
// jose, as docs/relying-parties.md shows. Env: ISSUER, CLIENT_ID, SECRET, TOKEN, ALG (the
// algorithm the answer must be signed with). Prints the verified header's alg and typ, the
// Content-Type, and the token_introspection claim.
import * as jose from 'jose'
import { env, print } from './common.mjs'

const issuer = env('ISSUER')
const jwks = jose.createRemoteJWKSet(new URL(`${issuer}/jwks`))
const response = await fetch(`${issuer}/introspect`, {
  method: 'POST',
  headers: {
    authorization: 'Basic ' + btoa(`${env('CLIENT_ID')}:${env('SECRET')}`),
    accept: 'application/token-introspection+jwt',
  },
  body: new URLSearchParams({ token: env('TOKEN') }),
})
const { payload, protectedHeader } = await jose.jwtVerify(await response.text(), jwks, {
  issuer,
  audience: env('CLIENT_ID'),
  typ: 'token-introspection+jwt',
  algorithms: [env('ALG')],
})
print({
  content_type: response.headers.get('content-type'),
  alg: protectedHeader.alg,
  typ: protectedHeader.typ,
  token_introspection: payload.token_introspection,
})
