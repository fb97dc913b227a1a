// A person signs in to a relying party written with authlib (tests/python/authlib_form_post.py)
// in real headless Chromium: the RP sends the browser to Tessera with response_mode=form_post,
// the person signs in (and allows, if asked), and Tessera's form_post page — under its strict
// CSP, whose script-src allows only that page's script by hash — POSTs the code to the RP,
// which exchanges it, has authlib validate the ID token, and shows who signed in.
//
// Three runs, each in a fresh Chromium profile: with script (the page submits itself), without
// script (the person presses the page's Continue button), and a cancelled sign-in (the
// access_denied error is posted to the RP the same way).
//
// Run by crates/server/tests/api/python_clients.rs, which starts the server and registers the
// client and the user. Environment:
//   TESSERA_URL              the server's public URL (required)
//   CLIENT_ID, CLIENT_SECRET the RP's confidential client (required); its redirect URI is
//                            http://127.0.0.1:$RP_PORT/callback
//   RP_PORT                  the port the RP listens on (required)
//   USERNAME, PASSWORD       who signs in (required)
//   PYTHON                   the Python with authlib (default: tests/python/.venv/bin/python)
//   TESSERA_REALM            the realm (default: default)
//   CHROMIUM                 the browser binary (default: /usr/bin/chromium)

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { WAIT_MS, freshBrowser, repoRoot, required } from './chromium.mjs';

const BASE = required('TESSERA_URL').replace(/\/+$/, '');
const REALM = process.env.TESSERA_REALM || 'default';
const ISSUER = `${BASE}/realms/${REALM}`;
const RP_PORT = Number(required('RP_PORT'));
const RP = `http://127.0.0.1:${RP_PORT}`;
const USERNAME = required('USERNAME');
const PASSWORD = required('PASSWORD');
const PYTHON = process.env.PYTHON || path.join(repoRoot, 'tests/python/.venv/bin/python');


/** Starts the RP; resolves once it prints that it listens. Its output is kept for failures. */
function startRelyingParty() {
  const output = [];
  const child = spawn(PYTHON, [path.join(repoRoot, 'tests/python/authlib_form_post.py')], {
    cwd: repoRoot,
    env: { ...process.env, RP_PORT: String(RP_PORT), PYTHONUNBUFFERED: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr.on('data', (d) => output.push(String(d)));
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the RP did not start:\n${output.join('')}`)), WAIT_MS);
    child.stdout.on('data', (d) => {
      output.push(String(d));
      if (output.join('').includes(`listening on ${RP}`)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the RP exited with ${code}:\n${output.join('')}`));
    });
  });
  return { child, ready, log: () => output.join('') };
}

/** A browser in a fresh profile; `javaScriptEnabled: false` for a browser without script. */
async function browserFor(javaScriptEnabled) {
  const { page, close } = await freshBrowser({ javaScriptEnabled });
  // Everything that reaches the RP's callback, and any CSP complaint on the way.
  const callbacks = [];
  page.on('request', (req) => {
    if (req.url().startsWith(`${RP}/callback`)) {
      callbacks.push({ method: req.method(), url: req.url(), body: req.postData() ?? '' });
    }
  });
  const cspViolations = [];
  page.on('console', (msg) => {
    if (/Content Security Policy/i.test(msg.text())) cspViolations.push(msg.text());
  });
  return { page, callbacks, cspViolations, close };
}

/** From the RP's /login to Tessera's sign-in page; checks the request asks for form_post. */
async function startSignIn(page) {
  await page.goto(`${RP}/login`);
  const url = new URL(page.url());
  assert.equal(`${url.origin}${url.pathname}`, `${ISSUER}/protocol/openid-connect/auth`);
  assert.equal(url.searchParams.get('response_mode'), 'form_post');
  assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
  assert.ok(url.searchParams.get('nonce'), 'authlib sends a nonce for openid');
  await page.locator('#username').waitFor();
}

