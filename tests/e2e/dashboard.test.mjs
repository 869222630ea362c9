// The dashboard (SPEC 3.9 GET /admin/) in headless Chromium (Debian's chromium, driven by
// playwright-core from tests/sdk): the public login page and its headers, a wrong token
// refused, the pool table with every key masked and its state (a cooled key with its
// until), the usage chart's bars for a seeded history, errors by class, capacity, the
// actions reload / reset / check, 10,000 keys in a paged table, and a phone's viewport.
// Screenshots go to tests/e2e/out/ (their paths are printed). No response the page
// receives holds a key.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { startMock } from '../mock/mock-gemini.mjs';
import { startProxy, restartProxy, eventually, keyEntry, REPO } from './harness.mjs';
import { keyIdOf, shiftDay, seedUsage, expectedRows } from './lib-usage.mjs';

const require = createRequire(path.join(REPO, 'tests', 'sdk', 'package.json'));
const { chromium } = require('playwright-core');

const CHROMIUM = process.env.GKM_CHROMIUM || '/usr/bin/chromium';
const OUT = path.join(REPO, 'tests', 'e2e', 'out');
const KEYS = ['test-key-0001', 'test-key-0002', 'test-key-0003', 'test-key-0004'];
const COOLED = KEYS[2];
const FLASH = 'gemini-2.5-flash';
const PRO = 'gemini-2.5-pro';

