// Drives the designer end to end: login, build a workflow by drag and drop, save, dry run, real run,
// approve the gate, watch every node turn green. Screenshots land in e2e/screenshots/.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, createUser, launchBrowser, login, shot, signInAs, startTarget, yamlText } from './harness.mjs';

let target, browser, page;
const name = `e2e-hello-${Date.now().toString(36)}`;

before(async () => {
  target = await startTarget();
  console.log(`# target: ${target.kind} at ${target.url}`);
  browser = await launchBrowser();
  page = await browser.newPage();
  page.on('pageerror', (e) => console.log('# page error:', e.message));
});

after(async () => {
  await browser?.close();
  await target?.stop();
});

async function dropStep(type, x, y) {
  const canvas = page.getByTestId('canvas');
  await page.getByTestId(`palette-${type}`).dragTo(canvas, { targetPosition: { x, y } });
}

async function link(from, to) {
  const src = page.locator(`[data-testid="node-${from}"] .react-flow__handle.source`);
  const dst = page.locator(`[data-testid="node-${to}"] .react-flow__handle.target`);
  const a = await src.boundingBox();
  const b = await dst.boundingBox();
  await page.mouse.move(a.x + a.width / 2, a.y + a.height / 2);
  await page.mouse.down();
  await page.mouse.move((a.x + b.x) / 2, (a.y + b.y) / 2 + 10, { steps: 5 });
  await page.mouse.move(b.x + b.width / 2, b.y + b.height / 2, { steps: 5 });
  await page.mouse.up();
}

async function waitStates(expected, timeout = 60_000) {
  await page.waitForFunction((exp) => Object.entries(exp).every(([id, st]) =>
    document.querySelector(`[data-testid="run-node-${id}"]`)?.getAttribute('data-state') === st), expected, { timeout });
}

test('log in, build a workflow by drag and drop, and save it', async () => {
  await login(page, target);
  await shot(page, '01-workflows');
  await page.getByTestId('new-workflow').click();
  await page.getByLabel('Name', { exact: true }).fill(name);
  await dropStep('core/noop', 150, 200);
  await dropStep('core/approval', 500, 200);
  await dropStep('hello/greet', 150, 450);
  await dropStep('core/noop', 500, 450);
  for (const id of ['noop', 'greet', 'approval', 'noop-2']) await page.getByTestId(`node-${id}`).waitFor();

  // greet needs its `name`: the server reports it on the node and on the field.
  await page.getByTestId('node-greet').click();
  await page.getByTestId('validity').filter({ hasText: 'problem' }).waitFor();
  // ... on the node (a count badge) and on the field its JSON pointer names (/spec/steps/2/with/name).
  await page.locator('[data-testid="node-greet"] .node-error-count').waitFor();
  await page.locator('.schema-form .error-detail').filter({ hasText: /name.*required/ }).waitFor();
  await shot(page, '02a-field-error');
  const nameField = page.locator('input[id^="cfg-greet"][id$="name"]');
  await nameField.fill('${{ params.who }}');

  await link('noop', 'approval');
  await link('approval', 'greet');
  await link('greet', 'noop-2');
  await page.waitForFunction(() => document.querySelectorAll('.react-flow__edge').length === 3, null, { timeout: 5000 });

  // Parameters for the run form.
  await page.locator('.react-flow__pane').click({ position: { x: 50, y: 50 } });
  await page.getByTestId('params-editor').getByRole('button', { name: 'Raw JSON' }).click();
  await page.getByLabel('Parameters JSON Schema').fill(JSON.stringify({
    type: 'object', required: ['who'], properties: { who: { type: 'string', title: 'Who to greet', default: 'release team' } },
  }));
  await page.getByLabel('Workflow YAML', { exact: true }).count(); // YAML view is off
  await page.getByLabel('Description').click(); // blur commits the schema
  await page.getByTestId('validity').filter({ hasText: 'Valid' }).waitFor();

  // The YAML view shows the same definition.
  await page.getByRole('button', { name: 'Split' }).click();
  const yaml = await yamlText(page);
  assert.match(yaml, /uses: hello\/greet/);
  assert.match(yaml, /needs:\s*\n\s*- approval/);
  await shot(page, '02-designer-split');
  await page.getByRole('button', { name: 'Canvas' }).click();

  await page.getByTestId('save').click();
  await page.waitForURL(new RegExp(`#/workflows/${name}$`));
  await page.getByText('v1', { exact: true }).waitFor();
  await shot(page, '03-designer-saved');
  const saved = await api(target, 'GET', `/workflows/${name}`);
  assert.deepEqual(saved.definition.spec.steps.map((s) => [s.id, s.uses, s.needs ?? []]), [
    ['noop', 'core/noop', []], ['approval', 'core/approval', ['noop']], ['greet', 'hello/greet', ['approval']], ['noop-2', 'core/noop', ['greet']],
  ]);
  assert.ok(saved.definition.ui.positions.greet, 'layout kept in ui.positions');
});

