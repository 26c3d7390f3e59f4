// The YAML editor (CodeMirror 6): the layout hidden by default and shown by a toggle, schema-aware
// completion of keys (a step's `uses` from the step types, `with` keys from the type's config
// schema), validation problems marked on their lines (JSON pointers mapped to lines), a YAML
// syntax error marked where it is, and edits that reach the canvas. Screenshots `yaml-*.png`.
// Runs against the real platform or the mock gateway.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, launchBrowser, login, shot, startTarget, yamlText } from './harness.mjs';

const name = `yaml-${Date.now().toString(36)}`;
let target, browser, page;
const pageErrors = [];

before(async () => {
  target = await startTarget();
  console.log(`# target: ${target.kind} at ${target.url}`);
  await api(target, 'POST', '/workflows', {
    apiVersion: 'vwmp/v1', kind: 'Workflow', metadata: { name },
    spec: { steps: [{ id: 'prepare', uses: 'core/noop' }, { id: 'wait', uses: 'core/sleep', needs: ['prepare'], with: { seconds: 1 } }] },
    ui: { positions: { prepare: { x: 20, y: 20 }, wait: { x: 320, y: 20 } } },
  });
  browser = await launchBrowser();
  page = await browser.newPage();
  page.on('pageerror', (e) => { pageErrors.push(e.message); console.log('# page error:', e.message); });
});

after(async () => {
  await browser?.close();
  await target?.stop();
});

const editor = () => page.locator('#yaml-editor');
/** Puts the cursor at the end of the line that holds `text` (the first such line). */
async function cursorAfter(text) {
  const line = page.locator('.cm-line', { hasText: text }).first();
  await line.click();
  await page.keyboard.press('End');
}
/** The new line's indent (the line edited is the last but one: the text ends with a newline), set to `col` by keyboard. */
const indentNow = () => page.evaluate(() => /\n( *)\n$/.exec(document.querySelector('#yaml-editor').value)?.[1].length ?? -1);
async function indentTo(col) {
  for (let i = 0; i < 12 && (await indentNow()) > col; i++) await page.keyboard.press('Backspace');
  while ((await indentNow()) < col) await page.keyboard.type(' ');
  assert.equal(await indentNow(), col);
}
async function newLine(col) {
  await page.keyboard.press('Enter');
  await indentTo(col);
}
/** Waits until the completion list's selected option is `label`, then takes it with Enter (CodeMirror ignores an Enter within 75 ms of the list opening). */
async function take(label) {
  await page.locator('.cm-tooltip-autocomplete li[aria-selected="true"] .cm-completionLabel', { hasText: new RegExp(`^${label.replace(/[/.]/g, '\\$&')}$`) }).waitFor();
  await page.waitForTimeout(150);
  await page.keyboard.press('Enter');
}
const completions = () => page.locator('.cm-tooltip-autocomplete li').allInnerTexts();

test('the YAML view hides the layout until asked, and edits reach the canvas', async () => {
  await login(page, target);
  await page.goto(`${target.url}/#/workflows/${name}`);
  await page.getByRole('button', { name: 'YAML', exact: true }).click();
  await editor().waitFor();
  assert.equal(await editor().getAttribute('aria-label'), 'Workflow YAML');
  let text = await yamlText(page);
  assert.match(text, /- id: wait\n\s+uses: core\/sleep/);
  assert.doesNotMatch(text, /positions|ui:/, 'the layout is shown by default');
  await page.getByLabel('Show layout').check();
  await page.waitForFunction(() => /positions:\n\s+prepare:\n\s+x: 20/.test(document.querySelector('#yaml-editor')?.value ?? ''));
  await shot(page, 'yaml-01-layout-shown');
  await page.getByLabel('Show layout').uncheck();
  await page.waitForFunction(() => !/positions/.test(document.querySelector('#yaml-editor')?.value ?? ''));
  // An edit with the layout hidden keeps the positions (saved below).
  await cursorAfter('seconds: 1');
  await page.keyboard.press('Backspace');
  await page.keyboard.type('2');
  await page.waitForFunction(() => /seconds: 2/.test(document.querySelector('#yaml-editor')?.value ?? ''));
  await page.getByTestId('validity').filter({ hasText: 'Valid' }).waitFor();
  await page.getByTestId('save').click();
  await page.getByText('v2', { exact: true }).waitFor();
  const saved = (await api(target, 'GET', `/workflows/${name}`)).definition;
  assert.deepEqual(saved.spec.steps[1].with, { seconds: 2 });
  assert.deepEqual(saved.ui.positions, { prepare: { x: 20, y: 20 }, wait: { x: 320, y: 20 } });
  text = await yamlText(page);
  assert.doesNotMatch(text, /positions/);
});

