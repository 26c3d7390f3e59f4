// Queues and approval policies in the browser (issue 11): a concurrency key set in the workflow
// panel and saved; two runs of the keyed workflow, the second waiting behind the first one's gate
// ("#1 in queue", "waiting for run … (awaiting approval)", a link to the blocker); the approval dialog
// as the person who started the run (refused), then as two other people (policy, approvals so far,
// the inputs form, a 422 shown at its field), until the gate opens and the queue moves on.
// Screenshots land in e2e/screenshots/ (q-*.png).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, createUser, launchBrowser, login, shot, signInAs, startTarget, yamlText } from './harness.mjs';

let target, browser, page;
const tag = Date.now().toString(36);
const name = `e2e-queue-${tag}`;
const KEY = `queue-${tag}:\${{ params.repo }}`;
const RENDERED_KEY = `queue-${tag}:shop`;
const INPUTS = {
  type: 'object',
  required: ['ticket'],
  properties: {
    ticket: { type: 'string', title: 'Change ticket', minLength: 1 },
    notes_override: { type: 'string', title: 'Release notes override' },
  },
};
const runs = {};
let reviewers;

before(async () => {
  target = await startTarget();
  console.log(`# target: ${target.kind} at ${target.url}`);
  browser = await launchBrowser();
  page = await browser.newPage();
  page.on('pageerror', (e) => console.log('# page error:', e.message));
  // A gate that needs two operators, never the person who started the run, and a ticket number.
  await api(target, 'POST', '/workflows', {
    apiVersion: 'vwmp/v1', kind: 'Workflow',
    metadata: { name, description: 'one run per repository at a time' },
    spec: {
      parameters: { type: 'object', properties: { repo: { type: 'string', default: 'shop' } } },
      steps: [
        { id: 'gate', uses: 'core/approval', with: { message: 'Release shop?', approvers: { roles: ['operator'] }, required: 2, inputs: INPUTS } },
        { id: 'after', uses: 'core/noop', needs: ['gate'] },
      ],
    },
  });
  reviewers = [await createUser(target, `reviewer-a-${tag}`), await createUser(target, `reviewer-b-${tag}`)];
});

after(async () => {
  // Leave nothing waiting behind (a run still queued or at its gate).
  for (const id of Object.values(runs)) {
    const run = await api(target, 'GET', `/runs/${id}`).catch(() => null);
    if (run && !['succeeded', 'succeeded_with_warnings', 'failed', 'cancelled'].includes(run.state)) {
      await api(target, 'POST', `/runs/${id}/cancel`).catch(() => undefined);
    }
  }
  await browser?.close();
  await target?.stop();
});

const runIdOf = () => decodeURIComponent(new URL(page.url()).hash.split('/').pop());

async function waitStates(expected, timeout = 60_000) {
  await page.waitForFunction((exp) => Object.entries(exp).every(([id, st]) =>
    document.querySelector(`[data-testid="run-node-${id}"]`)?.getAttribute('data-state') === st), expected, { timeout });
}

