// SPEC 1, 3.5, 4.1: correct under concurrency — counters exact, rotation fair.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startMock } from '../mock/mock-gemini.mjs';
import { startProxy, keyEntry, modelEntry, eventually } from './harness.mjs';

const KEYS = ['test-key-0001', 'test-key-0002', 'test-key-0003', 'test-key-0004', 'test-key-0005'];
const MARGIN = 3;

let mock;
let proxy;
before(async () => {
  mock = await startMock();
  proxy = await startProxy({ keys: KEYS, upstream: mock.url });
});
after(async () => {
  await proxy?.cleanup();
  await mock?.close();
});
beforeEach(() => mock.reset());

test('300 concurrent generateContent requests over 5 keys: all succeed, exact counters, fair split', async () => {
  const model = 'conc-fair';
  // A little upstream latency so that the requests really overlap in the proxy.
  mock.setKey('*', model, { type: 'delay', ms: 30 });
  const results = await Promise.all(Array.from({ length: 300 }, () => proxy.generate(model, { timeoutMs: 60000 })));
  const bad = results.filter((r) => r.status !== 200);
  assert.equal(bad.length, 0, `${bad.length} failed, e.g. ${bad[0]?.status} ${bad[0]?.body}`);
  for (const r of results) assert.equal(r.json.candidates[0].content.parts[0].text, 'ok from mock');

  const seen = mock.keysSeen(model);
  assert.equal(seen.length, 300, 'exactly one upstream attempt per request');
  const admin = await eventually(async () => {
    const a = await proxy.adminKeys();
    assert.equal(a.keys.reduce((s, k) => s + k.requests_today, 0), 300, 'requests_today sums to exactly 300');
    return a;
  });
  for (const k of KEYS) {
    const e = keyEntry(admin, k);
    const upstream = seen.filter((x) => x === k).length;
    assert.equal(e.requests_today, upstream, `${k}: admin ${e.requests_today} vs mock ${upstream}`);
    assert.equal(modelEntry(admin, k, model).requests, upstream);
    assert.ok(Math.abs(e.requests_today - 60) <= MARGIN, `${k}: ${e.requests_today} requests, expected 60 ± ${MARGIN}`);
  }
});

test('concurrent streams and plain requests mixed: all complete, all counted', async () => {
  const model = 'conc-mixed';
  const jobs = [];
  for (let i = 0; i < 100; i++) {
    if (i % 2) jobs.push(proxy.generate(model, { method: 'streamGenerateContent', query: '?alt=sse', timeoutMs: 60000 }));
    else jobs.push(proxy.generate(model, { timeoutMs: 60000 }));
  }
  const results = await Promise.all(jobs);
  assert.equal(results.filter((r) => r.status !== 200 || r.aborted).length, 0);
  await eventually(async () => {
    const admin = await proxy.adminKeys();
    assert.equal(KEYS.reduce((s, k) => s + modelEntry(admin, k, model).requests, 0), 100);
  });
});

test('a key exhausted under concurrency: every request still succeeds and the key is skipped afterwards', async () => {
  const model = 'conc-exhaust';
  mock.setKey(KEYS[2], model, 'day');
  mock.setKey('*', model, { type: 'delay', ms: 20 });
  const results = await Promise.all(Array.from({ length: 100 }, () => proxy.generate(model, { timeoutMs: 60000 })));
  assert.equal(results.filter((r) => r.status !== 200).length, 0, 'all succeed (retried on other keys)');
  await eventually(async () => {
    const admin = await proxy.adminKeys();
    assert.equal(modelEntry(admin, KEYS[2], model).state, 'exhausted');
    assert.equal(modelEntry(admin, KEYS[2], model).requests, 0);
    const ok = KEYS.reduce((s, k) => s + modelEntry(admin, k, model).requests, 0);
    assert.equal(ok, 100, 'one counted success per request');
  });
  mock.clearRequests();
  await Promise.all(Array.from({ length: 40 }, () => proxy.generate(model)));
  assert.ok(!mock.keysSeen(model).includes(KEYS[2]), 'exhausted key skipped');
  const after = mock.keysSeen(model);
  for (const k of [KEYS[0], KEYS[1], KEYS[3], KEYS[4]]) {
    const n = after.filter((x) => x === k).length;
    assert.ok(Math.abs(n - 10) <= MARGIN, `${k}: ${n} of 40, expected 10 ± ${MARGIN}`);
  }
});
