#!/usr/bin/env python3
"""A relying party for the compose test: signs a person in through the load balancer with the
authorization code flow (PKCE, state, nonce), as a browser and a web application together, and
checks what it gets like a real client library does: the ID token's signature against the
published JWKS (RS256), its issuer, audience, nonce and expiry, then the access token at userinfo.

  rp.py login  ...            one login; exit 1 if it fails
  rp.py loop --stop FILE ...  logins one after another until FILE exists; prints every failure,
                              exit 1 if any login failed
"""
import argparse
import base64
import hashlib
import html.parser
import json
import os
import secrets
import sys
import time
import urllib.parse

import logging

import jwt
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry


class Failure(Exception):
    pass


class Resends(logging.Handler):
    """Counts the browser's resent requests (urllib3 logs each one), so the test can show them."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        if record.getMessage().startswith("Retrying"):
            self.messages.append(record.getMessage())


RESENDS = Resends()
logging.getLogger("urllib3.connectionpool").addHandler(RESENDS)
logging.getLogger("urllib3.connectionpool").propagate = False


def browser_session():
    """A browser: cookies, and like Chrome and Firefox, a request whose kept-alive connection
    closed without any answer is sent once more on a new connection (the keep-alive race every
    browser handles: the other end closed the idle connection as the request left). Nothing
    else is retried: an answer, even an error, is final."""
    session = requests.Session()
    resend = Retry(total=1, connect=1, read=1, status=0, other=0, allowed_methods=None,
                   raise_on_status=False, respect_retry_after_header=False)
    session.mount("http://", HTTPAdapter(max_retries=resend))
    session.mount("https://", HTTPAdapter(max_retries=resend))
    return session


class HiddenInputs(html.parser.HTMLParser):
    """The hidden fields of a page's forms (csrf_token, interaction)."""

    def __init__(self):
        super().__init__()
        self.fields = {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and a.get("type") == "hidden" and "name" in a:
            self.fields.setdefault(a["name"], a.get("value", ""))


class RelyingParty:
    def __init__(self, issuer, client_id, secret, redirect_uri):
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self.secret = secret
        self.redirect_uri = redirect_uri
        self.metadata = None
        self.jwks = {}  # kid -> key, refreshed when an unknown kid arrives (as client libraries do)

    def discover(self):
        r = requests.get(self.issuer + "/.well-known/openid-configuration", timeout=10)
        expect(r.status_code == 200, f"discovery answered {r.status_code}")
        self.metadata = r.json()
        expect(self.metadata["issuer"] == self.issuer, f"discovery names issuer {self.metadata['issuer']}")

    def refresh_jwks(self):
        r = requests.get(self.metadata["jwks_uri"], timeout=10)
        expect(r.status_code == 200, f"jwks answered {r.status_code}")
        self.jwks = {k.key_id: k for k in jwt.PyJWKSet.from_dict(r.json()).keys}

    def signing_key(self, kid):
        if kid not in self.jwks:
            self.refresh_jwks()
        expect(kid in self.jwks, f"the ID token's key {kid} is not in the JWKS")
        return self.jwks[kid].key

    def login(self, login, password):
        """One complete login; returns the ID token's claims."""
        if self.metadata is None:
            self.discover()
        browser = browser_session()
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        query = urllib.parse.urlencode({
            "response_type": "code", "client_id": self.client_id, "redirect_uri": self.redirect_uri,
            "scope": "openid profile", "state": state, "nonce": nonce,
            "code_challenge": challenge, "code_challenge_method": "S256",
        })
        response = browser.get(self.metadata["authorization_endpoint"] + "?" + query, allow_redirects=False, timeout=15)
        for _ in range(10):
            expect(response.is_redirect, f"{response.request.method} {path(response.url)} answered "
                   f"{response.status_code}: {response.text[:300]}")
            target = urllib.parse.urljoin(response.url, response.headers["Location"])
            if target.startswith(self.redirect_uri):
                return self.redeem(target, state, nonce, verifier)
            page = browser.get(target, allow_redirects=False, timeout=15)
            if page.is_redirect:
                response = page
                continue
            expect(page.status_code == 200, f"GET {path(target)} answered {page.status_code}: {page.text[:300]}")
            form = HiddenInputs()
            form.feed(page.text)
            csrf = form.fields.get("csrf_token")
            expect(csrf, f"no CSRF token on {path(target)}")
            fields = {"csrf_token": csrf, "interaction": form.fields.get("interaction", "")}
            where = urllib.parse.urlparse(target).path
            if where == "/login":
                fields.update(login=login, password=password)
            elif where == "/consent":
                fields.update(decision="allow")
            else:
                raise Failure(f"unexpected page {where}")
            response = browser.post(self.issuer + where, data=fields, allow_redirects=False, timeout=15)
        raise Failure("too many redirects")

    def redeem(self, callback, state, nonce, verifier):
        params = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(callback).query))
        expect("error" not in params, f"authorization error: {params}")
        expect(params.get("state") == state, "the callback's state is not ours")
        r = requests.post(self.metadata["token_endpoint"], auth=(self.client_id, self.secret), timeout=15, data={
            "grant_type": "authorization_code", "code": params["code"],
            "redirect_uri": self.redirect_uri, "code_verifier": verifier,
        })
        expect(r.status_code == 200, f"token endpoint answered {r.status_code}: {r.text[:300]}")
        tokens = r.json()
        header = jwt.get_unverified_header(tokens["id_token"])
        claims = jwt.decode(tokens["id_token"], self.signing_key(header["kid"]), algorithms=["RS256", "ES256"],
                            audience=self.client_id, issuer=self.issuer, options={"require": ["exp", "iat", "sub"]})
        expect(claims.get("nonce") == nonce, "the ID token's nonce is not ours")
        u = requests.get(self.metadata["userinfo_endpoint"], timeout=15,
                         headers={"Authorization": "Bearer " + tokens["access_token"]})
        expect(u.status_code == 200, f"userinfo answered {u.status_code}: {u.text[:300]}")
        expect(u.json().get("sub") == claims["sub"], "userinfo names another subject")
        claims["_kid"] = header["kid"]
        return claims


