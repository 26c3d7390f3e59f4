// Triggers in the browser (issue 13) against the real platform: a cron schedule and a generic
// webhook added in the workflow panel's Triggers section (a bad cron refused at its field, the next
// five fire times in Berlin and in the browser's zone), saved; the live status from the gateway
// (next fire), pause and resume; the webhook URL copied; a signed delivery and a manual run, then the
// runs list shows each run's trigger and filters by kind. Release notes (issue 14): a
// release/analyze-commits step on a repository with feat:/fix: commits, its notes rendered as
// Markdown in the run view. The mock gateway has no trigger engine, so this script needs
// VWMP_E2E_URL; VWMP_E2E_HOOK_SECRET is the value of the engine's secret E2E_BROWSER_HOOK.
// Screenshots: e2e/screenshots/trig-*.png.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { api, createUser, launchBrowser, login, shot, signInAs, startTarget, yamlText } from './harness.mjs';

const real = !!process.env.VWMP_E2E_URL;
const secret = process.env.VWMP_E2E_HOOK_SECRET;
const skip = real ? false : 'the mock gateway runs no triggers: run against the real platform (tests/e2e/test_designer_browser.py)';
let target, browser, page;
const tag = Date.now().toString(36);
const name = `e2e-trig-${tag}`;
const TERMINAL = ['succeeded', 'succeeded_with_warnings', 'failed', 'cancelled'];

before(async () => {
  if (skip) return;
  assert.ok(secret, 'VWMP_E2E_HOOK_SECRET is required against the real platform');
  target = await startTarget();
  console.log(`# target: ${target.kind} at ${target.url}`);
  browser = await launchBrowser();
  await browser.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: target.url });
  page = await browser.newPage();
  page.on('pageerror', (e) => console.log('# page error:', e.message));
  await api(target, 'POST', '/workflows', {
    apiVersion: 'vwmp/v1', kind: 'Workflow', metadata: { name, description: 'starts itself' },
    spec: { steps: [{ id: 'work', uses: 'core/noop' }] },
  });
  await login(page, target);
});

after(async () => {
  await browser?.close();
  await target?.stop();
});

