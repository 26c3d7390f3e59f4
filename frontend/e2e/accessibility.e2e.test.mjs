// Accessibility of the designer's main screens, in the browser: every visible control has an
// accessible name (a <label>, aria-label, aria-labelledby, or for buttons and links their visible text
// or title), and the core flow works from the keyboard alone: palette search → Enter on a palette item
// adds a step, Save and Run by Tab + Enter/Space, and the approval dialog (focus inside it, Tab stays
// inside it, Escape closes it, comment + Approve by keyboard). Offenders are listed by screen.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, createUser, launchBrowser, shot, startTarget, yamlText } from './harness.mjs';

let target, browser, page;
const name = `a11y-${Date.now().toString(36)}`;
const PARAMS = {
  type: 'object',
  properties: {
    who: { type: 'string', title: 'Who', default: 'team' },
    part: { enum: ['major', 'minor', 'patch'], default: 'patch' },
    notify: { type: 'boolean', title: 'Notify' },
    count: { type: 'integer', default: 1 },
    labels: { type: 'array', items: { type: 'string' }, default: ['a'] },
  },
};

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

/**
 * Visible input/select/textarea/button/link elements (inside `scope`, a CSS selector) without an
 * accessible name, described so that a failure message points at them.
 */
function unnamedControls(scope) {
  const root = scope ? document.querySelector(scope) : document.body;
  if (!root) return [`scope ${scope} is not on the page`];
  const text = (el) => (el?.textContent ?? '').replace(/\s+/g, ' ').trim();
  const visible = (el) => {
    if (el.closest('[aria-hidden="true"], [hidden]')) return false;
    if (!el.getClientRects().length) return false;
    const s = getComputedStyle(el);
    return s.visibility !== 'hidden' && s.display !== 'none';
  };
  const nameOf = (el) => {
    const by = el.getAttribute('aria-labelledby');
    if (by) {
      const t = by.split(/\s+/).map((id) => text(document.getElementById(id))).join(' ').trim();
      if (t) return t;
    }
    const aria = (el.getAttribute('aria-label') ?? '').trim();
    if (aria) return aria;
    if (el.labels) {
      const t = [...el.labels].map((l) => text(l)).join(' ').trim();
      if (t) return t;
    }
    const tag = el.tagName.toLowerCase();
    if (tag === 'button' || tag === 'a') {
      const t = (el.innerText ?? '').replace(/\s+/g, ' ').trim();
      if (t) return t;
      const title = (el.getAttribute('title') ?? '').trim();
      if (title) return title;
    }
    if (tag === 'input' && ['submit', 'button', 'reset'].includes(el.type) && el.value.trim()) return el.value.trim();
    return '';
  };
  const describe = (el) => {
    const tag = el.tagName.toLowerCase();
    const attrs = ['type', 'id', 'name', 'data-testid', 'class', 'placeholder']
      .map((a) => (el.getAttribute(a) ? `${a}="${el.getAttribute(a)}"` : '')).filter(Boolean).join(' ');
    const where = el.closest('[aria-label], [role="dialog"], aside, header, form');
    const ctx = where ? ` in <${where.tagName.toLowerCase()}${where.getAttribute('aria-label') ? ` aria-label="${where.getAttribute('aria-label')}"` : ''}>` : '';
    return `<${tag} ${attrs}>${ctx}`;
  };
  const controls = root.querySelectorAll('input:not([type="hidden"]), select, textarea, button, a[href]');
  return [...controls].filter((el) => visible(el) && !nameOf(el)).map(describe);
}

/** Fails with the list of unnamed controls on `screen`; returns how many controls were checked. */
async function assertNamed(screen, scope) {
  const offenders = await page.evaluate(unnamedControls, scope ?? null);
  assert.equal(offenders.length, 0, `${screen}: ${offenders.length} visible control(s) without an accessible name:\n  ${offenders.join('\n  ')}`);
  const checked = await page.evaluate((s) => (s ? document.querySelector(s) : document.body)
    .querySelectorAll('input:not([type="hidden"]), select, textarea, button, a[href]').length, scope ?? null);
  assert.ok(checked > 0, `${screen}: no controls found to check`);
  console.log(`# ${screen}: ${checked} controls, all named`);
}

/** What has the focus, for messages. */
function focusDesc() {
  return page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body) return 'body';
    const label = el.getAttribute('aria-label') || el.labels?.[0]?.textContent || el.innerText || el.getAttribute('title') || '';
    return `<${el.tagName.toLowerCase()}${el.id ? ` id="${el.id}"` : ''}${el.dataset.testid ? ` data-testid="${el.dataset.testid}"` : ''}> ${label.replace(/\s+/g, ' ').trim().slice(0, 40)}`;
  });
}

