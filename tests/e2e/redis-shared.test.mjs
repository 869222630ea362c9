// SPEC 6 with limits: several instances sharing one key pool through Redis pace each
// (project, model) by its per-minute limit across all of them, admit a named client by its
// rpd counted on every instance, and show the same pool-wide totals for today in
// /admin/usage. A real redis-server (tests/e2e/lib-redis.mjs), three instances.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startMock } from '../mock/mock-gemini.mjs';
import { startProxy, sleep, rawRequest, GEN } from './harness.mjs';
import { startRedisServer } from './lib-redis.mjs';

const T = { timeout: 180000 };
const A = ['test-key-sa01', 'test-key-sa02'];
const B = ['test-key-sb01', 'test-key-sb02'];
const KEY_LINES = [...A.map((k) => `${k} project=alpha`), ...B.map((k) => `${k} project=beta`)];
const PROJECT = Object.fromEntries([...A.map((k) => [k, 'alpha']), ...B.map((k) => [k, 'beta'])]);

let mock;
let redis;
const proxies = [];
before(async () => {
  mock = await startMock();
  redis = await startRedisServer();
});
after(async () => {
  for (const p of proxies) await p.cleanup().catch(() => {});
  await redis?.close();
  await mock?.close();
});
beforeEach(async () => {
  // Each test starts on an empty Redis with instances of its own.
  while (proxies.length) await proxies.pop().cleanup().catch(() => {});
  mock.reset();
  mock.setProjects(PROJECT);
  redis.cli('FLUSHDB');
});

async function instances(n, args = [], opts = {}) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gkm-redis-shared-'));
    if (opts.config) fs.writeFileSync(path.join(dir, 'gkm.toml'), opts.config);
    const p = await startProxy({
      keys: KEY_LINES, upstream: mock.url, dir, token: opts.token,
      args: ['--redis', redis.url(), '--flush-interval-ms', '200', ...(opts.config ? ['--config', path.join(dir, 'gkm.toml')] : []), ...args],
    });
    p.ownDir = true;
    proxies.push(p);
    out.push(p);
  }
  return out;
}

const posts = (model) => mock.requests.filter((r) => r.model === model && r.method === 'POST');

test('per-minute pacing counts every instance: a burst over three instances gets no 429 from Google', T, async () => {
  const model = 'gemini-x';
  mock.setQuota(model, { rpm: 6 });
  const ps = await instances(3, ['--limit', `${model}=6/-`]);
  // Start early in a wall-clock minute (Google's windows start at :00) so that the burst stays
  // in one window.
  const into = Date.now() % 60000;
  if (into > 1000) await sleep(60000 - into + 300);
  const t0 = Date.now();
  // 40 requests, one every 50 ms, round robin over the instances, each not awaited before the
  // next starts (several are in flight at once on different instances).
  const pending = [];
  for (let i = 0; i < 40; i++) {
    pending.push(ps[i % 3].generate(model));
    await sleep(50);
  }
  const codes = (await Promise.all(pending)).map((r) => r.status);
  assert.ok(Date.now() - t0 < 50000, 'the burst stayed inside one minute');
  const stats = mock.quotaStats();
  const served = (stats[`alpha|${model}`]?.served ?? 0) + (stats[`beta|${model}`]?.served ?? 0);
  const rejected = posts(model).filter((r) => r.status === 429).length;
  assert.equal(codes.filter((c) => c === 200).length, 12, `codes ${codes}`);
  assert.equal(served, 12, JSON.stringify(stats));
  assert.equal(rejected, 0, `Google refused ${rejected} (${JSON.stringify(stats)})`);
  assert.ok(codes.every((c) => c === 200 || c === 503), `codes ${codes}`);
});

const DAILY = 'daily-token-0001';
const BOTS = 'bots-token-0003';
const CONFIG = `
[[client]]
name = "daily"
token = "${DAILY}"
rpd = 10

[[client]]
name = "bots"
token = "${BOTS}"
rpm = 4
`;
const asClient = (p, token, model) =>
  rawRequest(p.port, 'POST', `/v1beta/models/${model}:generateContent`, { headers: { 'x-goog-api-key': token }, body: GEN });

