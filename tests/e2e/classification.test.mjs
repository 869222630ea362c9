// SPEC 4.2: one test per row of the outcome classification, each checking what the client
// got, which keys the mock saw in which order, and the key's state in /admin/keys.
// Every test runs against a fresh proxy (fresh state dir) and the shared mock.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startMock } from '../mock/mock-gemini.mjs';
import { startProxy, keyEntry, modelEntry, nextReset, freePort, assertNoKeys, responseText, eventually } from './harness.mjs';

const KEYS = ['test-key-0001', 'test-key-0002', 'test-key-0003'];

let mock;
before(async () => { mock = await startMock(); });
after(async () => { await mock?.close(); });
beforeEach(() => mock.reset());

async function withProxy(args, fn) {
  const p = await startProxy({ keys: KEYS, upstream: mock.url, args });
  try {
    await fn(p);
  } finally {
    await p.cleanup();
  }
}

// Whatever key the proxy tries first for `model` gets `behaviour`, once; later attempts get ok.
async function firstAttemptGets(p, model, behaviour, { method } = {}) {
  mock.queue('*', model, behaviour);
  const t0 = Date.now();
  const r = await p.generate(model, { method });
  const t1 = Date.now();
  const seen = mock.keysSeen(model);
  // The bookkeeping of the answered attempt may land a moment after the client got it.
  let admin = await p.adminKeys();
  if (r.status === 200) {
    const last = seen.at(-1);
    admin = await eventually(async () => {
      const a = await p.adminKeys();
      assert.ok(modelEntry(a, last, model).requests >= 1);
      return a;
    }).catch(() => admin);
  }
  return { r, seen, t0, t1, admin };
}

// The request was retried once, on another key, and succeeded.
function assertRetriedOnNextKey({ r, seen }) {
  assert.equal(r.status, 200, `client status (body ${r.body})`);
  assert.equal(r.json.candidates[0].content.parts[0].text, 'ok from mock');
  assert.equal(seen.length, 2, `attempts ${JSON.stringify(seen)}`);
  assert.notEqual(seen[0], seen[1], 'the retry used another key');
  for (const k of seen) assert.ok(KEYS.includes(k));
  assertNoKeys(responseText(r), KEYS);
}

// Until now the failed key is never used again for `model`.
async function assertKeySkipped(p, model, bad, n = 4) {
  mock.clearRequests();
  for (let i = 0; i < n; i++) assert.equal((await p.generate(model)).status, 200);
  const seen = mock.keysSeen(model);
  assert.equal(seen.length, n);
  assert.ok(!seen.includes(bad), `key ${bad} used again: ${JSON.stringify(seen)}`);
}

function assertExhaustedUntilReset(admin, key, model) {
  const m = modelEntry(admin, key, model);
  assert.equal(m.state, 'exhausted', JSON.stringify(m));
  assert.equal(Date.parse(m.until), Date.parse(admin.next_reset), `until ${m.until} vs next_reset ${admin.next_reset}`);
  assert.ok(Math.abs(Date.parse(admin.next_reset) - nextReset()) <= 1000, `next_reset ${admin.next_reset} vs midnight Pacific ${new Date(nextReset()).toISOString()}`);
  assert.equal(typeof m.reason, 'string');
  assert.ok(m.reason.length > 0, 'reason set');
  assert.equal(keyEntry(admin, key).status, 'active');
}

const nextMinute = (t) => Math.ceil(t / 60000) * 60000;

// Cooling until max(now + delay, next minute boundary), at least 1 s (SPEC 4.2).
function assertCooling(admin, key, model, delayMs, t0, t1) {
  const m = modelEntry(admin, key, model);
  assert.equal(m.state, 'cooling', JSON.stringify(m));
  const until = Date.parse(m.until);
  assert.ok(Number.isFinite(until), `until ${m.until}`);
  const lo = Math.max(t0 + delayMs, nextMinute(t0), t0 + 1000) - 1000;
  const hi = Math.max(t1 + delayMs, nextMinute(t1), t1 + 1000) + 1500;
  assert.ok(until >= lo && until <= hi,
    `cooling until ${m.until}, expected between ${new Date(lo).toISOString()} and ${new Date(hi).toISOString()}`);
  assert.equal(typeof m.reason, 'string');
  assert.ok(m.reason.length > 0, 'reason set');
  assert.equal(keyEntry(admin, key).status, 'active');
}