async function signIn(page) {
  await page.fill('#username', USERNAME);
  await page.fill('#password', PASSWORD);
  await page.click('#sign-in');
  // The client is not first-party: consent first (once per browser profile).
  const next = await Promise.race([
    page.locator('#allow').waitFor().then(() => 'consent'),
    page.locator('#continue').waitFor().then(() => 'form_post'),
    page.locator('#rp-result, #rp-error').first().waitFor().then(() => 'rp'),
  ]);
  if (next === 'consent') await page.click('#allow');
}

/** The one request that reached the callback: a form POST carrying `fields`, nothing in the URL. */
function assertPosted(callbacks, fields) {
  assert.equal(callbacks.length, 1, `one request to the callback: ${JSON.stringify(callbacks)}`);
  const [cb] = callbacks;
  assert.equal(cb.method, 'POST');
  assert.equal(cb.url, `${RP}/callback`, 'nothing in the callback URL');
  const body = new URLSearchParams(cb.body);
  for (const f of fields) assert.ok(body.get(f), `${f} in the posted form: ${cb.body}`);
  assert.equal(body.get('iss'), ISSUER);
  return body;
}

describe('authlib relying party, response_mode=form_post, headless Chromium', { timeout: 120_000 }, () => {
  let rp;

  before(async () => {
    rp = startRelyingParty();
    await rp.ready;
  });

  after(async () => {
    if (rp && rp.child.exitCode === null) {
      const exited = new Promise((resolve) => rp.child.once('exit', resolve));
      rp.child.kill('SIGTERM');
      await exited;
    }
  });

  it('signs in: the form_post page submits itself under its CSP and the RP shows the user', async () => {
    const b = await browserFor(true);
    try {
      await startSignIn(b.page);
      await signIn(b.page);
      await b.page.locator('#rp-result').waitFor();
      assert.equal(b.page.url(), `${RP}/callback`);
      assert.equal(await b.page.locator('#username').textContent(), USERNAME);
      assert.match(await b.page.locator('#checks').textContent(), /alg RS256/);
      const body = assertPosted(b.callbacks, ['code', 'state']);
      assert.equal(body.get('error'), null);
      assert.deepEqual(b.cspViolations, [], 'no CSP violation on the way');
    } catch (e) {
      e.message += `\n--- CSP violations: ${JSON.stringify(b.cspViolations)}\n--- RP output:\n${rp.log()}`;
      throw e;
    } finally {
      await b.close();
    }
  });

  it('without script, the Continue button posts the code', async () => {
    const b = await browserFor(false);
    try {
      await startSignIn(b.page);
      await signIn(b.page);
      // No script: the form_post page stays until the person presses Continue.
      await b.page.locator('#continue').waitFor();
      assert.ok(b.page.url().startsWith(BASE), `still on Tessera: ${b.page.url()}`);
      assert.equal(b.callbacks.length, 0, 'nothing posted before the button is pressed');
      await b.page.click('#continue');
      await b.page.locator('#rp-result').waitFor();
      assert.equal(await b.page.locator('#username').textContent(), USERNAME);
      assertPosted(b.callbacks, ['code', 'state']);
    } catch (e) {
      e.message += `\n--- CSP violations: ${JSON.stringify(b.cspViolations)}\n--- RP output:\n${rp.log()}`;
      throw e;
    } finally {
      await b.close();
    }
  });

  it('a cancelled sign-in posts access_denied to the RP', async () => {
    const b = await browserFor(true);
    try {
      await startSignIn(b.page);
      await b.page.click('button[value=cancel]');
      await b.page.locator('#rp-error').waitFor();
      assert.equal(await b.page.locator('#error').textContent(), 'access_denied');
      const body = assertPosted(b.callbacks, ['error', 'state']);
      assert.equal(body.get('code'), null);
      assert.deepEqual(b.cspViolations, []);
    } catch (e) {
      e.message += `\n--- CSP violations: ${JSON.stringify(b.cspViolations)}\n--- RP output:\n${rp.log()}`;
      throw e;
    } finally {
      await b.close();
    }
  });
});
