"""python-keycloak's KeycloakOpenID against a running Tessera, used the way its README shows.

Each step calls the library, checks what it returned (or raised), and prints one line; a failed
step does not stop the steps that do not need its result. Exits 1 if any step failed.

Run by crates/server/tests/api/python_clients.rs, which starts the server and registers the
user and the client. By hand, against a server you started:

    tests/python/.venv/bin/python tests/python/keycloak_client.py \\
        --server-url http://127.0.0.1:8080 --realm default \\
        --client-id kc --client-secret ... --username ada --password ...

with `kc` a confidential client registered for the password, refresh_token and
client_credentials grants with scopes `openid profile email`. Every option can come from the
environment instead: TESSERA_URL, TESSERA_REALM, CLIENT_ID, CLIENT_SECRET, USERNAME, PASSWORD,
and TESSERA_AUDIENCE (the access tokens' `aud`; default: the server URL, Tessera's default).
"""

import argparse
import base64
import hashlib
import json
import os
import sys
import traceback

from jwcrypto import jwk
from jwcrypto.common import JWException
from keycloak import KeycloakOpenID
from keycloak.exceptions import KeycloakError

passed = []
failed = []
# What earlier steps produced, for later ones.
state = {}


def step(name, needs=()):
    """Runs the decorated function as one step; skipped as failed when a step it needs failed."""

    def run(fn):
        missing = [n for n in needs if n not in state]
        if missing:
            failed.append(name)
            print(f"FAIL {name}: needs {', '.join(missing)} from an earlier step", flush=True)
            return fn
        try:
            detail = fn()
        except Exception as e:  # noqa: BLE001 - every failure is reported, then counted
            failed.append(name)
            print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
            traceback.print_exc(file=sys.stdout)
            return fn
        passed.append(name)
        print(f"ok   {name}" + (f": {detail}" if detail else ""), flush=True)
        return fn

    return run


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


def b64url_json(segment):
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def header_of(token):
    return b64url_json(token.split(".")[0])


