// The web UI end to end in a real browser (Debian's chromium, headless,
// driven by playwright-core): setup link -> login -> a deployment with a bad
// name (error next to the field, everything else kept) -> fixed, Docker on
// -> Deploy -> log lines arrive live -> the site answers -> health: the
// settings saved from the form, a badge on the list kept fresh by NOTIFY, the
// Health section with its server-drawn SVG charts (rows put in with psql) ->
// Stop / Start -> Delete. A screenshot of each page goes to $ARTIFACTS. Run by
// tests/system/test_browser_e2e.sh, which starts webopsd, PostgreSQL and Docker.
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const { SETUP_URL, BASE, REPO, SITE_PORT, ARTIFACTS, NAME, WEBOPS_DATABASE_URL } = process.env;
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

async function snapOf(locator, label) {
  shot++;
  await locator.screenshot({ path: path.join(ARTIFACTS, `${String(shot).padStart(2, '0')}-${label}.png`) });
}

// SQL against webopsd's database, :'name' bound to the deployment's name;
// the rows of the last statement, '|'-separated.
function sql(text) {
  return execFileSync('psql', [WEBOPS_DATABASE_URL, '-qAtX', '-v', 'ON_ERROR_STOP=1', '-v', `name=${NAME}`],
    { input: text, encoding: 'utf8' }).trim();
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const field = (name) => page.locator(`[name="${name}"]`);
// The deployment page is in tabs: show one (as its link does).
async function tab(id) {
  await page.evaluate((h) => { location.hash = h; }, `#${id}`);
  await page.locator(`#${id}`).waitFor({ state: 'visible' });
}

// The health badge of the deployment on the list, reloaded until it shows
// want (the list is cached until NOTIFY says a health state changed).
async function listBadge(want) {
  let text = '';
  for (let i = 0; i < 20; i++) {
    await page.goto(`${BASE}/`);
    text = (await page.locator(`tr:has(a[href="/deployments/${NAME}"]) td[data-label="Health"]`).innerText()).trim();
    if (text.includes(want)) break;
    await sleep(150);
  }
  return text;
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
  // the HTTP probe asks the deployment's port; the timeout is out of range
  await field('port').fill(SITE_PORT);
  check(await field('health.interval_s').getAttribute('placeholder') === '30' &&
        await field('health.status').getAttribute('placeholder') === 'any below 400',
        'the health fields show their defaults as placeholders');
  await field('health.interval_s').fill('300');
  await field('health.timeout_s').fill('999');
  await field('health.retries').fill('2');
  await field('health.start_period_s').fill('5');
  await field('health.path').fill('/');
  await field('health.status').fill('200');
  await field('health.body').fill('v1');
  await field('health.restarts_per_hour').fill('2');
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
  const timeoutError = await page.locator('.field.invalid:has([name="health.timeout_s"]) .error').textContent().catch(() => '');
  check(/health\.timeout_s: must be a whole number from 1 to 300/.test(timeoutError || ''),
    'a health timeout out of range is shown next to its field', timeoutError);
  check(await field('health.timeout_s').getAttribute('aria-invalid') === 'true', 'the timeout field is marked invalid');
  check(await field('health.timeout_s').inputValue() === '999' && await field('health.interval_s').inputValue() === '300' &&
        await field('health.path').inputValue() === '/' && await field('health.status').inputValue() === '200' &&
        await field('health.body').inputValue() === 'v1' && await field('health.retries').inputValue() === '2',
        'every health value is kept as typed');
  check(await page.locator('.error-summary a[href="#f-health-timeout_s"]').count() === 1,
    'the error summary links to the timeout field');
  await snap('new-deployment-error');
  const list = await (await context.request.get(`${BASE}/`)).text();
  check(!list.includes('Bad Name'), 'nothing was stored');

  // --- fixed ---
  await nameField.fill(NAME);
  await field('health.timeout_s').fill('4');
  await Promise.all([page.waitForURL((u) => u.pathname === `/deployments/${NAME}`),
                     page.locator('form.deployment-form button[type="submit"]').click()]);
  check(new URL(page.url()).pathname === `/deployments/${NAME}`, 'with the name fixed it is created');
  let rec = await (await context.request.get(`${BASE}/api/v1/deployments/${NAME}`)).json();
  const want = { body: 'v1', interval_s: 300, path: '/', retries: 2, start_period_s: 5, status: 200, timeout_s: 4,
                 restarts_per_hour: 2 };
  check(Object.entries(want).every(([k, v]) => rec.health?.[k] === v), 'the health settings are saved',
    JSON.stringify(rec.health));
  check(await field('health.interval_s').inputValue() === '300' && await field('health.timeout_s').inputValue() === '4' &&
        await field('health.body').inputValue() === 'v1', 'the edit form shows the saved health settings');
  await tab('health');
  check(/every 300 s, 4 s timeout, unhealthy after 2 failed checks in a row/.test(await page.locator('#health').innerText()),
    'the Health section states the settings');
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

  // --- health: badge, section, charts (history put in with psql) ---
  // no new check is due for an hour, and none is in flight (a running
  // scheduler would otherwise overwrite what follows)
  sql(`UPDATE health_state SET next_check_at = now() + interval '1 hour'
        WHERE deployment_id = (SELECT id FROM deployments WHERE name = :'name')`);
  for (let i = 0; i < 60 && sql(`SELECT lease_owner IS NOT NULL AND lease_until > now() FROM health_state
                                  WHERE deployment_id = (SELECT id FROM deployments WHERE name = :'name')`) === 't'; i++)
    await sleep(250);
  sql(`UPDATE health_state SET state = 'healthy', reason = NULL, failures = 0
        WHERE deployment_id = (SELECT id FROM deployments WHERE name = :'name')`);
  let badge = await listBadge('healthy');
  check(badge === 'healthy' || badge.endsWith(' healthy'), 'the list shows the health badge, in words', badge);
  sql(`WITH d AS (SELECT id FROM deployments WHERE name = :'name')
       INSERT INTO health_checks (deployment_id, at, ok, latency_ms, failed, reason, cpu_percent, memory_bytes)
       SELECT d.id, now() - make_interval(mins => g * 20), g % 7 <> 3, 20 + (g * 37) % 90,
              CASE WHEN g % 7 = 3 THEN 'probe' END,
              CASE WHEN g % 7 = 3 THEN 'probe GET /: status 503 <b>not ready</b> & "soon"' END,
              5 + (g * 13) % 40, (40 + g % 20) * 1048576::bigint
         FROM d, generate_series(1, 70) g;
       WITH d AS (SELECT id FROM deployments WHERE name = :'name')
       INSERT INTO health_events (deployment_id, at, kind, previous, state, reason)
       SELECT d.id, now() - e.ago, e.kind, e.prev, e.st, e.why FROM d, (VALUES
         (interval '3 hours', 'state', 'unknown', 'healthy', NULL),
         (interval '50 minutes', 'state', 'healthy', 'unhealthy', 'probe GET /: status 503'),
         (interval '45 minutes', 'restart', NULL, NULL, 'unhealthy: 2 failed checks in a row'),
         (interval '30 minutes', 'restart', NULL, NULL, 'still unhealthy'),
         (interval '10 minutes', 'gave_up', NULL, NULL, 'restart limit reached')) AS e(ago, kind, prev, st, why);
       UPDATE health_state SET state = 'unhealthy', since = now() - interval '50 minutes', failures = 2,
              reason = 'probe GET /: status 503 <b>not ready</b> & "soon"', gave_up = true,
              last_check_at = now() - interval '20 minutes'
        WHERE deployment_id = (SELECT id FROM deployments WHERE name = :'name')`);
  badge = await listBadge('unhealthy');
  check(badge.endsWith('unhealthy'), 'a change of health state reaches the cached list at once (NOTIFY)', badge);
  await snap('deployments-health');

  await page.goto(`${BASE}/deployments/${NAME}#health`);
  const health = page.locator('#health');
  const htext = await health.innerText();
  check((await page.locator('#health-state').innerText()).includes('unhealthy'), 'the Health section shows the state');
  check((await page.locator('#health-reason').innerText()) === 'probe GET /: status 503 <b>not ready</b> & "soon"' &&
        await health.locator('b').count() === 0, 'the reason is shown as text, escaped', await page.locator('#health-reason').innerText());
  check(/Failed checks in a row\s+2 of 2 before unhealthy/.test(htext), 'failures of retries', htext.slice(0, 400));
  check(/Restarts in the last hour\s+2 of 2 allowed\s+gave up/.test(htext), 'restarts in the last hour, and "gave up"');
  const checkRows = health.locator('#health-checks tbody tr');
  check(await checkRows.count() === 10, 'the last 10 checks are listed', `(${await checkRows.count()})`);
  const failedRow = health.locator('#health-checks tbody tr:has(.h-unhealthy)', { hasText: 'not ready' }).first();
  check(/probe/.test(await failedRow.innerText()) && /status 503 <b>not ready<\/b>/.test(await failedRow.innerText()),
    'a failed check says what failed and why', await failedRow.innerText().catch(() => ''));
  const usageRow = health.locator('#health-checks tbody tr', { hasText: '41 MiB' });
  check(await usageRow.count() === 1 && /18%/.test(await usageRow.innerText()), 'checks show CPU and memory',
    await checkRows.first().innerText());
  const events = await health.locator('#health-events').innerText();
  check(/gave up restarting/.test(events) && /restarted/.test(events) && /healthy\s*→\s*unhealthy/.test(events),
    'recent events: state changes, restarts, giving up', events);
  const lat = health.locator('svg.chart[aria-labelledby="chart-latency-title chart-latency-desc"]');
  check(await lat.count() === 1 && await lat.locator('path').count() >= 2, 'a latency chart drawn as SVG lines');
  check(await lat.locator('g.marks rect').count() >= 1, 'intervals with failed checks are marked');
  check((await lat.locator('title').first().textContent()) === 'Check latency, last 24 hours' &&
        /Average: \d+ values, lowest \d+ ms/.test(await lat.locator('desc').textContent()),
    'the chart has a title and a description for assistive tech', await lat.locator('desc').textContent());
  check(await health.locator('svg.chart[aria-labelledby^="chart-cpu"] path').count() === 1 &&
        await health.locator('svg.chart[aria-labelledby^="chart-memory"] path').count() === 1, 'CPU and memory charts');
  const box = await lat.boundingBox();
  check(box && box.width > 200 && box.height > 50, 'the chart is laid out at a readable size', JSON.stringify(box));
  await snap('deployment-health');
  await snapOf(health, 'health-section');
  await page.setViewportSize({ width: 375, height: 800 });
  await page.reload();
  check(!(await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1)),
    'the Health section fits a phone-width screen');
  await snapOf(page.locator('#health'), 'phone-health-section');
  await page.setViewportSize({ width: 1200, height: 900 });

  // --- health settings edited: an emptied number is the default, an emptied text none ---
  await tab('settings');
  await field('health.interval_s').fill('');
  await field('health.body').fill('');
  await Promise.all([page.waitForURL(/done=saved/), page.getByRole('button', { name: 'Save changes' }).click()]);
  rec = await (await context.request.get(`${BASE}/api/v1/deployments/${NAME}`)).json();
  check(rec.health.interval_s === 30 && rec.health.body === null && rec.health.path === '/' && rec.health.timeout_s === 4,
    'emptied health fields: the default interval, no expected text', JSON.stringify(rec.health));

  // --- stop / start ---
  await page.goto(`${BASE}/deployments/${NAME}`);
  await Promise.all([page.waitForURL(new RegExp(`/deployments/${NAME}`)),
                     page.getByRole('button', { name: 'Stop', exact: true }).click()]);
  await page.waitForLoadState();
  check((await page.locator('h1 .badge').textContent()).trim() === 'stopped', 'Stop: the deployment is stopped');
  body = await site();
  check(!body.includes('v1'), 'the site no longer answers', body.slice(0, 60));
  await tab('health');
  check(/not checked/.test(await page.locator('#health-state').innerText()), 'a stopped deployment is not checked');
  await snap('stopped');
  badge = await listBadge('not checked');
  check(/not checked/.test(badge) && !/unhealthy/.test(badge), 'the list shows no health badge for it', badge);
  await page.goto(`${BASE}/deployments/${NAME}`);
  await Promise.all([page.waitForURL(new RegExp(`/deployments/${NAME}`)),
                     page.getByRole('button', { name: 'Start', exact: true }).click()]);
  await page.waitForLoadState();
  check((await page.locator('h1 .badge').textContent()).trim().startsWith('running'), 'Start: running again');
  let tries = 0;
  do { body = await site(); if (body.includes('v1')) break; await new Promise((r) => setTimeout(r, 250)); } while (++tries < 40);
  check(body.includes('v1'), 'the site answers again');

  // --- status and health as one statement ---
  const stmt = (await page.locator('#dep-statement').innerText()).trim();
  check(/^running \u00b7 unhealthy: probe GET \/: status 503/.test(stmt),
    'status and health read as one statement ("running · unhealthy: why")', stmt);
  check(await page.locator('.buttons a.button', { hasText: 'Open' }).count() === 1 &&
        (await page.locator('.buttons a.button', { hasText: 'Open' }).getAttribute('href')).endsWith(`:${SITE_PORT}/`),
    'an Open button links to where it is reached');

  // --- live: a deploy started from the CLI appears and changes on the open page, no reload ---
  await page.goto(`${BASE}/deployments/${NAME}#runs`);
  await page.evaluate(() => { window.woNoReload = 1; });
  const cliRun = JSON.parse(execFileSync(process.env.WEBOPS_CLI, ['deploy', NAME, '--json'], { encoding: 'utf8' })).id;
  const t0 = Date.now();
  await page.waitForSelector(`#runs-list tr[data-run="${cliRun}"]`, { timeout: 15000 });
  check(true, `run ${cliRun}, started from the CLI, appears on the open page (${Date.now() - t0} ms)`);
  await page.waitForFunction((id) => {
    const b = document.querySelector(`#runs-list tr[data-run="${id}"] .badge`);
    return b && b.textContent.trim() === 'succeeded';
  }, cliRun, { timeout: 300000 });
  check(await page.evaluate(() => window.woNoReload === 1), '...and its status turns to succeeded without a reload');
  await snap('live-run');

  // --- the Logs tab: what the container prints, live ---
  await page.locator('nav.tabs a[href="#logs"]').click();
  await page.locator('#runtime-log').waitFor({ state: 'visible' });
  for (let i = 0; i < 20 && await page.locator('#runtime-log .ln').count() === 0; i++) { await site(); await sleep(250); }
  const before = await page.locator('#runtime-log .ln').count();
  check(before > 0, `the Logs tab shows the container's output (${before} lines)`);
  await site();
  await page.waitForFunction((n) => document.querySelectorAll('#runtime-log .ln').length > n, before, { timeout: 10000 })
    .then(() => ok('...and a request to the site appears in it as it happens'), () => bad('no new log line after a request'));
  await snap('runtime-logs');

  // --- releases: roll back from the page ---
  await page.reload();
  await tab('releases');
  const rels = page.locator('#releases-list tbody tr');
  check(await rels.count() >= 2, `the Releases tab lists the releases (${await rels.count()})`);
  await Promise.all([page.waitForURL(/\/runs\/\d+$/),
                     page.getByRole('button', { name: 'Roll back to this release' }).first().click()]);
  await page.waitForFunction(() => !['queued', 'running'].includes(document.querySelector('#run-status').textContent.trim()),
    null, { timeout: 120000 });
  check((await page.locator('#run-status').textContent()).trim() === 'succeeded' &&
        /rollback/.test(await page.locator('#run').innerText()), 'Roll back runs the release again (trigger rollback)',
    (await page.locator('#run').innerText()).slice(0, 600));
  body = await site();
  check(body.includes('v1'), 'the site answers after the rollback');

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