/**
 * Presses Tab (or Shift+Tab) until the focused element matches `selector` (and, with `text`, shows
 * exactly that text); fails with the trail of focused elements.
 */
async function tabTo(selector, { max = 60, back = false, text } = {}) {
  const trail = [];
  for (let i = 0; i < max; i++) {
    await page.keyboard.press(back ? 'Shift+Tab' : 'Tab');
    const hit = await page.evaluate(([s, t]) => {
      const el = document.activeElement;
      return !!el?.matches(s) && (t == null || el.innerText.replace(/\s+/g, ' ').trim() === t);
    }, [selector, text ?? null]);
    if (hit) return;
    trail.push(await focusDesc());
  }
  assert.fail(`${selector}${text ? ` "${text}"` : ''} is not reachable with ${back ? 'Shift+' : ''}Tab in ${max} presses; focus went:\n  ${trail.join('\n  ')}`);
}

/** Starts keyboard navigation from the top of the document (a focus point before everything else). */
async function fromTop() {
  await page.evaluate(() => {
    let start = document.getElementById('e2e-focus-start');
    if (!start) {
      start = document.createElement('div');
      start.id = 'e2e-focus-start';
      start.tabIndex = -1;
      document.body.prepend(start);
    }
    start.focus();
  });
}

const focusInside = (selector) => page.evaluate((s) => !!document.querySelector(s)?.contains(document.activeElement), selector);

/** The dialog takes the focus when it opens, keeps it on Tab and Shift+Tab, and Escape closes it. */
async function checkDialogFocus(what) {
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  await page.waitForFunction(() => document.querySelector('[role="dialog"]')?.contains(document.activeElement), null, { timeout: 3000 })
    .catch(async () => assert.fail(`${what}: the focus is not inside the dialog when it opens (it is on ${await focusDesc()})`));
  const count = await page.evaluate(() => document.querySelector('[role="dialog"]')
    .querySelectorAll('input:not([type="hidden"]), select, textarea, button, a[href]').length);
  for (const key of ['Tab', 'Shift+Tab']) {
    for (let i = 0; i < count + 3; i++) {
      await page.keyboard.press(key);
      assert.ok(await focusInside('[role="dialog"]'), `${what}: ${key} #${i + 1} moved the focus out of the dialog, to ${await focusDesc()}`);
    }
  }
}

async function pressEscapeCloses(what) {
  await page.keyboard.press('Escape');
  await page.getByRole('dialog').waitFor({ state: 'detached', timeout: 3000 })
    .catch(() => assert.fail(`${what}: Escape did not close the dialog`));
}

test('sign-in: labelled, and signing in works from the keyboard', async () => {
  await page.goto(`${target.url}/`);
  await page.getByLabel('Access token').waitFor();
  // The check itself finds unnamed controls: an unlabelled input, an icon-only button, a stray label.
  const planted = await page.evaluate((check) => {
    const box = document.createElement('div');
    box.innerHTML = '<label>orphan</label><input id="planted-input"><button id="planted-button"><svg width="8" height="8"></svg></button>'
      + '<select id="planted-select" aria-labelledby="nothing-here"></select><button title="named by title"></button>';
    document.body.append(box);
    // eslint-disable-next-line no-new-func
    const found = new Function(`return (${check})`)()(null);
    box.remove();
    return found;
  }, unnamedControls.toString());
  assert.equal(planted.length, 3, planted.join('\n'));
  for (const id of ['planted-input', 'planted-button', 'planted-select']) assert.ok(planted.some((d) => d.includes(`id="${id}"`)), `${id} not reported`);
  await assertNamed('sign-in');
  await fromTop();
  await tabTo('input#token');
  await page.keyboard.type(target.token);
  await tabTo('button[type="submit"]');
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Workflows' }).waitFor();
});

