// Passkeys in real headless Chromium, with a CDP virtual authenticator (CTAP2, internal,
// resident keys, user verification): a user signs in with the password, adds a passkey named
// "laptop" on the account page, signs out (RP-initiated logout), signs in with the passkey
// alone (no username, no password), signs in with the password again and is asked for the
// passkey as the second factor, and removes the passkey. Every code is exchanged with
// openid-client, which validates the ID token; its amr and acr say how the user signed in.
//
// Run by crates/server/tests/api/passkeys.rs, which starts the server at
// http://localhost:{port} (WebAuthn needs a DNS name) and registers the client.
//
// Environment:
//   TESSERA_URL              the server's public URL, a DNS name (required)
//   TESSERA_USERNAME         the user who signs in (required), and TESSERA_PASSWORD
//   CLIENT_ID, CLIENT_SECRET a confidential first-party client whose redirect URI and
//                            post-logout redirect URI are http://127.0.0.1:$CALLBACK_PORT/callback
//   CALLBACK_PORT            the port of the local callback server (required)
//   TESSERA_REALM            the realm (default: default)

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import * as client from 'openid-client';
import { WAIT_MS, freshBrowser, required } from './chromium.mjs';

const BASE = required('TESSERA_URL').replace(/\/+$/, '');
const USERNAME = required('TESSERA_USERNAME');
const PASSWORD = required('TESSERA_PASSWORD');
const CLIENT_ID = required('CLIENT_ID');
const CLIENT_SECRET = required('CLIENT_SECRET');
const CALLBACK_PORT = Number(required('CALLBACK_PORT'));
const REALM = process.env.TESSERA_REALM || 'default';
const ISSUER = `${BASE}/realms/${REALM}`;
const ACCOUNT = `${ISSUER}/account/`;
const CALLBACK = `http://127.0.0.1:${CALLBACK_PORT}/callback`;

/** The application's stand-in: records every request that reaches /callback. */
function startCallbackServer() {
  const received = [];
  const waiters = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, CALLBACK);
    if (url.pathname !== '/callback') {
      res.writeHead(404).end('not found');
      return;
    }
    received.push({ query: Object.fromEntries(url.searchParams), url });
    for (const w of waiters.splice(0)) w();
    res
      .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
      .end('<!doctype html><title>Callback</title><h1 id="callback">Back at the application</h1>');
  });
  const nth = (index) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no request #${index + 1} reached the callback within ${WAIT_MS} ms`)),
        WAIT_MS,
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
    server.listen(CALLBACK_PORT, '127.0.0.1', () => resolve({ server, received, nth }));
  });
}

