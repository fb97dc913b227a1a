// The web console in real headless Chromium (Debian's `chromium`, driven by playwright-core):
// sign-in through Tessera's own authorization endpoint (code + PKCE as `portal`), the
// Personal key lifecycle — create (value shown once), use, revoke, reinstate, rename, delete —
// checked against the API with a plain HTTP client, sign-out, and a viewer who is offered no
// team-key action and is refused when they try anyway.
//
// Run by crates/server/tests/api/browser.rs, which starts the server and provisions the users.
// By hand, against a server you started:
//
//   TESSERA_URL=http://127.0.0.1:8080 MEMBER_PASSWORD=... VIEWER_PASSWORD=... \
//   TESSERA_ADMIN_PASSWORD=... node --test tests/browser/console.mjs
//
// Environment:
//   TESSERA_URL              the server's public URL (required)
//   MEMBER_USERNAME/PASSWORD a user with the `member` role in the root team (default name: mia)
//   VIEWER_USERNAME/PASSWORD a user with the `viewer` role in the root team (default name: vic)
//   TESSERA_ADMIN_PASSWORD   the admin's password (the admin pages and the team-key screenshot)
//   CHROMIUM                 the browser binary (default: /usr/bin/chromium)
//   TESSERA_SCREENSHOTS=1    save the console pages as docs/console/console-*.png

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { freshBrowser, repoRoot, required } from './chromium.mjs';

const BASE = required('TESSERA_URL').replace(/\/+$/, '');
const MEMBER = { name: process.env.MEMBER_USERNAME || 'mia', password: required('MEMBER_PASSWORD') };
const VIEWER = { name: process.env.VIEWER_USERNAME || 'vic', password: required('VIEWER_PASSWORD') };
const ADMIN = { name: 'admin', password: required('TESSERA_ADMIN_PASSWORD') };
const SCREENSHOTS = process.env.TESSERA_SCREENSHOTS === '1';
const CONSOLE = `${BASE}/realms/default/console`;

async function screenshot(page, name) {
  if (!SCREENSHOTS) return;
  const dir = path.join(repoRoot, 'docs', 'console');
  await mkdir(dir, { recursive: true });
  await page.screenshot({ path: path.join(dir, name), fullPage: true });
}

/** `/v1/auth/test` with an API key, from outside the browser. */
async function authTest(key) {
  const resp = await fetch(`${BASE}/v1/auth/test`, { headers: { Authorization: `Bearer ${key}` } });
  return { status: resp.status, body: await resp.json().catch(() => null) };
}

/** Signs in on Tessera's sign-in page, starting from the console. */
async function signIn(page, user) {
  await page.goto(`${BASE}/console`);
  // The console sent us to the realm's own authorization endpoint, as the `portal` client.
  const url = new URL(page.url());
  assert.equal(url.pathname, '/realms/default/protocol/openid-connect/auth');
  assert.equal(url.searchParams.get('client_id'), 'portal');
  assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
  assert.equal(url.searchParams.get('redirect_uri'), `${CONSOLE}/callback`);
  await page.fill('#username', user.name);
  await page.fill('#password', user.password);
  await Promise.all([page.waitForURL(`${CONSOLE}/keys`), page.click('#sign-in')]);
}

async function signOut(page) {
  await Promise.all([page.waitForURL(`${CONSOLE}/signed-out`), page.click('button:has-text("Sign out")')]);
}