test('keys complete from the schema: step keys, uses from the step types, with keys from the config schema', async () => {
  // A new step at the end of the list: `- ` then Ctrl+Space lists the step keys.
  await cursorAfter('seconds: 2');
  await page.keyboard.press('Enter');
  await indentTo(4);
  await page.keyboard.type('- ');
  await page.keyboard.press('Control+Space');
  await page.locator('.cm-tooltip-autocomplete').waitFor();
  const stepKeys = await completions();
  for (const k of ['id', 'uses', 'needs', 'with', 'if', 'retry', 'for_each']) assert.ok(stepKeys.some((l) => l.startsWith(k)), `${k} not offered: ${stepKeys}`);
  await page.keyboard.type('id');
  await take('id'); // "id: "
  await page.keyboard.type('notify');
  await newLine(6);
  await page.keyboard.type('us');
  await take('uses'); // "uses: "
  await page.keyboard.type('core/sl');
  await page.locator('.cm-tooltip-autocomplete li', { hasText: 'core/sleep' }).waitFor();
  const uses = await completions();
  assert.ok(uses[0].startsWith('core/sleep'), `uses offers ${uses}`);
  await shot(page, 'yaml-02-complete-uses');
  await take('core/sleep');
  await newLine(6);
  await page.keyboard.type('wi');
  await take('with'); // "with: "
  await newLine(8);
  await page.keyboard.press('Control+Space');
  await page.locator('.cm-tooltip-autocomplete li', { hasText: 'seconds' }).waitFor();
  const withKeys = await completions();
  assert.ok(withKeys.some((l) => /seconds/.test(l) && /required/.test(l)), `with offers ${withKeys}`);
  await shot(page, 'yaml-03-complete-with');
  await page.keyboard.press('Escape');
  const text = await yamlText(page);
  assert.match(text, /- id: notify\n\s+uses: core\/sleep\n\s+with:/);
  console.log(`# yaml editor: completed a step (id, uses core/sleep, with → ${withKeys.length} keys of its config schema)`);
});

test('validation problems are marked on their lines, and a YAML error where it is', async () => {
  // `with:` is empty: the server says `seconds` is required, at /spec/steps/2/with.
  // (Validation follows the typing: wait for the answer to the text as it is now, about `with` itself.)
  await page.locator('[data-testid="yaml-problems"] li', { hasText: '/spec/steps/2/with' }).first().waitFor({ timeout: 15_000 });
  const problems = await page.getByTestId('yaml-problems').innerText();
  const m = /line (\d+)/.exec(problems);
  assert.ok(m, problems);
  const lines = (await yamlText(page)).split('\n');
  assert.match(lines[Number(m[1]) - 1], /with:|- id: notify/, `line ${m[1]} is ${lines[Number(m[1]) - 1]}`);
  await page.locator('.cm-lint-marker-error').first().waitFor();
  await page.locator('.cm-lintRange-error').first().waitFor();
  await shot(page, 'yaml-04-validation-marked');
  // A syntax error: marked at its line, the canvas keeps the last good definition.
  await cursorAfter('id: notify');
  await page.keyboard.type(': : [');
  const status = page.locator('.yaml-status.bad');
  await status.waitFor();
  assert.match(await status.innerText(), /YAML: line \d+/);
  await page.getByTestId('yaml-problems').waitFor();
  await shot(page, 'yaml-05-syntax-error');
  for (let i = 0; i < 5; i++) await page.keyboard.press('Backspace');
  await page.locator('.yaml-status.bad').waitFor({ state: 'detached' });
  assert.deepEqual(pageErrors, []);
  console.log('# yaml editor: validation problem marked on its line, a syntax error marked and cleared');
});