def expect(condition, message):
    if not condition:
        raise Failure(message)


def path(url):
    return urllib.parse.urlparse(url).path


def one_login(rp, args):
    try:
        claims = rp.login(args.login, args.password)
        return claims, None
    except requests.RequestException as e:
        where = f"{e.request.method} {path(e.request.url)}" if e.request is not None else "a request"
        return None, f"{type(e).__name__} at {where}: {e}"
    except (Failure, jwt.PyJWTError, KeyError, ValueError) as e:
        return None, f"{type(e).__name__}: {e}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["login", "loop"])
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--redirect-uri", required=True)
    parser.add_argument("--login", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--stop", help="loop: stop when this file exists")
    parser.add_argument("--progress", help="loop: write the count of good logins here after each")
    args = parser.parse_args()
    rp = RelyingParty(args.issuer, args.client_id, args.secret, args.redirect_uri)

    if args.mode == "login":
        claims, error = one_login(rp, args)
        if error:
            print(f"login FAILED: {error}")
            return 1
        print(f"login ok: sub={claims['sub']} kid={claims['_kid']}")
        return 0

    good, failed, kids = 0, [], set()
    started = time.monotonic()
    while not (args.stop and os.path.exists(args.stop)):
        claims, error = one_login(rp, args)
        if error:
            failed.append(error)
            print(f"login {good + len(failed)} FAILED after {time.monotonic() - started:.1f}s: {error}", flush=True)
        else:
            good += 1
            kids.add(claims["_kid"])
            if args.progress:
                with open(args.progress + ".tmp", "w") as f:
                    json.dump({"good": good, "failed": len(failed), "kids": sorted(kids)}, f)
                os.replace(args.progress + ".tmp", args.progress)
    for message in RESENDS.messages:
        print(f"browser resent a request: {message}")
    print(f"{good + len(failed)} logins in {time.monotonic() - started:.0f}s: {good} good, {len(failed)} failed; "
          f"ID tokens signed by {len(kids)} key(s); {len(RESENDS.messages)} browser request(s) resent")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
