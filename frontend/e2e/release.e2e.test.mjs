// The "Done when", in the browser against the real platform and a real git repository:
// sign in, open the `python-release` template, save it as a workflow, dry-run it and read the bump's
// plan, run it for real, read the gate's plan and approve it as a second person (the remote moves
// meanwhile: the approval is refused with 409 and the dialog shows the new plan), watch every node turn
// green live, and find the tag on the bare remote. Screenshots 13–16 land in e2e/screenshots/.
//
// Needs VWMP_E2E_RELEASE_REPO (the sample repository at 0.4.1, relative to the platform's workspace)
// and VWMP_E2E_RELEASE_REMOTE (its bare `origin`, absolute path); tests/e2e/test_designer_browser.py
// creates both. Against the in-memory mock (no VWMP_E2E_URL) there is no git, so the test is skipped;
// against a real platform the variables are required and their absence is a failure.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { api, createUser, launchBrowser, login, shot, signInAs, startTarget } from './harness.mjs';

const repo = process.env.VWMP_E2E_RELEASE_REPO;
const remote = process.env.VWMP_E2E_RELEASE_REMOTE;
const realTarget = !!process.env.VWMP_E2E_URL;
const skip = !realTarget && (!repo || !remote)
  ? 'the mock gateway has no git: run against the real platform (tests/e2e/test_designer_browser.py)'
  : false;

const STEPS = ['branch', 'lint', 'bump', 'changelog', 'kb', 'kanban', 'commit', 'tag', 'approve', 'push'];
const all = (state) => Object.fromEntries(STEPS.map((id) => [id, state]));
const EDGES = 10; // every `needs` of the template, drawn between the nodes

/** The run graph keeps all its edges drawn while the nodes change state. */
async function edgesDrawn() {
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid="run-canvas"] .react-flow__edge path').length >= n,
    EDGES, { timeout: 5000 }).catch(async () => {
    const drawn = await page.locator('[data-testid="run-canvas"] .react-flow__edge').count();
    throw new Error(`the run graph draws ${drawn} of ${EDGES} edges`);
  });
}
const name = `release-e2e-${Date.now().toString(36)}`;
let target, browser, page;

