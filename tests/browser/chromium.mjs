// What every browser test shares: Debian's Chromium, the flags CI runs it with, and a fresh
// profile per browser, deleted afterwards. Also the little helpers each test file needs.

import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
/** How long a page may take to do what a step waits for. */
export const WAIT_MS = 20_000;

// No GPU, no sandbox (root), and nothing that reaches out to the network on its own (this
// machine's network is closed).
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** The value of environment variable `name`; throws when it is missing. */
export function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is required`);
  return value;
}

/**
 * Headless Chromium in a fresh profile (Playwright passes it as --user-data-dir) with
 * `options` for the context; `close()` ends the browser and deletes the profile.
 */
export async function freshBrowser(options = {}) {
  const userDataDir = await mkdtemp(path.join(os.tmpdir(), 'tessera-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    ...options,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(WAIT_MS);
  const close = async () => {
    await context.close().catch(() => {});
    await rm(userDataDir, { recursive: true, force: true }).catch(() => {});
  };
  return { context, page, close };
}
