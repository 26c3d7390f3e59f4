// A power user's designer, against the real platform: searching the runs list by parameter value,
// actor, state and date with the search kept in the URL (a shared link opens the same search, a bad
// filter is said at its field), the duration history of a workflow and of one step, two versions
// compared node by node on the canvas, and the split view at 1,440 px. Screenshots `pu-*.png`.
//
// Real platform only (the mock gateway filters runs by workflow and state only):
// tests/e2e/test_designer_browser.py starts it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, createUser, launchBrowser, login, shot, startTarget } from './harness.mjs';

const skip = process.env.VWMP_E2E_URL ? false : 'needs the real platform (tests/e2e/test_designer_browser.py)';
const suffix = Date.now().toString(36);
const name = `pu-${suffix}`;

let target, browser, page, other;
const runs = {};
const pageErrors = [];

const v1 = {
  apiVersion: 'vwmp/v1', kind: 'Workflow', metadata: { name },
  spec: {
    parameters: { type: 'object', properties: { repo: { type: 'string' } }, required: ['repo'] },
    steps: [
      { id: 'prepare', uses: 'core/noop' },
      { id: 'wait', uses: 'core/sleep', needs: ['prepare'], with: { seconds: 0.2 } },
      { id: 'notify', uses: 'core/noop', needs: ['prepare'] },
    ],
  },
};
const v2 = {
  ...v1,
  spec: {
    ...v1.spec,
    steps: [
      { id: 'prepare', uses: 'core/noop' },
      { id: 'wait', uses: 'core/sleep', needs: ['prepare'], with: { seconds: 0.6 } },
      { id: 'publish', uses: 'core/noop', needs: ['wait'] },
    ],
  },
};

async function startAs(token, parameters) {
  const r = await fetch(`${target.url}/api/v1/workflows/${name}/runs`, {
    method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ parameters }),
  });
  const text = await r.text();
  assert.ok(r.ok, `start → ${r.status} ${text}`);
  return JSON.parse(text).id;
}

async function waitDone(id, timeout = 30_000) {
  const end = Date.now() + timeout;
  for (;;) {
    const r = await api(target, 'GET', `/runs/${id}`);
    if (['succeeded', 'failed', 'cancelled', 'succeeded_with_warnings'].includes(r.state)) return r;
    if (Date.now() > end) throw new Error(`run ${id} still ${r.state}`);
    await new Promise((res) => setTimeout(res, 250));
  }
}

before(async () => {
  if (skip) return;
  target = await startTarget();
  console.log(`# target: ${target.kind} at ${target.url}`);
  await api(target, 'POST', '/workflows', v1);
  runs.shopOld = await startAs(target.token, { repo: 'shop' });
  await waitDone(runs.shopOld);
  const latest = await api(target, 'GET', `/workflows/${name}`);
  await fetch(`${target.url}/api/v1/workflows/${name}`, {
    method: 'PUT', headers: { Authorization: `Bearer ${target.token}`, 'Content-Type': 'application/json', 'If-Match': String(latest.version) }, body: JSON.stringify(v2),
  }).then(async (r) => { const t = await r.text(); assert.ok(r.ok, `PUT → ${r.status} ${t}`); });
  other = await createUser(target, `pu-ana-${suffix}`, 'operator');
  runs.cart = await startAs(target.token, { repo: 'cart' });
  runs.shopAna = await startAs(other.token, { repo: 'shop' });
  await Promise.all([waitDone(runs.cart), waitDone(runs.shopAna)]);
  browser = await launchBrowser();
  page = await browser.newPage();
  page.on('pageerror', (e) => { pageErrors.push(e.message); console.log('# page error:', e.message); });
});

after(async () => {
  await browser?.close();
  await target?.stop();
});

const rowIds = async () => (await page.locator('table.table tbody tr a code').allInnerTexts());
async function waitRows(n) {
  await page.waitForFunction((k) => document.querySelectorAll('table.table tbody tr a code').length === k, n, { timeout: 10_000 });
}

