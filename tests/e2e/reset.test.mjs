// SPEC 4.4 and 5: the daily reset instant. With --reset-timezone UTC and --reset-time a few
// seconds ahead, keys exhausted for the day give 503 + Retry-After up to that instant, then serve
// again, and the counters of the new quota day start at zero.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startMock } from '../mock/mock-gemini.mjs';
import { startProxy, keyEntry, modelEntry, quotaDay, sleep } from './harness.mjs';
import { randomKeys, utcHms } from './lib-lifecycle.mjs';

// Every test is bounded: a hang fails the test instead of the run.
const T = { timeout: 60000 };

let mock;
before(async () => { mock = await startMock(); });
after(async () => { await mock?.close(); });

test('at the reset instant day-exhausted keys serve again and requests_today restarts at 0', T, async () => {
  const K = randomKeys(2);
  const model = 'reset-model';
  const other = 'reset-other';
  // The reset instant: a whole second 5 s ahead (wrapping at midnight UTC like a wall clock).
  const R = Math.ceil(Date.now() / 1000) * 1000 + 5000;
  const resetTime = utcHms(R);
  const p = await startProxy({ keys: K, upstream: mock.url, args: ['--reset-timezone', 'UTC', '--reset-time', resetTime] });
  try {
    assert.ok(Date.now() < R - 2500, 'the proxy started well before the reset instant');
    const admin0 = await p.adminKeys();
    assert.equal(Date.parse(admin0.next_reset), R, `next_reset ${admin0.next_reset} is the configured instant ${new Date(R).toISOString()}`);
    const dayBefore = quotaDay(R - 1000, 'UTC', resetTime);
    const dayAfter = quotaDay(R + 1000, 'UTC', resetTime);
    assert.notEqual(dayBefore, dayAfter);
    assert.equal(admin0.day, dayBefore);

    // One success per key on another model: requests_today = 1 for each key.
    for (let i = 0; i < 2; i++) assert.equal((await p.generate(other)).status, 200);
    // Both keys exhausted for `model`.
    for (const k of K) mock.setKey(k, model, 'day');
    // The request that exhausts them ends in a 503 (DECISIONS: retries exhausted -> Retry-After 1);
    // the next one finds nothing usable (SPEC 4.3): Retry-After = seconds until the reset.
    const first = await p.generate(model);
    assert.equal(first.status, 503, first.body);
    assert.equal(mock.keysSeen(model).length, 2, 'both keys tried once');
    const r = await p.generate(model);
    const tAnswer = Date.now();
    assert.equal(r.status, 503, r.body);
    assert.equal(mock.keysSeen(model).length, 2, 'no upstream attempt while every key is exhausted');
    const ra = Number(r.headers['retry-after']);
    assert.match(r.headers['retry-after'] ?? '', /^\d+$/, `Retry-After ${r.headers['retry-after']}`);
    const expected = (R - tAnswer) / 1000;
    assert.ok(Math.abs(ra - expected) <= 1.5, `Retry-After ${ra} vs ${expected.toFixed(2)} s until the reset`);
    assert.match(r.json?.error?.message ?? '', /day|exhaust|quota/i, `the 503 says why: ${r.body}`);
    const admin1 = await p.adminKeys();
    for (const k of K) {
      assert.equal(modelEntry(admin1, k, model).state, 'exhausted');
      assert.equal(Date.parse(modelEntry(admin1, k, model).until), R);
      assert.equal(keyEntry(admin1, k).requests_today, 1);
    }
    for (const k of K) mock.clearKey(k, model);

    // Still 503 just before the instant (no upstream attempt).
    if (Date.now() < R - 800) {
      const n = mock.requests.length;
      const early = await p.generate(model);
      assert.equal(early.status, 503);
      assert.equal(mock.requests.length, n, 'no upstream attempt while every key is exhausted');
    }

    const wait = R - Date.now() + 300;
    if (wait > 0) await sleep(wait);

    const admin2 = await p.adminKeys();
    assert.equal(admin2.day, dayAfter, `the quota day changed at the reset instant (${admin2.day})`);
    assert.equal(Date.parse(admin2.next_reset), R + 86400 * 1000, `next reset one day later: ${admin2.next_reset}`);
    for (const k of K) {
      const e = keyEntry(admin2, k);
      assert.equal(e.requests_today, 0, `requests_today restarted at 0: ${JSON.stringify(e)}`);
      assert.notEqual(modelEntry(admin2, k, model).state, 'exhausted', JSON.stringify(e));
      assert.equal(modelEntry(admin2, k, other).requests, 0, JSON.stringify(e));
    }

    mock.clearRequests();
    for (let i = 0; i < 2; i++) {
      const again = await p.generate(model);
      assert.equal(again.status, 200, `after the reset: ${again.status} ${again.body}`);
    }
    assert.deepEqual([...mock.keysSeen(model)].sort(), [...K].sort(), 'both keys serve the model again');
    const admin3 = await p.adminKeys();
    for (const k of K) {
      assert.equal(keyEntry(admin3, k).requests_today, 1);
      assert.equal(modelEntry(admin3, k, model).requests, 1);
    }
  } finally {
    await p.cleanup();
  }
});
