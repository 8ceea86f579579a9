// Client authentication with JWT assertions made by openid-client (RFC 7523, OIDC Core 9).
// Env: ISSUER, CLIENT_ID, and KEY (private JWK, private_key_jwt) or SECRET (client_secret_jwt);
// WRONG_KEY (a JWK not registered) or WRONG_SECRET. Prints what each step gave.
import * as client from 'openid-client'
import { attempt, discover, env, print, privateKey, recordRequests, resend } from './common.mjs'

const clientId = env('CLIENT_ID')
const auth = (modify) => {
  const options = modify ? { [client.modifyAssertion]: modify } : undefined
  return process.env.KEY
    ? privateKey(JSON.parse(env('KEY'))).then((k) => client.PrivateKeyJwt(k, options))
    : Promise.resolve(client.ClientSecretJwt(env('SECRET'), options))
}
// Optional: a key (or secret) the client did not register.
const wrongAuth = process.env.WRONG_KEY
  ? client.PrivateKeyJwt(await privateKey(JSON.parse(env('WRONG_KEY'))))
  : process.env.WRONG_SECRET
    ? client.ClientSecretJwt(env('WRONG_SECRET'))
    : undefined

const config = await discover(clientId, {}, await auth())
const sent = recordRequests(config)
const result = {}
const grant = await attempt(() => client.clientCredentialsGrant(config, {}))
result.client_credentials = grant.ok ? { ok: true, token_type: grant.value.token_type } : grant
if (grant.ok) {
  const token = grant.value.access_token
  const introspected = await attempt(() => client.tokenIntrospection(config, token))
  result.introspection = introspected.ok ? { ok: true, active: introspected.value.active } : introspected
  // The same assertion again: its jti is spent.
  result.replay = await resend(sent[0])
  result.revocation = await attempt(() => client.tokenRevocation(config, token))
  const after = await attempt(() => client.tokenIntrospection(config, token))
  result.active_after_revocation = after.ok ? after.value.active : after
}
if (wrongAuth) {
  const other = await discover(clientId, {}, wrongAuth)
  result.wrong_key = await attempt(() => client.clientCredentialsGrant(other, {}))
}
const tokenAud = await discover(clientId, {}, await auth((_h, p) => { p.aud = config.serverMetadata().token_endpoint }))
result.aud_token_endpoint = await attempt(() => client.clientCredentialsGrant(tokenAud, {}).then(() => 'granted'))
const elsewhere = await discover(clientId, {}, await auth((_h, p) => { p.aud = 'https://another.example' }))
result.aud_elsewhere = await attempt(() => client.clientCredentialsGrant(elsewhere, {}))
const noExp = await discover(clientId, {}, await auth((_h, p) => { delete p.exp }))
result.no_exp = await attempt(() => client.clientCredentialsGrant(noExp, {}))
const expired = await discover(clientId, {}, await auth((_h, p) => { p.exp = p.iat - 10 }))
result.expired = await attempt(() => client.clientCredentialsGrant(expired, {}))
const otherIss = await discover(clientId, {}, await auth((_h, p) => { p.iss = 'someone-else' }))
result.wrong_iss = await attempt(() => client.clientCredentialsGrant(otherIss, {}))
print(result)