async function startRun() {
  await page.getByTestId('run').click();
  await page.getByTestId('dry-run').uncheck();
  await page.getByRole('button', { name: 'Start run' }).click();
  await page.waitForURL(/#\/runs\//);
  return runIdOf();
}

test('the workflow panel sets a concurrency key, and saving writes spec.concurrency', async () => {
  await login(page, target);
  await page.goto(`${target.url}/#/workflows/${name}`);
  // The approval step's form offers the policy, its inputs schema as text.
  await page.getByTestId('node-gate').click();
  const panel = page.locator('.side-panel');
  for (const field of ['required', 'allow_self_approval', 'timeout', 'on_timeout', 'pin_plan']) {
    await panel.locator(`.schema-form [id$="${field}"]`).first().waitFor();
  }
  await panel.locator('.schema-form [id*="approvers"]').first().waitFor();
  const inputsText = panel.locator('.yaml-text-field textarea');
  await inputsText.waitFor();
  assert.match(await inputsText.inputValue(), /notes_override:/);
  await shot(page, 'q-01-approval-policy-form');

  await page.locator('.react-flow__pane').click({ position: { x: 40, y: 40 } });
  const section = page.getByTestId('concurrency-section');
  await section.waitFor();
  assert.equal(await page.getByLabel('Limit').isDisabled(), true, 'limit is editable without a key');
  await page.getByLabel('Concurrency key').fill(KEY);
  await page.getByLabel('Concurrency key').press('Enter');
  assert.equal(await page.getByLabel('Limit').inputValue(), '1');
  assert.equal(await page.getByLabel('When taken').inputValue(), 'queue');
  await page.getByTestId('validity').filter({ hasText: 'Valid' }).waitFor();
  await page.getByRole('button', { name: 'Split' }).click();
  assert.match(await yamlText(page), /concurrency:\n\s+key: queue-.*params\.repo.*\n\s+limit: 1\n\s+on_conflict: queue/);
  await shot(page, 'q-02-concurrency-key');
  await page.getByRole('button', { name: 'Canvas' }).click();
  await page.getByTestId('save').click();
  await page.getByText('v2', { exact: true }).waitFor();
  const saved = await api(target, 'GET', `/workflows/${name}`);
  assert.equal(saved.version, 2);
  assert.deepEqual(saved.definition.spec.concurrency, { key: KEY, limit: 1, on_conflict: 'queue' });
  assert.equal(saved.definition.spec.steps[0].with.required, 2);
});

test('a second run of the key waits: "#1 in queue", waiting for the first run at its gate, with a link', async () => {
  runs.first = await startRun();
  await waitStates({ gate: 'awaiting_approval', after: 'pending' });
  await page.getByTestId('run-key').filter({ hasText: RENDERED_KEY }).waitFor();

  await page.goto(`${target.url}/#/workflows/${name}`);
  runs.second = await startRun();
  assert.notEqual(runs.second, runs.first);
  await page.getByTestId('queue-position').filter({ hasText: '#1 in queue' }).waitFor();
  const waiting = page.getByTestId('waiting-for');
  await waiting.filter({ hasText: `waiting for run ${runs.first.slice(0, 8)} (awaiting approval)` }).waitFor({ timeout: 15_000 });
  assert.equal(await waiting.count(), 1);
  await page.getByTestId('queue-banner').getByText(RENDERED_KEY).waitFor();
  const stored = await api(target, 'GET', `/runs/${runs.second}`);
  assert.equal(stored.state, 'queued');
  assert.deepEqual(stored.concurrency, { key: RENDERED_KEY, limit: 1, on_conflict: 'queue', position: 1, blocked_by: [runs.first] });
  await shot(page, 'q-03-run-waiting-in-queue');

  // The runs list shows the key of both and the second one's place.
  await page.goto(`${target.url}/#/runs?workflow=${name}`);
  const row = page.locator('tbody tr', { has: page.locator(`a[href="#/runs/${runs.second}"]`) });
  await row.getByTestId('queue-position').filter({ hasText: '#1 in queue' }).waitFor();
  assert.equal(await page.locator('tbody tr', { hasText: RENDERED_KEY }).count(), 2);
  await shot(page, 'q-04-runs-list-queue');

  // The blocker link opens the first run.
  await page.goto(`${target.url}/#/runs/${runs.second}`);
  await page.getByTestId(`blocker-${runs.first}`).click();
  await page.waitForURL(new RegExp(`#/runs/${runs.first}$`));
  await waitStates({ gate: 'awaiting_approval' });
});

test('the person who started the run is told they cannot approve it', async () => {
  await page.getByTestId('review-gate').click();
  const dialog = page.getByTestId('approval-dialog');
  await dialog.getByText('Release shop?').waitFor();
  await page.getByTestId('self-approval').filter({ hasText: 'You started this run — you cannot approve it.' }).waitFor();
  assert.equal(await page.getByTestId('approve').isDisabled(), true);
  await shot(page, 'q-05-approval-self-refused');
  await page.getByRole('button', { name: 'Close dialog' }).click();
});

test('a second person sees the policy and the inputs form, gets a missing input shown at its field, and approves', async () => {
  const [a] = reviewers;
  await signInAs(page, target, a, `#/runs/${runs.first}`);
  await waitStates({ gate: 'awaiting_approval' });
  await page.getByTestId('review-gate').click();
  const dialog = page.getByTestId('approval-dialog');
  await page.getByTestId('approval-count').filter({ hasText: '0 of 2' }).waitFor();
  await page.getByTestId('deciders').filter({ hasText: /2 more approvals needed, from role operator/ }).waitFor();
  assert.equal(await page.getByTestId('self-approval').count(), 0);
  const digest = await page.getByTestId('plan-digest').getAttribute('title');
  assert.match(digest, /^[0-9a-f]{64}$/, 'the dialog shows the gate\'s sha256 plan digest');
  await dialog.getByLabel(/Change ticket/).waitFor();
  await dialog.getByLabel(/Release notes override/).fill('Hotfix for the checkout');

  // Without the required ticket the gateway answers 422 with a pointer into /inputs: shown at the field.
  await page.getByTestId('approve').click();
  // (The gateway's words, not the form's own check: "ticket is required" at /inputs/ticket.)
  await dialog.locator('.schema-form .error-detail').filter({ hasText: /\bticket is required/ }).waitFor();
  await dialog.locator('.error-box').filter({ hasText: 'Invalid' }).waitFor();
  await shot(page, 'q-06-approval-inputs-422');
  assert.equal((await api(target, 'GET', `/runs/${runs.first}`)).steps[0].outputs.approvals.length, 0);

  await dialog.getByLabel(/Change ticket/).fill('CHG-1234');
  await dialog.getByLabel('Comment').fill('first look: fine');
  await shot(page, 'q-07-approval-dialog-policy');
  await page.getByTestId('approve').click();
  await dialog.waitFor({ state: 'detached' });
  // One of two: the gate still waits, and says so.
  await page.locator('.banner.warn').filter({ hasText: '1 of 2 approvals' }).waitFor();
  const gate = (await api(target, 'GET', `/runs/${runs.first}`)).steps.find((s) => s.id === 'gate');
  assert.equal(gate.state, 'awaiting_approval');
  assert.deepEqual(gate.outputs.approvals.map((x) => x.by), [a.name]);
  assert.equal(gate.outputs.plan_digest, digest);
});

test('the next person sees who approved so far; the second approval opens the gate and the queue moves on', async () => {
  const [a, b] = reviewers;
  await signInAs(page, target, b, `#/runs/${runs.first}`);
  await waitStates({ gate: 'awaiting_approval' });
  await page.getByTestId('review-gate').click();
  const dialog = page.getByTestId('approval-dialog');
  await page.getByTestId('approvals').getByText(a.name).waitFor();
  await page.getByTestId('approval-count').filter({ hasText: '1 of 2' }).waitFor();
  await page.getByTestId('deciders').filter({ hasText: /One more approval needed/ }).waitFor();
  await dialog.getByLabel(/Change ticket/).fill('CHG-1234');
  await shot(page, 'q-08-approval-second-person');
  await page.getByTestId('approve').click();
  await dialog.waitFor({ state: 'detached' });
  await waitStates({ gate: 'succeeded', after: 'succeeded' });
  const first = await api(target, 'GET', `/runs/${runs.first}`);
  const gate = first.steps.find((s) => s.id === 'gate');
  assert.equal(gate.outputs.approved_by, b.name);
  assert.deepEqual(gate.outputs.approvals.map((x) => x.by), [a.name, b.name]);
  assert.equal(gate.outputs.inputs.ticket, 'CHG-1234');

  // The waiting run takes the slot: its page drops the queue banner and reaches its own gate.
  await page.goto(`${target.url}/#/runs/${runs.second}`);
  await waitStates({ gate: 'awaiting_approval' });
  await page.getByTestId('queue-banner').waitFor({ state: 'detached', timeout: 15_000 });
  const second = await api(target, 'GET', `/runs/${runs.second}`);
  assert.equal(second.concurrency.position, 0);
  assert.deepEqual(second.concurrency.blocked_by, []);
  await shot(page, 'q-09-queue-moved-on');
  console.log(`# queue: run ${runs.second} waited behind ${runs.first}, approved by ${a.name} and ${b.name}`);
});
