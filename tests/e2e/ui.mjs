// The web UI end to end in a real browser (Debian's chromium, headless,
// driven by playwright-core): setup link -> login -> a deployment with a bad
// name (error next to the field, everything else kept) -> fixed, Docker on
// -> Deploy -> log lines arrive live -> the site answers -> Stop / Start ->
// Delete. A screenshot of each page goes to $ARTIFACTS. Run by
// tests/cli/test_browser_e2e.sh, which starts webopsd, PostgreSQL and Docker.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

const { SETUP_URL, BASE, REPO, SITE_PORT, ARTIFACTS, NAME } = process.env;
let passed = 0, failed = 0, shot = 0;
const ok = (d) => { passed++; console.log(`ok   - ${d}`); };
const bad = (d) => { failed++; console.log(`FAIL - ${d}`); };
const check = (c, d, extra = '') => (c ? ok(d) : bad(`${d} ${extra}`));

fs.mkdirSync(ARTIFACTS, { recursive: true });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
});
const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
const page = await context.newPage();
const cspErrors = [];
page.on('console', (m) => { if (m.type() === 'error') cspErrors.push(m.text()); });
page.on('pageerror', (e) => cspErrors.push(String(e)));

async function snap(label) {
  shot++;
  const file = path.join(ARTIFACTS, `${String(shot).padStart(2, '0')}-${label}.png`);
  await page.screenshot({ path: file, fullPage: true });
}

async function site() {
  try {
    const r = await fetch(`http://127.0.0.1:${SITE_PORT}/`, { signal: AbortSignal.timeout(3000) });
    return r.ok ? await r.text() : `status ${r.status}`;
  } catch (e) { return `error ${e.cause?.code || e.message}`; }
}