let browser;
before(async () => {
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is needed: scripts/install-deps.sh --test installs it`);
  fs.mkdirSync(OUT, { recursive: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  });
});
after(async () => { await browser?.close(); });

// A page that records every response body it receives and every console error (a CSP
// violation shows there).
async function openPage(viewport = { width: 1280, height: 900 }, options = {}) {
  const context = await browser.newContext({ viewport, ...options });
  const page = await context.newPage();
  const received = [];
  const pending = [];
  const problems = [];
  page.on('response', (r) => pending.push(r.body().then((b) => received.push({ url: r.url(), body: b.toString('utf8') }), () => {})));
  // The 401 of a wrong token is expected; anything else (a CSP violation, a 404) is not.
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 401/.test(m.text())) problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(String(e)));
  return { page, context, received: async () => { await Promise.all(pending); return received; }, problems };
}

async function screenshot(page, name, fullPage = true) {
  const file = path.join(OUT, name);
  await page.screenshot({ path: file, fullPage });
  console.log(`screenshot: ${file}`);
}

async function login(page, url, token) {
  await page.goto(url + '/admin/');
  await page.waitForSelector('#login-form');
  await page.fill('#token', token);
  await page.click('#login-button');
}

function assertNoKey(bodies, keys) {
  for (const { url, body } of bodies) {
    for (const k of keys) assert.ok(!body.includes(k), `${url} holds the key ${k.slice(0, 8)}…`);
  }
}

// Today's quota day, a seeded history over the six days before it, and a proxy on it with
// one key cooling for FLASH (a per-minute 429 from the mock).
async function seededProxy(mock) {
  let p = await startProxy({ keys: KEYS, upstream: mock.url });
  const today = (await p.adminKeys()).day;
  await p.stop();
  const [a, b, c] = KEYS.map(keyIdOf);
  const usage = [];
  for (let i = 1; i <= 6; i++) {
    const day = shiftDay(today, -i);
    usage.push({ key_id: a, model: FLASH, day, requests: 10 * i, rate_limited: 1 });
    usage.push({ key_id: b, model: FLASH, day, requests: 5 });
    if (i % 2) usage.push({ key_id: c, model: PRO, day, requests: 3 * i, errors: 1 });
  }
  // Older than the chart's 7 days: not drawn.
  usage.push({ key_id: a, model: PRO, day: shiftDay(today, -7), requests: 999 });
  seedUsage(p.dir, usage, [{ client: 'default', model: FLASH, day: shiftDay(today, -2), requests: 12 }]);
  p = await restartProxy(p);
  mock.setKey(COOLED, FLASH, { type: 'minute', retryDelay: '50s' });
  await eventually(async () => {
    const r = await p.generate(FLASH);
    assert.equal(r.status, 200, r.body);
    assert.equal(keyEntry(await p.adminKeys(), COOLED).models?.[FLASH]?.state, 'cooling');
  }, { timeoutMs: 10000 });
  // Today's counts reach SQLite (and /admin/usage) at the next flush: wait for it, so that
  // the chart the page draws and the history read after it agree.
  await eventually(async () => {
    const keys = await p.adminKeys();
    const inMemory = keys.keys.reduce((n, k) => n + (k.models?.[FLASH]?.requests ?? 0), 0);
    const r = await p.request('GET', `/admin/usage?group_by=model&from=${today}`, { headers: { authorization: `Bearer ${p.adminToken}` } });
    assert.equal(r.json.rows.find((x) => x.model === FLASH)?.requests ?? 0, inMemory);
  }, { timeoutMs: 10000 });
  return { p, today, usage };
}

test('the dashboard page is public, embedded, and served with a strict CSP; the JSON needs the token', async () => {
  const mock = await startMock();
  const p = await startProxy({ keys: KEYS, upstream: mock.url });
  try {
    const page = await p.request('GET', '/admin/');
    assert.equal(page.status, 200);
    assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
    const csp = page.headers['content-security-policy'];
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal(page.headers['x-content-type-options'], 'nosniff');
    assert.equal(page.headers['cache-control'], 'no-cache');
    assert.doesNotMatch(page.body, /<script>|<script [^>]*>[^<]|\son[a-z]+=|style=|https?:\/\//i, 'no inline code, nothing from elsewhere');
    for (const [asset, type] of [['dashboard.js', 'text/javascript; charset=utf-8'], ['dashboard.css', 'text/css; charset=utf-8']]) {
      const r = await p.request('GET', '/admin/' + asset);
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-type'], type);
      assert.doesNotMatch(r.body, /https?:\/\/(?!www\.w3\.org\/2000\/svg)/, `${asset} loads nothing from elsewhere`);
      const again = await p.request('GET', '/admin/' + asset, { headers: { 'if-none-match': r.headers.etag } });
      assert.equal(again.status, 304);
      assert.equal(again.body, '');
    }
    const bare = await p.request('GET', '/admin');
    assert.equal(bare.status, 308);
    assert.equal(bare.headers.location, '/admin/');
    assert.equal((await p.request('GET', '/admin/nope.js')).status, 401);
    assert.equal((await p.request('GET', '/admin/keys')).status, 401);
    assert.equal((await p.request('POST', '/admin/', {})).status, 401);
  } finally {
    await p.cleanup();
  }
  // Without an admin token the admin API is off, the page too.
  const q = await startProxy({ keys: KEYS, upstream: mock.url, adminToken: null });
  try {
    assert.equal((await q.request('GET', '/admin/')).status, 404);
  } finally {
    await q.cleanup();
    await mock.close();
  }
});

test('log in, the pool table, the usage chart, errors and capacity, reset, check and reload', async () => {
  const mock = await startMock();
  const { p, today, usage } = await seededProxy(mock);
  const { page, context, received, problems } = await openPage();
  try {
    // A wrong token is refused and nothing is shown.
    await login(page, p.url, 'wrong-token');
    await page.waitForFunction(() => document.getElementById('login-error').textContent.length > 0);
    assert.match(await page.textContent('#login-error'), /wrong admin token/i);
    assert.equal(await page.isVisible('#app'), false);
    assert.equal(await page.evaluate(() => sessionStorage.getItem('gkm-admin-token')), null);

    await login(page, p.url, p.adminToken);
    await page.waitForSelector('#pool tbody tr[data-id]');
    assert.equal(await page.isVisible('#login'), false);
    assert.equal(await page.evaluate(() => sessionStorage.getItem('gkm-admin-token')), p.adminToken);

    // Every key, masked, with its state; the cooled one with its until.
    const admin = await p.adminKeys();
    const rows = await page.$$eval('#pool tbody tr[data-id]', (trs) => trs.map((tr) => ({
      id: tr.dataset.id, state: tr.dataset.state, key: tr.querySelector('.key').textContent,
      models: [...tr.querySelectorAll('.models li')].map((li) => ({
        model: li.dataset.model, state: li.dataset.state, until: li.querySelector('time')?.getAttribute('datetime') ?? null })),
    })));
    assert.equal(rows.length, KEYS.length);
    for (const k of KEYS) {
      const entry = keyEntry(admin, k);
      const row = rows.find((r) => r.id === entry.id);
      assert.ok(row, `a row for ${entry.id}`);
      assert.equal(row.key, entry.key);
      assert.ok(!row.key.includes(k));
      assert.equal(row.state, k === COOLED ? 'cooling' : 'ok');
    }
    const cooled = rows.find((r) => r.id === keyIdOf(COOLED));
    const flash = cooled.models.find((m) => m.model === FLASH);
    assert.equal(flash.state, 'cooling');
    assert.equal(flash.until, keyEntry(admin, COOLED).models[FLASH].until);
    assert.ok(Date.parse(flash.until) > Date.now());
    assert.match(await page.textContent(`#pool tr[data-id="${cooled.id}"] .models`), /cooling until/);

    // The chart: one bar per (day, model) with requests, the seeded values on past days.
    await page.waitForSelector('#chart rect.bar');
    const bars = await page.$$eval('#chart rect.bar', (rs) => rs.map((r) => ({
      day: r.dataset.day, series: r.dataset.series, value: Number(r.dataset.value), height: Number(r.getAttribute('height')) })));
    const from = shiftDay(today, -6);
    const past = expectedRows(usage, ['day', 'model'], from, shiftDay(today, -1)).filter((r) => r.requests > 0);
    assert.deepEqual(bars.filter((b) => b.day < today).map(({ day, series, value }) => ({ day, series, value })).sort((x, y) => (x.day + x.series < y.day + y.series ? -1 : 1)),
      past.map((r) => ({ day: r.day, series: r.model, value: r.requests })));
    assert.ok(!bars.some((b) => b.day < from), 'nothing older than 7 days');
    const todayBar = bars.find((b) => b.day === today && b.series === FLASH);
    const api = await p.request('GET', `/admin/usage?group_by=day,model&from=${today}`, { headers: { authorization: `Bearer ${p.adminToken}` } });
    assert.equal(todayBar?.value, api.json.rows.find((r) => r.model === FLASH).requests, 'today: what the proxy flushed');
    // Heights are proportional to the values.
    const [x, y] = bars.filter((b) => b.day < today);
    assert.ok(Math.abs(x.height / y.height - x.value / y.value) < 0.01, JSON.stringify([x, y]));
    assert.deepEqual(await page.$$eval('#legend li', (li) => li.map((l) => l.dataset.series)), [FLASH, PRO]);
    // By client: the client table's rows.
    await page.selectOption('#usage-by', 'client');
    await page.waitForSelector('#chart rect.bar[data-series="default"]');
    assert.equal(await page.getAttribute(`#chart rect.bar[data-day="${shiftDay(today, -2)}"]`, 'data-value'), '12');
    await page.selectOption('#usage-by', 'model');

    // Errors by class (the 429 is "cooling") and capacity per model.
    assert.ok(Number((await page.textContent('#errors tr[data-outcome="cooling"] .num')).replace(/,/g, '')) >= 1);
    assert.match(await page.textContent('#capacity tbody'), new RegExp(FLASH.replace(/\./g, '\\.')));
    await screenshot(page, 'dashboard-desktop.png');

    // Filter and sort.
    await page.fill('#filter', cooled.id);
    assert.equal(await page.locator('#pool tbody tr[data-id]').count(), 1);
    await page.fill('#filter', '');
    await page.click('#pool th button[data-sort="id"]');
    const ids = await page.$$eval('#pool tbody tr[data-id]', (trs) => trs.map((t) => t.dataset.id));
    assert.deepEqual(ids, [...ids].sort().reverse());
    await page.selectOption('#status-filter', 'cooling');
    assert.deepEqual(await page.$$eval('#pool tbody tr[data-id]', (trs) => trs.map((t) => t.dataset.id)), [cooled.id]);
    await page.selectOption('#status-filter', '');

    // Reset key: the result is shown and the key is ok again.
    await page.click(`#pool tr[data-id="${cooled.id}"] button[data-action="reset"]`);
    await page.waitForFunction((id) => document.getElementById('result').textContent === `Reset of ${id}: active`, cooled.id);
    await page.waitForSelector(`#pool tr[data-id="${cooled.id}"][data-state="ok"]`);
    assert.equal(keyEntry(await p.adminKeys(), COOLED).models?.[FLASH]?.state ?? 'ok', 'ok');

    // Check key: the probe's verdict.
    const first = keyIdOf(KEYS[0]);
    await page.click(`#pool tr[data-id="${first}"] button[data-action="check"]`);
    await page.waitForFunction(() => /^Check of .*HTTP/.test(document.getElementById('result').textContent));
    assert.match(await page.textContent('#result'), new RegExp(`^Check of ${first} \\(test…0001\\): success, HTTP 200, .* — now active$`));

    // Reload: a key added to the key file appears.
    fs.appendFileSync(p.keyFile, 'test-key-0005\n');
    await page.click('#reload');
    await page.waitForFunction(() => /^Reload: /.test(document.getElementById('result').textContent));
    assert.match(await page.textContent('#result'), /5 keys \(1 added, 0 removed\)/);
    await page.waitForSelector(`#pool tr[data-id="${keyIdOf('test-key-0005')}"]`);
    assert.equal(await page.locator('#pool tbody tr[data-id]').count(), 5);

    // Signing out forgets the token.
    await page.click('#logout');
    assert.equal(await page.isVisible('#login'), true);
    assert.equal(await page.evaluate(() => sessionStorage.getItem('gkm-admin-token')), null);

    assertNoKey(await received(), [...KEYS, 'test-key-0005']);
    assert.deepEqual(problems, [], 'no console errors (a CSP violation would be one)');
  } finally {
    await context.close();
    await p.cleanup();
    await mock.close();
  }
});