test('a named client\'s rpd counts its requests on every instance: the 11th is refused wherever it lands', T, async () => {
  const ps = await instances(3, [], { config: CONFIG, token: 'default-token-0002' });
  const model = 'gemini-2.5-flash';
  for (let i = 0; i < 10; i++) {
    const r = await asClient(ps[i % 3], DAILY, model);
    assert.equal(r.status, 200, `request ${i + 1}: ${r.body}`);
  }
  // The other instances' counts arrive with the next batch (--flush-interval-ms 200).
  await sleep(1500);
  for (const p of ps) {
    const r = await asClient(p, DAILY, model);
    assert.equal(r.status, 429, r.body);
    assert.match(r.json.error.message, /client 'daily' has used its 10 requests of this quota day/);
  }
  assert.equal(posts(model).length, 10, 'Google saw exactly the ten admitted');
  // Another client is not affected.
  assert.equal((await asClient(ps[0], 'default-token-0002', model)).status, 200);
});

test('/admin/usage: every instance shows the same pool-wide totals for today', T, async () => {
  const ps = await instances(3, [], { config: CONFIG, token: 'default-token-0002' });
  const models = ['gemini-2.5-flash', 'gemini-2.5-pro'];
  let sent = 0;
  for (let i = 0; i < 31; i++) {
    const token = i % 4 === 0 ? DAILY : 'default-token-0002';
    const r = await asClient(ps[(i * 7) % 3], token, models[i % 2]);
    assert.equal(r.status, 200, r.body);
    sent++;
  }
  await sleep(1500);  // flushed (200 ms) and applied in Redis
  const usage = async (p, q) => {
    const r = await rawRequest(p.port, 'GET', `/admin/usage?${q}`, { headers: { authorization: `Bearer ${p.adminToken}` } });
    assert.equal(r.status, 200, r.body);
    return r.json.rows;
  };
  const byKey = await Promise.all(ps.map((p) => usage(p, 'group_by=key,model')));
  const total = byKey[0].reduce((n, row) => n + row.requests, 0);
  assert.equal(total, sent, JSON.stringify(byKey[0]));
  assert.equal(total, posts('gemini-2.5-flash').length + posts('gemini-2.5-pro').length);
  assert.ok(byKey[0].some((row) => row.prompt_tokens > 0), 'token counts come along');
  for (const rows of byKey.slice(1)) assert.deepEqual(rows, byKey[0]);
  const byClient = await Promise.all(ps.map((p) => usage(p, 'group_by=client')));
  for (const rows of byClient.slice(1)) assert.deepEqual(rows, byClient[0]);
  assert.equal(byClient[0].find((row) => row.client === 'daily')?.requests, 8);
  // Grouped by day, today's row is the same pool-wide sum.
  const byDay = await Promise.all(ps.map((p) => usage(p, 'group_by=day')));
  for (const rows of byDay) assert.equal(rows.reduce((n, row) => n + row.requests, 0), sent);
});

test('a named client\'s rpm counts its requests on every instance (within the sync lag)', T, async () => {
  const ps = await instances(3, [], { config: CONFIG, token: 'default-token-0002' });
  const model = 'gemini-2.5-flash';
  const into = Date.now() % 60000;
  if (into > 45000) await sleep(60000 - into + 300);  // the four stay in this minute
  for (let i = 0; i < 4; i++) {
    assert.equal((await asClient(ps[i % 3], BOTS, model)).status, 200);
    await sleep(100);
  }
  for (const p of ps) {
    const r = await asClient(p, BOTS, model);
    assert.equal(r.status, 429, r.body);
    assert.match(r.json.error.message, /client 'bots' is over its limit of 4 requests per minute/);
  }
  assert.equal(posts(model).length, 4);
});