/** git with an argument list (no shell); the environment carries the platform's isolated git config. */
function git(...args) {
  return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

async function waitStates(expected, timeout = 90_000) {
  try {
    await page.waitForFunction((exp) => Object.entries(exp).every(([id, st]) =>
      document.querySelector(`[data-testid="run-node-${id}"]`)?.getAttribute('data-state') === st), expected, { timeout });
  } catch (err) {
    const seen = await page.evaluate(() => Object.fromEntries([...document.querySelectorAll('[data-testid^="run-node-"]')]
      .map((n) => [n.dataset.testid.slice('run-node-'.length), n.dataset.state])));
    throw new Error(`nodes did not reach ${JSON.stringify(expected)}; they are ${JSON.stringify(seen)}: ${err.message}`);
  }
}

/** Opens the run form of the saved workflow and starts a run of the sample repository. */
async function startRun(dryRun) {
  await page.getByTestId('run').click();
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  const dry = page.getByTestId('dry-run');
  if (dryRun) await dry.check(); else await dry.uncheck();
  assert.equal(await dry.isChecked(), dryRun);
  await dialog.getByLabel(/^repo/).fill(repo);
  await dialog.getByLabel(/^part/).selectOption('minor');
  await dialog.getByRole('button', { name: dryRun ? 'Start dry run' : 'Start run' }).click();
  await page.waitForURL(/#\/runs\/[^/]+$/);
  return decodeURIComponent(new URL(page.url()).hash.split('/').pop());
}

before(async () => {
  if (skip) return;
  if (!repo || !remote) {
    throw new Error('VWMP_E2E_RELEASE_REPO (sample repository relative to the workspace) and VWMP_E2E_RELEASE_REMOTE '
      + '(absolute path of its bare remote) are required against a real platform: run tests/e2e/test_designer_browser.py');
  }
  assert.ok(path.isAbsolute(remote) && fs.existsSync(remote), `VWMP_E2E_RELEASE_REMOTE=${remote} is not an existing absolute path`);
  assert.equal(git('-C', remote, 'tag', '--list'), '', 'the bare remote must start without tags');
  target = await startTarget();
  console.log(`# target: ${target.kind} at ${target.url}; releasing ${repo} to ${remote}`);
  browser = await launchBrowser();
  page = await browser.newPage();
  page.on('pageerror', (e) => console.log('# page error:', e.message));
});

after(async () => {
  await browser?.close();
  await target?.stop();
});

test('the python-release template opens from the workflow list and saves as a new workflow', { skip }, async () => {
  await login(page, target);
  await page.getByTestId('template-python-release').click();
  await page.waitForURL(/#\/workflows\/new\?template=python-release$/);
  for (const id of STEPS) await page.getByTestId(`node-${id}`).waitFor();
  await page.getByTestId('validity').filter({ hasText: 'Valid' }).waitFor();
  await page.locator('.react-flow__pane').click({ position: { x: 30, y: 30 } });
  await page.getByLabel('Name', { exact: true }).fill(name);
  await shot(page, '13-release-template');

  await page.getByTestId('save').click();
  await page.waitForURL(new RegExp(`#/workflows/${name}$`));
  await page.getByText('v1', { exact: true }).waitFor();
  const saved = await api(target, 'GET', `/workflows/${name}`);
  assert.deepEqual(saved.definition.spec.steps.map((s) => s.id), STEPS);
  assert.equal(saved.definition.metadata.type, 'release');
  assert.ok(STEPS.every((id) => saved.definition.ui?.positions?.[id]), 'layout kept in ui.positions');
});

test('a dry run turns every node green and the bump plan shows 0.5.0', { skip }, async () => {
  const runId = await startRun(true);
  await waitStates(all('succeeded'));
  await page.locator('.toolbar [data-testid="state-badge"]').filter({ hasText: 'succeeded' }).waitFor();
  await edgesDrawn();
  await page.getByTestId('run-node-bump').click();
  const details = page.getByTestId('step-details');
  await details.getByRole('heading', { name: 'bump' }).waitFor();
  const plan = details.locator('.plan');
  await plan.locator('.diff-add', { hasText: 'version = "0.5.0"' }).first().waitFor();
  const text = await plan.innerText();
  assert.match(text, /pyproject\.toml/);
  assert.match(text, /-version = "0\.4\.1"/);
  assert.match(text, /\+version = "0\.5\.0"/);
  assert.match(text, /\+__version__ = "0\.5\.0"/);
  await shot(page, '14-release-dry-run-plan');

  const run = await api(target, 'GET', `/runs/${runId}`);
  assert.equal(run.dry_run, true);
  assert.deepEqual(run.parameters, { repo, part: 'minor' });
  assert.equal(git('-C', remote, 'tag', '--list'), '', 'a dry run pushes nothing');
});

test('a real run waits at the gate, shows the push plan, and turns green live after approval', { skip }, async () => {
  await page.getByRole('link', { name: 'Open workflow' }).click();
  await page.getByTestId('run').waitFor();
  const runId = await startRun(false);
  await waitStates({ ...all('succeeded'), approve: 'awaiting_approval', push: 'pending' });
  await page.waitForTimeout(1200); // a few ticks of the running clock: each one rebuilds the nodes
  await edgesDrawn();
  assert.equal(git('-C', remote, 'tag', '--list'), '', 'nothing is pushed before the approval');

  // The gate refuses the person who started the run: a second person reads the plan and approves.
  const reviewer = await createUser(target, `release-reviewer-${Date.now().toString(36)}`);
  await signInAs(page, target, reviewer, `#/runs/${runId}`);
  await waitStates({ ...all('succeeded'), approve: 'awaiting_approval', push: 'pending' });
  await edgesDrawn();
  await page.getByTestId('review-approve').click();
  const dialog = page.getByTestId('approval-dialog');
  await dialog.waitFor();
  await dialog.getByText('Push v0.5.0 to origin?').waitFor();
  const push = dialog.locator('.approval-plan').filter({ has: page.locator('h4', { hasText: /^push$/ }) });
  await push.waitFor();
  const pushPlan = await push.innerText();
  assert.match(pushPlan, /origin refs\/heads\/main/);
  assert.match(pushPlan, /origin refs\/tags\/v0\.5\.0/);
  assert.match(pushPlan, /Release 0\.5\.0/);
  assert.match(pushPlan, /\+version = "0\.5\.0"/);
  const comment = 'Plan read in the browser: ship 0.5.0';
  await dialog.getByLabel('Comment').fill(comment);
  await shot(page, '15-release-approval');

  // The remote moves while the approver reads: the approval carries the digest of the plan shown, so
  // it is refused (409) and the dialog shows the new plan instead; nothing is pushed meanwhile.
  const shownDigest = await page.getByTestId('plan-digest').getAttribute('title');
  assert.match(shownDigest, /^[0-9a-f]{64}$/);
  const mainBefore = git('-C', remote, 'rev-parse', 'refs/heads/main');
  const someoneElse = { GIT_AUTHOR_NAME: 'Someone Else', GIT_AUTHOR_EMAIL: 'else@example.invalid', GIT_COMMITTER_NAME: 'Someone Else', GIT_COMMITTER_EMAIL: 'else@example.invalid' };
  const moved = execFileSync('git', ['-C', remote, 'commit-tree', `${mainBefore}^{tree}`, '-m', 'moved by someone else'],
    { encoding: 'utf8', env: { ...process.env, ...someoneElse } }).trim();
  git('-C', remote, 'update-ref', 'refs/heads/main', moved);
  await page.getByTestId('approve').click();
  await page.getByTestId('plan-changed').filter({ hasText: 'The plan changed since you opened it' }).waitFor();
  await push.filter({ hasText: moved }).waitFor();
  const changedDigest = await page.getByTestId('plan-digest').getAttribute('title');
  assert.notEqual(changedDigest, shownDigest);
  assert.equal(git('-C', remote, 'tag', '--list'), '', 'a refused approval pushes nothing');
  await shot(page, '15a-release-plan-changed');
  // The remote is put back: approving "the new plan" (the moved one) is refused again, and the dialog
  // shows the plan as it is now, with the digest first shown; that one is approved below.
  git('-C', remote, 'update-ref', 'refs/heads/main', mainBefore);
  await page.getByRole('button', { name: 'Approve the new plan' }).click();
  await page.waitForFunction((d) => document.querySelector('[data-testid="plan-digest"]')?.getAttribute('title') === d, shownDigest, { timeout: 15_000 });
  await push.filter({ hasText: mainBefore }).waitFor();

  // Record every state the gate and the push show from now on, in this same document: the
  // transitions must come over the WebSocket, not from a reload.
  await page.evaluate((ids) => {
    window.__vwmpSeen = Object.fromEntries(ids.map((id) => [id, []]));
    const record = () => {
      for (const id of ids) {
        const st = document.querySelector(`[data-testid="run-node-${id}"]`)?.getAttribute('data-state');
        const seen = window.__vwmpSeen[id];
        if (st && seen[seen.length - 1] !== st) seen.push(st);
      }
    };
    record();
    new MutationObserver(record).observe(document.body, { subtree: true, attributes: true, attributeFilter: ['data-state'], childList: true });
  }, ['approve', 'push']);
  await page.getByTestId('approve').click();
  await dialog.waitFor({ state: 'detached' });
  await waitStates(all('succeeded'));
  await page.locator('.toolbar [data-testid="state-badge"]').filter({ hasText: 'succeeded' }).waitFor();
  await edgesDrawn();
  const seen = await page.evaluate(() => window.__vwmpSeen);
  assert.ok(seen, 'the page was reloaded while watching');
  assert.equal(seen.approve[0], 'awaiting_approval', JSON.stringify(seen));
  assert.equal(seen.approve.at(-1), 'succeeded', JSON.stringify(seen));
  assert.equal(seen.push[0], 'pending', JSON.stringify(seen));
  assert.equal(seen.push.at(-1), 'succeeded', JSON.stringify(seen));
  console.log(`# watched live: approve ${seen.approve.join(' → ')}; push ${seen.push.join(' → ')}`);
  await page.getByRole('tab', { name: 'Timeline' }).click();
  await shot(page, '16-release-succeeded');

  const run = await api(target, 'GET', `/runs/${runId}`);
  assert.equal(run.state, 'succeeded');
  assert.equal(run.dry_run, false);
  const steps = Object.fromEntries(run.steps.map((s) => [s.id, s]));
  assert.equal(steps.approve.outputs.comment, comment);
  assert.equal(steps.approve.outputs.approved_by, reviewer.name);
  assert.deepEqual(steps.push.outputs.pushed, ['refs/heads/main', 'refs/tags/v0.5.0']);

  // The bare remote has the release: the tag, on the release commit that main points at.
  assert.equal(git('-C', remote, 'tag', '--list'), 'v0.5.0');
  assert.equal(git('-C', remote, 'cat-file', '-t', 'refs/tags/v0.5.0'), 'tag');
  assert.equal(git('-C', remote, 'log', '-1', '--format=%s', 'v0.5.0'), 'Release 0.5.0');
  assert.equal(git('-C', remote, 'rev-parse', 'v0.5.0^{commit}'), git('-C', remote, 'rev-parse', 'refs/heads/main'));
  assert.equal(git('-C', remote, 'rev-parse', 'refs/heads/main'), steps.commit.outputs.sha);
  assert.match(git('-C', remote, 'show', 'v0.5.0:pyproject.toml'), /version = "0\.5\.0"/);
  console.log(`# release: v0.5.0 pushed to ${remote}`);
});
