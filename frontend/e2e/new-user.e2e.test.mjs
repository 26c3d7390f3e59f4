// A new user's first hour with the designer, against the real platform: a blank canvas that does not
// open on "1 problem", the shipped python-release template whose steps can be looked at without
// changing the workflow (no defaults written, Run stays enabled), optional fields drawn as one field,
// a refused cycle reported as an error, every older version viewed from the history and one restored,
// a run form that names a missing field in words, and a failed run whose overview says which step
// failed and why. Screenshots `nu-*.png`.
//
// Real platform only (the mock gateway keeps no versions of a template-made workflow's steps and runs
// no plugin): tests/e2e/test_designer_browser.py starts it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, launchBrowser, login, shot, startTarget, yamlText } from './harness.mjs';

const skip = process.env.VWMP_E2E_URL ? false : 'needs the real platform (tests/e2e/test_designer_browser.py)';
const suffix = Date.now().toString(36);
const release = `nu-release-${suffix}`;
const greet = `nu-greet-${suffix}`;
const failing = `nu-fail-${suffix}`;
const STEPS = ['branch', 'lint', 'bump', 'changelog', 'kb', 'kanban', 'commit', 'tag', 'approve', 'push'];

let target, browser, page;
const pageErrors = [];

before(async () => {
  if (skip) return;
  target = await startTarget();
  console.log(`# target: ${target.kind} at ${target.url}`);
  browser = await launchBrowser();
  page = await browser.newPage();
  page.on('pageerror', (e) => { pageErrors.push(e.message); console.log('# page error:', e.message); });
});

after(async () => {
  await browser?.close();
  await target?.stop();
});

async function dropStep(type, x, y) {
  await page.getByTestId(`palette-${type}`).dragTo(page.getByTestId('canvas'), { targetPosition: { x, y } });
}

async function link(from, to) {
  const a = await page.locator(`[data-testid="node-${from}"] .react-flow__handle.source`).boundingBox();
  const b = await page.locator(`[data-testid="node-${to}"] .react-flow__handle.target`).boundingBox();
  await page.mouse.move(a.x + a.width / 2, a.y + a.height / 2);
  await page.mouse.down();
  await page.mouse.move((a.x + b.x) / 2, (a.y + b.y) / 2 + 10, { steps: 5 });
  await page.mouse.move(b.x + b.width / 2, b.y + b.height / 2, { steps: 5 });
  await page.mouse.up();
}

/** The designer is still a designer: its canvas and toolbar are there, no error page, no blank window. */
async function designerAlive() {
  await page.getByTestId('canvas').waitFor({ timeout: 5000 });
  assert.equal(await page.getByTestId('page-error').count(), 0, 'the error page is shown');
}

const dirtyMark = () => page.locator('.toolbar .dirty');

test('a blank canvas starts with a hint, not "1 problem"', { skip }, async () => {
  await login(page, target);
  await page.getByTestId('new-workflow').click();
  await page.getByTestId('canvas').waitFor();
  // The validation request answers "[] should be non-empty": give it time to arrive, then read the pill.
  await page.waitForTimeout(1200);
  const validity = page.getByTestId('validity');
  assert.equal(await validity.innerText(), 'Add a step to start');
  assert.doesNotMatch(await validity.getAttribute('class'), /\bbad\b/);
  assert.equal(await page.locator('.side-panel .error-box').count(), 0, 'the workflow panel lists a problem');
  await shot(page, 'nu-01-blank-canvas');

  // A real mistake still counts: a bad name is one problem, at once.
  await page.getByLabel('Name', { exact: true }).fill('Bad Name');
  await page.getByLabel('Description').click();
  await validity.filter({ hasText: '1 problem' }).waitFor();
  await page.getByLabel('Name', { exact: true }).fill(`nu-blank-${suffix}`);
  await page.getByLabel('Description').click();
  await validity.filter({ hasText: 'Add a step to start' }).waitFor();
});

