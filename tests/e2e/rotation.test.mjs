// SPEC 4.1 (round-robin selection, attempts), 4.3 (nothing usable: 503 + Retry-After).
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startMock } from '../mock/mock-gemini.mjs';
import { startProxy, restartProxy, modelEntry, assertNoKeys, responseText, eventually } from './harness.mjs';

const KEYS = ['test-key-0001', 'test-key-0002', 'test-key-0003'];

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

function retryAfter(r) {
  const v = r.headers['retry-after'];
  assert.ok(v !== undefined, `Retry-After missing (status ${r.status}, body ${r.body})`);
  assert.match(v, /^\d+$/, `Retry-After is integer seconds: ${v}`);
  const n = Number(v);
  assert.ok(n > 0, `Retry-After ${v} > 0`);
  return n;
}

// A Gemini-shaped error body: {"error":{"code":503,"message":...,"status":...}}.
function assertGeminiError(r, code, messageRe) {
  assert.ok(r.json && typeof r.json.error === 'object', `Gemini error body expected: ${r.body}`);
  assert.equal(r.json.error.code, code);
  assert.equal(typeof r.json.error.message, 'string');
  assert.match(r.json.error.message, messageRe);
  assert.equal(typeof r.json.error.status, 'string');
  assert.match(r.headers['content-type'] ?? '', /^application\/json/);
  assertNoKeys(responseText(r), KEYS);
}

test('round robin: 6 sequential requests over 3 keys hit each key twice, in a fixed cycle', async () => {
  const model = 'rr-cycle';
  for (let i = 0; i < 6; i++) assert.equal((await proxy.generate(model)).status, 200);
  const seen = mock.keysSeen(model);
  assert.equal(seen.length, 6);
  for (const k of KEYS) assert.equal(seen.filter((x) => x === k).length, 2, `${k} in ${JSON.stringify(seen)}`);
  for (let i = 1; i < 6; i++) assert.notEqual(seen[i], seen[i - 1], `same key twice in a row: ${JSON.stringify(seen)}`);
  for (let i = 3; i < 6; i++) assert.equal(seen[i], seen[i - 3], `not a cycle: ${JSON.stringify(seen)}`);
});

test('round robin skips an unusable key and alternates over the others', async () => {
  const model = 'rr-skip';
  mock.setKey(KEYS[0], model, 'day');
  for (let i = 0; i < 8; i++) assert.equal((await proxy.generate(model)).status, 200);
  const seen = mock.keysSeen(model);
  assert.ok(seen.filter((k) => k === KEYS[0]).length <= 1, `exhausted key used again: ${JSON.stringify(seen)}`);
  const ok = mock.requests.filter((r) => r.model === model && r.status === 200).map((r) => r.key);
  assert.equal(ok.length, 8);
  for (let i = 1; i < ok.length; i++) assert.notEqual(ok[i], ok[i - 1], `not alternating: ${JSON.stringify(ok)}`);
});

test('one request never uses the same key twice: all keys failing, each is tried once', async () => {
  const model = 'rr-allfail';
  mock.setKey('*', model, 'overloaded');
  const r = await proxy.generate(model);
  assert.ok(r.status >= 500 && r.status <= 504, `status ${r.status}`);
  const seen = mock.keysSeen(model);
  assert.equal(seen.length, KEYS.length, JSON.stringify(seen));
  assert.deepEqual([...seen].sort(), [...KEYS].sort());
  assertNoKeys(responseText(r), KEYS);
});

test('--max-attempts 2 limits the upstream attempts of one request', async () => {
  const p = await startProxy({ keys: KEYS, upstream: mock.url, args: ['--max-attempts', '2'] });
  try {
    const model = 'rr-max';
    mock.setKey('*', model, '500');
    const r = await p.generate(model);
    assert.ok(r.status >= 500 && r.status <= 504, `status ${r.status}`);
    const seen = mock.keysSeen(model);
    assert.equal(seen.length, 2, JSON.stringify(seen));
    assert.notEqual(seen[0], seen[1]);
  } finally {
    await p.cleanup();
  }
});

test('all keys exhausted for a model: 503, Retry-After until the reset, body says "exhausted"; other models still work', async () => {
  const model = 'rr-exhausted';
  mock.setKey('*', model, 'day');
  const first = await proxy.generate(model);
  assert.equal(mock.keysSeen(model).length, KEYS.length, 'each key tried once');
  assert.equal(first.status, 503, `status ${first.status} ${first.body}`);
  retryAfter(first);
  // The keys ran out during this very request: the message may speak of the last answer.
  assertGeminiError(first, 503, /exhaust|per-day|quota/i);

  mock.clearRequests();
  const t = Date.now();
  const r = await proxy.generate(model);
  assert.equal(r.status, 503);
  assert.equal(mock.requests.length, 0, 'no upstream attempt when nothing is usable');
  const ra = retryAfter(r);
  const admin = await proxy.adminKeys();
  const expected = (Date.parse(admin.next_reset) - t) / 1000;
  assert.ok(Math.abs(ra - expected) <= 5, `Retry-After ${ra} vs ${expected.toFixed(1)} s to the next reset`);
  assertGeminiError(r, 503, /exhaust/i);
  for (const k of KEYS) assert.equal(modelEntry(admin, k, model).state, 'exhausted');

  const other = await proxy.generate('rr-exhausted-other');
  assert.equal(other.status, 200);
});

