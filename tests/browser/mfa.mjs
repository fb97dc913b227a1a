// Second factors in real headless Chromium: an authenticator app set up on the account page
// (reached through the console's sign-in) and then asked for at sign-in, a recovery code that
// works once, and a role that requires MFA forcing enrolment during sign-in. The ID tokens of
// those sign-ins say `acr` 2 and carry `otp` in `amr`.
//
// Run by crates/server/tests/api/browser.rs. The server's clock is held still at SERVER_TIME
// (a test clock), so codes are computed for that time: the code that confirms the app is for
// SERVER_TIME, the one that signs in for the next 30-second step (a code is accepted once).
//
// Environment: TESSERA_URL, CLIENT_ID, CLIENT_SECRET (confidential, redirect URI
// http://127.0.0.1:$CALLBACK_PORT/callback), CALLBACK_PORT, SERVER_TIME, TINA_PASSWORD (a
// member), ROSA_PASSWORD (holder of a role that requires MFA).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import http from 'node:http';
import { freshBrowser, required } from './chromium.mjs';

const BASE = required('TESSERA_URL').replace(/\/+$/, '');
const CLIENT_ID = required('CLIENT_ID');
const CLIENT_SECRET = required('CLIENT_SECRET');
const CALLBACK_PORT = Number(required('CALLBACK_PORT'));
const SERVER_TIME = Number(required('SERVER_TIME'));
const TINA_PASSWORD = required('TINA_PASSWORD');
const ROSA_PASSWORD = required('ROSA_PASSWORD');
const ISSUER = `${BASE}/realms/default`;
const REDIRECT = `http://127.0.0.1:${CALLBACK_PORT}/callback`;

/** RFC 6238 (SHA-1, 6 digits, 30 s) for a base32 secret at `unix` seconds. */
export function totp(secret, unix) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of secret.replace(/=+$/, '').toUpperCase()) {
    bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  }
  const bytes = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(unix / 30)));
  const mac = createHmac('sha1', bytes).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const value = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(value).padStart(6, '0');
}

/** Every request that reaches /callback, in order. */
function startCallbackServer() {
  const received = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, REDIRECT);
    // Only the redirect itself (not the favicon the browser asks for afterwards).
    if (url.pathname === '/callback') received.push(Object.fromEntries(url.searchParams));
    res.writeHead(200, { 'content-type': 'text/html' }).end('<h1 id="callback">Back</h1>');
  });
  return new Promise((resolve) => server.listen(CALLBACK_PORT, '127.0.0.1', () => resolve({ server, received })));
}

const b64url = (buf) => Buffer.from(buf).toString('base64url');

/** A fresh authorization request with PKCE; returns its URL and verifier. */
function authorizationRequest() {
  const verifier = b64url(randomBytes(32));
  const params = new URLSearchParams({
    response_type: 'code',
    client_id: CLIENT_ID,
    redirect_uri: REDIRECT,
    scope: 'openid profile',
    state: b64url(randomBytes(8)),
    code_challenge: b64url(createHash('sha256').update(verifier).digest()),
    code_challenge_method: 'S256',
  });
  return { url: `${ISSUER}/protocol/openid-connect/auth?${params}`, verifier };
}

