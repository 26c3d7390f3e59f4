// Issue 15's "Done when", in the browser against the real platform and a real git monorepo: the
// `monorepo-release` template's one gate shows all five packages (version, changelog, tag) and what a
// later failure would undo; the remote refuses the push (someone else pushed meanwhile), and the run
// view shows the unwind: every package tag and the commit undone, the remote as it was.
// Screenshots 30–31 land in e2e/screenshots/.
//
// Needs VWMP_E2E_MONOREPO_REPO (the sample monorepo, relative to the platform's workspace) and
// VWMP_E2E_MONOREPO_REMOTE (its bare `origin`, already moved by someone else);
// tests/e2e/test_designer_browser.py creates both. Against the in-memory mock there is no git: skipped.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { api, createUser, launchBrowser, login, shot, signInAs, startTarget } from './harness.mjs';

const repo = process.env.VWMP_E2E_MONOREPO_REPO;
const remote = process.env.VWMP_E2E_MONOREPO_REMOTE;
const realTarget = !!process.env.VWMP_E2E_URL;
const skip = !realTarget && (!repo || !remote)
  ? 'the mock gateway has no git: run against the real platform (tests/e2e/test_designer_browser.py)'
  : false;
// What the sample's two commits (a feature in shop-core, a fix in the ui-kit) release, dependents included.
const RELEASED = ['@shop/ui-kit@0.9.1', '@shop/web@1.0.1', 'shop-core@1.3.0', 'shop-utils@0.3.2', 'shop-api@2.0.1'];
const name = `monorepo-e2e-${Date.now().toString(36)}`;
let target, browser, page;

function git(...args) {
  return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

async function nodeState(id, state, timeout = 90_000) {
  await page.waitForFunction(([i, st]) =>
    document.querySelector(`[data-testid="run-node-${i}"]`)?.getAttribute('data-state') === st, [id, state], { timeout });
}

before(async () => {
  if (skip) return;
  if (!repo || !remote) {
    throw new Error('VWMP_E2E_MONOREPO_REPO and VWMP_E2E_MONOREPO_REMOTE are required against a real platform: '
      + 'run tests/e2e/test_designer_browser.py');
  }
  target = await startTarget();
  browser = await launchBrowser();
  page = await browser.newPage();
  page.on('pageerror', (e) => console.log('# page error:', e.message));
});

after(async () => {
  await browser?.close();
  await target?.stop();
});

test('one gate shows five packages and what would be undone; a refused push unwinds them all', { skip }, async () => {
  const templates = await api(target, 'GET', '/templates');
  const template = templates.items.find((t) => t.name === 'monorepo-release');
  assert.ok(template, 'the monorepo-release template is offered');
  const definition = structuredClone(template.definition);
  definition.metadata.name = name;
  await api(target, 'POST', '/workflows', definition);
  const remoteTags = git('-C', remote, 'tag', '--list');
  const remoteMain = git('-C', remote, 'rev-parse', 'refs/heads/main');
  const run = await api(target, 'POST', `/workflows/${name}/runs`, { parameters: { repo } });

  // The gate refuses the person who started the run: a second person reads the plan and approves.
  const reviewer = await createUser(target, `monorepo-reviewer-${Date.now().toString(36)}`);
  await login(page, target);
  await signInAs(page, target, reviewer, `#/runs/${run.id}`);
  await nodeState('approve', 'awaiting_approval');
  await page.getByTestId('review-approve').click();
  const dialog = page.getByTestId('approval-dialog');
  await dialog.waitFor();
  const text = await dialog.innerText();
  for (const tag of RELEASED) assert.ok(text.includes(tag), `the gate names ${tag}`);
  const undo = dialog.getByTestId('would-undo');
  await undo.waitFor();
  const undoText = await undo.innerText();
  for (let i = 0; i < 5; i += 1) assert.match(undoText, new RegExp(`tag\\[${i}\\]`));
  assert.match(undoText, /git\/delete-tag/);
  assert.match(undoText, /git\/reset-to/);
  await shot(page, '30-monorepo-gate');

  await page.getByTestId('approve').click();
  await dialog.waitFor({ state: 'detached' });
  await nodeState('push', 'failed');
  await nodeState('tag', 'compensated');
  await nodeState('commit', 'compensated');
  await page.locator('.toolbar [data-testid="state-badge"]').filter({ hasText: 'failed' }).waitFor();
  await page.getByText(/compensated/i).first().waitFor();
  await shot(page, '31-monorepo-unwind');

  const ended = await api(target, 'GET', `/runs/${run.id}`);
  assert.equal(ended.state, 'failed');
  assert.equal(ended.compensated, true);
  assert.equal(git('-C', remote, 'tag', '--list'), remoteTags, 'the remote keeps exactly the tags it had');
  assert.equal(git('-C', remote, 'rev-parse', 'refs/heads/main'), remoteMain, 'the remote main did not move');
  console.log(`# monorepo: gate of run ${run.id} showed ${RELEASED.length} packages; the refused push unwound them`);
});
