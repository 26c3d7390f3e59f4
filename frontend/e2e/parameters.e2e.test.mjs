// The run-parameters editor: the workflow's parameters JSON Schema built from fields (name, type,
// default, choices, required, description), errors said at the field in words, the raw JSON as the
// advanced view, and a schema the fields cannot hold opened as raw JSON with a note, saved unchanged.
// Screenshots `params-*.png`. Runs against the real platform or the mock gateway.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, launchBrowser, login, shot, startTarget } from './harness.mjs';

const suffix = Date.now().toString(36);
const flat = `params-${suffix}`;
const rich = `params-rich-${suffix}`;
let target, browser, page;
const pageErrors = [];

const wf = (name, parameters) => ({
  apiVersion: 'vwmp/v1', kind: 'Workflow', metadata: { name },
  spec: { parameters, steps: [{ id: 'prepare', uses: 'core/noop' }] },
});
const richSchema = {
  type: 'object', additionalProperties: false, required: ['repo'],
  properties: { repo: { type: 'string', pattern: '^[a-z-]+$', description: 'Path in the workspace' }, tags: { type: 'array', items: { type: 'string' } } },
};

before(async () => {
  target = await startTarget();
  console.log(`# target: ${target.kind} at ${target.url}`);
  await api(target, 'POST', '/workflows', wf(flat, {
    type: 'object', required: ['repo'],
    properties: { repo: { type: 'string', title: 'Repository' }, part: { type: 'string', enum: ['major', 'minor', 'patch'], default: 'minor' } },
  }));
  await api(target, 'POST', '/workflows', wf(rich, richSchema));
  browser = await launchBrowser();
  page = await browser.newPage();
  page.on('pageerror', (e) => { pageErrors.push(e.message); console.log('# page error:', e.message); });
});

after(async () => {
  await browser?.close();
  await target?.stop();
});

const row = (i) => page.getByTestId(`param-row-${i}`);

