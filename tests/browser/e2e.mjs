// End-to-end browser sign-in against a running Tessera, in real headless Chromium (Debian's
// `chromium`, driven by playwright-core): authorization code + PKCE S256 with OpenID Connect,
// the login and consent pages, the code exchange, the ID token, userinfo, and — when the
// server offers them — refresh-token rotation and RP-initiated logout.
//
// The relying party is a real client library, openid-client (panva, v6): it does discovery
// (and checks the issuer), builds the authorization and end-session URLs, validates the
// authorization response (state, and iss per RFC 9207), exchanges the code with
// client_secret_basic + code_verifier, validates the ID token (signature against the JWKS,
// alg RS256, iss, aud, exp/iat, nonce), fetches userinfo (checking sub) and refreshes. Our
// issuer is plain http in tests, so the configuration allows insecure requests.
//
// Run by crates/server/tests/api/browser.rs, which starts the server and registers the client.
// By hand, against a server you started:
//
//   TESSERA_URL=http://127.0.0.1:8080 TESSERA_ADMIN_PASSWORD=... CLIENT_ID=e2e CLIENT_SECRET=... \
//   CALLBACK_PORT=53682 node --test tests/browser/e2e.mjs
//
// with the client registered as confidential, grant types authorization_code and refresh_token,
// scopes `openid profile email`, redirect URI (and post-logout redirect URI)
// http://127.0.0.1:$CALLBACK_PORT/callback.
//
// Environment:
//   TESSERA_URL              the server's public URL (required)
//   TESSERA_ADMIN_PASSWORD   the password of the user who signs in (required)
//   TESSERA_ADMIN_USERNAME   that user's name (default: admin)
//   CLIENT_ID, CLIENT_SECRET the confidential client (required)
//   CALLBACK_PORT            the port of the local callback server (default: 0, any free port;
//                            the client's redirect URI must then match it)
//   TESSERA_REALM            the realm (default: default)
//   CHROMIUM                 the browser binary (default: /usr/bin/chromium)
//   TESSERA_SCREENSHOTS=1    also save docs/console/login.png and docs/console/consent.png

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import * as client from 'openid-client';
import { WAIT_MS, freshBrowser, repoRoot, required } from './chromium.mjs';

const BASE = required('TESSERA_URL').replace(/\/+$/, '');
const ADMIN_PASSWORD = required('TESSERA_ADMIN_PASSWORD');
const ADMIN_USERNAME = process.env.TESSERA_ADMIN_USERNAME || 'admin';
const CLIENT_ID = required('CLIENT_ID');
const CLIENT_SECRET = required('CLIENT_SECRET');
const CALLBACK_PORT = Number(process.env.CALLBACK_PORT || 0);
const REALM = process.env.TESSERA_REALM || 'default';
const SCREENSHOTS = process.env.TESSERA_SCREENSHOTS === '1';
const ISSUER = `${BASE}/realms/${REALM}`;
const AUTH_URL = `${ISSUER}/protocol/openid-connect/auth`;
const SCOPE = 'openid profile email';
const SESSION_COOKIE = 'tessera_session';


const b64url = (buf) => Buffer.from(buf).toString('base64url');
const sha256 = (data) => createHash('sha256').update(data).digest();

/** A local stand-in for the application: records every request that reaches /callback. */
function startCallbackServer(port) {
  const received = [];
  const waiters = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, `http://127.0.0.1:${server.address().port}`);
    if (url.pathname !== '/callback') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    // The query, plus the full URL the browser was sent to (for the client library).
    received.push({ query: Object.fromEntries(url.searchParams), url });
    for (const w of waiters.splice(0)) w();
    res
      .writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
      .end('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Callback</title></head>' +
        '<body><h1 id="callback">Back at the application</h1><p>You can close this page.</p></body></html>');
  });
  /** Resolves with callback number `index` (0-based), waiting for it if needed. */
  const nth = (index, ms = WAIT_MS) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no request #${index + 1} reached the callback within ${ms} ms`)),
        ms,
      );
      const check = () => {
        if (received.length > index) {
          clearTimeout(timer);
          resolve(received[index]);
        } else {
          waiters.push(check);
        }
      };
      check();
    });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const { port: bound } = server.address();
      resolve({ server, received, nth, url: `http://127.0.0.1:${bound}/callback` });
    });
  });
}

/**
 * The fetch openid-client uses for every request it makes: node's own, recording each
 * response's status and headers, so the test can check what the library does not (for
 * example the token endpoint's Cache-Control).
 */
const responses = [];
async function recordingFetch(url, options) {
  const resp = await fetch(url, options);
  responses.push({ url: String(url), method: options?.method, status: resp.status, headers: resp.headers });
  return resp;
}
const lastResponse = (endpoint) => responses.findLast((r) => r.url === endpoint);

async function screenshot(page, name) {
  if (!SCREENSHOTS) return;
  const dir = path.join(repoRoot, 'docs', 'console');
  await mkdir(dir, { recursive: true });
  await page.screenshot({ path: path.join(dir, name), fullPage: true });
}