test('the runs list searches by parameter value and actor, and the URL carries the search', { skip }, async () => {
  await login(page, target);
  await page.goto(`${target.url}/#/runs?workflow=${name}`);
  await waitRows(3);
  await page.getByLabel('Parameter').fill('repo=shop');
  await page.getByLabel('Parameter').press('Enter');
  await page.waitForURL(/param\.repo=shop/);
  await waitRows(2);
  assert.deepEqual((await rowIds()).sort(), [runs.shopOld, runs.shopAna].map((id) => id.slice(0, 12)).sort());
  await page.getByTestId('param-filter-repo').waitFor();

  await page.getByLabel('Started by').fill(other.name);
  await page.getByLabel('Started by').press('Enter');
  await page.waitForURL(new RegExp(`actor=${other.name}`));
  await waitRows(1);
  assert.deepEqual(await rowIds(), [runs.shopAna.slice(0, 12)]);
  await shot(page, 'pu-01-run-search');
  const shared = page.url();

  // The link opens the same search in a fresh tab (the token lives per tab, so it signs in first and
  // lands on the linked search): the filters are filled in from it.
  const tab = await browser.context.newPage();
  await tab.goto(shared);
  await tab.getByLabel('Access token').fill(target.token);
  await tab.getByRole('button', { name: 'Sign in' }).click();
  await tab.waitForFunction((id) => [...document.querySelectorAll('table.table tbody tr a code')].map((c) => c.textContent).join() === id, runs.shopAna.slice(0, 12), { timeout: 10_000 });
  assert.equal(await tab.getByLabel('Started by').inputValue(), other.name);
  await tab.getByTestId('param-filter-repo').waitFor();
  await tab.close();

  // Removing the parameter chip widens the search again, and the state filter narrows it.
  await page.getByRole('button', { name: 'Remove parameter filter repo' }).click();
  await waitRows(1);
  await page.getByLabel('Started by').fill('');
  await page.getByLabel('Started by').press('Enter');
  await waitRows(3);
  await page.getByLabel('State').selectOption('failed');
  await page.getByText('No runs match.').waitFor();
  console.log(`# power-user: run search by param.repo=shop and actor ${other.name} found run ${runs.shopAna.slice(0, 12)}`);
});

test('dates narrow the search, and a bad filter in a shared link is said at its field', { skip }, async () => {
  const today = new Date();
  const day = (d) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
  const tomorrow = new Date(today.getFullYear(), today.getMonth(), today.getDate() + 1);
  await page.goto(`${target.url}/#/runs?workflow=${name}&since=${day(today)}&until=${day(today)}`);
  await waitRows(3);
  await page.getByLabel('From').fill(day(tomorrow));
  await page.getByText('No runs match.').waitFor();
  assert.match(page.url(), new RegExp(`since=${day(tomorrow)}`));

  await page.goto(`${target.url}/#/runs?workflow=${name}&since=last-week`);
  const err = page.locator('.search-field').filter({ has: page.getByLabel('From') }).locator('.field-errors');
  await err.waitFor({ timeout: 10_000 });
  assert.match(await err.innerText(), /datetime|date/i);
  await page.locator('.error-box').filter({ hasText: '/query/since' }).waitFor();
  await shot(page, 'pu-02-bad-filter');

  // A typed parameter filter without a name is refused in the bar, before any request.
  await page.goto(`${target.url}/#/runs?workflow=${name}`);
  await page.getByLabel('Parameter').fill('=shop');
  await page.getByLabel('Parameter').press('Enter');
  await page.getByText('Type a parameter as name=value').waitFor();
});

test('the workflow page charts the last runs\' durations, of the run and of one step', { skip }, async () => {
  await page.goto(`${target.url}/#/workflows/${name}`);
  const chart = page.getByTestId('duration-history');
  await chart.scrollIntoViewIfNeeded();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="duration-bar"]').length === 3, null, { timeout: 10_000 });
  const states = await chart.getByTestId('duration-bar').evaluateAll((els) => els.map((e) => e.getAttribute('data-state')));
  assert.deepEqual(states, ['succeeded', 'succeeded', 'succeeded']);
  assert.match(await chart.getByTestId('duration-stats').innerText(), /last .* median .* longest/);
  await chart.getByRole('combobox', { name: 'Show durations of' }).selectOption('wait');
  const waits = await chart.getByTestId('duration-bar').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-ms'))));
  assert.equal(waits.length, 3);
  // v1 slept 0.2 s, v2 0.6 s: the newer bars are the taller ones.
  assert.ok(waits[1] >= 500 && waits[2] >= 500 && waits[0] < waits[1], `step durations ${waits}`);
  await chart.getByRole('combobox', { name: 'Show durations of' }).selectOption('publish');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="duration-bar"]').length === 2);
  await chart.getByRole('combobox', { name: 'Show durations of' }).selectOption('notify');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="duration-bar"]').length === 1);
  await chart.getByRole('combobox', { name: 'Show durations of' }).selectOption('wait');
  await shot(page, 'pu-03-duration-history');
  console.log(`# power-user: duration history of ${name} with 3 runs, step wait ${waits.join('/')} ms`);
});

