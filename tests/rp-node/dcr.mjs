// Dynamic client registration (RFC 7591) with openid-client, and configuration management
// (RFC 7592) with plain fetch. Env: ISSUER, TOKEN (an initial access token), KEY and PUBLIC
// (a private_key_jwt client's JWKs), REDIRECT_URI. `node dcr.mjs once` registers one client with
// TOKEN and prints the outcome only.
import * as client from 'openid-client'
import { attempt, env, insecure, print, privateKey } from './common.mjs'

const issuer = new URL(env('ISSUER'))
const register = (metadata, auth, token = env('TOKEN')) =>
  attempt(() => client.dynamicClientRegistration(issuer, metadata, auth, { ...insecure, initialAccessToken: token ?? undefined }))
const basic = { redirect_uris: [env('REDIRECT_URI')], grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic' }

if (process.argv[2] === 'once') {
  const once = await register(basic, client.ClientSecretBasic())
  print(once.ok ? { ok: true, client_id: once.value.clientMetadata().client_id } : once)
  process.exit(0)
}

const result = {}
const metadata = {
  redirect_uris: [env('REDIRECT_URI')],
  grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
  token_endpoint_auth_method: 'private_key_jwt',
  jwks: { keys: [JSON.parse(env('PUBLIC'))] },
  client_name: 'Registered by openid-client',
  scope: 'openid reports.read',
  contacts: ['ops@rp.example'],
  logo_uri: 'https://rp.example/logo.png',
  require_pushed_authorization_requests: true,
}
const key = await privateKey(JSON.parse(env('KEY')))
const registered = await register(metadata, client.PrivateKeyJwt(key))
if (!registered.ok) {
  print({ registered })
  process.exit(0)
}
const config = registered.value
const echoed = config.clientMetadata()
result.registered = echoed
const grant = await attempt(() => client.clientCredentialsGrant(config, {}))
result.client_credentials = grant.ok ? { ok: true, scope: grant.value.scope } : grant

// RFC 7592 management with the registration access token.
const manage = async (method, body, token = echoed.registration_access_token) => {
  const headers = { accept: 'application/json' }
  if (token) headers.authorization = `Bearer ${token}`
  if (body) headers['content-type'] = 'application/json'
  const response = await fetch(echoed.registration_client_uri, { method, headers, body: body && JSON.stringify(body) })
  return { status: response.status, body: response.status === 204 ? null : await response.json().catch(() => null) }
}
result.read = await manage('GET')
result.read_without_token = await manage('GET', undefined, '')
result.read_with_wrong_token = await manage('GET', undefined, 'not-the-token')
const { registration_access_token: _t, registration_client_uri: _u, client_id_issued_at: _i, ...current } = result.read.body
result.update = await manage('PUT', { ...current, client_name: 'Renamed', redirect_uris: ['https://rp.example/cb#fragment'] })
result.updated = await manage('PUT', { ...current, client_name: 'Renamed' })
result.delete = await manage('DELETE')
result.after_delete = await attempt(() => client.clientCredentialsGrant(config, {}))

// Bad metadata and bad tokens.
result.fragment = await register({ ...basic, redirect_uris: ['https://rp.example/cb#x'] }, client.ClientSecretBasic())
result.unknown_method = await register({ ...basic, token_endpoint_auth_method: 'tls_client_auth' }, client.ClientSecretBasic())
result.http_web = await register({ ...basic, redirect_uris: ['http://rp.example/cb'] }, client.ClientSecretBasic())
result.without_token = await register(basic, client.ClientSecretBasic(), null)
result.wrong_token = await register(basic, client.ClientSecretBasic(), 'not-a-registration-token')
const secret = await register(basic, client.ClientSecretBasic())
result.secret_client = secret.ok ? { ok: true, has_secret: typeof secret.value.clientMetadata().client_secret === 'string' } : secret
if (secret.ok) {
  const g = await attempt(() => client.clientCredentialsGrant(secret.value, {}))
  result.secret_client_grant = g.ok
}
print(result)
