// Benchmark driver (tests/bench/bench_run_log_browser.sh): a run page open
// in headless chromium while its run prints a burst of lines (pipetest,
// lines mode). For each line event the page receives, the time it arrived
// by the server (its "at"; EventSource wrapped before app.js loads) and the
// time it was in the page (a MutationObserver), on the machine's one clock. Prints one JSON object: lines, the delay from
// the last line's arrival to the last line in the page, the median and worst
// delay of a line (arrival to in the page), and whether the reader who
// scrolled up was left where they were.
import { chromium } from 'playwright-core';
import fs from 'node:fs';

const { SETUP_URL, BASE, RUN_URL, LINES, SCROLL_UP, READY_FILE } = process.env;
const want = Number(LINES);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
});
const page = await (await browser.newContext({ viewport: { width: 1200, height: 900 } })).newPage();
try {
  if (SETUP_URL) {
    await page.goto(SETUP_URL);
    await page.locator('input[name="user"]').fill('admin');
    await page.locator('input[name="password"]').fill('a long enough password');
    await page.locator('input[name="password2"]').fill('a long enough password');
    await Promise.all([page.waitForURL((u) => u.pathname === '/'), page.locator('form button[type="submit"]').last().click()]);
  }
  // before app.js: note when each line event arrives, and when each line
  // is in the page
  await page.addInitScript(() => {
    window.__arrived = [];
    window.__received = [];
    window.__inPage = [];
    const ES = window.EventSource;
    window.EventSource = function (url, opts) {
      const es = new ES(url, opts);
      // when the server wrote the line (its "at", milliseconds, same clock)
      es.addEventListener('line', (ev) => {
        try {
          window.__arrived.push(Date.parse(JSON.parse(ev.data).at));
          window.__received.push(Date.now());
        } catch (e) { /* not a line */ }
      });
      return es;
    };
    window.EventSource.prototype = ES.prototype;
    document.addEventListener('DOMContentLoaded', () => {
      const log = document.getElementById('log');
      if (!log) return;
      const seen = log.querySelectorAll('.ln').length;
      window.__initial = seen;
      new MutationObserver((muts) => {
        const t = Date.now();
        for (const m of muts) for (const n of m.addedNodes) {
          if (n.nodeType === 1 && n.classList && n.classList.contains('ln')) window.__inPage.push(t);
          else if (n.nodeType === 11 || (n.nodeType === 1 && !n.classList.contains('ln')))
            n.querySelectorAll && n.querySelectorAll('.ln').forEach(() => window.__inPage.push(t));
        }
      }).observe(log, { childList: true });
    });
  });
  await page.goto(RUN_URL);
  // the page listens: the bench lets the run go (it cancels the run that
  // held the worker)
  await page.waitForFunction(() => document.getElementById('run')?.getAttribute('data-status') === 'queued');
  if (READY_FILE) fs.writeFileSync(READY_FILE, 'ready\n');
  if (SCROLL_UP === '1') {
    // a reader who scrolled up to read stays where they are
    await page.waitForFunction(() => window.__inPage.length > 200, null, { timeout: 120000 });
    await page.evaluate(() => { const l = document.getElementById('log'); l.scrollTop = 50; window.__top = l.scrollTop; });
  }
  await page.waitForFunction((n) => window.__inPage.length + (window.__initial || 0) >= n, want, { timeout: 300000, polling: 50 });
  const r = await page.evaluate(() => {
    const a = window.__arrived, p = window.__inPage, d = [];
    const off = p.length - a.length; // lines already in the page when it loaded are not in a
    for (let i = 0; i < a.length; i++) if (p[i + Math.max(0, off)] !== undefined) d.push(p[i + Math.max(0, off)] - a[i]);
    d.sort((x, y) => x - y);
    const l = document.getElementById('log');
    return {
      arrived: a.length, in_page: p.length + (window.__initial || 0),
      last_delay_ms: a.length ? p[p.length - 1] - a[a.length - 1] : 0,
      // of which the server and the stream: the last line received by the page's script
      last_received_ms: a.length ? window.__received[a.length - 1] - a[a.length - 1] : 0,
      // and the page: from the last line's arrival to every line in the page
      page_ms: a.length ? p[p.length - 1] - window.__received[a.length - 1] : 0,
      median_delay_ms: d.length ? d[Math.floor(d.length / 2)] : 0,
      worst_delay_ms: d.length ? d[d.length - 1] : 0,
      kept_position: window.__top === undefined ? null : Math.abs(l.scrollTop - window.__top) < 2,
    };
  });
  console.log(JSON.stringify(r));
} finally {
  await browser.close();
}