test('a refused cycle is an error banner, not a green notice, and edges carry arrowheads', { skip }, async () => {
  await dropStep('core/noop', 200, 220);
  await dropStep('core/noop', 560, 220);
  await page.getByTestId('node-noop-2').waitFor();
  await link('noop', 'noop-2');
  await page.waitForFunction(() => document.querySelectorAll('.react-flow__edge').length === 1, null, { timeout: 5000 });
  await page.getByTestId('validity').filter({ hasText: 'Valid' }).waitFor();
  const marker = await page.locator('.react-flow__edge path.react-flow__edge-path').first().getAttribute('marker-end');
  assert.match(marker ?? '', /url\(.*arrowclosed/i, `edge has no arrowhead (marker-end=${marker})`);

  await link('noop-2', 'noop');
  const refusal = page.getByTestId('refusal');
  await refusal.filter({ hasText: 'That would create a cycle' }).waitFor();
  assert.equal(await refusal.getAttribute('role'), 'alert');
  assert.match(await refusal.getAttribute('class'), /\bbad\b/);
  assert.equal(await page.locator('.banner.ok').filter({ hasText: 'cycle' }).count(), 0, 'the cycle is reported as a success');
  assert.equal(await page.locator('.react-flow__edge').count(), 1);
  await shot(page, 'nu-02-cycle-refused');
});

test('selecting each step of the python-release template changes nothing: no defaults, no dirty mark, Run stays enabled', { skip }, async () => {
  await page.goto(`${target.url}/#/workflows`);
  await page.getByTestId('template-python-release').click();
  for (const id of STEPS) await page.getByTestId(`node-${id}`).waitFor();
  await page.locator('.react-flow__pane').click({ position: { x: 30, y: 30 } });
  await page.getByLabel('Name', { exact: true }).fill(release);
  await page.getByLabel('Description').click();
  await page.getByTestId('validity').filter({ hasText: 'Valid' }).waitFor();
  await page.getByTestId('save').click();
  await page.waitForURL(new RegExp(`#/workflows/${release}$`));
  await page.getByText('v1', { exact: true }).waitFor();
  const saved = (await api(target, 'GET', `/workflows/${release}`)).definition;
  assert.equal(await dirtyMark().count(), 0);
  assert.equal(await page.getByTestId('run').isDisabled(), false);

  for (const id of STEPS) {
    await page.getByTestId(`node-${id}`).click();
    await page.getByRole('group', { name: `Step ${id}` }).waitFor();
    await page.waitForTimeout(150); // rjsf reports its state right after mounting: let it
    assert.equal(await dirtyMark().count(), 0, `selecting ${id} marked the workflow changed`);
    assert.equal(await page.getByTestId('run').isDisabled(), false, `selecting ${id} disabled Run`);
  }

  // The YAML is the saved definition's: nothing was written into any step's `with`.
  await page.getByRole('button', { name: 'Split' }).click();
  const yaml = await yamlText(page);
  assert.doesNotMatch(yaml, /prerelease_label|files: null|file: CHANGELOG\.md|: null\b/);
  await page.getByRole('button', { name: 'Canvas' }).click();
  assert.deepEqual((await api(target, 'GET', `/workflows/${release}`)).definition.spec, saved.spec);

  // bump's optional fields: one input each, no "option 1 / option 2" chooser; the default as a placeholder;
  // the configuration first in the panel.
  await page.getByTestId('node-bump').click();
  const panel = page.getByRole('group', { name: 'Step bump' });
  await panel.locator('.schema-form').waitFor();
  const text = await panel.innerText();
  assert.doesNotMatch(text, /option 1|option 2/i);
  for (const f of ['repo', 'part', 'version', 'prerelease_label']) {
    assert.equal(await panel.locator(`[id="cfg-bump_${f}"]`).count(), 1, `field ${f}`);
  }
  assert.equal(await panel.locator('#cfg-bump_prerelease_label').getAttribute('placeholder'), 'default: rc');
  assert.equal(await panel.locator('#cfg-bump_prerelease_label').inputValue(), '');
  const headings = await panel.locator('h3').allInnerTexts();
  assert.match(headings[0], /^Configuration/i, `the first section is ${headings[0]}`);
  await shot(page, 'nu-03-template-step-selected');

  // Setting a field is an edit; clearing it again is back to saved.
  await panel.locator('#cfg-bump_prerelease_label').fill('beta');
  await dirtyMark().waitFor();
  assert.equal(await page.getByTestId('run').isDisabled(), true);
  await page.getByRole('button', { name: /Undo/ }).click();
  await dirtyMark().waitFor({ state: 'detached' });
});

test('every older version opens from the history read-only, and one is restored and saved', { skip }, async () => {
  // Versions 2 and 3: a description from the designer, a timeout through the API.
  await page.locator('.react-flow__pane').click({ position: { x: 30, y: 30 } });
  await page.getByLabel('Description').fill('Cut a release, version 2');
  await page.getByLabel('Description').press('Tab');
  await dirtyMark().waitFor();
  await page.getByTestId('save').click();
  await page.getByText('v2', { exact: true }).waitFor();
  const latest = await api(target, 'GET', `/workflows/${release}`);
  const steps3 = latest.definition.spec.steps.map((s) => (s.id === 'lint' ? { ...s, timeout: '45s' } : s));
  await api(target, 'PUT', `/workflows/${release}`, { ...latest.definition, spec: { ...latest.definition.spec, steps: steps3 } });
  await page.reload();
  await page.getByText('v3', { exact: true }).waitFor();

  for (const v of [2, 1]) {
    await page.getByRole('button', { name: 'History' }).click();
    await page.getByRole('button', { name: `View version ${v}` }).click();
    await page.getByRole('status').filter({ hasText: `Viewing version ${v} (read-only)` }).waitFor();
    await designerAlive();
    for (const id of STEPS) await page.getByTestId(`node-${id}`).waitFor();
    await page.getByText(`v${v}`, { exact: true }).waitFor();
    // Still responsive: a step opens read-only, and it is this version's step.
    await page.getByTestId('node-lint').click();
    const panel = page.getByRole('group', { name: 'Step lint' });
    await panel.waitFor();
    assert.equal(await panel.getByLabel('Timeout').inputValue(), '', `version ${v} shows a later version's timeout`);
    assert.equal(await panel.getByLabel('Timeout').isDisabled(), true);
    await shot(page, `nu-04-history-v${v}`);
    await page.locator('.react-flow__pane').click({ position: { x: 30, y: 30 } });
  }
  assert.deepEqual(pageErrors, [], 'the page threw while viewing versions');

  // Restore version 1: editable again, marked changed, and saving makes it version 4.
  await page.getByTestId('restore-version').click();
  await page.locator('.banner.ok').filter({ hasText: 'Restored version 1' }).waitFor();
  await dirtyMark().waitFor();
  assert.equal(await page.getByTestId('save').isDisabled(), false);
  await shot(page, 'nu-05-restored');
  await page.getByTestId('save').click();
  await page.getByText('v4', { exact: true }).waitFor();
  const v4 = await api(target, 'GET', `/workflows/${release}`);
  const v1 = await api(target, 'GET', `/workflows/${release}/versions/1`);
  assert.equal(v4.version, 4);
  assert.deepEqual(v4.definition.spec, v1.definition.spec);
  assert.equal(v4.definition.metadata.description, v1.definition.metadata.description);
});

test('a page that fails to render says what failed and leads back, instead of going blank', { skip }, async () => {
  // A broken answer (a version whose step list holds a null) makes the designer throw while drawing.
  await page.route(`**/api/v1/workflows/${release}/versions/2`, async (route) => {
    const res = await route.fetch();
    const body = await res.json();
    body.definition.spec.steps = [null, ...body.definition.spec.steps];
    await route.fulfill({ response: res, json: body });
  });
  const before = pageErrors.length;
  await page.getByRole('button', { name: 'History' }).click();
  await page.getByRole('button', { name: 'View version 2' }).click();
  const failure = page.getByTestId('page-error');
  await failure.waitFor();
  assert.match(await failure.innerText(), /TypeError/);
  await page.getByRole('navigation', { name: 'Main' }).waitFor(); // the shell is still there
  await shot(page, 'nu-05a-page-error');
  await page.unroute(`**/api/v1/workflows/${release}/versions/2`);
  await failure.getByRole('link', { name: 'Back to workflows' }).click();
  await page.getByRole('heading', { name: 'Workflows' }).waitFor();
  assert.equal(await page.getByTestId('page-error').count(), 0);
  pageErrors.splice(before); // the thrown error was the point of this test
});

test('the run form draws an optional parameter once and names a missing field in words', { skip }, async () => {
  await api(target, 'POST', '/workflows', {
    apiVersion: 'vwmp/v1', kind: 'Workflow', metadata: { name: greet },
    spec: {
      parameters: {
        type: 'object', required: ['who'],
        properties: {
          who: { type: 'string', title: 'Who to greet' },
          note: { anyOf: [{ type: 'string' }, { type: 'null' }], default: null, title: 'Note', description: 'Optional' },
        },
      },
      steps: [{ id: 'greet', uses: 'hello/greet', with: { name: '${{ params.who }}' } }],
    },
  });
  await page.goto(`${target.url}/#/workflows/${greet}`);
  await page.getByTestId('node-greet').waitFor();
  await page.getByTestId('run').click();
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  assert.doesNotMatch(await dialog.innerText(), /option 1|option 2/i);
  assert.equal(await dialog.locator('[id="param_note"]').count(), 1);
  await dialog.getByRole('button', { name: 'Start dry run' }).click();
  await dialog.getByText('Who to greet is required').waitFor();
  assert.doesNotMatch(await dialog.innerText(), /must have required property/);
  await shot(page, 'nu-06-run-form-required');
  await dialog.getByLabel(/^Who to greet/).fill('Ada');
  await dialog.getByRole('button', { name: 'Start dry run' }).click();
  await page.waitForURL(/#\/runs\//);
  await page.locator('.toolbar [data-testid="state-badge"]').filter({ hasText: 'succeeded' }).waitFor({ timeout: 60_000 });
});

test('a failed run\'s overview names the failed step and its error without a click', { skip }, async () => {
  await api(target, 'POST', '/workflows', {
    apiVersion: 'vwmp/v1', kind: 'Workflow', metadata: { name: failing },
    spec: {
      steps: [
        { id: 'start', uses: 'core/noop' },
        { id: 'bump', uses: 'release/version-bump', needs: ['start'], with: { repo: 'no-such-repo', part: 'patch' } },
      ],
    },
  });
  await page.goto(`${target.url}/#/workflows/${failing}`);
  await page.getByTestId('node-bump').waitFor();
  await page.getByTestId('run').click();
  await page.getByTestId('dry-run').uncheck();
  await page.getByRole('button', { name: 'Start run' }).click();
  await page.waitForURL(/#\/runs\//);
  await page.locator('.toolbar [data-testid="state-badge"]').filter({ hasText: 'failed' }).waitFor({ timeout: 60_000 });
  const banner = page.getByTestId('run-failures');
  await banner.waitFor();
  const runId = decodeURIComponent(new URL(page.url()).hash.split('/').pop());
  const stored = await api(target, 'GET', `/runs/${runId}`);
  const error = stored.steps.find((s) => s.id === 'bump').error;
  assert.ok(error, 'the stored step has an error');
  const line = banner.getByTestId('failure-bump');
  await line.filter({ hasText: error.split('\n')[0].slice(0, 40) }).waitFor();
  assert.equal(await banner.getAttribute('role'), 'alert');
  await page.getByTestId('overview-failure').filter({ hasText: 'bump' }).waitFor();
  assert.equal(await page.getByTestId('step-details').count(), 0, 'a step was opened: the overview must say it on its own');
  await shot(page, 'nu-07-failed-run');
  console.log(`# new-user: failed run ${runId} names bump: ${error.split('\n')[0]}`);
});

test('a step type\'s icon from its plugin replaces the two-letter code', { skip }, async () => {
  // No shipped plugin declares an icon yet: the step-types answer gets one (an SVG tag) on the way to the page.
  const svg = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><path d="M1 2h7l7 7-6 6-7-7z" fill="#15803d"/><circle cx="4.5" cy="5.5" r="1.3" fill="#fff"/></svg>';
  const icon = `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`;
  await page.route('**/api/v1/step-types', async (route) => {
    const res = await route.fetch();
    const body = await res.json();
    for (const t of body.items) if (t.type === 'release/version-bump') t.icon = icon;
    await route.fulfill({ response: res, json: body });
  });
  await page.goto(`${target.url}/#/workflows/${failing}`);
  await page.reload();
  await page.getByTestId('node-bump').waitFor();
  const img = page.locator('[data-testid="node-bump"] img[data-testid="step-icon"]');
  await img.waitFor();
  assert.equal(await img.getAttribute('src'), icon);
  assert.ok(await img.evaluate((el) => el.complete && el.naturalWidth > 0), 'the icon did not load');
  assert.equal(await page.locator('[data-testid="node-start"] .node-plugin').innerText(), 'CO');
  await shot(page, 'nu-08-step-icon');
  await page.unroute('**/api/v1/step-types');
});
