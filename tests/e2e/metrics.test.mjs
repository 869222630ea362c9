// SPEC 3.5: GET /metrics, parsed by a real Prometheus text-format parser (prom2javascript,
// pinned in tests/sdk/package.json; `npm ci --prefix tests/sdk` installs it). After a known
// workload the families and their values are what the mock was told to do.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { createRequire } from 'node:module';
import { startMock } from '../mock/mock-gemini.mjs';
import { startProxy, keyEntry, sleep, GEN } from './harness.mjs';
import { randomKeys } from './lib-lifecycle.mjs';

// Every test is bounded: a hang fails the test instead of the run.
const T = { timeout: 60000 };

const require = createRequire(import.meta.url);
let prom;
try {
  prom = require('../sdk/node_modules/prom2javascript');
} catch (e) {
  prom = null;
}

async function parse(text) {
  if (!prom) throw new Error('tests/sdk/node_modules/prom2javascript is missing: run `npm ci --prefix tests/sdk`');
  return prom.getMetricsFromStream(Readable.from([text]));
}

let mock;
before(async () => { mock = await startMock(); });
after(async () => { await mock?.close(); });

async function scrape(p) {
  const r = await p.request('GET', '/metrics');
  assert.equal(r.status, 200);
  assert.match(r.headers['content-type'] ?? '', /^text\/plain/);
  return { text: r.body, m: await parse(r.body) };
}

// The value of the counter/gauge sample with exactly these labels; undefined when absent.
function value(m, name, labels = {}) {
  const fam = m[name];
  if (!fam) return undefined;
  const want = JSON.stringify(Object.entries(labels).sort());
  const s = fam.data.find((d) => JSON.stringify(Object.entries(d.labels ?? {}).sort()) === want);
  return s === undefined ? undefined : Number(s.value);
}

function histogram(m, name, labels = {}) {
  const fam = m[name];
  assert.ok(fam, `family ${name} present`);
  assert.equal(fam.type, 'histogram', `${name} is a histogram`);
  const want = JSON.stringify(Object.entries(labels).sort());
  const h = fam.data.find((d) => JSON.stringify(Object.entries(d.labels ?? {}).sort()) === want);
  assert.ok(h, `${name}${JSON.stringify(labels)} present: ${JSON.stringify(fam.data.map((d) => d.labels))}`);
  return h;
}

function assertHistogramShape(h, what) {
  const bounds = Object.keys(h.buckets);
  assert.ok(bounds.includes('+Inf'), `${what}: a +Inf bucket`);
  const finite = bounds.filter((b) => b !== '+Inf').map(Number).sort((a, b) => a - b);
  assert.ok(finite.length >= 3, `${what}: several buckets`);
  let prev = 0;
  for (const b of finite) {
    const v = Number(h.buckets[String(b)] ?? h.buckets[bounds.find((x) => Number(x) === b)]);
    assert.ok(v >= prev, `${what}: buckets are cumulative (le=${b}: ${v} < ${prev})`);
    prev = v;
  }
  assert.ok(Number(h.buckets['+Inf']) >= prev, `${what}: +Inf is the largest`);
  assert.equal(Number(h.buckets['+Inf']), Number(h.count), `${what}: +Inf bucket = count`);
  assert.ok(Number(h.sum) >= 0, `${what}: a sum`);
}