function assertHealthy(admin, key, model) {
  const k = keyEntry(admin, key);
  assert.equal(k.status, 'active', JSON.stringify(k));
  const m = modelEntry(admin, key, model);
  assert.notEqual(m.state, 'exhausted', JSON.stringify(m));
}

// ---- row: 2xx, 3xx -> success ------------------------------------------------------------

test('2xx: success, one attempt, usage counted', async () => {
  await withProxy([], async (p) => {
    const model = 'cls-success';
    const r = await p.generate(model);
    assert.equal(r.status, 200);
    const seen = mock.keysSeen(model);
    assert.equal(seen.length, 1);
    await eventually(async () => {
      const admin = await p.adminKeys();
      const m = modelEntry(admin, seen[0], model);
      assert.equal(m.state, 'ok');
      assert.equal(m.requests, 1);
      assert.equal(keyEntry(admin, seen[0]).requests_today, 1);
      assert.equal(admin.keys.reduce((s, k) => s + k.requests_today, 0), 1);
    });
  });
});

test('3xx: success, passed through unchanged, no retry', async () => {
  await withProxy([], async (p) => {
    const model = 'cls-redirect';
    mock.queue('*', model, { type: 'raw', status: 302, headers: { location: 'https://example.invalid/elsewhere' }, body: '' });
    const r = await p.generate(model);
    assert.equal(r.status, 302);
    assert.equal(r.headers.location, 'https://example.invalid/elsewhere');
    const seen = mock.keysSeen(model);
    assert.equal(seen.length, 1);
    await eventually(async () => {
      const admin = await p.adminKeys();
      assert.equal(modelEntry(admin, seen[0], model).state, 'ok');
      assert.equal(keyEntry(admin, seen[0]).requests_today, 1, '3xx counted as a success');
    });
  });
});

// ---- row: 429 with quota value 0 -> day-exhausted (before the PerMinute row) ----------------

test('429 with quotaValue "0" (a PerMinute quotaId): day-exhausted until the next reset, retried on the next key', async () => {
  await withProxy([], async (p) => {
    const model = 'cls-zero';
    const o = await firstAttemptGets(p, model, 'zero');
    assertRetriedOnNextKey(o);
    assertExhaustedUntilReset(o.admin, o.seen[0], model);
    assert.equal(modelEntry(o.admin, o.seen[0], model).requests, 0, 'a 429 is not counted');
    assert.equal(modelEntry(o.admin, o.seen[1], model).requests, 1);
    await assertKeySkipped(p, model, o.seen[0]);
  });
});

// ---- row: 429 PerDay -> day-exhausted ----------------------------------------------------

test('429 per-day quota: day-exhausted until the next reset, retried on the next key', async () => {
  await withProxy([], async (p) => {
    const model = 'cls-day';
    const o = await firstAttemptGets(p, model, 'day');
    assertRetriedOnNextKey(o);
    assertExhaustedUntilReset(o.admin, o.seen[0], model);
    assert.equal(keyEntry(o.admin, o.seen[0]).requests_today, 0, 'a 429 is not counted');
    assert.equal(keyEntry(o.admin, o.seen[1]).requests_today, 1);
    await assertKeySkipped(p, model, o.seen[0]);
    // Only that model: the same key still serves another model.
    mock.clearRequests();
    for (let i = 0; i < KEYS.length; i++) assert.equal((await p.generate('cls-day-other')).status, 200);
    assert.ok(mock.keysSeen('cls-day-other').includes(o.seen[0]), 'exhaustion is per (key, model)');
  });
});

test('429 with several violations (PerMinute and PerDay) in reversed details order: day-exhausted', async () => {
  await withProxy([], async (p) => {
    const model = 'cls-day-multi';
    const o = await firstAttemptGets(p, model, {
      type: 'day', reverse: true, retryDelay: '0s',
      violations: [
        { quotaMetric: 'generativelanguage.googleapis.com/generate_content_free_tier_input_token_count', quotaId: 'GenerateContentInputTokensPerModelPerMinute-FreeTier', quotaDimensions: { location: 'global', model }, quotaValue: '250000' },
        { quotaMetric: 'generativelanguage.googleapis.com/generate_content_free_tier_requests', quotaId: 'GenerateRequestsPerDayPerProjectPerModel-FreeTier', quotaDimensions: { location: 'global', model }, quotaValue: '250' },
      ],
    });
    assertRetriedOnNextKey(o);
    assertExhaustedUntilReset(o.admin, o.seen[0], model);
  });
});

