// The workflow language of issue 12 in the browser: a for_each step over 40 names (an expression
// with split()) drawn as a stacked node with its "for each" badge, a literal for_each (×3), finally
// steps in their own lane, workflow outputs edited in the workflow panel; then a real run: the
// fan-out's progress on its node, the per-item grid, one item's logs a click away, the finally
// steps in their lane, and the run's outputs. Screenshots land in e2e/screenshots/ (lang-*.png).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, launchBrowser, login, shot, startTarget, yamlText } from './harness.mjs';

let target, browser, page;
const tag = Date.now().toString(36);
const name = `e2e-language-${tag}`;
const N = 40;
const NAMES = Array.from({ length: N }, (_, i) => `n${i}`).join(',');
let runId;

before(async () => {
  target = await startTarget();
  console.log(`# target: ${target.kind} at ${target.url}`);
  browser = await launchBrowser();
  page = await browser.newPage();
  page.on('pageerror', (e) => console.log('# page error:', e.message));
  await api(target, 'POST', '/workflows', {
    apiVersion: 'vwmp/v1', kind: 'Workflow',
    metadata: { name, description: 'greet everyone, then report whatever happened' },
    spec: {
      parameters: { type: 'object', properties: { names: { type: 'string', default: NAMES, description: 'comma-separated' } } },
      steps: [
        { id: 'greet', uses: 'hello/greet', for_each: "${{ split(params.names, ',') }}", max_parallel: 5, with: { name: '${{ item }}' } },
        { id: 'langs', uses: 'hello/greet', for_each: ['en', 'fr', 'de'], with: { name: '${{ item }}' } },
        { id: 'done', uses: 'core/noop', needs: ['greet', 'langs'] },
      ],
      outputs: { count: '${{ length(steps.greet.outputs) }}', first: '${{ steps.greet.outputs[0].greeting }}' },
      finally: [
        { id: 'report', uses: 'hello/greet', if: '${{ always() }}', with: { name: 'run ${{ run.id }} ended ${{ run.state }}' } },
        { id: 'cleanup', uses: 'core/noop', needs: ['report'] },
      ],
    },
  });
});

after(async () => {
  if (runId) {
    const run = await api(target, 'GET', `/runs/${runId}`).catch(() => null);
    if (run && !['succeeded', 'succeeded_with_warnings', 'failed', 'cancelled'].includes(run.state)) {
      await api(target, 'POST', `/runs/${runId}/cancel`).catch(() => undefined);
    }
  }
  await browser?.close();
  await target?.stop();
});

const box = (locator) => locator.boundingBox();

async function waitStates(expected, timeout = 90_000) {
  await page.waitForFunction((exp) => Object.entries(exp).every(([id, st]) =>
    document.querySelector(`[data-testid="run-node-${id}"]`)?.getAttribute('data-state') === st), expected, { timeout });
}

test('a for_each step is a stacked node with its badge; finally steps sit in their own lane', async () => {
  await login(page, target);
  await page.goto(`${target.url}/#/workflows/${name}`);
  const greet = page.getByTestId('node-greet');
  await greet.waitFor();
  assert.equal(await greet.getAttribute('data-stacked'), 'true');
  assert.equal(await page.getByTestId('fan-badge-greet').innerText(), 'for each');
  assert.equal(await page.getByTestId('fan-badge-langs').innerText(), '×3');
  assert.equal(await page.getByTestId('node-done').getAttribute('data-stacked'), null);
  await page.getByTestId('validity').filter({ hasText: 'Valid' }).waitFor();

  // The lane: labelled, below every main step, around both finally steps.
  const lane = page.getByTestId('finally-lane');
  await lane.getByText('finally', { exact: true }).waitFor();
  const laneBox = await box(lane);
  for (const id of ['report', 'cleanup']) {
    const node = page.getByTestId(`node-${id}`);
    assert.equal(await node.getAttribute('data-lane'), 'finally');
    const b = await box(node);
    assert.ok(b.y >= laneBox.y && b.y + b.height <= laneBox.y + laneBox.height + 1, `${id} is inside the lane`);
  }
  for (const id of ['greet', 'langs', 'done']) {
    const b = await box(page.getByTestId(`node-${id}`));
    assert.ok(b.y + b.height <= laneBox.y, `${id} is above the lane`);
  }
  // The finally steps' needs edge is drawn (a level edge has no height: attached, not "visible").
  await page.getByTestId('rf__edge-report->cleanup').waitFor({ state: 'attached' });
  await shot(page, 'lang-01-stacked-node-and-finally-lane');
});