test('workflow list: every control named; "New workflow" opens the designer by keyboard', async () => {
  await page.locator('[data-testid^="template-"]').first().waitFor();
  await assertNamed('workflow list');
  await fromTop();
  await tabTo('[data-testid="new-workflow"]');
  await page.keyboard.press('Enter');
  await page.waitForURL(/#\/workflows\/new$/);
  await page.getByLabel('Name', { exact: true }).waitFor();
});

test('designer: every step config form of a template is labelled', async () => {
  // A template's steps use arrays, booleans, enums and references in their forms.
  const listed = await api(target, 'GET', '/templates');
  const tpl = (Array.isArray(listed) ? listed : listed.items)[0];
  await page.goto(`${target.url}/#/workflows/new?template=${encodeURIComponent(tpl.name)}`);
  await page.locator('.react-flow__node').first().waitFor();
  const ids = await page.evaluate(() => [...document.querySelectorAll('[data-testid^="node-"]')].map((n) => n.dataset.testid.slice(5)));
  assert.ok(ids.length >= 3, `template ${tpl.name} shows ${ids.length} nodes`);
  for (const id of ids) {
    await page.getByTestId(`node-${id}`).click();
    await page.locator('.side-panel h2', { hasText: id }).waitFor();
    await assertNamed(`template ${tpl.name}: step ${id} selected`);
  }
  await shot(page, 'a11y-02-template-step');
  await page.goto(`${target.url}/#/workflows/new`);
  await page.locator('.canvas-empty').waitFor();
});

test('designer: palette search, Enter on a palette item adds steps, every panel field is named', async () => {
  await page.getByTestId('palette-hello/greet').waitFor();
  await assertNamed('designer (workflow panel)');

  await fromTop();
  await tabTo('#palette-search');
  for (const [query, type, id] of [['approval', 'core/approval', 'approval'], ['greet', 'hello/greet', 'greet']]) {
    await page.keyboard.press('Control+A');
    await page.keyboard.type(query);
    await page.getByTestId(`palette-${type}`).waitFor();
    await tabTo(`[data-testid="palette-${type}"]`, { max: 10 });
    await page.keyboard.press('Enter');
    await page.getByTestId(`node-${id}`).waitFor({ timeout: 5000 })
      .catch(() => assert.fail(`Enter on the palette item ${type} did not add the step ${id}`));
    await tabTo('#palette-search', { back: true, max: 10 });
  }
  // The step added last is selected: its panel shows the id/needs/if/optional/retry/timeout fields and the config form.
  await page.locator('.side-panel h2', { hasText: 'greet' }).waitFor();
  for (const label of ['Id', 'Condition (if)', 'Timeout', 'Optional', 'Max attempts', 'Backoff', 'Initial interval', 'Max interval', 'Add dependency']) {
    assert.equal(await page.locator('.side-panel').getByLabel(label, { exact: true }).count(), 1, `the step panel has no field labelled "${label}"`);
  }
  await page.locator('.side-panel .schema-form input').first().waitFor();
  await assertNamed('designer (step greet selected)');
  await shot(page, 'a11y-01-step-panel');

  // Every step field by keyboard: the config form's name, then needs ← approval.
  await tabTo('.side-panel .schema-form input', { max: 40 });
  await page.keyboard.type('keyboard');
  await tabTo('.side-panel select[aria-label="Add dependency"]', { back: true, max: 40 });
  await page.locator('.side-panel select[aria-label="Add dependency"]').selectOption('approval');
  await page.waitForFunction(() => document.querySelectorAll('.react-flow__edge').length === 1, null, { timeout: 5000 });

  // A canvas node is selected from the keyboard too (React Flow: Tab to the node, Enter).
  await fromTop();
  await tabTo('.react-flow__node:has([data-testid="node-approval"])', { max: 80 });
  await page.keyboard.press('Enter');
  await page.locator('.side-panel h2', { hasText: 'approval' }).waitFor();
  await assertNamed('designer (step approval selected)');

  // The name of the workflow, by keyboard: deselect (Escape on the node), then the Name field.
  await page.keyboard.press('Escape');
  await page.getByLabel('Name', { exact: true }).waitFor();
  await tabTo('#wf-name', { max: 80 });
  await page.keyboard.type(name);
  // Run parameters of every kind, so that the run form has a text, a choice, a switch and a list.
  // The field editor is the default; the raw JSON is one button away, by keyboard too.
  await tabTo('button[aria-pressed]', { text: 'Raw JSON', max: 40 });
  await page.keyboard.press('Enter');
  await tabTo('#wf-params', { max: 10 });
  await page.keyboard.press('Control+A');
  await page.keyboard.insertText(JSON.stringify(PARAMS));
  await page.keyboard.press('Tab'); // blur commits the schema
  await page.getByTestId('validity').filter({ hasText: 'Valid' }).waitFor();
});

test('designer: YAML view, Save and Run by keyboard, the run form dialog', async () => {
  // The YAML view, switched on by keyboard.
  await fromTop();
  await tabTo('button[aria-pressed]', { text: 'YAML' });
  await page.keyboard.press('Enter');
  await page.getByLabel('Workflow YAML').waitFor();
  await assertNamed('YAML view');
  assert.match(await yamlText(page), /uses: hello\/greet/);
  await tabTo('button[aria-pressed]', { text: 'Canvas', back: true, max: 20 });
  await page.keyboard.press('Space');
  await page.getByTestId('canvas').waitFor();

  await page.getByTestId('validity').filter({ hasText: 'Valid' }).waitFor();
  await fromTop();
  await tabTo('[data-testid="save"]');
  await page.keyboard.press('Enter');
  await page.waitForURL(new RegExp(`#/workflows/${name}$`));
  await page.getByText('v1', { exact: true }).waitFor();
  const saved = await api(target, 'GET', `/workflows/${name}`);
  // The config form fills in the defaults its schema declares (the approval policy's): leave those out.
  const types = await api(target, 'GET', '/step-types');
  const declared = Object.fromEntries((Array.isArray(types) ? types : types.items).map((t) => [t.type, t.config_schema.properties ?? {}]));
  const chosen = (s) => Object.fromEntries(Object.entries(s.with ?? {})
    .filter(([k, v]) => JSON.stringify(declared[s.uses]?.[k]?.default) !== JSON.stringify(v)));
  assert.deepEqual(saved.definition.spec.steps.map((s) => [s.id, s.uses, s.needs ?? [], chosen(s)]), [
    ['approval', 'core/approval', [], {}], ['greet', 'hello/greet', ['approval'], { name: 'keyboard' }],
  ]);
  assert.deepEqual(saved.definition.spec.parameters, PARAMS);
  await assertNamed('designer (saved workflow)');

  // The version history dialog.
  await fromTop();
  await tabTo('button', { text: 'History' });
  await page.keyboard.press('Enter');
  await checkDialogFocus('version history');
  await assertNamed('version history dialog', '[role="dialog"]');
  await pressEscapeCloses('version history');

  // Run: Tab + Space opens the form; the dialog keeps the focus; Escape closes it and gives the focus back.
  await fromTop();
  await tabTo('[data-testid="run"]');
  await page.keyboard.press('Space');
  await checkDialogFocus('run form');
  for (const label of [/^Who/, /^part/, /^Notify/, /^count/]) {
    assert.equal(await page.getByRole('dialog').getByLabel(label).count(), 1, `the run form has no field labelled ${label}`);
  }
  await assertNamed('run form dialog', '[role="dialog"]');
  await shot(page, 'a11y-03-run-form');
  await pressEscapeCloses('run form');
  assert.ok(await page.evaluate(() => document.activeElement?.dataset.testid === 'run'), `after Escape the focus is on ${await focusDesc()}, not on Run`);
  await page.keyboard.press('Enter');
  await checkDialogFocus('run form');
  await tabTo('[data-testid="dry-run"]', { max: 20 });
  await page.keyboard.press('Space'); // a real run
  assert.equal(await page.getByTestId('dry-run').isChecked(), false, 'Space did not switch the dry run off');
  await tabTo('[role="dialog"] button[type="submit"]', { max: 20 });
  assert.equal((await page.evaluate(() => document.activeElement.innerText)).trim(), 'Start run');
  await page.keyboard.press('Enter');
  await page.waitForURL(/#\/runs\/[^/]+$/);
});

test('run view and approval dialog: named controls, focus kept in the dialog, Approve by keyboard', async () => {
  await page.waitForFunction(() => document.querySelector('[data-testid="run-node-approval"]')?.dataset.state === 'awaiting_approval',
    null, { timeout: 60_000 });
  await assertNamed('run view (run details)');
  // The step list: select a step by keyboard and read its logs and outputs.
  await fromTop();
  await tabTo('[aria-label="Run details"] table button', { text: 'approval', max: 80 });
  await page.keyboard.press('Enter');
  await page.getByTestId('step-details').getByRole('heading', { name: 'approval' }).waitFor();
  await page.getByTestId('step-details').getByRole('heading', { name: 'Logs' }).waitFor();
  await assertNamed('run view (step approval: outputs and logs)');
  for (const tab of ['Timeline', 'Events']) {
    await tabTo('[role="tab"]', { text: tab, max: 80 });
    await page.keyboard.press('Enter');
    assert.equal(await page.getByRole('tab', { name: tab }).getAttribute('aria-selected'), 'true', `Enter did not select the ${tab} tab`);
    await assertNamed(`run view (${tab} tab)`);
  }

  // Who started the run may not approve it: the dialog says so, and is still named and usable.
  await fromTop();
  await tabTo('[data-testid="review-approval"]', { max: 80 });
  await page.keyboard.press('Enter');
  await checkDialogFocus('approval (self-approval refused)');
  await page.getByTestId('self-approval').waitFor();
  await assertNamed('approval dialog (self-approval refused)', '[role="dialog"]');
  await pressEscapeCloses('approval (self-approval refused)');

  // A second person signs in by keyboard and comes back to the run.
  const runHash = new URL(page.url()).hash;
  const reviewer = await createUser(target, `a11y-reviewer-${Date.now().toString(36)}`);
  await fromTop();
  await tabTo('button', { text: 'Sign out', max: 80 });
  await page.keyboard.press('Enter');
  await page.getByLabel('Access token').waitFor();
  await fromTop();
  await tabTo('input#token');
  await page.keyboard.type(reviewer.token);
  await tabTo('button[type="submit"]');
  await page.keyboard.press('Enter');
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
  await page.goto(`${target.url}/${runHash}`);
  await page.waitForFunction(() => document.querySelector('[data-testid="run-node-approval"]')?.dataset.state === 'awaiting_approval',
    null, { timeout: 60_000 });

  // The approval dialog opens from the banner by keyboard and takes the focus.
  await fromTop();
  await tabTo('[data-testid="review-approval"]', { max: 80 });
  await page.keyboard.press('Enter');
  await checkDialogFocus('approval');
  await assertNamed('approval dialog', '[role="dialog"]');
  await pressEscapeCloses('approval');
  assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'review-approval', 'Escape did not give the focus back to the review button');
  await page.keyboard.press('Space');
  await checkDialogFocus('approval');

  // The comment is typed slowly while the run page ticks (every 500 ms): the focus must stay put.
  await tabTo('[role="dialog"] textarea', { max: 20 });
  const comment = 'approved from the keyboard';
  await page.keyboard.type(comment, { delay: 40 });
  await page.waitForTimeout(1200);
  assert.equal(await page.getByLabel('Comment').inputValue(), comment, 'typing in the comment lost keystrokes');
  assert.ok(await page.evaluate(() => document.activeElement?.id === 'approval-comment'), `the comment lost the focus to ${await focusDesc()}`);
  await tabTo('[role="dialog"] button', { text: 'Reject', max: 5 });
  await tabTo('[data-testid="approve"]', { max: 5 });
  await shot(page, 'a11y-04-approval-dialog');
  await page.keyboard.press('Enter');
  await page.getByRole('dialog').waitFor({ state: 'detached' });
  const runId = decodeURIComponent(new URL(page.url()).hash.split('/').pop());
  await page.waitForFunction(() => ['approval', 'greet'].every((id) => document.querySelector(`[data-testid="run-node-${id}"]`)?.dataset.state === 'succeeded'),
    null, { timeout: 60_000 }).catch(async (err) => {
    const shown = await page.evaluate(() => ({
      nodes: Object.fromEntries([...document.querySelectorAll('[data-testid^="run-node-"]')].map((n) => [n.dataset.testid.slice(9), n.dataset.state])),
      live: document.querySelector('.live-dot')?.textContent,
      events: [...document.querySelectorAll('.events li')].map((li) => li.textContent).slice(0, 12),
    }));
    const stored = await api(target, 'GET', `/runs/${runId}`);
    assert.fail(`after the approval the page shows ${JSON.stringify(shown)}; the platform has ${stored.state} `
      + `${JSON.stringify(Object.fromEntries(stored.steps.map((st) => [st.id, st.state])))}: ${err.message}`);
  });
  const run = await api(target, 'GET', `/runs/${runId}`);
  assert.equal(run.steps.find((s) => s.id === 'approval').outputs.comment, comment);
});

test('run history: filters labelled and usable by keyboard', async () => {
  await page.goto(`${target.url}/#/runs`);
  await page.locator('tbody tr.clickable').first().waitFor();
  await assertNamed('run history');
  await fromTop();
  await tabTo('#filter-workflow');
  await page.locator('#filter-workflow').selectOption(name);
  await page.waitForURL(new RegExp(`#/runs\\?workflow=${name}$`));
  await tabTo('#filter-state', { max: 5 });
  await page.locator('#filter-state').selectOption('succeeded');
  await page.waitForURL(new RegExp(`#/runs\\?workflow=${name}&state=succeeded$`));
  await page.locator('tbody tr.clickable').first().waitFor();
  assert.equal(await page.locator('tbody tr.clickable').count(), 1);
  await assertNamed('run history (filtered)');
  await shot(page, 'a11y-05-run-history');
});