test('429 per-day quota in the JSON-array stream form: day-exhausted, retried', async () => {
  await withProxy([], async (p) => {
    const model = 'cls-day-array';
    mock.queue('*', model, 'day');
    const r = await p.generate(model, { method: 'streamGenerateContent' });
    assert.equal(r.status, 200);
    const seen = mock.keysSeen(model);
    assert.equal(seen.length, 2);
    assert.notEqual(seen[0], seen[1]);
    assertExhaustedUntilReset(await p.adminKeys(), seen[0], model);
  });
});

// ---- row: 429 PerMinute or only RetryInfo -> cooling --------------------------------------

test('429 per-minute quota (retryDelay 2.5s): cooling until max(delay, next minute boundary), retried', async () => {
  await withProxy([], async (p) => {
    const model = 'cls-minute';
    const o = await firstAttemptGets(p, model, { type: 'minute', retryDelay: '2.5s' });
    assertRetriedOnNextKey(o);
    assertCooling(o.admin, o.seen[0], model, 2500, o.t0, o.t1);
    assert.equal(modelEntry(o.admin, o.seen[0], model).requests, 0);
  });
});

test('429 per-minute quota with a long fractional retryDelay (90.5s): cooling for the delay', async () => {
  await withProxy([], async (p) => {
    const model = 'cls-minute-long';
    const o = await firstAttemptGets(p, model, { type: 'minute', retryDelay: '90.5s' });
    assertRetriedOnNextKey(o);
    assertCooling(o.admin, o.seen[0], model, 90500, o.t0, o.t1);
    await assertKeySkipped(p, model, o.seen[0]);
  });
});

test('429 with only a RetryInfo: cooling, retried', async () => {
  await withProxy([], async (p) => {
    const model = 'cls-retryinfo';
    const o = await firstAttemptGets(p, model, { type: 'retryinfo', retryDelay: '3s' });
    assertRetriedOnNextKey(o);
    assertCooling(o.admin, o.seen[0], model, 3000, o.t0, o.t1);
  });
});

// ---- row: 429 without details -> --bare-429 ---------------------------------------------

test('429 without details: day-exhausted by default', async () => {
  await withProxy([], async (p) => {
    const model = 'cls-bare';
    const o = await firstAttemptGets(p, model, 'bare429');
    assertRetriedOnNextKey(o);
    assertExhaustedUntilReset(o.admin, o.seen[0], model);
  });
});

test('429 without details with --bare-429 cooling: cooling', async () => {
  await withProxy(['--bare-429', 'cooling'], async (p) => {
    const model = 'cls-bare-cooling';
    const o = await firstAttemptGets(p, model, 'bare429');
    assertRetriedOnNextKey(o);
    assertCooling(o.admin, o.seen[0], model, 0, o.t0, o.t1);
  });
});

// ---- row: API_KEY_INVALID, suspended, denied -> invalid ---------------------------------

for (const [name, behaviour] of [
  ['400 API_KEY_INVALID', 'invalid'],
  ['400 API_KEY_INVALID "API key expired"', { type: 'invalid', message: 'API key expired. Please renew the API key.' }],
  ['403 consumer suspended', 'suspended'],
  ['403 project denied access', 'denied'],
]) {
  test(`${name}: key invalid (for every model), retried on the next key`, async () => {
    await withProxy([], async (p) => {
      const model = 'cls-invalid';
      const o = await firstAttemptGets(p, model, behaviour);
      assertRetriedOnNextKey(o);
      const k = keyEntry(o.admin, o.seen[0]);
      assert.equal(k.status, 'invalid', JSON.stringify(k));
      if ('reason' in k) assert.ok(typeof k.reason === 'string' && k.reason.length > 0, 'key reason set');
      assert.equal(keyEntry(o.admin, o.seen[1]).status, 'active');
      await assertKeySkipped(p, model, o.seen[0]);
      mock.clearRequests();
      for (let i = 0; i < 4; i++) assert.equal((await p.generate('cls-invalid-other')).status, 200);
      assert.ok(!mock.keysSeen('cls-invalid-other').includes(o.seen[0]), 'an invalid key is skipped for every model');
    });
  });
}