async function link(from, to) {
  const a = await box(page.locator(`[data-testid="node-${from}"] .react-flow__handle.source`));
  const b = await box(page.locator(`[data-testid="node-${to}"] .react-flow__handle.target`));
  await page.mouse.move(a.x + a.width / 2, a.y + a.height / 2);
  await page.mouse.down();
  await page.mouse.move((a.x + b.x) / 2, (a.y + b.y) / 2 + 10, { steps: 5 });
  await page.mouse.move(b.x + b.width / 2, b.y + b.height / 2, { steps: 5 });
  await page.mouse.up();
}

test('a step dropped into the lane is a finally step; it connects to finally steps only', async () => {
  const canvas = await box(page.getByTestId('canvas'));
  const lane = await box(page.getByTestId('finally-lane'));
  // Into the band, below its steps.
  await page.getByTestId('palette-core/noop').dragTo(page.getByTestId('canvas'), {
    targetPosition: { x: lane.x - canvas.x + 140, y: lane.y - canvas.y + lane.height - 8 },
  });
  const added = page.getByTestId('node-noop');
  await added.waitFor();
  assert.equal(await added.getAttribute('data-lane'), 'finally');
  await page.getByRole('button', { name: /Auto-layout/ }).click();
  await page.waitForTimeout(400);
  await link('cleanup', 'noop');
  await page.getByRole('button', { name: 'Split' }).click();
  await page.waitForFunction(() => /- id: noop\n\s+uses: core\/noop\n\s+needs:\n\s+- cleanup/.test(document.querySelector('#yaml-editor')?.value ?? ''));
  await page.getByRole('button', { name: 'Canvas' }).click();
  await page.waitForTimeout(400); // the canvas refits the graph to its new width (a 150 ms animation)
  // Across the lanes: refused, with the reason.
  await link('done', 'noop');
  await page.getByTestId('refusal').filter({ hasText: 'A finally step needs only other finally steps' }).waitFor();
  const laneNow = await box(page.getByTestId('finally-lane'));
  const b = await box(added);
  assert.ok(b.y >= laneNow.y && b.y + b.height <= laneNow.y + laneNow.height + 1, 'the new step is inside the lane');
  await shot(page, 'lang-01b-finally-step-added');
  await added.click();
  await page.locator('.side-panel').getByRole('button', { name: 'Delete' }).click();
  await added.waitFor({ state: 'detached' });
});

test('the step panel edits for_each, max_parallel and fail_fast and offers the function list', async () => {
  await page.getByTestId('node-greet').click();
  const fan = page.getByTestId('fan-out-section');
  await fan.waitFor();
  assert.equal(await page.getByLabel('For each').inputValue(), 'expression');
  assert.equal(await page.getByLabel('List expression').inputValue(), "${{ split(params.names, ',') }}");
  assert.equal(await page.getByLabel('At most at once').inputValue(), '5');
  await page.getByLabel('Fail fast').check();
  // The condition's function list has the status functions; picking one inserts it.
  await page.getByRole('button', { name: 'Expression functions for the condition' }).click();
  const list = page.getByTestId('fn-list-step-if');
  for (const fn of ['contains(haystack, needle)', 'startsWith(text, prefix)', 'toJSON(value)', 'success()', 'always()']) await list.getByText(fn, { exact: true }).waitFor();
  await shot(page, 'lang-02-step-panel-functions');
  await list.getByText('always()', { exact: true }).click();
  await page.getByLabel('Condition (if)').press('Enter');
  await page.getByRole('button', { name: 'Split' }).click();
  const yaml = () => yamlText(page);
  await page.waitForFunction(() => /fail_fast: true/.test(document.querySelector('#yaml-editor')?.value ?? ''));
  const text = await yaml();
  assert.match(text, /for_each: \$\{\{ split\(params\.names, ','\) \}\}/);
  assert.match(text, /max_parallel: 5/);
  assert.match(text, /if: \$\{\{ always\(\) \}\}/);
  assert.match(text, /for_each:\n\s+- en\n\s+- fr\n\s+- de/);
  assert.match(text, /finally:\n\s+- id: report/);
  assert.match(text, /outputs:\n\s+count: \$\{\{ length\(steps\.greet\.outputs\) \}\}/);
  await shot(page, 'lang-03-yaml-view');
  // Back to what the run needs: the condition and fail_fast off again (undo both).
  await page.getByRole('button', { name: 'Canvas' }).click();
  await page.getByRole('button', { name: /Undo/ }).click();
  await page.getByRole('button', { name: /Undo/ }).click();
  assert.equal(await page.getByLabel('Fail fast').isChecked(), false);
});