async function waitRun(id, timeout = 30_000) {
  const t0 = Date.now();
  for (;;) {
    const run = await api(target, 'GET', `/runs/${id}`);
    if (TERMINAL.includes(run.state)) return run;
    if (Date.now() - t0 > timeout) throw new Error(`run ${id} still ${run.state}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

const card = (id) => page.getByTestId(`trigger-${id}`);

test('triggers are added, previewed, saved, paused and resumed in the workflow panel; the runs list shows how runs started', { skip, timeout: 180_000 }, async () => {
  await page.goto(`${target.url}/#/workflows/${name}`);
  const section = page.getByTestId('triggers-section');
  await section.waitFor();
  await section.getByText('No triggers').waitFor();

  // A schedule: a bad cron is refused at its field, a good one previewed in both zones.
  await page.locator('#wf-trigger-kind').selectOption('schedule');
  await section.getByRole('button', { name: '+ Add trigger' }).click();
  await page.locator('#trigger-0-id').fill('nightly');
  await page.locator('#trigger-0-id').press('Enter');
  await page.locator('#trigger-0-cron').fill('61 3 * * *');
  await page.locator('#trigger-0-cron').press('Enter');
  await card('nightly').getByText(/Invalid cron: .*minute/).waitFor();
  assert.equal(await card('nightly').getByTestId('fire-preview').count(), 0);
  await shot(page, 'trig-bad-cron');
  await page.locator('#trigger-0-cron').fill('*/5 * * * *');
  await page.locator('#trigger-0-cron').press('Enter');
  await page.locator('#trigger-0-timezone').fill('Europe/Berlin');
  await page.locator('#trigger-0-timezone').press('Enter');
  const preview = card('nightly').getByTestId('fire-preview');
  await preview.waitFor();
  assert.equal(await preview.locator('tbody tr').count(), 5);
  assert.match(await preview.innerText(), /Europe\/Berlin/);
  await page.locator('#trigger-0-catchup').selectOption('none');

  // A generic webhook with the engine's secret; its URL is known before the save.
  await page.locator('#wf-trigger-kind').selectOption('webhook');
  await section.getByRole('button', { name: '+ Add trigger' }).click();
  await page.locator('#trigger-1-id').fill('on-push');
  await page.locator('#trigger-1-id').press('Enter');
  await page.locator('#trigger-1-provider').selectOption('generic');
  // The gateway's validator is the judge: a secret written in clear is refused at its field.
  await page.locator('#trigger-1-secret').fill('hunter2');
  await page.locator('#trigger-1-secret').press('Enter');
  await card('on-push').getByText(/must be a secret reference/).waitFor({ timeout: 10_000 });
  assert.equal(await page.locator('#trigger-1-secret').getAttribute('aria-invalid'), 'true');
  await shot(page, 'trig-secret-refused');
  await page.locator('#trigger-1-secret').fill('${{ secrets.E2E_BROWSER_HOOK }}');
  await page.locator('#trigger-1-secret').press('Enter');
  await card('on-push').getByTestId('provider-hint').getByText('X-VWMP-Signature-256').waitFor();
  await card('on-push').getByText(/must be a secret reference/).waitFor({ state: 'detached', timeout: 10_000 });
  const hookUrl = `${target.url}/api/v1/hooks/${name}/on-push`;
  assert.equal(await card('on-push').getByTestId('webhook-url').inputValue(), hookUrl);

  // The YAML view holds what the panel wrote.
  await page.getByRole('button', { name: 'YAML', exact: true }).click();
  const yaml = await yamlText(page);
  assert.match(yaml, /triggers:/);
  assert.match(yaml, /cron: "?\*\/5 \* \* \* \*"?/);
  assert.match(yaml, /timezone: Europe\/Berlin/);
  assert.match(yaml, /provider: generic/);
  await page.getByRole('button', { name: 'Canvas', exact: true }).click();

  await page.getByTestId('save').click();
  await page.getByText(/Saved .* as version 2/).waitFor();

  // The live status: the gateway's next fire time, and pause / resume.
  const status = card('nightly').getByTestId('trigger-status');
  await status.getByTestId('trigger-next').getByText(/in \d+[smh]/).waitFor({ timeout: 15_000 });
  await shot(page, 'trig-panel-saved');
  await status.getByRole('button', { name: /Pause/ }).click();
  await status.getByTestId('trigger-state').getByText(/paused/).waitFor();
  let live = (await api(target, 'GET', `/workflows/${name}/triggers`)).items;
  assert.equal(live.find((t) => t.id === 'nightly').paused, true);
  assert.equal(live.find((t) => t.id === 'nightly').next_fire_at, null);
  await shot(page, 'trig-paused');
  await status.getByRole('button', { name: /Resume/ }).click();
  await status.getByTestId('trigger-state').getByText('active').waitFor();
  live = (await api(target, 'GET', `/workflows/${name}/triggers`)).items;
  assert.equal(live.find((t) => t.id === 'nightly').paused, false);
  assert.equal(live.find((t) => t.id === 'on-push').webhook_url?.endsWith(`/api/v1/hooks/${name}/on-push`), true);

  // Copy the webhook URL.
  await card('on-push').getByRole('button', { name: /Copy the webhook URL/ }).click();
  await card('on-push').getByText('✓ Copied').waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), hookUrl);

  // A signed delivery from the "forge", and a manual run.
  const body = JSON.stringify({ ref: 'refs/heads/main', after: 'abc123' });
  const sig = `sha256=${crypto.createHmac('sha256', secret).update(body).digest('hex')}`;
  const delivered = await fetch(hookUrl, {
    method: 'POST', body,
    headers: { 'Content-Type': 'application/json', 'X-VWMP-Signature-256': sig, 'X-VWMP-Delivery': `d-${tag}`, 'X-VWMP-Event': 'push' },
  });
  assert.equal(delivered.status, 202, await delivered.clone().text());
  const hookRun = await delivered.json();
  await waitRun(hookRun.id);
  const manual = await api(target, 'POST', `/workflows/${name}/runs`, { parameters: {} });
  await waitRun(manual.id);
  await card('on-push').getByTestId('trigger-last-run').waitFor({ timeout: 15_000 });
  assert.equal(await card('on-push').getByTestId('trigger-last-run').getAttribute('href'), `#/runs/${encodeURIComponent(hookRun.id)}`);

  // The runs list: each run's trigger, and the filter by kind (?trigger=).
  await page.goto(`${target.url}/#/runs?workflow=${name}`);
  const rowOf = (id) => page.locator('tr', { has: page.locator(`a[href="#/runs/${encodeURIComponent(id)}"]`) });
  await rowOf(hookRun.id).getByTestId('run-trigger').getByText('webhook · on-push').waitFor();
  await rowOf(manual.id).getByTestId('run-trigger').getByText('manual').waitFor();
  await shot(page, 'trig-runs');
  await page.locator('#filter-trigger').selectOption('webhook');
  await page.waitForURL(/trigger=webhook/);
  await rowOf(manual.id).waitFor({ state: 'detached' });
  await rowOf(hookRun.id).waitFor();
  assert.equal(await rowOf(manual.id).count(), 0);
  await page.goto(`${target.url}/#/runs/${encodeURIComponent(hookRun.id)}`);
  await page.getByTestId('run-trigger').getByText('webhook · on-push').waitFor();

  // A viewer sees the status but is told that pausing needs an operator (the gateway's 403).
  const viewer = await createUser(target, `viewer-${tag}`, 'viewer');
  await signInAs(page, target, viewer, `#/workflows/${name}`);
  await card('nightly').getByTestId('trigger-status').getByRole('button', { name: /Pause/ }).click();
  await card('nightly').getByRole('alert').getByText(/Only an operator may pause or resume/).waitFor();
  await shot(page, 'trig-viewer-403');
  assert.equal((await api(target, 'GET', `/workflows/${name}/triggers`)).items.find((t) => t.id === 'nightly').paused, false);
  await signInAs(page, target, { token: target.token });
  console.log(`# triggers: schedule nightly paused and resumed, webhook run ${hookRun.id.slice(0, 8)} listed as webhook · on-push, a viewer refused`);
});

