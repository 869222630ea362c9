// SPEC 4.4: the quota day and its reset instant, as /admin/keys reports them and as they
// drive exhaustion deadlines and Retry-After.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startMock } from '../mock/mock-gemini.mjs';
import { startProxy, modelEntry, nextReset, quotaDay } from './harness.mjs';

const KEYS = ['test-key-0001', 'test-key-0002'];

let mock;
before(async () => { mock = await startMock(); });
after(async () => { await mock?.close(); });

for (const [tz, resetTime, args] of [
  ['America/Los_Angeles', '00:00', []],
  ['UTC', '06:30', ['--reset-timezone', 'UTC', '--reset-time', '06:30']],
  ['Asia/Kolkata', '05:30:15', ['--reset-timezone', 'Asia/Kolkata', '--reset-time', '05:30:15']],
  ['Australia/Lord_Howe', '23:59', ['--reset-timezone', 'Australia/Lord_Howe', '--reset-time', '23:59']],
]) {
  test(`quota day and next reset with ${tz} ${resetTime}`, async () => {
    const model = `qd-${tz.replace(/\W/g, '-')}`;
    const p = await startProxy({ keys: KEYS, upstream: mock.url, args });
    try {
      mock.setKey('*', model, 'day');
      const now = Date.now();
      const admin0 = await p.adminKeys();
      assert.equal(admin0.day, quotaDay(now, tz, resetTime), `day for ${tz} ${resetTime}`);
      assert.ok(Math.abs(Date.parse(admin0.next_reset) - nextReset(now, tz, resetTime)) <= 1000,
        `next_reset ${admin0.next_reset}, expected ${new Date(nextReset(now, tz, resetTime)).toISOString()}`);
      assert.match(admin0.next_reset, /Z$/, 'UTC ISO-8601');

      await p.generate(model);
      const r = await p.generate(model);
      assert.equal(r.status, 503);
      const ra = Number(r.headers['retry-after']);
      const expected = (nextReset(Date.now(), tz, resetTime) - Date.now()) / 1000;
      assert.ok(Math.abs(ra - expected) <= 5, `Retry-After ${r.headers['retry-after']} vs ${expected.toFixed(0)}`);
      const admin = await p.adminKeys();
      for (const k of KEYS) assert.equal(Date.parse(modelEntry(admin, k, model).until), Date.parse(admin.next_reset));
    } finally {
      await p.cleanup();
      mock.clearKey('*', model);
    }
  });
}