test('the workflow panel edits spec.outputs; saving writes them', async () => {
  await page.locator('.react-flow__pane').click({ position: { x: 30, y: 30 } });
  const section = page.getByTestId('outputs-section');
  await section.waitFor();
  await section.getByTestId('output-count').waitFor();
  await page.getByLabel('New output name').fill('second');
  await section.getByRole('button', { name: '+ Add output' }).click();
  const value = section.getByLabel('Value of second');
  await value.fill('${{ steps.greet.outputs[1].greeting }}');
  await value.press('Enter');
  await page.getByTestId('validity').filter({ hasText: 'Valid' }).waitFor();
  await shot(page, 'lang-04-workflow-outputs');
  await page.getByTestId('save').click();
  await page.getByText('v2', { exact: true }).waitFor();
  const saved = await api(target, 'GET', `/workflows/${name}`);
  assert.deepEqual(saved.definition.spec.outputs, {
    count: '${{ length(steps.greet.outputs) }}', first: '${{ steps.greet.outputs[0].greeting }}', second: '${{ steps.greet.outputs[1].greeting }}',
  });
  assert.equal(saved.definition.spec.finally.length, 2);
  assert.equal(saved.definition.spec.steps[0].max_parallel, 5);
  assert.equal(saved.definition.spec.steps[0].fail_fast, undefined);
});