// ---- row: 5xx, connection failures, timeout -> transient ---------------------------------

for (const [name, behaviour] of [
  ['500 INTERNAL', '500'],
  ['502', { type: 'error', status: 502, statusText: 'UNAVAILABLE', message: 'Bad Gateway' }],
  ['503 UNAVAILABLE (model overloaded)', 'overloaded'],
  ['504 DEADLINE_EXCEEDED', { type: 'error', status: 504, statusText: 'DEADLINE_EXCEEDED', message: 'Deadline expired before operation could complete.' }],
  ['connection reset without an answer', 'reset'],
]) {
  test(`${name}: transient, retried on the next key, key not invalid nor exhausted`, async () => {
    await withProxy([], async (p) => {
      const model = 'cls-transient';
      const o = await firstAttemptGets(p, model, behaviour);
      assertRetriedOnNextKey(o);
      assertHealthy(o.admin, o.seen[0], model);
      const m = modelEntry(o.admin, o.seen[0], model);
      if (m.state === 'cooling') {
        const until = Date.parse(m.until);
        assert.ok(until > o.t0 && until <= o.t1 + 5 * 60 * 1000, `short cooldown, until ${m.until}`);
      }
    });
  });
}

test('timeout before response headers (--upstream-timeout 1): transient, retried', async () => {
  await withProxy(['--upstream-timeout', '1'], async (p) => {
    const model = 'cls-hang';
    const o = await firstAttemptGets(p, model, 'hang');
    assertRetriedOnNextKey(o);
    assertHealthy(o.admin, o.seen[0], model);
    assert.ok(o.t1 - o.t0 >= 900, `the first attempt waited for the timeout (${o.t1 - o.t0} ms)`);
    assert.ok(o.t1 - o.t0 < 8000, `took ${o.t1 - o.t0} ms`);
  });
});

test('connection refused: transient for every key, never invalid, client gets a 5xx', async () => {
  const port = await freePort();
  const p = await startProxy({ keys: KEYS, upstream: `http://127.0.0.1:${port}`, args: ['--upstream-timeout', '2'] });
  try {
    const t0 = Date.now();
    const r = await p.generate('cls-refused');
    assert.ok(r.status >= 500 && r.status <= 504, `status ${r.status}`);
    assert.ok(Date.now() - t0 < 10000);
    assertNoKeys(responseText(r), KEYS);
    const admin = await p.adminKeys();
    for (const k of KEYS) assertHealthy(admin, k, 'cls-refused');
  } finally {
    await p.cleanup();
  }
});

// ---- row: other 4xx -> client error -----------------------------------------------------

for (const [name, behaviour, status] of [
  ['400 INVALID_ARGUMENT (bad request)', 'badrequest', 400],
  ['400 FAILED_PRECONDITION (user location)', 'location', 400],
  ['404 NOT_FOUND', 'notfound', 404],
  ['403 PERMISSION_DENIED about a file', 'filedenied', 403],
]) {
  test(`${name}: returned unchanged, no retry, not the key's fault`, async () => {
    await withProxy([], async (p) => {
      const model = 'cls-client';
      const o = await firstAttemptGets(p, model, behaviour);
      assert.equal(o.r.status, status);
      assert.equal(o.seen.length, 1, `attempts ${JSON.stringify(o.seen)}`);
      const e = mock.requests.find((x) => x.model === model);
      assert.equal(o.r.body, e.responseBody, 'body byte-identical');
      assert.equal(o.r.headers['content-type'], 'application/json; charset=UTF-8');
      const k = keyEntry(o.admin, o.seen[0]);
      assert.equal(k.status, 'active');
      assert.equal(modelEntry(o.admin, o.seen[0], model).state, 'ok');
    });
  });
}

test('malformed JSON body: 400 and at most one attempt (forwarded raw, or refused by the proxy)', async () => {
  await withProxy([], async (p) => {
    const model = 'cls-badjson';
    const r = await p.call('POST', `/v1beta/models/${model}:generateContent`, { body: '{"contents": [', headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 400);
    const seen = mock.keysSeen(model);
    assert.ok(seen.length <= 1, `attempts ${JSON.stringify(seen)}`);
    if (seen.length === 1) assert.equal(r.body, mock.requests.find((x) => x.model === model).responseBody);
    const admin = await p.adminKeys();
    for (const k of KEYS) assertHealthy(admin, k, model);
  });
});