def main():
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server-url", default=env("TESSERA_URL"))
    parser.add_argument("--realm", default=env("TESSERA_REALM", "default"))
    parser.add_argument("--client-id", default=env("CLIENT_ID"))
    parser.add_argument("--client-secret", default=env("CLIENT_SECRET"))
    parser.add_argument("--username", default=env("USERNAME"))
    parser.add_argument("--password", default=env("PASSWORD"))
    parser.add_argument("--audience", default=env("TESSERA_AUDIENCE"))
    args = parser.parse_args()
    for name in ("server_url", "client_id", "client_secret", "username", "password"):
        if not getattr(args, name):
            parser.error(f"--{name.replace('_', '-')} (or its environment variable) is required")
    server_url = args.server_url.rstrip("/")
    issuer = f"{server_url}/realms/{args.realm}"
    audience = args.audience or server_url

    kc = KeycloakOpenID(
        server_url=server_url + "/",
        realm_name=args.realm,
        client_id=args.client_id,
        client_secret_key=args.client_secret,
    )

    @step("well_known names this realm's issuer")
    def _():
        doc = kc.well_known()
        expect(doc["issuer"] == issuer, f"issuer {doc['issuer']!r} != {issuer!r}")
        expect(
            doc["token_endpoint"] == f"{issuer}/protocol/openid-connect/token",
            doc["token_endpoint"],
        )

    @step("token(username, password): password grant with scope openid")
    def _():
        tokens = kc.token(args.username, args.password)
        expect(tokens.get("token_type", "").lower() == "bearer", f"token_type {tokens}")
        expect(tokens.get("expires_in", 0) > 0, f"expires_in {tokens.get('expires_in')}")
        expect(tokens.get("access_token", "").count(".") == 2, "a JWT access token")
        state["access_token"] = tokens["access_token"]
        # Keycloak answers the password grant with a refresh token and, for openid, an ID token.
        expect("refresh_token" in tokens, f"a refresh_token (got {sorted(tokens)})")
        state["refresh_token"] = tokens["refresh_token"]
        expect("id_token" in tokens, f"an id_token for scope openid (got {sorted(tokens)})")
        state["id_token"] = tokens["id_token"]
        return f"got {', '.join(sorted(k for k in tokens if k.endswith('token')))}"

    @step("certs(): the JWKS has the access token's kid", needs=["access_token"])
    def _():
        certs = kc.certs()
        kids = [k["kid"] for k in certs["keys"]]
        kid = header_of(state["access_token"])["kid"]
        expect(kid in kids, f"kid {kid} not in {kids}")
        return f"{len(kids)} keys"

    @step("decode_token(access_token, validate=True): signature by the JWKS", needs=["access_token"])
    def _():
        # python-keycloak 7 builds a JWKSet from certs() and lets jwcrypto check the signature,
        # exp and nbf (60 s leeway); it checks neither iss nor aud unless asked.
        claims = kc.decode_token(state["access_token"], validate=True)
        expect(claims["iss"] == issuer, f"iss {claims['iss']}")
        expect(claims["client_id"] == args.client_id, f"client_id {claims.get('client_id')}")
        expect("openid" in claims["scope"].split(), f"scope {claims['scope']}")
        state["sub"] = claims["sub"]
        # Asked to, jwcrypto checks iss and aud too (its check_claims).
        strict = kc.decode_token(
            state["access_token"],
            validate=True,
            check_claims={"iss": issuer, "aud": audience, "exp": None},
        )
        expect(strict["sub"] == claims["sub"], "same claims")
        try:
            kc.decode_token(
                state["access_token"], validate=True, check_claims={"aud": "someone-else"}
            )
        except JWException:
            pass
        else:
            raise AssertionError("a wrong audience was accepted")
        head, body, sig = state["access_token"].split(".")
        forged = f"{head}.{body}.{sig[:-4]}{'AAAA' if sig[-4:] != 'AAAA' else 'BBBB'}"
        try:
            kc.decode_token(forged, validate=True)
        except JWException:
            pass
        else:
            raise AssertionError("a token with a changed signature was accepted")
        return f"sub {claims['sub']}, alg {header_of(state['access_token'])['alg']}"

    @step("public_key(): the realm's key, wrapped in PEM, verifies the access token", needs=["access_token"])
    def _():
        public_key = kc.public_key()
        expect("BEGIN" not in public_key, "no PEM armour, like Keycloak")
        der = base64.b64decode(public_key, validate=True)
        pem = "-----BEGIN PUBLIC KEY-----\n" + public_key + "\n-----END PUBLIC KEY-----"
        key = jwk.JWK.from_pem(pem.encode())
        # Our kids are RFC 7638 thumbprints: the key is the one named in the token.
        kid = header_of(state["access_token"])["kid"]
        expect(key.thumbprint() == kid, f"thumbprint {key.thumbprint()} != kid {kid}")
        claims = kc.decode_token(state["access_token"], validate=True, key=key)
        expect(claims["iss"] == issuer, f"iss {claims['iss']}")
        return f"{key['kty']} {key.get('crv', '')} key, {len(der)} bytes of SPKI"

    @step("decode_token(id_token): RS256, aud is this client, same sub", needs=["id_token", "sub"])
    def _():
        header = header_of(state["id_token"])
        expect(header["alg"] == "RS256", f"alg {header['alg']}")
        claims = kc.decode_token(
            state["id_token"],
            validate=True,
            check_claims={"iss": issuer, "aud": args.client_id, "exp": None, "iat": None},
        )
        expect(claims["sub"] == state["sub"], f"sub {claims['sub']} != {state['sub']}")
        at = state["access_token"].encode()
        half = hashlib.sha256(at).digest()[:16]
        at_hash = base64.urlsafe_b64encode(half).rstrip(b"=").decode()
        expect(claims.get("at_hash") == at_hash, f"at_hash {claims.get('at_hash')}")

    @step("userinfo(access_token): same sub; with scope profile, the username", needs=["access_token", "sub"])
    def _():
        info = kc.userinfo(state["access_token"])
        expect(info["sub"] == state["sub"], f"sub {info['sub']}")
        # Claims follow the granted scopes: ask for profile to get the username.
        tokens = kc.token(args.username, args.password, scope="openid profile email")
        info = kc.userinfo(tokens["access_token"])
        expect(info["sub"] == state["sub"], f"sub {info['sub']}")
        expect(info.get("preferred_username") == args.username, f"userinfo {info}")

    @step("introspect(access_token): active, this client, this user", needs=["access_token", "sub"])
    def _():
        info = kc.introspect(state["access_token"])
        expect(info.get("active") is True, f"introspection {info}")
        expect(info.get("client_id") == args.client_id, f"client_id {info.get('client_id')}")
        expect(info.get("sub") == state["sub"], f"sub {info.get('sub')}")
        garbage = kc.introspect("not-a-token")
        expect(garbage == {"active": False}, f"garbage introspected as {garbage}")

    @step("refresh_token(): a new access token and a rotated refresh token", needs=["refresh_token", "sub"])
    def _():
        fresh = kc.refresh_token(state["refresh_token"])
        expect(fresh.get("access_token", "").count(".") == 2, f"refresh answer {sorted(fresh)}")
        expect(fresh.get("refresh_token") not in (None, state["refresh_token"]), "rotated")
        claims = kc.decode_token(fresh["access_token"], validate=True)
        expect(claims["sub"] == state["sub"], "same user")
        state["current_refresh_token"] = fresh["refresh_token"]

    @step("logout(refresh_token): 204, then the refresh token is refused", needs=["current_refresh_token"])
    def _():
        # python-keycloak accepts only 204 here (and returns {}).
        answer = kc.logout(state["current_refresh_token"])
        expect(answer == {}, f"logout answered {answer!r}")
        try:
            kc.refresh_token(state["current_refresh_token"])
        except KeycloakError as e:
            expect(e.response_code == 400, f"status {e.response_code}: {e.response_body!r}")
            expect(b"invalid_grant" in e.response_body, f"body {e.response_body!r}")
        else:
            raise AssertionError("the logged-out refresh token still refreshes")

    @step("token(grant_type='client_credentials'): scope openid is dropped, no ID token")
    def _():
        # python-keycloak sends scope=openid (its default) and empty username/password.
        tokens = kc.token(grant_type="client_credentials")
        expect("id_token" not in tokens, f"no ID token without a user: {sorted(tokens)}")
        claims = kc.decode_token(tokens["access_token"], validate=True)
        expect(claims["client_id"] == args.client_id, f"client_id {claims['client_id']}")
        expect("openid" not in claims.get("scope", "").split(), f"scope {claims.get('scope')}")
        if "sub" in state:
            expect(claims["sub"] != state["sub"], "the service account, not the user")
        return f"sub {claims['sub']} (service account)"

    print(f"{len(passed)} passed, {len(failed)} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
