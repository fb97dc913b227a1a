"""A small relying party written with authlib that signs people in with Tessera by the
authorization code flow with PKCE (S256) and `response_mode=form_post`.

- `GET /login` redirects to Tessera's authorization endpoint (found by discovery);
- `POST /callback` takes the posted `code`, `state` and `iss` (or `error`), checks `state` and
  `iss` (RFC 9207), exchanges the code with the PKCE verifier (client_secret_basic), validates
  the ID token with authlib (signature against the JWKS, the algorithms discovery lists, iss,
  aud, exp/iat, nonce, at_hash), reads userinfo, and shows who signed in.

Standard library HTTP server on 127.0.0.1; prints `listening on URL` once it accepts
connections. Driven by tests/browser/authlib.mjs. Environment: TESSERA_URL, TESSERA_REALM
(default: default), CLIENT_ID, CLIENT_SECRET (a confidential client whose redirect URI is
http://127.0.0.1:RP_PORT/callback), RP_PORT.
"""

import html
import json
import os
import sys
import threading
import traceback
from base64 import urlsafe_b64decode
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from authlib.integrations.base_client import BaseApp, OAuth2Mixin, OpenIDMixin
from authlib.integrations.requests_client import OAuth2Session


class TesseraApp(OAuth2Mixin, OpenIDMixin, BaseApp):
    """authlib's OAuth 2.0 / OpenID Connect client app (what its Flask and Django integrations
    are built from) over its requests `OAuth2Session`, with no web framework."""

    client_cls = OAuth2Session


def required(name):
    value = os.environ.get(name)
    if not value:
        sys.exit(f"environment variable {name} is required")
    return value


BASE = required("TESSERA_URL").rstrip("/")
REALM = os.environ.get("TESSERA_REALM", "default")
ISSUER = f"{BASE}/realms/{REALM}"
PORT = int(required("RP_PORT"))
REDIRECT_URI = f"http://127.0.0.1:{PORT}/callback"

oauth = TesseraApp(
    framework=None,
    client_id=required("CLIENT_ID"),
    client_secret=required("CLIENT_SECRET"),
    server_metadata_url=f"{ISSUER}/.well-known/openid-configuration",
    client_kwargs={
        "scope": "openid profile email",
        "code_challenge_method": "S256",
        "token_endpoint_auth_method": "client_secret_basic",
    },
)

# Pending sign-ins by state: the PKCE verifier and nonce authlib generated. Kept here rather
# than in a cookie, so the cross-site form POST needs no SameSite=None cookie.
pending = {}
pending_lock = threading.Lock()


def page(title, body_html, element_id):
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head><body>"
        f"<h1 id='{element_id}'>{html.escape(title)}</h1>{body_html}</body></html>"
    ).encode()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):  # to stderr, prefixed, for the test's output
        sys.stderr.write("[rp] " + (fmt % args) + "\n")

    def send_page(self, status, content):
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def do_GET(self):
        if self.path == "/login":
            # authlib makes the PKCE verifier (S256 challenge), the state and the nonce.
            rv = oauth.create_authorization_url(REDIRECT_URI, response_mode="form_post")
            with pending_lock:
                pending[rv["state"]] = rv
            self.send_response(302)
            self.send_header("Location", rv["url"])
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path.startswith("/callback"):
            # form_post must never put the code in a URL.
            self.send_page(
                405, page("Expected a form POST", "<p>The code came in a URL.</p>", "rp-error")
            )
        else:
            self.send_page(404, page("Not found", "", "rp-error"))

    def do_POST(self):
        if self.path != "/callback":
            self.send_page(404, page("Not found", "", "rp-error"))
            return
        try:
            length = int(self.headers.get("Content-Length", "0"))
            kind = self.headers.get("Content-Type", "")
            if not kind.startswith("application/x-www-form-urlencoded"):
                raise ValueError(f"the callback body is {kind!r}, not a form")
            form = {
                k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()
            }
            self.finish_sign_in(form)
        except Exception as e:  # noqa: BLE001 - shown on the page and logged for the test
            traceback.print_exc()
            self.send_page(
                400,
                page("Sign-in failed", f"<p id='reason'>{html.escape(str(e))}</p>", "rp-error"),
            )

    def finish_sign_in(self, form):
        with pending_lock:
            started = pending.pop(form.get("state", ""), None)
        if started is None:
            raise ValueError(f"unknown or missing state: {form.get('state')!r}")
        if form.get("iss") != ISSUER:
            raise ValueError(f"iss {form.get('iss')!r} is not {ISSUER!r} (RFC 9207)")
        if "error" in form:
            self.send_page(
                400,
                page(
                    "Sign-in refused",
                    f"<p id='error'>{html.escape(form['error'])}</p>"
                    f"<p id='error-description'>{html.escape(form.get('error_description', ''))}</p>",
                    "rp-error",
                ),
            )
            return
        token = oauth.fetch_access_token(
            redirect_uri=REDIRECT_URI,
            code=form["code"],
            code_verifier=started["code_verifier"],
        )
        # authlib's ID token validation: JWKS signature, algorithms from discovery, iss, aud,
        # exp/iat, nonce and at_hash (CodeIDToken).
        claims = oauth.parse_id_token(token, nonce=started["nonce"])
        info = oauth.userinfo(token=token)
        if info["sub"] != claims["sub"]:
            raise ValueError(f"userinfo sub {info['sub']} != ID token sub {claims['sub']}")
        alg = json.loads(urlsafe_b64decode(token["id_token"].split(".")[0] + "=="))["alg"]
        body = (
            f"<p>Signed in as <strong id='username'>{html.escape(info['preferred_username'])}"
            f"</strong></p><p id='sub'>{html.escape(claims['sub'])}</p>"
            f"<p id='checks'>ID token verified by authlib (alg {html.escape(alg)}, iss, aud, "
            "nonce, at_hash); the code arrived by POST</p>"
        )
        self.send_page(200, page("Signed in", body, "rp-result"))


def main():
    server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    # Discovery first, so a server that is not there fails here rather than mid-flow.
    metadata = oauth.load_server_metadata()
    if metadata["issuer"] != ISSUER:
        sys.exit(f"discovery names issuer {metadata['issuer']!r}, expected {ISSUER!r}")
    if "form_post" not in metadata.get("response_modes_supported", []):
        sys.exit(f"discovery does not list form_post: {metadata.get('response_modes_supported')}")
    print(f"listening on http://127.0.0.1:{PORT}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
