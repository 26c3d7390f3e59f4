// The API reference offline (issue 19): Swagger UI at /docs and ReDoc at /redoc render every
// operation with the network off: the browser may reach the platform and nothing else, and every
// request for another host is refused and fails the test. The mock gateway serves no API reference,
// so this script needs VWMP_E2E_URL. Screenshots: e2e/screenshots/docs-*.png.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, shot, startTarget } from './harness.mjs';

const skip = process.env.VWMP_E2E_URL ? false : 'the mock gateway serves no API reference: run against the real platform';
let target, browser, page;
const elsewhere = [];

before(async () => {
  if (skip) return;
  target = await startTarget();
  browser = await launchBrowser();
  const origin = new URL(target.url).origin;
  // The network is off: anything for another host fails as it would without internet.
  await browser.context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(origin) || url.startsWith('data:') || url.startsWith('blob:')) return route.continue();
    elsewhere.push(url);
    return route.abort('internetdisconnected');
  });
  page = await browser.newPage();
});

after(async () => {
  await browser?.close();
  await target?.stop();
});

test('Swagger UI at /docs renders every operation without internet', { skip }, async () => {
  await page.goto(`${target.url}/docs`);
  await page.locator('.opblock').first().waitFor({ timeout: 20000 });
  const operations = await page.locator('.opblock').count();
  assert.ok(operations >= 20, `only ${operations} operations rendered`);
  await page.getByText('/api/v1/workflows/{name}/runs', { exact: true }).first().waitFor();
  await shot(page, 'docs-swagger');
  assert.deepEqual(elsewhere, [], `the page asked for other hosts: ${elsewhere.join(', ')}`);
  console.log(`# api docs: swagger ui offline with ${operations} operations`);
});

test('ReDoc at /redoc renders the reference without internet', { skip }, async () => {
  await page.goto(`${target.url}/redoc`);
  await page.locator('.api-content h2').first().waitFor({ timeout: 30000 });
  const sections = await page.locator('.api-content h2').count();
  assert.ok(sections >= 20, `only ${sections} operations rendered`);
  await shot(page, 'docs-redoc');
  assert.deepEqual(elsewhere, [], `the page asked for other hosts: ${elsewhere.join(', ')}`);
  console.log(`# api docs: redoc offline with ${sections} operations`);
});