test('a run shows the fan-out\'s progress and per-item grid, the finally lane and the outputs', async () => {
  await page.getByTestId('run').click();
  await page.getByTestId('dry-run').uncheck();
  await page.getByRole('button', { name: 'Start run' }).click();
  await page.waitForURL(/#\/runs\//);
  runId = decodeURIComponent(new URL(page.url()).hash.split('/').pop());

  const progress = page.getByTestId('fan-progress-greet');
  await progress.waitFor({ timeout: 30_000 });
  assert.match(await progress.innerText(), new RegExp(`^(\\d+/${N}|for each)$`));
  await shot(page, 'lang-05-run-fanning-out');
  await waitStates({ greet: 'succeeded', langs: 'succeeded', done: 'succeeded', report: 'succeeded', cleanup: 'succeeded' });
  await page.waitForFunction(() => document.querySelector('[data-testid="fan-progress-greet"]')?.textContent === '40/40');
  assert.equal(await page.getByTestId('fan-progress-langs').innerText(), '3/3');
  assert.equal(await page.getByTestId('run-node-greet').getAttribute('data-stacked'), 'true');
  // No node per item: the graph has the five steps of the definition.
  assert.equal(await page.locator('[data-testid^="run-node-"]').count(), 5);
  const lane = await box(page.getByTestId('finally-lane'));
  for (const id of ['report', 'cleanup']) {
    assert.equal(await page.getByTestId(`run-node-${id}`).getAttribute('data-lane'), 'finally');
    assert.ok((await box(page.getByTestId(`run-node-${id}`))).y >= lane.y, `${id} is in the lane`);
  }

  // The run's outputs.
  await page.getByTestId('run-outputs').waitFor({ timeout: 15_000 });
  assert.equal(await page.getByTestId('run-output-count').locator('dd').innerText(), String(N));
  assert.equal(await page.getByTestId('run-output-first').locator('dd').innerText(), 'Hello, n0!');
  assert.equal(await page.getByTestId('run-output-second').locator('dd').innerText(), 'Hello, n1!');
  const stored = await api(target, 'GET', `/runs/${runId}`);
  assert.equal(stored.state, 'succeeded');
  assert.deepEqual(stored.outputs, { count: N, first: 'Hello, n0!', second: 'Hello, n1!' });
  const instances = stored.steps.filter((s) => s.parent === 'greet');
  assert.equal(instances.length, N);
  assert.deepEqual(instances.map((s) => s.item_index), Array.from({ length: N }, (_, i) => i));
  await shot(page, 'lang-06-run-outputs');

  // The per-item grid of the fan-out step, and one item's logs a click away.
  await page.getByTestId('run-node-greet').click();
  const grid = page.getByTestId('fan-grid-greet');
  await grid.waitFor();
  assert.equal(await page.getByTestId('fan-count-greet').innerText(), `${N}/${N}`);
  assert.equal(await grid.locator('.fan-cell').count(), N);
  assert.equal(await grid.locator('.fan-cell[data-state="succeeded"]').count(), N);
  await shot(page, 'lang-07-per-item-grid');
  await grid.getByTestId('fan-cell-3').click();
  const details = page.getByTestId('step-details');
  await details.getByRole('heading', { name: 'greet[3]' }).waitFor();
  await details.getByTestId('instance-of').filter({ hasText: `Item 3 of ${N}` }).waitFor();
  await details.getByTestId('logs').filter({ hasText: 'n3' }).waitFor({ timeout: 15_000 });
  await page.waitForLoadState('networkidle');
  assert.equal(await details.getByText('Validation failed').count(), 0, 'the item\'s stored logs load by its id');
  await shot(page, 'lang-08-item-logs');
  console.log(`# language: run ${runId} fanned out ${N} items, finally ran, outputs ${JSON.stringify(stored.outputs)}`);
});

test('a 1,000-item fan-out is one node and a grid of 1,000 cells, and stays quick to use', async () => {
  const big = `${name}-1000`;
  await api(target, 'POST', '/workflows', {
    apiVersion: 'vwmp/v1', kind: 'Workflow', metadata: { name: big, description: 'a thousand no-ops' },
    spec: { steps: [{ id: 'many', uses: 'core/noop', for_each: Array.from({ length: 1000 }, (_, i) => i), max_parallel: 50 }] },
  });
  const started = await api(target, 'POST', `/workflows/${big}/runs`, { parameters: {}, dry_run: false });
  await page.goto(`${target.url}/#/runs/${started.id}`);
  await page.getByTestId('run-node-many').click();
  const grid = page.getByTestId('fan-grid-many');
  await grid.waitFor();
  await page.waitForFunction(() => document.querySelector('[data-testid="fan-count-many"]')?.textContent === '1000/1000', null, { timeout: 120_000 });
  await page.getByTestId('run-node-many').and(page.locator('[data-state="succeeded"]')).waitFor();
  assert.equal(await page.locator('.react-flow__node').count(), 1, 'one node for the fan-out, none per item');
  assert.equal(await grid.locator('.fan-cell').count(), 1000);
  assert.equal(await grid.locator('.fan-cell[data-state="succeeded"]').count(), 1000);
  await shot(page, 'lang-09-1000-items');
  // An item by its number (the cells of a large fan are not tab stops), then back to the grid.
  const t0 = Date.now();
  await page.getByLabel('Item #').fill('999');
  await page.getByLabel('Item #').press('Enter');
  await page.getByTestId('step-details').getByRole('heading', { name: 'many[999]' }).waitFor();
  const openMs = Date.now() - t0;
  await page.getByTestId('instance-of').getByRole('button', { name: 'many' }).click();
  await grid.waitFor();
  assert.ok(openMs < 2000, `opening an item took ${openMs} ms`);
  console.log(`# language: 1,000-item fan-out ${started.id} shown as one node and a 1,000-cell grid; an item opened in ${openMs} ms`);
});