test('families and values after a known workload', T, async () => {
  const K = randomKeys(4);
  const p = await startProxy({ keys: K, upstream: mock.url });
  try {
    // A transient failure first, then wait out its 1 s cooldown so it no longer counts as cooling.
    mock.queue('*', 'mx-503', 'overloaded');
    assert.equal((await p.generate('mx-503')).status, 200);
    await sleep(1300);
    for (let i = 0; i < 2; i++) assert.equal((await p.generate('mx-ok')).status, 200);
    mock.queue('*', 'mx-day', 'day');
    assert.equal((await p.generate('mx-day')).status, 200);
    mock.queue('*', 'mx-minute', { type: 'minute', retryDelay: '50s' });
    assert.equal((await p.generate('mx-minute')).status, 200);
    mock.queue('*', 'mx-invalid', 'invalid');
    assert.equal((await p.generate('mx-invalid')).status, 200);
    mock.queue('*', 'mx-client', 'badrequest');
    assert.equal((await p.generate('mx-client')).status, 400);
    mock.queue('*', 'mx-slow', { type: 'delay', ms: 400 });
    assert.equal((await p.generate('mx-slow')).status, 200);
    const s = await p.generate('mx-stream', { method: 'streamGenerateContent', query: '?alt=sse' });
    assert.equal(s.status, 200);
    assert.equal((await p.request('POST', '/v1beta/models/mx-auth:generateContent', { body: GEN })).status, 401);
    await sleep(100);

    const { text, m } = await scrape(p);
    for (const k of K) assert.ok(!text.includes(k), 'no real key in /metrics');
    assert.ok(!/key_id=/.test(text), 'no per-key series without --metrics-per-key');

    const types = {
      gkm_requests_total: 'counter', gkm_request_duration_seconds: 'histogram', gkm_upstream_attempts_total: 'counter',
      gkm_upstream_duration_seconds: 'histogram', gkm_inflight_requests: 'gauge', gkm_keys: 'gauge', gkm_key_models: 'gauge',
    };
    for (const [name, type] of Object.entries(types)) {
      assert.ok(m[name], `family ${name} present`);
      assert.equal(m[name].type, type, `${name} is a ${type}`);
    }
    assert.ok(m.gkm_requests_today_total, 'family gkm_requests_today_total present');
    assert.ok(['counter', 'gauge'].includes(m.gkm_requests_today_total.type));

    // gkm_requests_total{route,code}
    assert.equal(value(m, 'gkm_requests_total', { route: 'generateContent', code: '200' }), 7, text);
    assert.equal(value(m, 'gkm_requests_total', { route: 'generateContent', code: '400' }), 1, text);
    assert.equal(value(m, 'gkm_requests_total', { route: 'streamGenerateContent', code: '200' }), 1, text);
    const all401 = m.gkm_requests_total.data.filter((d) => d.labels.code === '401').reduce((a, d) => a + Number(d.value), 0);
    assert.equal(all401, 1, 'the unauthenticated request counted with code 401');
    for (const d of m.gkm_requests_total.data) {
      assert.deepEqual(Object.keys(d.labels).sort(), ['code', 'route']);
      assert.match(d.labels.code, /^\d{3}$/);
    }

    // gkm_upstream_attempts_total{outcome}
    const expected = { success: 8, day_exhausted: 1, cooling: 1, invalid: 1, transient: 1, client_error: 1 };
    for (const [outcome, n] of Object.entries(expected)) {
      assert.equal(value(m, 'gkm_upstream_attempts_total', { outcome }), n, `outcome ${outcome}\n${text}`);
    }
    assert.equal(m.gkm_upstream_attempts_total.data.length, 6, 'exactly the six outcomes of SPEC 3.5');

    // Histograms.
    const rd = histogram(m, 'gkm_request_duration_seconds', { route: 'generateContent' });
    assertHistogramShape(rd, 'request duration generateContent');
    assert.equal(Number(rd.count), 8);
    assert.ok(Number(rd.sum) >= 0.4, `the 400 ms request is in the sum (${rd.sum})`);
    // The 400 ms request lies above every bucket bound below 0.4 s (whatever bounds are used).
    const below = Object.keys(rd.buckets).filter((b) => b !== '+Inf' && Number(b) < 0.4);
    for (const b of below) assert.ok(Number(rd.buckets[b]) <= 7, `bucket le=${b} holds ${rd.buckets[b]} > 7 observations`);
    const sd = histogram(m, 'gkm_request_duration_seconds', { route: 'streamGenerateContent' });
    assertHistogramShape(sd, 'request duration stream');
    assert.equal(Number(sd.count), 1);
    for (const d of m.gkm_request_duration_seconds.data) assertHistogramShape(d, `request duration ${d.labels.route}`);
    const ud = histogram(m, 'gkm_upstream_duration_seconds', {});
    assertHistogramShape(ud, 'upstream duration');
    assert.equal(Number(ud.count), 13, 'one observation per upstream attempt');
    assert.ok(Number(ud.sum) >= 0.4, `the 400 ms upstream answer is in the sum (${ud.sum})`);

    // Pool gauges.
    assert.equal(value(m, 'gkm_keys', { status: 'active' }), 3);
    assert.equal(value(m, 'gkm_keys', { status: 'invalid' }), 1);
    assert.equal(value(m, 'gkm_key_models', { state: 'cooling' }), 1, 'the per-minute 429 (the transient cooldown is over)');
    assert.equal(value(m, 'gkm_key_models', { state: 'exhausted' }), 1);

    // gkm_requests_today_total{model}: upstream attempts answered other than 429 (SPEC 3.5,
    // requests_today), i.e. the 503 and the API_KEY_INVALID 400 count, the 429s do not.
    const today = { 'mx-503': 2, 'mx-ok': 2, 'mx-day': 1, 'mx-minute': 1, 'mx-invalid': 2, 'mx-client': 1, 'mx-slow': 1, 'mx-stream': 1 };
    const admin = await p.adminKeys();
    for (const [model, n] of Object.entries(today)) {
      const fromAdmin = admin.keys.reduce((a, k) => a + (k.models?.[model]?.requests ?? 0), 0);
      assert.equal(value(m, 'gkm_requests_today_total', { model }), fromAdmin, `${model}: /metrics agrees with /admin/keys`);
      assert.equal(value(m, 'gkm_requests_today_total', { model }), n, `${model}: ${n} upstream requests answered other than 429`);
    }
  } finally {
    await p.cleanup();
  }
});

