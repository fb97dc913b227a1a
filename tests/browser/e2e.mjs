// End-to-end browser sign-in against a running Tessera, in real headless Chromium (Debian's
// `chromium`, driven by playwright-core): authorization code + PKCE S256 with OpenID Connect,
// the login and consent pages, the code exchange, the ID token, userinfo, and — when the
// server offers them — refresh-token rotation and RP-initiated logout.
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
import { createHash, createPublicKey, randomBytes, verify as verifySignature } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..');

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is required`);
  return value;
}

const BASE = required('TESSERA_URL').replace(/\/+$/, '');
const ADMIN_PASSWORD = required('TESSERA_ADMIN_PASSWORD');
const ADMIN_USERNAME = process.env.TESSERA_ADMIN_USERNAME || 'admin';
const CLIENT_ID = required('CLIENT_ID');
const CLIENT_SECRET = required('CLIENT_SECRET');
const CALLBACK_PORT = Number(process.env.CALLBACK_PORT || 0);
const REALM = process.env.TESSERA_REALM || 'default';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SCREENSHOTS = process.env.TESSERA_SCREENSHOTS === '1';
const ISSUER = `${BASE}/realms/${REALM}`;
const AUTH_URL = `${ISSUER}/protocol/openid-connect/auth`;
const SCOPE = 'openid profile email';
const SESSION_COOKIE = 'tessera_session';
const WAIT_MS = 20_000;

// The flags CI's Chromium runs with: no GPU, no sandbox (root), and nothing that reaches out
// to the network on its own (this machine's network is closed).
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const b64url = (buf) => Buffer.from(buf).toString('base64url');
const sha256 = (data) => createHash('sha256').update(data).digest();

/** A local stand-in for the application: records every query that reaches /callback. */
function startCallbackServer(port) {
  const received = [];
  const waiters = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    if (url.pathname !== '/callback') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const query = Object.fromEntries(url.searchParams);
    received.push(query);
    for (const w of waiters.splice(0)) w();
    res
      .writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
      .end('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Callback</title></head>' +
        '<body><h1 id="callback">Back at the application</h1><p>You can close this page.</p></body></html>');
  });
  /** Resolves with the query of callback number `index` (0-based), waiting for it if needed. */
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

function authorizationUrl(params) {
  const url = new URL(AUTH_URL);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url.toString();
}

function basicAuth(id, secret) {
  // RFC 6749 §2.3.1: form-encode both parts before base64.
  const enc = (s) => encodeURIComponent(s).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`;
}

async function tokenRequest(endpoint, form) {
  const resp = await fetch(endpoint, {
    method: 'POST',
    headers: {
      authorization: basicAuth(CLIENT_ID, CLIENT_SECRET),
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    },
    body: new URLSearchParams(form).toString(),
  });
  const text = await resp.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = { raw: text };
  }
  return { status: resp.status, headers: resp.headers, body };
}

function decodeJwt(token) {
  const parts = token.split('.');
  assert.equal(parts.length, 3, 'a compact JWS has three parts');
  const [header, payload] = parts
    .slice(0, 2)
    .map((p) => JSON.parse(Buffer.from(p, 'base64url').toString('utf8')));
  return { header, payload, signingInput: `${parts[0]}.${parts[1]}`, signature: Buffer.from(parts[2], 'base64url') };
}

async function screenshot(page, name) {
  if (!SCREENSHOTS) return;
  const dir = path.join(repoRoot, 'docs', 'console');
  await mkdir(dir, { recursive: true });
  await page.screenshot({ path: path.join(dir, name), fullPage: true });
}

