// Measurement at issue 16's sizes in headless chromium (numbers printed, loose bounds asserted; the
// machine may be shared): a 2,000-step workflow without stored positions opens, is laid out and pans
// (first node painted, every node laid out, frame intervals while dragging the canvas); a run of a
// 10,000-item for_each shows one node and a grid of 10,000 cells, not 10,000 nodes.
// Meant for the real platform (VWMP_E2E_URL, VWMP_E2E_TOKEN); the mock gateway works too.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, launchBrowser, login, shot, startTarget } from './harness.mjs';

let target, browser, page;
before(async () => {
  target = await startTarget();
  browser = await launchBrowser();
  page = await browser.newPage();
  await login(page, target);
});
after(async () => {
  await browser?.close();
  await target?.stop();
});

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function openAndTime(page, name, count) {
  await page.evaluate(() => { window.location.hash = '/workflows'; });
  await page.getByRole('heading', { name: 'Workflows' }).waitFor();
  return page.evaluate(async ({ wf, n }) => {
    window.__vwmpLayout = undefined;
    const t0 = performance.now();
    let firstPaint = null;
    window.location.hash = `/workflows/${wf}`;
    await new Promise((resolve) => {
      const check = () => {
        if (firstPaint === null && document.querySelector('.react-flow__node:not([style*="visibility: hidden"])')) {
          firstPaint = performance.now() - t0;
        }
        // a large graph renders only the nodes in view (onlyRenderVisibleElements): laid out = all n measured
        const shown = document.querySelector('.react-flow__node')
          && !document.querySelector('.react-flow__node[style*="visibility: hidden"]');
        if (shown && window.__vwmpLayout?.nodes === n) resolve(); else requestAnimationFrame(check);
      };
      check();
    });
    return { ms: performance.now() - t0, firstPaint, layoutMs: window.__vwmpLayout.ms };
  }, { wf: name, n: count });
}

/** Drags the canvas from an empty corner; returns the frame intervals seen meanwhile and whether it moved. */
async function pan(page) {
  const pane = await page.locator('.react-flow__pane').first().boundingBox();
  const before = await page.locator('.react-flow__viewport').first().getAttribute('style');
  await page.evaluate(() => {
    window.__frames = [];
    let last = performance.now();
    const tick = (t) => { window.__frames.push(t - last); last = t; if (window.__frames.length < 10_000) window.__framing = requestAnimationFrame(tick); };
    window.__framing = requestAnimationFrame(tick);
  });
  const x = pane.x + 8, y = pane.y + pane.height - 8;
  await page.mouse.move(x, y);
  await page.mouse.down();
  for (let i = 1; i <= 30; i++) await page.mouse.move(x + i * 12, y - i * 8);
  await page.mouse.up();
  const frames = await page.evaluate(() => { cancelAnimationFrame(window.__framing); return window.__frames.slice(1); });
  const moved = before !== await page.locator('.react-flow__viewport').first().getAttribute('style');
  return { frames, moved };
}

test('a 2,000-node workflow opens, lays out and pans', async () => {
  const n = 2000;
  const name = `scale-${n}-${Date.now().toString(36)}`;
  const steps = Array.from({ length: n }, (_, i) => ({
    id: `s${i}`, uses: 'core/noop', ...(i ? { needs: [`s${Math.floor((i - 1) / 4)}`] } : {}),
  }));
  await api(target, 'POST', '/workflows', { apiVersion: 'vwmp/v1', kind: 'Workflow', metadata: { name, description: `${n} steps` }, spec: { steps } });
  await openAndTime(page, name, n); // warm-up
  const runs = [];
  for (let i = 0; i < 3; i++) runs.push(await openAndTime(page, name, n));
  const { frames, moved } = await pan(page);
  const sorted = [...frames].sort((a, b) => a - b);
  const p95 = sorted[Math.floor(sorted.length * 0.95)] ?? 0;
  console.log(`# ${n}-node workflow against ${target.kind}: opened and laid out in ${median(runs.map((r) => r.ms)).toFixed(0)} ms median`
    + ` (runs ${runs.map((r) => r.ms.toFixed(0)).join(', ')} ms), first node painted after ${median(runs.map((r) => r.firstPaint)).toFixed(0)} ms,`
    + ` dagre ${runs.map((r) => r.layoutMs.toFixed(0)).join(', ')} ms; pan: ${frames.length} frames, median ${median(frames).toFixed(1)} ms,`
    + ` p95 ${p95.toFixed(1)} ms, longest ${sorted.at(-1)?.toFixed(0)} ms, moved ${moved};`
    + ` ${await page.locator('.react-flow__node').count()} nodes in the DOM`);
  await shot(page, '20-scale-2000');
  assert.ok(moved, 'the canvas moved');
  assert.ok(median(runs.map((r) => r.ms)) < 10_000, 'opens within 10 s');
});

test('a 10,000-item for_each run is one node and a grid of cells', async () => {
  const items = 10_000;
  const name = `scale-items-${Date.now().toString(36)}`;
  await api(target, 'POST', '/workflows', { apiVersion: 'vwmp/v1', kind: 'Workflow', metadata: { name, description: `${items} items` },
    spec: { steps: [{ id: 'each', uses: 'core/noop', for_each: Array.from({ length: items }, (_, i) => i) }] } });
  const run = await api(target, 'POST', `/workflows/${name}/runs`, {});
  const t0 = Date.now();
  for (;;) {
    const got = await api(target, 'GET', `/runs/${run.id}?steps=summary`);
    if (['succeeded', 'failed', 'cancelled'].includes(got.state)) break;
    if (Date.now() - t0 > 300_000) throw new Error('the run did not end in 5 minutes');
    await new Promise((r) => setTimeout(r, 500));
  }
  const began = Date.now();
  await page.evaluate((id) => { window.location.hash = `/runs/${id}`; }, run.id);
  await page.locator('.react-flow__node').first().waitFor();
  const nodeMs = Date.now() - began;
  const nodes = await page.locator('.react-flow__node').count();
  await page.locator('.react-flow__node').first().click();
  const grid = page.getByTestId('fan-grid-each');
  await grid.waitFor({ timeout: 60_000 });
  const gridMs = Date.now() - began;
  const cells = await grid.locator('.fan-cell').count();
  const first = await page.getByTestId('fan-count-each').textContent();
  // The run had ended before the page opened: how long until the page says so.
  await page.getByTestId('fan-count-each').filter({ hasText: `${items}/${items}` }).waitFor({ timeout: 120_000 });
  const finalMs = Date.now() - began;
  console.log(`# ${items}-item for_each run (ended before the page opened) against ${target.kind}: ${nodes} graph node(s) after ${nodeMs} ms,`
    + ` grid of ${cells} cells after ${gridMs} ms showing ${first}, ${items}/${items} after ${finalMs} ms`);
  await shot(page, '21-scale-items');
  assert.equal(nodes, 1);
  assert.equal(cells, items);
});