test('a dry run turns every node green and shows plans', async () => {
  await page.getByTestId('run').click();
  assert.equal(await page.getByTestId('dry-run').isChecked(), true);
  await page.getByRole('button', { name: 'Start dry run' }).click();
  await page.waitForURL(/#\/runs\//);
  await waitStates({ noop: 'succeeded', greet: 'succeeded', approval: 'succeeded', 'noop-2': 'succeeded' });
  await page.getByTestId('state-badge').first().filter({ hasText: 'succeeded' }).waitFor();
  await page.getByTestId('run-node-greet').click();
  await page.getByTestId('step-details').locator('.plan li').first().waitFor(); // greet's dry-run plan
  await shot(page, '04-dry-run-succeeded');
});

test('a real run waits at the gate, shows the plan, and finishes green after approval', async () => {
  await page.getByRole('link', { name: 'Open workflow' }).click();
  await page.getByTestId('run').click();
  await page.getByTestId('dry-run').uncheck();
  await page.getByRole('button', { name: 'Start run' }).click();
  await page.waitForURL(/#\/runs\//);
  await waitStates({ noop: 'succeeded', approval: 'awaiting_approval', greet: 'pending', 'noop-2': 'pending' });
  await shot(page, '05-awaiting-approval');
  const runHash = new URL(page.url()).hash;
  // Who started the run may not approve it (the gate's default policy): the dialog says so.
  await page.getByTestId('review-approval').click();
  await page.getByTestId('self-approval').filter({ hasText: 'you cannot approve it' }).waitFor();
  assert.equal(await page.getByTestId('approve').isDisabled(), true, 'Approve is enabled for the person who started the run');
  await shot(page, '05a-approval-self-refused');
  await page.getByRole('button', { name: 'Close dialog' }).click();

  // A second person approves, through the same dialog (which sends the plan digest it shows).
  const reviewer = await createUser(target, `e2e-reviewer-${Date.now().toString(36)}`);
  await signInAs(page, target, reviewer, runHash);
  await waitStates({ noop: 'succeeded', approval: 'awaiting_approval', greet: 'pending', 'noop-2': 'pending' });
  await page.getByTestId('review-approval').click();
  await page.getByTestId('approval-dialog').waitFor();
  await page.getByTestId('deciders').waitFor();
  assert.equal(await page.getByTestId('self-approval').count(), 0);
  // The approver sees greet's plan (from the gate's event, or else from the dry run above).
  await page.getByTestId('approval-dialog').locator('.approval-plan h4', { hasText: 'greet' }).waitFor();
  await page.getByLabel('Comment').fill('Looks good — ship it');
  await shot(page, '06-approval-dialog');
  await page.getByTestId('approve').click();
  await waitStates({ noop: 'succeeded', greet: 'succeeded', approval: 'succeeded', 'noop-2': 'succeeded' });
  await page.getByRole('tab', { name: 'Timeline' }).click();
  await shot(page, '07-run-succeeded-timeline');
  await page.getByTestId('run-node-greet').click();
  await page.getByTestId('logs').filter({ hasText: /release team/ }).waitFor();
  await page.getByTestId('step-details').getByText('"greeting"').waitFor(); // outputs come from the stored step
  await shot(page, '08-step-logs');
  const run = await api(target, 'GET', `/runs/${decodeURIComponent(runHash.split('/').pop())}`);
  assert.equal(run.steps.find((st) => st.id === 'approval').outputs.approved_by, reviewer.name);
});

test('run history filters by workflow and state', async () => {
  await page.goto(`${target.url}/#/runs?workflow=${name}&state=succeeded`);
  await page.locator('tbody tr.clickable').first().waitFor();
  assert.equal(await page.locator('tbody tr.clickable').count(), 2);
  await shot(page, '09-run-history');
});

test('a template opens laid out, and a conflicting save shows a clear message', async () => {
  await page.goto(`${target.url}/#/workflows`);
  const card = page.locator('[data-testid^="template-"]').first();
  await card.click();
  await page.waitForURL(/#\/workflows\/new\?template=/);
  await page.locator('.react-flow__node').first().waitFor();
  assert.ok(await page.locator('.react-flow__node').count() >= 3);
  await page.getByTestId('validity').filter({ hasText: /Valid|problem/ }).waitFor();
  await page.locator('.react-flow__node').nth(1).click();
  await shot(page, '11-template');

  // Someone else saves version 2 of our workflow meanwhile: our save of v1 must answer 412 → conflict.
  await page.goto(`${target.url}/#/workflows/${name}`);
  await page.getByTestId('node-greet').waitFor();
  const latest = await api(target, 'GET', `/workflows/${name}`);
  await api(target, 'PUT', `/workflows/${name}`, { ...latest.definition, metadata: { ...latest.definition.metadata, description: 'changed elsewhere' } });
  await page.getByTestId('node-greet').click();
  await page.getByLabel('Timeout').fill('30s');
  await page.getByLabel('Timeout').press('Enter');
  await page.getByTestId('save').click();
  await page.getByRole('alert').filter({ hasText: 'Someone else saved a newer version' }).waitFor();
  await shot(page, '12-save-conflict');
});