describe('browser sign-in in headless Chromium', { timeout: 120_000 }, () => {
  let callback;
  let userDataDir;
  let context;
  let page;
  let discovery;
  // Filled in as the flow goes; later steps need earlier ones.
  const flow = {};

  before(async () => {
    callback = await startCallbackServer(CALLBACK_PORT);
    const resp = await fetch(`${ISSUER}/.well-known/openid-configuration`);
    assert.equal(resp.status, 200, 'discovery answers');
    discovery = await resp.json();
    userDataDir = await mkdtemp(path.join(os.tmpdir(), 'tessera-chromium-'));
    // A fresh profile in a temp dir (Playwright passes it as --user-data-dir).
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_FLAGS,
      viewport: { width: 900, height: 700 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(WAIT_MS);
  });

  after(async () => {
    await context?.close().catch(() => {});
    if (userDataDir) await rm(userDataDir, { recursive: true, force: true }).catch(() => {});
    await new Promise((resolve) => (callback ? callback.server.close(resolve) : resolve()));
    callback?.server.closeAllConnections?.();
  });

  it('discovery names this issuer and its endpoints', () => {
    assert.equal(discovery.issuer, ISSUER);
    assert.equal(discovery.authorization_endpoint, AUTH_URL);
    assert.ok(discovery.token_endpoint, 'token_endpoint');
    assert.ok(discovery.userinfo_endpoint, 'userinfo_endpoint');
    assert.ok(discovery.jwks_uri, 'jwks_uri');
    assert.deepEqual(discovery.code_challenge_methods_supported, ['S256']);
  });

  it('signs in on the login page, allows on the consent page, and lands on the callback', async () => {
    flow.state = b64url(randomBytes(16));
    flow.nonce = b64url(randomBytes(16));
    flow.verifier = b64url(randomBytes(32));
    const url = authorizationUrl({
      response_type: 'code',
      client_id: CLIENT_ID,
      redirect_uri: callback.url,
      scope: SCOPE,
      state: flow.state,
      nonce: flow.nonce,
      code_challenge: b64url(sha256(flow.verifier)),
      code_challenge_method: 'S256',
    });

    const login = await page.goto(url);
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
    const query = await callback.nth(seen);
    await page.waitForURL((u) => u.toString().startsWith(callback.url));
    assert.equal(query.error, undefined, `no error at the callback: ${JSON.stringify(query)}`);
    assert.equal(query.state, flow.state, 'state comes back unchanged');
    assert.equal(query.iss, ISSUER, 'iss names the issuer (RFC 9207)');
    assert.ok(query.code, 'a code');
    flow.code = query.code;
  });

  it('exchanges the code (client_secret_basic + code_verifier) and checks the ID token', async () => {
    assert.ok(flow.code, 'the sign-in step produced a code');
    const { status, headers, body } = await tokenRequest(discovery.token_endpoint, {
      grant_type: 'authorization_code',
      code: flow.code,
      redirect_uri: callback.url,
      code_verifier: flow.verifier,
    });
    assert.equal(status, 200, `token response: ${JSON.stringify(body)}`);
    assert.match(headers.get('cache-control') ?? '', /no-store/);
    assert.equal(String(body.token_type).toLowerCase(), 'bearer');
    assert.ok(body.access_token, 'an access token');
    assert.ok(body.id_token, 'an ID token');
    flow.tokens = body;

    const jwt = decodeJwt(body.id_token);
    assert.equal(jwt.header.alg, 'RS256');
    const jwks = await (await fetch(discovery.jwks_uri)).json();
    const jwk = jwks.keys.find((k) => k.kid === jwt.header.kid);
    assert.ok(jwk, `the ID token's kid ${jwt.header.kid} is in the JWKS`);
    const key = createPublicKey({ key: jwk, format: 'jwk' });
    assert.ok(
      verifySignature('RSA-SHA256', Buffer.from(jwt.signingInput), key, jwt.signature),
      'the ID token signature verifies with the published key',
    );
    const claims = jwt.payload;
    assert.equal(claims.iss, ISSUER);
    const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    assert.ok(aud.includes(CLIENT_ID), `aud ${JSON.stringify(claims.aud)} includes ${CLIENT_ID}`);
    assert.equal(claims.nonce, flow.nonce, 'nonce comes back in the ID token');
    assert.ok(claims.sub, 'sub');
    assert.ok(claims.exp > Math.floor(Date.now() / 1000) - 60, 'not expired');
    const digest = sha256(body.access_token);
    assert.equal(claims.at_hash, b64url(digest.subarray(0, digest.length / 2)), 'at_hash');
    flow.idToken = body.id_token;
    flow.sub = claims.sub;
  });

  it('userinfo returns the same sub as the ID token', async () => {
    assert.ok(flow.tokens?.access_token, 'the exchange step produced an access token');
    const resp = await fetch(discovery.userinfo_endpoint, {
      headers: { authorization: `Bearer ${flow.tokens.access_token}` },
    });
    const body = await resp.json();
    assert.equal(resp.status, 200, `userinfo: ${JSON.stringify(body)}`);
    assert.equal(body.sub, flow.sub);
    assert.equal(body.preferred_username, ADMIN_USERNAME, 'profile scope: preferred_username');
  });

  it('refresh rotates the refresh token and refuses the old one', async (t) => {
    assert.ok(flow.tokens, 'the exchange step produced tokens');
    const old = flow.tokens.refresh_token;
    if (!old) {
      t.skip('the token response has no refresh_token');
      return;
    }
    const first = await tokenRequest(discovery.token_endpoint, { grant_type: 'refresh_token', refresh_token: old });
    assert.equal(first.status, 200, `refresh: ${JSON.stringify(first.body)}`);
    assert.ok(first.body.access_token, 'a new access token');
    assert.ok(first.body.refresh_token, 'a new refresh token');
    assert.notEqual(first.body.refresh_token, old, 'the refresh token rotates');
    const replay = await tokenRequest(discovery.token_endpoint, { grant_type: 'refresh_token', refresh_token: old });
    assert.equal(replay.status, 400, `replayed refresh token: ${JSON.stringify(replay.body)}`);
    assert.equal(replay.body.error, 'invalid_grant');
  });

  it('RP-initiated logout ends the session and returns to the registered URI', async (t) => {
    assert.ok(flow.idToken, 'the exchange step produced an ID token');
    if (!discovery.end_session_endpoint) {
      t.skip('discovery has no end_session_endpoint');
      return;
    }
    const logoutState = b64url(randomBytes(12));
    const logout = new URL(discovery.end_session_endpoint);
    logout.searchParams.set('id_token_hint', flow.idToken);
    logout.searchParams.set('post_logout_redirect_uri', callback.url);
    logout.searchParams.set('state', logoutState);
    let seen = callback.received.length;
    await page.goto(logout.toString());
    const back = await callback.nth(seen);
    await page.waitForURL((u) => u.toString().startsWith(callback.url));
    assert.equal(back.state, logoutState, 'the logout state comes back');
    assert.equal(back.code, undefined);

    // The session is over: prompt=none must not sign anyone in silently.
    const silentState = b64url(randomBytes(12));
    seen = callback.received.length;
    await page.goto(
      authorizationUrl({
        response_type: 'code',
        client_id: CLIENT_ID,
        redirect_uri: callback.url,
        scope: SCOPE,
        state: silentState,
        nonce: b64url(randomBytes(12)),
        code_challenge: b64url(sha256(b64url(randomBytes(32)))),
        code_challenge_method: 'S256',
        prompt: 'none',
      }),
    );
    const silent = await callback.nth(seen);
    assert.equal(silent.error, 'login_required', `after logout: ${JSON.stringify(silent)}`);
    assert.equal(silent.state, silentState);
    assert.equal(silent.iss, ISSUER);
    assert.equal(silent.code, undefined);
  });
});