/** Exchanges a code; returns the ID token's claims. */
async function idTokenClaims(code, verifier) {
  const resp = await fetch(`${ISSUER}/protocol/openid-connect/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier }),
  });
  const body = await resp.json();
  assert.equal(resp.status, 200, JSON.stringify(body));
  return JSON.parse(Buffer.from(body.id_token.split('.')[1], 'base64url').toString());
}

async function signInWithPassword(page, username, password) {
  await page.fill('#username', username);
  await page.fill('#password', password);
  await page.click('#sign-in');
}

/** Allows the application when asked, then waits for the callback page. */
async function allowAndArrive(page) {
  await page.waitForSelector('#allow, #callback');
  if (await page.$('#allow')) await page.click('#allow');
  await page.waitForSelector('#callback');
}

describe('second factors in headless Chromium', { timeout: 180_000 }, () => {
  let callback;
  const totpState = {};

  before(async () => {
    callback = await startCallbackServer();
  });

  after(() => callback.server.close());

  it('sets up an authenticator app on the account page and signs in with a code', async () => {
    const { page, close } = await freshBrowser();
    try {
      // The account page sends an anonymous visitor through the console's sign-in and back.
      await page.goto(`${ISSUER}/account/`);
      await signInWithPassword(page, 'tina', TINA_PASSWORD);
      await page.waitForSelector('#account-username');
      assert.equal(await page.textContent('#account-username'), 'tina');
      assert.match(await page.textContent('#totp-status'), /^Off/);
      await page.click('#start-totp');
      await page.waitForSelector('#totp-qr svg');
      const secret = await page.textContent('#totp-secret');
      await page.fill('#code', totp(secret, SERVER_TIME));
      await page.click('#enrol');
      await page.waitForSelector('#recovery-codes');
      const codes = await page.$$eval('#recovery-codes code', (els) => els.map((e) => e.textContent));
      assert.equal(codes.length, 10);
      await page.click('#continue');
      await page.waitForSelector('#totp-status');
      assert.match(await page.textContent('#totp-status'), /^On/);
      Object.assign(totpState, { secret, codes });
    } finally {
      await close();
    }

    const { page: next, close: closeNext } = await freshBrowser();
    try {
      const { url, verifier } = authorizationRequest();
      await next.goto(url);
      await signInWithPassword(next, 'tina', TINA_PASSWORD);
      await next.waitForSelector('#code');
      await next.fill('#code', totp(totpState.secret, SERVER_TIME + 30));
      await next.click('#verify');
      await allowAndArrive(next);
      const { code } = callback.received.at(-1);
      const claims = await idTokenClaims(code, verifier);
      assert.equal(claims.acr, '2');
      assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
    } finally {
      await closeNext();
    }
  });

  it('accepts a recovery code once', async () => {
    assert.ok(totpState.codes, 'the first test set up the app');
    for (const expectAccepted of [true, false]) {
      const { page, close } = await freshBrowser();
      try {
        const { url, verifier } = authorizationRequest();
        await page.goto(url);
        await signInWithPassword(page, 'tina', TINA_PASSWORD);
        await page.waitForSelector('#code');
        await page.click('summary');
        await page.fill('#recovery_code', totpState.codes[0]);
        await page.click('#verify');
        if (expectAccepted) {
          await allowAndArrive(page);
          const claims = await idTokenClaims(callback.received.at(-1).code, verifier);
          assert.equal(claims.acr, '2');
        } else {
          await page.waitForSelector('#second-factor-error');
          assert.match(await page.textContent('#second-factor-error'), /already used/);
          assert.equal(await page.$('#callback'), null);
        }
      } finally {
        await close();
      }
    }
  });

  it('makes a holder of a role that requires MFA set up an app while signing in', async () => {
    const { page, close } = await freshBrowser();
    try {
      const { url, verifier } = authorizationRequest();
      await page.goto(url);
      await signInWithPassword(page, 'rosa', ROSA_PASSWORD);
      await page.waitForSelector('#totp-secret');
      const secret = await page.textContent('#totp-secret');
      await page.fill('#code', '000000');
      await page.click('#enrol');
      await page.waitForSelector('#enrol-error');
      await page.fill('#code', totp(secret, SERVER_TIME));
      await page.click('#enrol');
      await page.waitForSelector('#recovery-codes');
      await page.click('#continue');
      await allowAndArrive(page);
      const claims = await idTokenClaims(callback.received.at(-1).code, verifier);
      assert.equal(claims.acr, '2');
      assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
    } finally {
      await close();
    }
  });
});