try {
  // --- setup link: the first admin ---
  let resp = await page.goto(SETUP_URL);
  check(resp.status() === 200, 'the setup link opens a form');
  await snap('setup');
  await page.locator('input[name="user"]').fill('admin');
  await page.locator('input[name="password"]').fill('a long enough password');
  await page.locator('input[name="password2"]').fill('a long enough password');
  await Promise.all([page.waitForURL((u) => u.pathname === '/'), page.locator('form button[type="submit"]').last().click()]);
  check(new URL(page.url()).pathname === '/', 'setup logs the new admin in and lands on the deployments');
  await snap('deployments-empty');
  resp = await page.goto(SETUP_URL);
  check(resp.status() === 404, 'the setup link works only once');

  // --- log out, log in ---
  await page.goto(`${BASE}/`);
  await Promise.all([page.waitForURL(/\/login/), page.getByRole('button', { name: /log out/i }).click()]);
  await snap('login');
  await page.locator('input[name="user"]').fill('admin');
  await page.locator('input[name="password"]').fill('a long enough password');
  await Promise.all([page.waitForURL((u) => u.pathname === '/'), page.locator('main form button[type="submit"]').click()]);
  check(new URL(page.url()).pathname === '/', 'login with the chosen password');

  // --- new deployment with a bad name ---
  await page.goto(`${BASE}/deployments/new`);
  await snap('new-deployment');
  const useDocker = page.locator('input[type="checkbox"][name="af.docker.use_docker"]');
  const ports = page.locator('[name="af.docker.docker_ports"]');
  check(await useDocker.count() === 1, 'the Docker section has a "Use Docker" switch, from the manifest');
  check(!(await ports.isVisible()), 'the other Docker fields are hidden while it is off');
  await page.locator('input[name="name"]').fill('Bad Name');
  await page.locator('input[name="repo_url"]').fill(REPO);
  await page.locator('input[name="branch"]').fill('main');
  await page.locator('input[name="env_key"]').first().fill('GREETING');
  await page.locator('input[name="env_value"]').first().fill('hello <world> & "friends"');
  await useDocker.check();
  check(await ports.isVisible(), 'checking "Use Docker" reveals its fields');
  await ports.fill(`127.0.0.1:${SITE_PORT}:80`);
  await snap('new-deployment-filled');
  const [r422] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/deployments/new') && r.request().method() === 'POST'),
    page.locator('form.deployment-form button[type="submit"]').click(),
  ]);
  await page.waitForLoadState();
  check(r422.status() === 422, 'a bad name is answered 422', `(${r422.status()})`);
  const nameField = page.locator('input[name="name"]');
  const nameError = await page.locator('.field.invalid:has(input[name="name"]) .error').textContent().catch(() => '');
  check(/name 'Bad Name' is invalid/.test(nameError || ''), 'the error is shown next to the name field', nameError);
  check(await nameField.getAttribute('aria-invalid') === 'true', 'the name field is marked invalid for assistive tech');
  check(await nameField.inputValue() === 'Bad Name', 'the bad name is kept to be fixed');
  check(await page.locator('input[name="repo_url"]').inputValue() === REPO, 'the repository is kept');
  check(await page.locator('input[name="env_key"]').first().inputValue() === 'GREETING' &&
        await page.locator('input[name="env_value"]').first().inputValue() === 'hello <world> & "friends"',
        'the environment row is kept, special characters intact');
  check(await useDocker.isChecked(), 'the Docker switch stays on');
  check((await ports.inputValue()).trim() === `127.0.0.1:${SITE_PORT}:80`, 'the Docker field is kept');
  await snap('new-deployment-error');
  const list = await (await context.request.get(`${BASE}/`)).text();
  check(!list.includes('Bad Name'), 'nothing was stored');

  // --- fixed ---
  await nameField.fill(NAME);
  await Promise.all([page.waitForURL((u) => u.pathname === `/deployments/${NAME}`),
                     page.locator('form.deployment-form button[type="submit"]').click()]);
  check(new URL(page.url()).pathname === `/deployments/${NAME}`, 'with the name fixed it is created');
  await snap('deployment');

  // --- deploy, log streams live ---
  await Promise.all([page.waitForURL(/\/runs\/\d+$/),
                     page.getByRole('button', { name: 'Deploy', exact: true }).click()]);
  const initialLines = await page.locator('#log .ln').count();
  const statusAtLoad = await page.locator('#run').getAttribute('data-status');
  await page.waitForFunction(() => document.querySelectorAll('#log .ln').length > 0, null, { timeout: 60000 });
  await snap('run-live');
  await page.waitForFunction(() => !['queued', 'running'].includes(document.querySelector('#run-status').textContent.trim()),
    null, { timeout: 300000 });
  const finalLines = await page.locator('#log .ln').count();
  const status = (await page.locator('#run-status').textContent()).trim();
  check(['queued', 'running'].includes(statusAtLoad) && finalLines > initialLines,
    `log lines arrived live on the open page (${initialLines} at load, ${finalLines} at the end)`);
  check(status === 'succeeded', 'the run page shows the result', `(${status}: ${await page.locator('#run-error-text').textContent()})`);
  await snap('run-done');
  let body = await site();
  check(body.includes('v1'), 'the site answers', body.slice(0, 100));

  // --- stop / start ---
  await page.goto(`${BASE}/deployments/${NAME}`);
  await Promise.all([page.waitForURL(new RegExp(`/deployments/${NAME}`)),
                     page.getByRole('button', { name: 'Stop', exact: true }).click()]);
  await page.waitForLoadState();
  check((await page.locator('h1 .badge').textContent()).trim() === 'stopped', 'Stop: the deployment is stopped');
  body = await site();
  check(!body.includes('v1'), 'the site no longer answers', body.slice(0, 60));
  await snap('stopped');
  await Promise.all([page.waitForURL(new RegExp(`/deployments/${NAME}`)),
                     page.getByRole('button', { name: 'Start', exact: true }).click()]);
  await page.waitForLoadState();
  check((await page.locator('h1 .badge').textContent()).trim() === 'running', 'Start: running again');
  let tries = 0;
  do { body = await site(); if (body.includes('v1')) break; await new Promise((r) => setTimeout(r, 250)); } while (++tries < 40);
  check(body.includes('v1'), 'the site answers again');

  // --- the addons and account pages render ---
  resp = await page.goto(`${BASE}/addons`);
  check(resp.status() === 200 && (await page.content()).includes('docker'), 'the addons page lists docker');
  await snap('addons');
  resp = await page.goto(`${BASE}/account`);
  check(resp.status() === 200, 'the account page');
  await snap('account');

  // --- delete, with a confirmation ---
  await page.goto(`${BASE}/deployments/${NAME}`);
  await Promise.all([page.waitForURL(/\/delete$/), page.getByRole('link', { name: 'Delete' }).click()]);
  await snap('delete-confirm');
  await Promise.all([page.waitForURL(`${BASE}/**`), page.locator('main form button[type="submit"]').click()]);
  await page.waitForLoadState();
  const after = await (await context.request.get(`${BASE}/api/v1/deployments/${NAME}`)).status();
  check(after === 404, 'Delete removes the deployment');
  body = await site();
  check(!body.includes('v1'), 'and its container');
  await snap('deleted');

  // --- phone width ---
  await page.setViewportSize({ width: 375, height: 800 });
  await page.goto(`${BASE}/deployments/new`);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
  check(!overflow, 'the form fits a phone-width screen without sideways scrolling');
  await snap('phone-new-deployment');

  const csp = cspErrors.filter((e) => /Content Security Policy|Refused/.test(e));
  check(csp.length === 0, 'no Content-Security-Policy violations', csp.join(' | '));
} catch (e) {
  bad(`unexpected: ${e.stack || e}`);
  await snap('failure').catch(() => {});
} finally {
  await browser.close();
}
console.log(`${passed} passed, ${failed} failed (screenshots in ${ARTIFACTS})`);
process.exit(failed ? 1 : 0);
