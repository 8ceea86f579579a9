// Shared by the scripts the integration tests run: the provider's address comes in ISSUER, and
// every script prints one JSON object on stdout for the Rust test to assert.
import * as client from 'openid-client'
import * as jose from 'jose'

export function env(name) {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is required`)
  return value
}

// The test servers listen on http://127.0.0.1.
export const insecure = { execute: [client.allowInsecureRequests] }

export async function discover(clientId, metadata, auth) {
  return client.discovery(new URL(env('ISSUER')), clientId, metadata, auth, insecure)
}

// A private key (JWK with kid and alg) as openid-client takes it.
export async function privateKey(jwk) {
  return { key: await jose.importJWK(jwk, jwk.alg), kid: jwk.kid }
}

// What a refused request said: the OAuth error code, else the exception's name.
export function errorOf(e) {
  return e?.error ?? e?.cause?.error ?? e?.code ?? String(e)
}

// Runs `f`; its result, or the error it failed with, as { ok, value | error, description }.
export async function attempt(f) {
  try {
    return { ok: true, value: await f() }
  } catch (e) {
    // A 401 with WWW-Authenticate comes as a challenge error carrying the response.
    if (e?.code === 'OAUTH_WWW_AUTHENTICATE_CHALLENGE' && e.response) {
      const body = await e.response.json().catch(() => ({}))
      return { ok: false, status: e.response.status, error: body.error, description: body.error_description }
    }
    return { ok: false, status: e?.status, error: errorOf(e), description: e?.error_description ?? e?.message }
  }
}

// Records the requests a configuration makes, so a test can send one again (a replay).
export function recordRequests(config) {
  const sent = []
  config[client.customFetch] = (url, options) => {
    sent.push({ url, method: options.method, headers: new Headers(options.headers), body: String(options.body) })
    return fetch(url, options)
  }
  return sent
}

export async function resend(request) {
  const response = await fetch(request.url, { method: request.method, headers: request.headers, body: request.body })
  return { status: response.status, body: await response.json().catch(() => null) }
}

export function print(result) {
  process.stdout.write(JSON.stringify(result))
}