test('10,000 keys: a paged table, not a 10,000-row DOM; readable on a phone', async () => {
  const mock = await startMock();
  const keys = Array.from({ length: 10000 }, (_, i) => `test-big-key-${String(i).padStart(5, '0')}`);
  const p = await startProxy({ keys, upstream: mock.url, startTimeoutMs: 30000 });
  const { page, context, received, problems } = await openPage();
  try {
    const started = Date.now();
    await login(page, p.url, p.adminToken);
    await page.waitForSelector('#pool tbody tr[data-id]');
    console.log(`10,000 keys shown in ${Date.now() - started} ms`);
    assert.equal(await page.locator('#pool tbody tr').count(), 50);
    assert.equal(await page.textContent('#page-info'), '1–50 of 10,000');
    assert.equal(await page.textContent('.s-keys strong'), '10,000');
    await page.click('#next');
    assert.equal(await page.textContent('#page-info'), '51–100 of 10,000');
    assert.equal(await page.locator('#pool tbody tr').count(), 50);
    const id = keyIdOf(keys[7777]);
    await page.fill('#filter', id);
    assert.equal(await page.textContent('#page-info'), '1–1 of 1 (filtered from 10,000)');
    assert.equal(await page.textContent(`#pool tr[data-id="${id}"] .key`), 'test…7777');
    await page.fill('#filter', '');
    assert.ok(await page.evaluate(() => document.querySelectorAll('tr').length) < 120, 'the DOM holds one page of rows');
    await screenshot(page, 'dashboard-10000-keys.png');
    const bodies = await received();
    for (const { url, body } of bodies) assert.ok(!/test-big-key-\d/.test(body), `${url} holds a key`);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
  // A phone: no sideways scrolling, the rows as cards, the buttons big enough to tap.
  const phone = await openPage({ width: 390, height: 844 }, { isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  try {
    await login(phone.page, p.url, p.adminToken);
    await phone.page.waitForSelector('#pool tbody tr[data-id]');
    const layout = await phone.page.evaluate(() => ({
      scroll: document.documentElement.scrollWidth, width: window.innerWidth,
      rowDisplay: getComputedStyle(document.querySelector('#pool tbody tr')).display,
      head: getComputedStyle(document.querySelector('#pool thead')).display,
      button: document.querySelector('#pool button[data-action="reset"]').getBoundingClientRect().height,
      font: parseFloat(getComputedStyle(document.body).fontSize),
    }));
    assert.ok(layout.scroll <= layout.width + 1, `no sideways scrolling: ${JSON.stringify(layout)}`);
    assert.notEqual(layout.rowDisplay, 'table-row', 'rows are cards');
    assert.equal(layout.head, 'none');
    assert.ok(layout.button >= 24 && layout.font >= 14, JSON.stringify(layout));
    await screenshot(phone.page, 'dashboard-phone.png', false);
    await phone.page.locator('#pool').scrollIntoViewIfNeeded();
    await screenshot(phone.page, 'dashboard-phone-pool.png', false);
    assert.deepEqual(phone.problems, []);
  } finally {
    await phone.context.close();
    await p.cleanup();
    await mock.close();
  }
});