test('parameters are built from fields, with errors at the field, and saved as the JSON Schema', async () => {
  await login(page, target);
  await page.goto(`${target.url}/#/workflows/${flat}`);
  const editor = page.getByTestId('params-editor');
  await editor.scrollIntoViewIfNeeded();
  assert.equal(await editor.getByRole('button', { name: 'Fields' }).getAttribute('aria-pressed'), 'true');
  assert.equal(await row(0).getByLabel('Name').inputValue(), 'repo');
  assert.equal(await row(0).getByLabel('Required').isChecked(), true);
  assert.equal(await row(1).getByLabel('Choices').inputValue(), 'major, minor, patch');
  assert.equal(await row(1).getByLabel('Default').inputValue(), 'minor');
  // Opening the workflow did not change it: Run is enabled (nothing to save).
  assert.equal(await page.getByTestId('run').isEnabled(), true);

  // A new integer parameter with a default that is not a number: said at the field, nothing committed.
  await editor.getByRole('button', { name: '+ Add parameter' }).click();
  await row(2).getByLabel('Name').fill('attempts');
  await row(2).getByLabel('Type').selectOption('integer');
  await row(2).getByLabel('Default').fill('three');
  await row(2).getByLabel('Default').press('Enter');
  await row(2).locator('.field-errors').filter({ hasText: 'the default must be a whole number' }).waitFor();
  await row(2).getByLabel('Help text').scrollIntoViewIfNeeded();
  await shot(page, 'params-01-field-error');
  await row(2).getByLabel('Default').fill('3');
  await row(2).getByLabel('Default').press('Enter');
  await row(2).locator('.field-errors').waitFor({ state: 'detached' });
  await row(2).getByLabel('Choices').fill('1, 3, 5');
  await row(2).getByLabel('Choices').press('Enter');
  await row(2).getByLabel('Help text').fill('How often to try');
  await row(2).getByLabel('Help text').press('Enter');
  // A default outside the choices is refused too.
  await row(1).getByLabel('Default').fill('huge');
  await row(1).getByLabel('Default').press('Enter');
  await row(1).locator('.field-errors').filter({ hasText: 'the default must be one of the choices (major, minor, patch)' }).waitFor();
  await row(1).getByLabel('Default').fill('patch');
  await row(1).getByLabel('Default').press('Enter');
  await row(1).locator('.field-errors').waitFor({ state: 'detached' });
  // A boolean parameter, required.
  await editor.getByRole('button', { name: '+ Add parameter' }).click();
  await row(3).getByLabel('Name').fill('dry_run');
  await row(3).getByLabel('Name').press('Enter');
  await row(3).getByLabel('Type').selectOption('boolean');
  await row(3).getByLabel('Default').selectOption('true');
  await row(3).getByLabel('Required').check();
  await shot(page, 'params-02-fields');

  // The raw JSON is the same schema.
  await editor.getByRole('button', { name: 'Raw JSON' }).click();
  const raw = JSON.parse(await page.getByLabel('Parameters JSON Schema').inputValue());
  const expected = {
    type: 'object', required: ['repo', 'dry_run'],
    properties: {
      repo: { type: 'string', title: 'Repository' },
      part: { type: 'string', enum: ['major', 'minor', 'patch'], default: 'patch' },
      attempts: { type: 'integer', description: 'How often to try', enum: [1, 3, 5], default: 3 },
      dry_run: { type: 'boolean', default: true },
    },
  };
  assert.deepEqual(raw, expected);
  await editor.getByRole('button', { name: 'Fields' }).click();
  await page.getByTestId('validity').filter({ hasText: 'Valid' }).waitFor();
  await page.getByTestId('save').click();
  await page.getByText('v2', { exact: true }).waitFor();
  const saved = await api(target, 'GET', `/workflows/${flat}`);
  assert.deepEqual(saved.definition.spec.parameters, expected);

  // The run form is built from it: the choices and the defaults.
  await page.getByTestId('run').click();
  const dialog = page.getByRole('dialog');
  await dialog.getByText('dry_run').first().waitFor();
  await shot(page, 'params-03-run-form');
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'detached' });

  // Removing a parameter takes it out of `required` too.
  await editor.getByRole('button', { name: 'Remove parameter dry_run' }).click();
  await editor.getByRole('button', { name: 'Raw JSON' }).click();
  const afterRemove = JSON.parse(await page.getByLabel('Parameters JSON Schema').inputValue());
  assert.deepEqual(afterRemove.required, ['repo']);
  assert.equal(afterRemove.properties.dry_run, undefined);
  console.log(`# parameters: ${flat} built from 4 fields and saved as v2 (required repo, dry_run; attempts integer 1/3/5)`);
});

test('a schema the fields cannot hold opens as raw JSON with a note and is saved unchanged', async () => {
  await page.goto(`${target.url}/#/workflows/${rich}`);
  const editor = page.getByTestId('params-editor');
  await editor.scrollIntoViewIfNeeded();
  const note = page.getByTestId('params-raw-note');
  await note.waitFor();
  const text = await note.innerText();
  for (const p of ['/additionalProperties', '/properties/repo/pattern', '/properties/tags/type']) assert.ok(text.includes(p), `${p} not in the note: ${text}`);
  assert.equal(await editor.getByRole('button', { name: 'Fields' }).isDisabled(), true);
  assert.deepEqual(JSON.parse(await page.getByLabel('Parameters JSON Schema').inputValue()), richSchema);
  assert.equal(await page.getByTestId('run').isEnabled(), true, 'opening the workflow changed it');
  await shot(page, 'params-04-raw-note');
  // Another edit and a save keep every key.
  await page.locator('#wf-description').fill('kept as it was');
  await page.locator('#wf-type').click();
  await page.getByTestId('save').click();
  await page.getByText('v2', { exact: true }).waitFor();
  const saved = await api(target, 'GET', `/workflows/${rich}`);
  assert.deepEqual(saved.definition.spec.parameters, richSchema);
  assert.deepEqual(pageErrors, []);
  console.log(`# parameters: ${rich} kept in raw JSON (additionalProperties, pattern, array) and saved unchanged`);
});