describe('passkeys in headless Chromium', { timeout: 180_000 }, () => {
  let callback;
  let browser;
  let page;
  let cdp;
  let authenticatorId;
  let config;
  /** The ID token of the latest sign-in, for the logout. */
  let idToken;
  /** The user's `sub`, from the password sign-in. */
  let subject;

  before(async () => {
    callback = await startCallbackServer();
    browser = await freshBrowser({ viewport: { width: 900, height: 900 } });
    page = browser.page;
    cdp = await browser.context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    ({ authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
      },
    }));
    config = await client.discovery(
      new URL(ISSUER),
      CLIENT_ID,
      { client_secret: CLIENT_SECRET },
      client.ClientSecretBasic(CLIENT_SECRET),
      { execute: [client.allowInsecureRequests] },
    );
  });

  after(async () => {
    await browser?.close();
    await new Promise((resolve) => (callback ? callback.server.close(resolve) : resolve()));
    callback?.server.closeAllConnections?.();
  });

  /** Opens a new authorization request; returns what its exchange needs. */
  async function authorize() {
    const flow = {
      state: client.randomState(),
      nonce: client.randomNonce(),
      verifier: client.randomPKCECodeVerifier(),
    };
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: CALLBACK,
      scope: 'openid profile',
      state: flow.state,
      nonce: flow.nonce,
      code_challenge: await client.calculatePKCECodeChallenge(flow.verifier),
      code_challenge_method: 'S256',
    });
    flow.seen = callback.received.length;
    const resp = await page.goto(url.href);
    assert.equal(resp.status(), 200, 'the login page is served');
    await page.locator('#username').waitFor();
    return flow;
  }

  /** Waits for the code of `flow` at the callback and exchanges it; returns the ID token claims. */
  async function exchange(flow) {
    const { query, url } = await callback.nth(flow.seen);
    await page.waitForURL((u) => u.toString().startsWith(CALLBACK));
    assert.equal(query.error, undefined, `no error at the callback: ${JSON.stringify(query)}`);
    assert.ok(query.code, 'a code');
    const tokens = await client.authorizationCodeGrant(config, url, {
      pkceCodeVerifier: flow.verifier,
      expectedState: flow.state,
      expectedNonce: flow.nonce,
      idTokenExpected: true,
    });
    idToken = tokens.id_token;
    return tokens.claims();
  }

  async function signInWithPassword() {
    await page.fill('#username', USERNAME);
    await page.fill('#password', PASSWORD);
    await page.click('#sign-in');
  }

  async function logout() {
    assert.ok(idToken, 'an ID token to log out with');
    const seen = callback.received.length;
    await page.goto(
      client.buildEndSessionUrl(config, { id_token_hint: idToken, post_logout_redirect_uri: CALLBACK }).href,
    );
    const { query } = await callback.nth(seen);
    await page.waitForURL((u) => u.toString().startsWith(CALLBACK));
    assert.equal(query.code, undefined, 'logout returns no code');
    const cookies = await browser.context.cookies(`${ISSUER}/`);
    assert.ok(!cookies.some((c) => c.name === 'tessera_session' && c.value), 'the session cookie is gone');
  }

  it('signs in with the password first (amr pwd)', async () => {
    const flow = await authorize();
    // The passkey button is offered on the login page.
    await page.locator('#passkey-sign-in').waitFor();
    await signInWithPassword();
    const claims = await exchange(flow);
    assert.deepEqual(claims.amr, ['pwd']);
    assert.equal(claims.acr, '1');
    subject = claims.sub;
  });

  it('adds a passkey named "laptop" on the account page', async () => {
    const resp = await page.goto(ACCOUNT);
    assert.equal(resp.status(), 200, 'the account page is served to the signed-in user');
    await page.fill('#passkey-name', 'laptop');
    await page.click('#passkey-add');
    await page.locator('#passkey-list .passkey-name', { hasText: 'laptop' }).waitFor();
    assert.equal(await page.locator('#passkey-error').isVisible(), false, 'no passkey error');
    assert.match(page.url(), /\/account\/\?done=passkey-added$/, 'back on the account page');
    assert.equal(await page.locator('#account-notice').innerText(), 'The passkey was added.');

    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    assert.equal(credentials.length, 1, 'the authenticator holds one credential');
    assert.equal(credentials[0].isResidentCredential, true, 'a discoverable (resident) credential');
    assert.equal(credentials[0].rpId, new URL(BASE).hostname, 'RP ID = the public URL host');
    assert.ok(credentials[0].userHandle, 'the credential carries the user handle');
  });

  it('signs out with RP-initiated logout', async () => {
    await logout();
  });

  it('signs in with the passkey alone (amr hwk, acr 2)', async () => {
    const flow = await authorize();
    assert.equal(await page.inputValue('#username'), '', 'no username typed');
    assert.equal(await page.inputValue('#password'), '', 'no password typed');
    await page.click('#passkey-sign-in');
    const claims = await exchange(flow);
    assert.ok(claims.amr.includes('hwk'), `amr ${JSON.stringify(claims.amr)} includes hwk`);
    assert.ok(!claims.amr.includes('pwd'), `amr ${JSON.stringify(claims.amr)} has no pwd`);
    assert.equal(claims.acr, '2');
    assert.equal(claims.sub, subject, 'the same user as the password sign-in');

    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    assert.ok(credentials[0].signCount >= 1, 'the authenticator signed');
    const account = await page.goto(ACCOUNT);
    assert.equal(account.status(), 200);
    assert.match(await page.locator('#passkey-list').innerText(), /last used/, 'the use is recorded');
  });

  it('asks for the passkey as the second factor after the password (amr pwd hwk mfa)', async () => {
    await logout();
    const flow = await authorize();
    await signInWithPassword();
    await page.locator('#passkey-second-factor').waitFor();
    assert.equal(callback.received.length, flow.seen, 'no code before the second factor');
    await page.click('#passkey-second-factor');
    const claims = await exchange(flow);
    assert.equal(claims.sub, subject);
    assert.deepEqual(claims.amr, ['pwd', 'hwk', 'mfa']);
    assert.equal(claims.acr, '2');
  });

  it('removes the passkey on the account page', async () => {
    const resp = await page.goto(ACCOUNT);
    assert.equal(resp.status(), 200);
    await page.click('#passkey-list button[aria-label="Remove passkey laptop"]');
    await page.locator('#account-notice', { hasText: 'The passkey was removed.' }).waitFor();
    assert.equal(await page.locator('#passkey-list').count(), 0, 'no passkeys listed');
    await page.locator('#passkeys-none').waitFor();
  });
});