test('gkm_inflight_requests follows a request in flight', T, async () => {
  const K = randomKeys(2);
  const p = await startProxy({ keys: K, upstream: mock.url });
  try {
    const idle = value((await scrape(p)).m, 'gkm_inflight_requests');
    assert.ok(idle === 0 || idle === 1, `idle: ${idle} (0, or 1 counting the scrape itself)`);
    mock.queue('*', 'mx-inflight', { type: 'slowstream', events: 4, intervalMs: 400 });
    const slow = p.generate('mx-inflight', { method: 'streamGenerateContent', query: '?alt=sse' });
    await mock.waitForRequests(mock.requests.length + 1);
    await sleep(200);
    const during = value((await scrape(p)).m, 'gkm_inflight_requests');
    assert.equal(during, idle + 1, 'one more while a stream is in flight');
    assert.equal((await slow).status, 200);
    await sleep(100);
    assert.equal(value((await scrape(p)).m, 'gkm_inflight_requests'), idle, 'back to idle');
  } finally {
    await p.cleanup();
  }
});

test('per-key series only with --metrics-per-key, labelled by key id, never the key', T, async () => {
  const K = randomKeys(3);
  const p = await startProxy({ keys: K, upstream: mock.url, args: ['--metrics-per-key'] });
  try {
    for (let i = 0; i < 3; i++) assert.equal((await p.generate('mx-perkey')).status, 200);
    mock.queue('*', 'mx-perkey-bad', 'invalid');
    assert.equal((await p.generate('mx-perkey-bad')).status, 200);
    const { text, m } = await scrape(p);
    for (const k of K) {
      assert.ok(!text.includes(k), 'no real key in /metrics');
      assert.ok(!text.includes(k.slice(-12)), 'not even a piece of it');
    }
    const admin = await p.adminKeys();
    const ids = new Set(admin.keys.map((k) => k.id));
    const labelled = [];
    for (const [name, fam] of Object.entries(m)) {
      for (const d of fam.data) if (d.labels?.key_id !== undefined) labelled.push({ name, ...d });
    }
    assert.ok(labelled.length > 0, `per-key series present with --metrics-per-key:\n${text}`);
    for (const d of labelled) assert.ok(ids.has(d.labels.key_id), `key_id ${d.labels.key_id} is an id of /admin/keys`);
    const seenIds = new Set(labelled.map((d) => d.labels.key_id));
    for (const id of ids) assert.ok(seenIds.has(id), `key ${id} has per-key series`);
    // The per-key request counts agree with /admin/keys.
    const perKeyRequests = labelled.filter((d) => d.labels.model === 'mx-perkey');
    if (perKeyRequests.length) {
      for (const d of perKeyRequests) {
        const k = admin.keys.find((x) => x.id === d.labels.key_id);
        assert.equal(Number(d.value), k.models?.['mx-perkey']?.requests ?? 0, `${d.name}{key_id=${d.labels.key_id}}`);
      }
    }
    const bad = mock.requests.find((r) => r.model === 'mx-perkey-bad' && r.status === 400).key;
    assert.equal(keyEntry(admin, bad).status, 'invalid');
  } finally {
    await p.cleanup();
  }
});