test('release notes from release/analyze-commits render as Markdown in the run view', { skip, timeout: 120_000 }, async () => {
  const ws = process.env.VWMP_WORKSPACE_ROOT;
  assert.ok(ws, 'VWMP_WORKSPACE_ROOT is needed to make the sample repository');
  const rel = `e2e-notes-${tag}`;
  const repo = path.join(ws, rel);
  fs.mkdirSync(repo, { recursive: true });
  const git = (...args) => execFileSync('git', ['-c', 'user.name=E2E', '-c', 'user.email=e2e@example.com', '-c', 'commit.gpgsign=false', '-c', 'tag.gpgsign=false', ...args], { cwd: repo, env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1' } });
  git('init', '--quiet', '-b', 'main');
  fs.writeFileSync(path.join(repo, 'a.txt'), 'a\n');
  git('add', '.'); git('commit', '--quiet', '-m', 'chore: start'); git('tag', 'v0.4.1');
  fs.writeFileSync(path.join(repo, 'b.txt'), 'b\n');
  git('add', '.'); git('commit', '--quiet', '-m', 'feat(api): add the export route <img src=x onerror=alert(1)>');
  fs.writeFileSync(path.join(repo, 'c.txt'), 'c\n');
  git('add', '.'); git('commit', '--quiet', '-m', 'fix: the login redirect (#12)');
  const wf = `e2e-notes-${tag}`;
  await api(target, 'POST', '/workflows', {
    apiVersion: 'vwmp/v1', kind: 'Workflow', metadata: { name: wf },
    spec: { steps: [{ id: 'analyze', uses: 'release/analyze-commits', with: { repo: rel } }] },
  });
  const run = await waitRun((await api(target, 'POST', `/workflows/${wf}/runs`, { parameters: {} })).id, 60_000);
  assert.equal(run.state, 'succeeded', JSON.stringify(run.steps));
  await page.goto(`${target.url}/#/runs/${encodeURIComponent(run.id)}`);
  await page.locator('.react-flow__node', { hasText: 'analyze' }).first().click();
  const md = page.getByTestId('step-details').getByTestId('markdown');
  await md.waitFor();
  await md.locator('h2, h3', { hasText: 'Features' }).first().waitFor();
  await md.locator('h2, h3', { hasText: 'Bug fixes' }).first().waitFor();
  assert.ok((await md.locator('li').count()) >= 2);
  assert.equal(await md.locator('img, script').count(), 0);
  await shot(page, 'trig-release-notes');
  console.log(`# triggers: release notes of run ${run.id.slice(0, 8)} rendered as Markdown (${await md.locator('li').count()} items)`);
});