describe('the web console in headless Chromium', { timeout: 180_000 }, () => {
  let browser;
  let context;
  let page;
  const key = {};

  before(async () => {
    browser = await freshBrowser({ viewport: { width: 1100, height: 720 } });
    ({ context, page } = browser);
    // Diagnostics: every refused page load, with the start of its text.
    page.on('response', async (r) => {
      if (r.status() >= 400 && r.request().resourceType() === 'document') {
        const text = (await r.text().catch(() => '')).replace(/<style>[^]*<\/style>/, '').replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');
        console.log(`[console] ${r.status()} ${r.request().method()} ${r.url()}: ${text.slice(0, 300)}`);
      }
    });
  });

  after(async () => {
    await browser?.close();
  });

  it('sends a visitor through Tessera sign-in and lands a member on their keys', async () => {
    await signIn(page, MEMBER);
    assert.equal(await page.textContent('h1'), 'API keys');
    assert.equal((await page.textContent('[data-testid=signed-in-as]')).trim(), MEMBER.name);
    // The page carries the login page's protections.
    const resp = await page.request.get(`${CONSOLE}/keys`);
    assert.equal(resp.status(), 200);
    assert.match(resp.headers()['content-security-policy'], /frame-ancestors 'none'/);
    assert.equal(resp.headers()['x-frame-options'], 'DENY');
    // The session cookies are out of reach of scripts.
    const cookies = await context.cookies(CONSOLE);
    const access = cookies.find((c) => c.name === 'tessera_console_at');
    assert.ok(access, 'the console keeps an access token cookie');
    assert.equal(access.httpOnly, true);
    assert.equal(access.sameSite, 'Lax');
    assert.equal(await page.evaluate(() => document.cookie.includes('tessera_console')), false);
  });

  it('creates a personal key and shows its value once, with a copy button', async () => {
    await page.click('[data-testid=add-personal-key]');
    await page.fill('#key-name', 'CI key');
    await page.click('button:has-text("Create the key")');
    await page.waitForSelector('[data-testid=key-value]');
    key.value = (await page.textContent('[data-testid=key-value]')).trim();
    assert.match(key.value, /^tsk_[0-9A-Za-z]{36}$/);
    assert.match(await page.textContent('main'), /you will not see it again/);
    assert.equal(await page.isVisible('button[data-copy=key-value]'), true, 'the copy button is shown');
    await screenshot(page, 'console-key-created.png');
    await page.click('text=Manage this key');
    key.url = page.url();
    assert.match(key.url, new RegExp(`^${CONSOLE}/keys/[0-9a-f-]{36}$`));
    // Values are never shown again: not on the key's page, not in the list.
    assert.equal((await page.content()).includes(key.value), false);
    await page.goto(`${CONSOLE}/keys`);
    assert.equal((await page.content()).includes(key.value), false);
    assert.match(await page.textContent('tbody'), /CI key/);
    await screenshot(page, 'console-keys.png');
  });

  it('works with the keyboard and fits a phone screen', async () => {
    await page.goto(`${CONSOLE}/keys`);
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to content');
    // Every input of the new-key form has a label.
    await page.goto(`${CONSOLE}/keys/new`);
    const unlabelled = await page.evaluate(() =>
      [...document.querySelectorAll('main input:not([type=hidden]), main select, main textarea')]
        .filter((el) => !(el.labels && el.labels.length) && !el.closest('label'))
        .map((el) => el.name));
    assert.deepEqual(unlabelled, []);
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${CONSOLE}/keys`);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than a phone screen`);
    await screenshot(page, 'console-phone.png');
    await page.setViewportSize({ width: 1100, height: 720 });
  });

  it('the key authenticates at /v1/auth/test', async () => {
    const { status, body } = await authTest(key.value);
    assert.equal(status, 200);
    assert.equal(body.authenticated, true);
  });

  it('revoking it in the console stops it at once; reinstating brings it back', async () => {
    await page.goto(key.url);
    await Promise.all([page.waitForURL(`${key.url}?done=revoked`), page.click('button:has-text("Revoke")')]);
    assert.equal((await page.textContent('[data-testid=key-status]')).trim(), 'Revoked');
    assert.equal((await authTest(key.value)).status, 401);
    await Promise.all([page.waitForURL(`${key.url}?done=reinstated`), page.click('button:has-text("Reinstate")')]);
    assert.equal((await page.textContent('[data-testid=key-status]')).trim(), 'Active');
    assert.equal((await authTest(key.value)).status, 200);
  });

  it('renames it, and shows a refused name next to the field', async () => {
    await page.fill('#rename-name', '   ');
    await page.click('button:has-text("Save the name")');
    await page.waitForSelector('#name-error');
    assert.match(await page.textContent('#name-error'), /\S/);
    assert.equal(await page.getAttribute('#rename-name', 'aria-invalid'), 'true');
    await page.fill('#rename-name', 'CI key (deploys)');
    await Promise.all([page.waitForURL(`${key.url}?done=renamed`), page.click('button:has-text("Save the name")')]);
    assert.equal(await page.textContent('h1'), 'CI key (deploys)');
    assert.equal((await authTest(key.value)).status, 200, 'renaming does not change the key');
  });

  it('deletes it after a confirmation', async () => {
    await page.click('text=Delete…');
    assert.match(await page.textContent('main'), /permanent/);
    await screenshot(page, 'console-delete-confirm.png');
    await Promise.all([
      page.waitForURL(`${CONSOLE}/keys?tab=personal&done=deleted`),
      page.click('button:has-text("Delete the key")'),
    ]);
    assert.equal((await page.textContent('main')).includes('CI key (deploys)'), false);
    assert.equal((await authTest(key.value)).status, 401);
  });

  it('a member sees their teams\' keys but no team-key action', async () => {
    await page.click('nav.tabs >> text=Team');
    await page.waitForURL(`${CONSOLE}/keys?tab=team`);
    assert.equal(await page.locator('[data-testid=add-team-key]').count(), 0);
    // Asking for the form directly is refused too.
    assert.equal((await page.request.get(`${CONSOLE}/teamkeys/new`)).status(), 403);
  });

  it('sign-out ends the console session and the sign-in at Tessera', async () => {
    await signOut(page);
    assert.match(await page.textContent('h1'), /signed out/);
    const cookies = await context.cookies(CONSOLE);
    assert.equal(cookies.some((c) => c.name === 'tessera_console_at'), false);
    // Back to the console: the sign-in page again, not a silent sign-in.
    await page.goto(`${BASE}/console`);
    assert.equal(new URL(page.url()).pathname, '/realms/default/protocol/openid-connect/auth');
    assert.equal(await page.isVisible('#username'), true);
  });

  it('a viewer has no team-key action, and the console and the API refuse one anyway', async () => {
    await page.fill('#username', VIEWER.name);
    await page.fill('#password', VIEWER.password);
    await Promise.all([page.waitForURL(`${CONSOLE}/keys`), page.click('#sign-in')]);
    await page.goto(`${CONSOLE}/keys?tab=team`);
    assert.equal(await page.locator('[data-testid=add-team-key]').count(), 0);
    assert.equal(await page.locator('[data-testid=add-personal-key]').count(), 0);
    // Posting the form by hand, with a valid CSRF token: the API refuses, the console says so.
    const csrf = await page.getAttribute('form.signout input[name=csrf]', 'value');
    const teams = await (await fetch(`${BASE}/realms/default/protocol/openid-connect/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'password', client_id: 'portal', username: VIEWER.name, password: VIEWER.password }),
    })).json();
    assert.ok(teams.access_token, 'the viewer gets a token');
    const rootTeam = (await (await fetch(`${BASE}/api/v1/teams`, { headers: { Authorization: `Bearer ${teams.access_token}` } })).json()).values[0].id;
    const forged = await page.request.post(`${CONSOLE}/teamkeys/new`, {
      form: { csrf, name: 'sneaky', team_id: rootTeam },
      maxRedirects: 0,
    });
    assert.equal(forged.status(), 403);
    assert.match(await forged.text(), /api_key:create/);
    const api = await fetch(`${BASE}/api/preview/teamkeys`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${teams.access_token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'sneaky', team_id: rootTeam }),
    });
    assert.equal(api.status, 403);
    // And a form without the CSRF token is refused before anything happens.
    const noCsrf = await page.request.post(`${CONSOLE}/keys/new`, { form: { name: 'x' }, maxRedirects: 0 });
    assert.equal(noCsrf.status(), 400);
    await signOut(page);
  });

  it('an admin creates a team key and reaches users, teams, roles, clients and the audit log', async () => {
    await page.goto(`${BASE}/console`);
    await page.fill('#username', ADMIN.name);
    await page.fill('#password', ADMIN.password);
    await Promise.all([page.waitForURL(`${CONSOLE}/keys`), page.click('#sign-in')]);
    await page.click('nav.tabs >> text=Team');
    await page.click('[data-testid=add-team-key]');
    await page.fill('#key-name', 'AWS Team Key');
    await page.click('button:has-text("Create the key")');
    await page.waitForSelector('[data-testid=key-value]');
    const teamKey = (await page.textContent('[data-testid=key-value]')).trim();
    assert.match(teamKey, /^ttk_[0-9A-Za-z]{36}$/);
    assert.equal((await authTest(teamKey)).status, 200);
    await page.click('text=Done');
    assert.match(await page.textContent('tbody'), /AWS Team Key/);
    await screenshot(page, 'console-team-keys.png');
    for (const [link, heading] of [
      ['Users', 'Users'],
      ['Teams', 'Teams'],
      ['Roles', 'Roles'],
      ['OAuth clients', 'OAuth clients'],
      ['Audit log', 'Audit log'],
    ]) {
      await page.click(`nav[aria-label=Console] >> text=${link}`);
      assert.equal(await page.textContent('h1'), heading);
      await screenshot(page, `console-${link.toLowerCase().replace(/ /g, '-')}.png`);
    }
    // The audit log shows the team key just created, newest first.
    assert.match(await page.textContent('tbody tr:first-child'), /team_key\.create/);
    await page.click('nav[aria-label=Console] >> text=Users');
    await Promise.all([page.waitForURL(/\/users\/[0-9a-f-]{36}$/), page.click(`tbody >> text=${MEMBER.name}`)]);
    await screenshot(page, 'console-user.png');
    assert.deepEqual(await page.locator('main table tbody td:nth-child(2)').allTextContents(), ['member']);

    // A new user: a refused name is shown next to its field, then the user is created,
    // disabled (they can no longer get a token) and given a second team role.
    await page.goto(`${CONSOLE}/users/new`);
    await page.fill('#f1-password', 'nia-password-1');
    await page.click('button:has-text("Add the user")');
    await page.waitForSelector('#f1-name-error');
    await page.fill('#f1-name', 'nia');
    await page.fill('#f1-password', 'nia-password-1');
    await page.selectOption('#f1-role_id', { label: 'member' });
    await Promise.all([page.waitForURL(/\/users\/[0-9a-f-]{36}\?done=user-created$/), page.click('button:has-text("Add the user")')]);
    const token = (password) => fetch(`${BASE}/realms/default/protocol/openid-connect/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'password', client_id: 'portal', username: 'nia', password }),
    });
    assert.equal((await token('nia-password-1')).status, 200, 'the new user can sign in');
    await Promise.all([page.waitForURL(/done=user-disabled$/), page.click('button:has-text("Disable the user")')]);
    assert.notEqual((await token('nia-password-1')).status, 200, 'a disabled user gets no token');
    await page.selectOption('form:has(h2:text("Add a team role")) select[name=role_id]', { label: 'viewer' });
    await Promise.all([page.waitForURL(/done=memberships$/), page.click('button:has-text("Add")')]);
    assert.deepEqual((await page.locator('main table tbody td:nth-child(2)').allTextContents()).sort(), ['member', 'viewer']);

    // A confidential client: its secret is shown once and works; rotating replaces it.
    await page.goto(`${CONSOLE}/clients/new`);
    await page.fill('#f1-client_id', 'svc-console');
    await page.click('button:has-text("Add the client")');
    const first = (await page.textContent('[data-testid=secret-value]')).trim();
    const grant = (secret) => fetch(`${BASE}/realms/default/protocol/openid-connect/token`, {
      method: 'POST',
      headers: { Authorization: `Basic ${Buffer.from(`svc-console:${secret}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'client_credentials' }),
    });
    assert.equal((await grant(first)).status, 200);
    await page.click('text=Done');
    await page.click('button:has-text("Rotate the secret")');
    const second = (await page.textContent('[data-testid=secret-value]')).trim();
    assert.notEqual(second, first);
    assert.equal((await grant(second)).status, 200);
    assert.equal((await grant(first)).status, 401);
    await signOut(page);
  });
});