describe('browser sign-in in headless Chromium', { timeout: 120_000 }, () => {
  let callback;
  let browser;
  let context;
  let page;
  /** The openid-client Configuration: server metadata from discovery plus our client. */
  let config;
  // Filled in as the flow goes; later steps need earlier ones.
  const flow = {};

  before(async () => {
    callback = await startCallbackServer(CALLBACK_PORT);
    browser = await freshBrowser({ viewport: { width: 900, height: 700 } });
    ({ context, page } = browser);
  });

  after(async () => {
    await browser?.close();
    await new Promise((resolve) => (callback ? callback.server.close(resolve) : resolve()));
    callback?.server.closeAllConnections?.();
  });

  it('discovery names this issuer and its endpoints', async () => {
    // openid-client fetches {issuer}/.well-known/openid-configuration and checks that its
    // `issuer` is exactly the issuer asked for.
    config = await client.discovery(
      new URL(ISSUER),
      CLIENT_ID,
      // The ID token must be RS256 (the library then refuses any other alg).
      { client_secret: CLIENT_SECRET, id_token_signed_response_alg: 'RS256' },
      client.ClientSecretBasic(CLIENT_SECRET),
      {
        // The test server is plain http on 127.0.0.1; openid-client is https-only otherwise.
        execute: [client.allowInsecureRequests],
        [client.customFetch]: recordingFetch,
      },
    );
    const discovery = config.serverMetadata();
    assert.equal(discovery.issuer, ISSUER);
    assert.equal(discovery.authorization_endpoint, AUTH_URL);
    assert.ok(discovery.token_endpoint, 'token_endpoint');
    assert.ok(discovery.userinfo_endpoint, 'userinfo_endpoint');
    assert.ok(discovery.jwks_uri, 'jwks_uri');
    assert.deepEqual(discovery.code_challenge_methods_supported, ['S256']);
    assert.ok(discovery.supportsPKCE('S256'), 'PKCE S256 is supported');
  });

  it('signs in on the login page, allows on the consent page, and lands on the callback', async () => {
    assert.ok(config, 'discovery produced a configuration');
    flow.state = client.randomState();
    flow.nonce = client.randomNonce();
    flow.verifier = client.randomPKCECodeVerifier();
    // response_type=code and client_id are added by the library.
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: callback.url,
      scope: SCOPE,
      state: flow.state,
      nonce: flow.nonce,
      code_challenge: await client.calculatePKCECodeChallenge(flow.verifier),
      code_challenge_method: 'S256',
    });
    assert.equal(`${url.origin}${url.pathname}`, AUTH_URL);
    assert.equal(url.searchParams.get('response_type'), 'code');
    assert.equal(url.searchParams.get('client_id'), CLIENT_ID);

    const login = await page.goto(url.href);
    assert.equal(login.status(), 200, 'the login page is served');
    const headers = login.headers();
    assert.equal(headers['x-frame-options'], 'DENY');
    assert.match(headers['content-security-policy'] ?? '', /frame-ancestors 'none'/);
    assert.equal(headers['referrer-policy'], 'no-referrer');
    await page.locator('#username').waitFor();
    await screenshot(page, 'login.png');

    await page.fill('#username', ADMIN_USERNAME);
    await page.fill('#password', ADMIN_PASSWORD);
    await page.click('#sign-in');

    // The client is not first-party, so the consent page comes next.
    await page.locator('#allow').waitFor();
    const cookies = await context.cookies(`${ISSUER}/`);
    const session = cookies.find((c) => c.name === SESSION_COOKIE);
    assert.ok(session, `a ${SESSION_COOKIE} cookie after sign-in (got: ${cookies.map((c) => c.name).join(', ')})`);
    assert.equal(session.httpOnly, true, 'the session cookie is HttpOnly');
    assert.equal(session.sameSite, 'Lax', 'the session cookie is SameSite=Lax');
    assert.equal(session.secure, BASE.startsWith('https://'), 'Secure exactly when the server is https');
    await screenshot(page, 'consent.png');

    const seen = callback.received.length;
    await page.click('#allow');
    const { query, url: back } = await callback.nth(seen);
    await page.waitForURL((u) => u.toString().startsWith(callback.url));
    assert.equal(query.error, undefined, `no error at the callback: ${JSON.stringify(query)}`);
    assert.equal(query.state, flow.state, 'state comes back unchanged');
    assert.equal(query.iss, ISSUER, 'iss names the issuer (RFC 9207)');
    assert.ok(query.code, 'a code');
    flow.callbackUrl = back;
  });

  it('exchanges the code (client_secret_basic + code_verifier) and checks the ID token', async () => {
    assert.ok(flow.callbackUrl, 'the sign-in step produced a callback');
    // Validates the authorization response (state; iss, which discovery says the server
    // sends), sends redirect_uri (the callback URL without its query) and the verifier, and
    // validates the ID token: signature against the JWKS, alg, iss, aud, azp, exp/iat, nonce.
    const tokens = await client.authorizationCodeGrant(config, flow.callbackUrl, {
      pkceCodeVerifier: flow.verifier,
      expectedState: flow.state,
      expectedNonce: flow.nonce,
      idTokenExpected: true,
    });
    const resp = lastResponse(config.serverMetadata().token_endpoint);
    assert.ok(resp, 'the library called the token endpoint');
    assert.equal(resp.status, 200);
    assert.match(resp.headers.get('cache-control') ?? '', /no-store/);
    assert.equal(String(tokens.token_type).toLowerCase(), 'bearer');
    assert.ok(tokens.access_token, 'an access token');
    assert.ok(tokens.id_token, 'an ID token');
    flow.tokens = tokens;

    const claims = tokens.claims();
    assert.ok(claims, 'the ID token claims');
    assert.equal(JSON.parse(Buffer.from(tokens.id_token.split('.')[0], 'base64url')).alg, 'RS256');
    assert.equal(claims.iss, ISSUER);
    const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    assert.ok(aud.includes(CLIENT_ID), `aud ${JSON.stringify(claims.aud)} includes ${CLIENT_ID}`);
    assert.equal(claims.nonce, flow.nonce, 'nonce comes back in the ID token');
    assert.ok(claims.sub, 'sub');
    // openid-client checks at_hash only for hybrid responses; check it here.
    const digest = sha256(tokens.access_token);
    assert.equal(claims.at_hash, b64url(digest.subarray(0, digest.length / 2)), 'at_hash');
    flow.idToken = tokens.id_token;
    flow.sub = claims.sub;
  });

  it('userinfo returns the same sub as the ID token', async () => {
    assert.ok(flow.tokens?.access_token, 'the exchange step produced an access token');
    // Refuses a response whose sub is not the expected one.
    const userinfo = await client.fetchUserInfo(config, flow.tokens.access_token, flow.sub);
    assert.equal(userinfo.sub, flow.sub);
    assert.equal(userinfo.preferred_username, ADMIN_USERNAME, 'profile scope: preferred_username');
  });

  it('refresh rotates the refresh token and refuses the old one', async (t) => {
    assert.ok(flow.tokens, 'the exchange step produced tokens');
    const old = flow.tokens.refresh_token;
    if (!old) {
      t.skip('the token response has no refresh_token');
      return;
    }
    const first = await client.refreshTokenGrant(config, old);
    assert.ok(first.access_token, 'a new access token');
    assert.ok(first.refresh_token, 'a new refresh token');
    assert.notEqual(first.refresh_token, old, 'the refresh token rotates');
    const refreshedClaims = first.claims();
    if (refreshedClaims) assert.equal(refreshedClaims.sub, flow.sub, 'a refreshed ID token has the same sub');

    await assert.rejects(client.refreshTokenGrant(config, old), (err) => {
      assert.ok(err instanceof client.ResponseBodyError, `an OAuth error response, got: ${err}`);
      assert.equal(err.status, 400, `replayed refresh token: ${JSON.stringify(err.cause)}`);
      assert.equal(err.error, 'invalid_grant');
      return true;
    });
  });

  it('RP-initiated logout ends the session and returns to the registered URI', async (t) => {
    assert.ok(flow.idToken, 'the exchange step produced an ID token');
    if (!config.serverMetadata().end_session_endpoint) {
      t.skip('discovery has no end_session_endpoint');
      return;
    }
    const logoutState = client.randomState();
    // client_id is added by the library.
    const logout = client.buildEndSessionUrl(config, {
      id_token_hint: flow.idToken,
      post_logout_redirect_uri: callback.url,
      state: logoutState,
    });
    let seen = callback.received.length;
    await page.goto(logout.href);
    const { query: back } = await callback.nth(seen);
    await page.waitForURL((u) => u.toString().startsWith(callback.url));
    assert.equal(back.state, logoutState, 'the logout state comes back');
    assert.equal(back.code, undefined);

    // The session is over: prompt=none must not sign anyone in silently.
    const silentState = client.randomState();
    const silentNonce = client.randomNonce();
    const silentVerifier = client.randomPKCECodeVerifier();
    seen = callback.received.length;
    await page.goto(
      client.buildAuthorizationUrl(config, {
        redirect_uri: callback.url,
        scope: SCOPE,
        state: silentState,
        nonce: silentNonce,
        code_challenge: await client.calculatePKCECodeChallenge(silentVerifier),
        code_challenge_method: 'S256',
        prompt: 'none',
      }).href,
    );
    const { query: silent, url: silentUrl } = await callback.nth(seen);
    assert.equal(silent.error, 'login_required', `after logout: ${JSON.stringify(silent)}`);
    assert.equal(silent.state, silentState);
    assert.equal(silent.iss, ISSUER);
    assert.equal(silent.code, undefined);
    // The library reads it the same way: state and iss check out, and it is an error response.
    await assert.rejects(
      client.authorizationCodeGrant(config, silentUrl, {
        pkceCodeVerifier: silentVerifier,
        expectedState: silentState,
        expectedNonce: silentNonce,
      }),
      (err) => {
        assert.ok(err instanceof client.AuthorizationResponseError, `an authorization error response, got: ${err}`);
        assert.equal(err.error, 'login_required');
        return true;
      },
    );
  });
});