test('two versions compared on the canvas: added, removed and changed steps and edges, fields old → new', { skip }, async () => {
  await page.getByRole('button', { name: 'History' }).click();
  await page.getByLabel('Compare', { exact: true }).selectOption('1');
  await page.getByLabel('with', { exact: true }).selectOption('2');
  await page.getByRole('button', { name: 'Show changes' }).click();
  await page.getByTestId('compare-banner').filter({ hasText: '1 added, 1 removed, 1 changed' }).waitFor();
  const cls = async (id) => page.locator(`.react-flow__node[data-id="${id}"]`).getAttribute('class');
  assert.match(await cls('publish'), /\bdiff-added\b/);
  assert.match(await cls('notify'), /\bdiff-removed\b/);
  assert.match(await cls('wait'), /\bdiff-changed\b/);
  assert.match(await cls('prepare'), /\bdiff-same\b/);
  assert.match(await page.locator('.react-flow__edge[data-id="wait->publish"]').getAttribute('class') ?? '', /diff-edge-added/);
  assert.match(await page.locator('.react-flow__edge[data-id="prepare->notify"]').getAttribute('class') ?? '', /diff-edge-removed/);
  const field = page.getByTestId('diff-field-wait-with.seconds');
  assert.equal((await field.innerText()).replace(/\s+/g, ' ').trim(), 'with.seconds 0.2 → 0.6');
  assert.equal(await page.getByTestId('save').count(), 0, 'a comparison is editable');
  await shot(page, 'pu-04-version-diff');
  await page.getByRole('button', { name: 'Close comparison' }).click();
  await page.locator('.react-flow__node[data-id="notify"]').waitFor({ state: 'detached' });
  await page.getByTestId('save').waitFor();
  console.log(`# power-user: versions 1 → 2 of ${name}: publish added, notify removed, wait changed (with.seconds 0.2 → 0.6)`);
});

test('the split view is usable at 1,440 × 900', { skip }, async () => {
  await page.setViewportSize({ width: 1440, height: 900 });
  await page.getByRole('button', { name: 'Split' }).click();
  // The palette folds to a rail by itself, so canvas and YAML each keep more than 420 px.
  await page.getByRole('button', { name: 'Show the step palette' }).waitFor();
  const box = async (loc) => (await loc.boundingBox());
  const canvas = await box(page.getByTestId('canvas'));
  const yaml = await box(page.locator('.work.view-split > .yaml-view'));
  const panel = await box(page.locator('.side-panel'));
  assert.ok(canvas.width >= 420, `canvas ${canvas.width}px wide`);
  assert.ok(yaml.width >= 420, `YAML ${yaml.width}px wide`);
  assert.ok(panel.width >= 320 && panel.x + panel.width <= 1440 + 1, `the side panel ${panel.x}+${panel.width}`);
  const noSideScroll = () => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
  assert.equal(await noSideScroll(), true, 'the page scrolls sideways');
  // Every node is inside the canvas (the graph is fitted to the narrower canvas), none under the YAML.
  await page.waitForTimeout(400);
  for (const id of ['prepare', 'wait', 'publish']) {
    const n = await box(page.getByTestId(`node-${id}`));
    assert.ok(n.x >= canvas.x && n.x + n.width <= canvas.x + canvas.width + 1 && n.y >= canvas.y && n.y + n.height <= canvas.y + canvas.height + 1,
      `${id} at ${JSON.stringify(n)} outside the canvas ${JSON.stringify(canvas)}`);
  }
  // Both halves are usable: a node selected on the canvas opens its form in the panel, and the YAML
  // shows the same step; the YAML text is not cut (its lines fit without a sideways scroll).
  await page.getByTestId('node-wait').click();
  await page.locator('.side-panel').getByText('core/sleep').first().waitFor();
  assert.match(await page.locator('.yaml-view textarea, .yaml-view .cm-content').first().innerText().catch(() => '') || await page.locator('.yaml-view textarea').inputValue(), /id: wait/);
  await shot(page, 'pu-05-split-1440');
  // Opening the palette again is one click, and the page still does not scroll sideways.
  await page.getByRole('button', { name: 'Show the step palette' }).click();
  await page.getByTestId('palette-core/noop').waitFor();
  assert.equal(await noSideScroll(), true, 'the page scrolls sideways with the palette open');
  await page.getByRole('button', { name: 'Hide the step palette' }).click();
  await page.getByRole('button', { name: 'Show the step palette' }).waitFor();
  const canvas2 = await box(page.getByTestId('canvas'));
  assert.ok(canvas2.width >= 420, `canvas ${canvas2.width}px wide after hiding the palette`);
  await page.getByRole('button', { name: 'Canvas' }).click();
  assert.deepEqual(pageErrors, []);
  console.log(`# power-user: split view at 1440x900, canvas ${Math.round(canvas.width)}px, YAML ${Math.round(yaml.width)}px, panel ${Math.round(panel.width)}px`);
});
