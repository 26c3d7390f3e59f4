// Shared set-up for the browser tests: the target platform (VWMP_E2E_URL + VWMP_E2E_TOKEN, or the
// in-memory mock gateway when VWMP_E2E_URL is unset) and a headless Debian chromium. Never downloads
// a browser.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { createMock } from './mock/server.mjs';

export const here = path.dirname(fileURLToPath(import.meta.url));
// VWMP_E2E_SHOTS puts the screenshots elsewhere (a reviewer's folder); by default e2e/screenshots/.
export const shotsDir = process.env.VWMP_E2E_SHOTS ?? path.join(here, 'screenshots');

export async function startTarget() {
  if (process.env.VWMP_E2E_URL) {
    const token = process.env.VWMP_E2E_TOKEN;
    if (!token) throw new Error('VWMP_E2E_TOKEN is required with VWMP_E2E_URL');
    return { url: process.env.VWMP_E2E_URL.replace(/\/$/, ''), token, kind: 'real platform', stop: async () => {} };
  }
  if (!fs.existsSync(path.join(here, '../dist/index.html'))) throw new Error('frontend/dist is missing: run `npm run build` first');
  const token = 'e2e-token';
  const server = createMock({ token, stepMs: 300 });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${server.address().port}`;
  return { url, token, kind: 'mock gateway (e2e/mock/server.mjs)', stop: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }) };
}

export async function launchBrowser() {
  const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vwmp-e2e-'));
  // A fresh profile per run; playwright passes it to chromium as --user-data-dir.
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    viewport: { width: 1440, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  return {
    context,
    newPage: async () => context.pages()[0] ?? context.newPage(),
    close: async () => { await context.close(); fs.rmSync(userDataDir, { recursive: true, force: true }); },
  };
}

export async function api(target, method, p, body) {
  const r = await fetch(`${target.url}/api/v1${p}`, {
    method,
    headers: { Authorization: `Bearer ${target.token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${p} → ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

export async function login(page, target) {
  await page.goto(`${target.url}/`);
  await page.getByLabel('Access token').fill(target.token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Workflows' }).waitFor();
}

/**
 * A second person: an API token of its own (POST /tokens, as the admin). Approval gates refuse the
 * person who started a run by default, so a gate is approved by someone made here.
 */
export async function createUser(target, name, role = 'operator') {
  const made = await api(target, 'POST', '/tokens', { name, role });
  return { name, role, token: made.token };
}

/** Signs the tab out and in again with another token, then opens `hash` (e.g. `#/runs/<id>`). */
export async function signInAs(page, target, user, hash) {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('Access token').fill(user.token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  // Signing in keeps the current route: wait for the shell, not for one page.
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
  if (hash) await page.goto(`${target.url}/${hash}`);
}

export function shot(page, name) {
  fs.mkdirSync(shotsDir, { recursive: true });
  return page.screenshot({ path: path.join(shotsDir, `${name}.png`) });
}

/** The YAML view's text (CodeMirror: the editor's `value`, the whole document, not just what is on screen). */
export function yamlText(page) {
  return page.locator('#yaml-editor').evaluate((el) => el.value);
}