test('all keys cooling: 503 with Retry-After about the cooling delay, body says "cooling"', async () => {
  const model = 'rr-cooling';
  mock.setKey('*', model, { type: 'minute', retryDelay: '90s' });
  const t0 = Date.now();
  const first = await proxy.generate(model);
  assert.equal(mock.keysSeen(model).length, KEYS.length);
  assert.equal(first.status, 503, `status ${first.status} ${first.body}`);
  mock.clearRequests();
  const r = await proxy.generate(model);
  assert.equal(r.status, 503);
  assert.equal(mock.requests.length, 0);
  const ra = retryAfter(r);
  const expected = 90 - (Date.now() - t0) / 1000;
  assert.ok(ra >= expected - 2 && ra <= expected + 2, `Retry-After ${ra} vs about ${expected.toFixed(1)}`);
  assertGeminiError(r, 503, /cool/i);
  assert.equal((await proxy.generate('rr-cooling-other')).status, 200);
});

test('some exhausted, some cooling: Retry-After is the earliest key', async () => {
  const model = 'rr-mixed';
  mock.setKey(KEYS[0], model, 'day');
  mock.setKey(KEYS[1], model, { type: 'minute', retryDelay: '75s' });
  mock.setKey(KEYS[2], model, { type: 'minute', retryDelay: '120s' });
  const t0 = Date.now();
  await proxy.generate(model);
  const r = await proxy.generate(model);
  assert.equal(r.status, 503);
  const ra = retryAfter(r);
  const expected = 75 - (Date.now() - t0) / 1000;
  assert.ok(ra >= expected - 2 && ra <= expected + 2, `Retry-After ${ra} vs about ${expected.toFixed(1)}`);
});

test('all keys invalid: 503, body says "invalid"', async () => {
  const bad = ['bad-key-0001', 'bad-key-0002'];
  const p = await startProxy({ keys: bad, upstream: mock.url });
  try {
    const first = await p.generate('rr-invalid');
    assert.equal(mock.keysSeen('rr-invalid').length, 2);
    assert.equal(first.status, 503, `status ${first.status} ${first.body}`);
    mock.clearRequests();
    const r = await p.generate('rr-invalid-2');
    assert.equal(r.status, 503);
    assert.equal(mock.requests.length, 0);
    assert.ok(r.json?.error, r.body);
    assert.equal(r.json.error.code, 503);
    assert.match(r.json.error.message, /invalid/i);
    assertNoKeys(responseText(r), bad);
  } finally {
    await p.cleanup();
  }
});

test('the rotation position and the counters survive a restart', async () => {
  const p = await startProxy({ keys: KEYS, upstream: mock.url });
  let p2;
  try {
    const model = 'rr-restart';
    for (let i = 0; i < 4; i++) assert.equal((await p.generate(model)).status, 200);
    const before = mock.keysSeen(model);
    await eventually(async () => {
      assert.equal((await p.adminKeys()).keys.reduce((s, k) => s + k.requests_today, 0), 4);
    });
    assert.equal(await p.stop('SIGTERM'), 0, 'exit code 0 after SIGTERM');
    p2 = await restartProxy(p);
    const sumAfter = (await p2.adminKeys()).keys.reduce((s, k) => s + k.requests_today, 0);
    assert.equal(sumAfter, 4, 'requests_today kept across the restart');
    mock.clearRequests();
    assert.equal((await p2.generate(model)).status, 200);
    const next = mock.keysSeen(model)[0];
    // The cycle was before[0], before[1], before[2], before[0]: the next one is before[1].
    assert.equal(next, before[1], `after restart ${next}, sequence before ${JSON.stringify(before)}`);
  } finally {
    await (p2 ?? p).cleanup();
  }
});

test('key file attributes and comments (SPEC 2.2): the key alone goes upstream, bad attributes are warnings', async () => {
  const lines = [
    // proxy= pins a key to its egress proxy (egress.test.mjs); these refuse, so the pinned
    // keys never reach the mock and the others serve.
    'test-key-attr-1 project=team-a proxy=socks5h://127.0.0.1:1 # Alice\'s key',
    'test-key-attr-2\tproject=team-b # Bob',
    'test-key-attr-3#glued comment',
    'test-key-attr-4 colour=blue proxy=http://user:hunter2@127.0.0.1:1',
  ];
  const p = await startProxy({ keys: lines, upstream: mock.url });
  try {
    const model = 'attr-rotation';
    for (let i = 0; i < 8; i++) assert.equal((await p.generate(model)).status, 200);
    const seen = mock.keysSeen(model);
    assert.equal(seen.length, 8);
    for (const k of ['test-key-attr-2', 'test-key-attr-3']) {
      assert.ok(seen.includes(k), `${k} in ${JSON.stringify(seen)}`);
    }
    assert.equal(new Set(seen).size, 2, `only the keys themselves, and not those behind refusing proxies, went upstream: ${JSON.stringify(seen)}`);
    await eventually(() => assert.match(p.output(), /line 4: unknown attribute 'colour': ignored/));
    assert.doesNotMatch(p.output(), /hunter2/, 'a proxy password is never logged');
  } finally {
    await p.cleanup();
  }
});
