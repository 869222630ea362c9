// SPEC 5: the key_usage.txt of the old Python proxy, beside the key file, is imported once on
// first start when its date is today's date in the server's local time zone; an older file is
// ignored with a log line; a malformed one does not stop the start.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startMock } from '../mock/mock-gemini.mjs';
import { startProxy, restartProxy, keyEntry, modelEntry } from './harness.mjs';
import { randomKeys, localDate } from './lib-lifecycle.mjs';

// Every test is bounded: a hang fails the test instead of the run.
const T = { timeout: 60000 };

let mock;
before(async () => { mock = await startMock(); });
after(async () => { await mock?.close(); });
beforeEach(() => mock.reset());

// Today's date in a time zone, YYYY-MM-DD.
function dateIn(tz, ms = Date.now()) {
  const f = new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' });
  return f.format(new Date(ms));
}

function legacyFile(date, K) {
  return {
    date,
    counts: { [K[0]]: 5, [K[1]]: 3, [K[2]]: 0 },
    model_counts: {
      [K[0]]: { 'gemini-2.5-flash': 3, 'gemini-2.5-pro': 1 },
      [K[1]]: { 'gemini-2.5-flash': 3 },
    },
    exhausted_keys: [K[2]],
  };
}

async function withDir(fn) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gkm-import-'));
  try {
    await fn(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function assertImported(admin, K) {
  const k0 = keyEntry(admin, K[0]);
  assert.equal(modelEntry(admin, K[0], 'gemini-2.5-flash').requests, 3, JSON.stringify(k0));
  assert.equal(modelEntry(admin, K[0], 'gemini-2.5-pro').requests, 1, JSON.stringify(k0));
  assert.equal(modelEntry(admin, K[0], '-').requests, 1, `the count not broken down by model goes under "-": ${JSON.stringify(k0)}`);
  assert.equal(k0.requests_today, 5);
  const k1 = keyEntry(admin, K[1]);
  assert.equal(modelEntry(admin, K[1], 'gemini-2.5-flash').requests, 3, JSON.stringify(k1));
  assert.equal(modelEntry(admin, K[1], '-').requests, 0, JSON.stringify(k1));
  assert.equal(k1.requests_today, 3);
  const k2 = keyEntry(admin, K[2]);
  assert.equal(k2.status, 'active', 'an exhausted key is not invalid');
  for (const m of ['gemini-2.5-flash', 'gemini-2.5-pro']) {
    const e = modelEntry(admin, K[2], m);
    assert.equal(e.state, 'exhausted', `${m}: ${JSON.stringify(k2)}`);
    assert.equal(Date.parse(e.until), Date.parse(admin.next_reset), `${m} exhausted until the next reset`);
  }
  assert.equal(k2.requests_today, 0);
  assert.equal(keyEntry(admin, K[3]).requests_today, 0, 'a key the file does not name starts at 0');
}

test('a key_usage.txt of today is imported: counts per model and under "-", the exhausted key exhausted', T, async () => {
  await withDir(async (dir) => {
    const K = randomKeys(4);
    fs.writeFileSync(path.join(dir, 'key_usage.txt'), JSON.stringify(legacyFile(localDate(), K)));
    let p = await startProxy({ dir, keys: K, upstream: mock.url });
    try {
      assertImported(await p.adminKeys(), K);
      // The exhausted key is skipped for a model the file names.
      for (let i = 0; i < 6; i++) assert.equal((await p.generate('gemini-2.5-flash')).status, 200);
      assert.ok(!mock.keysSeen('gemini-2.5-flash').includes(K[2]), `exhausted key used: ${JSON.stringify(mock.keysSeen('gemini-2.5-flash'))}`);
      const after6 = await p.adminKeys();
      const flashTotal = after6.keys.reduce((s, k) => s + (k.models?.['gemini-2.5-flash']?.requests ?? 0), 0);
      assert.equal(flashTotal, 3 + 3 + 6, 'new requests add to the imported counts');

      // Imported once only: a restart does not double the counts.
      assert.equal(await p.stop(), 0);
      p = await restartProxy(p);
      const again = await p.adminKeys();
      assert.equal(again.keys.reduce((s, k) => s + (k.models?.['gemini-2.5-flash']?.requests ?? 0), 0), 12, 'not imported twice');
      assert.equal(keyEntry(again, K[0]).requests_today - keyEntry(after6, K[0]).requests_today, 0);
      assert.equal(modelEntry(again, K[0], '-').requests, 1);
      assert.equal(modelEntry(again, K[0], 'gemini-2.5-pro').requests, 1);
      assert.equal(modelEntry(again, K[2], 'gemini-2.5-pro').state, 'exhausted');
      assert.ok(fs.existsSync(path.join(dir, 'key_usage.txt')), 'the old file is left in place');
    } finally {
      await p.kill9();
    }
  });
});

test('the date is compared with the local date of the server (TZ=Pacific/Kiritimati, UTC+14)', T, async () => {
  await withDir(async (dir) => {
    const K = randomKeys(4);
    const tz = 'Pacific/Kiritimati';
    fs.writeFileSync(path.join(dir, 'key_usage.txt'), JSON.stringify(legacyFile(dateIn(tz), K)));
    const p = await startProxy({ dir, keys: K, upstream: mock.url, env: { TZ: tz } });
    try {
      assertImported(await p.adminKeys(), K);
    } finally {
      await p.kill9();
    }
  });
});

test('a key_usage.txt with an older date is ignored, with a log line saying so', T, async () => {
  await withDir(async (dir) => {
    const K = randomKeys(4);
    const old = localDate(Date.now() - 3 * 86400 * 1000);
    fs.writeFileSync(path.join(dir, 'key_usage.txt'), JSON.stringify(legacyFile(old, K)));
    const p = await startProxy({ dir, keys: K, upstream: mock.url, logLevel: 'info' });
    try {
      const admin = await p.adminKeys();
      for (const k of K) {
        const e = keyEntry(admin, k);
        assert.equal(e.requests_today, 0, JSON.stringify(e));
        for (const [m, v] of Object.entries(e.models ?? {})) {
          assert.equal(v.requests, 0, `${m}: ${JSON.stringify(e)}`);
          assert.equal(v.state, 'ok', `${m}: ${JSON.stringify(e)}`);
        }
      }
      const line = p.output().split('\n').find((l) => l.includes('key_usage.txt'));
      assert.ok(line, `a log line names key_usage.txt:\n${p.output()}`);
      assert.match(line, /ignor|older|not today|skip/i, `the line says the file was ignored: ${line}`);
      assert.ok(line.includes(old), `the line gives the file's date ${old}: ${line}`);
      for (const k of K) assert.ok(!p.output().includes(k), 'no real key in the output');
    } finally {
      await p.kill9();
    }
  });
});

for (const [name, content] of [
  ['not JSON', '{"date": "2020-01-01", "counts": {'],
  ['JSON of the wrong shape', JSON.stringify(['a', 1, null])],
  ['fields of the wrong types', JSON.stringify({ date: 42, counts: 'x', model_counts: [1], exhausted_keys: { a: 1 } })],
  ['binary garbage', Buffer.from([0, 255, 254, 10, 13, 0, 1, 2, 3])],
]) {
  test(`a malformed key_usage.txt (${name}) does not stop the start`, T, async () => {
    await withDir(async (dir) => {
      const K = randomKeys(3);
      fs.writeFileSync(path.join(dir, 'key_usage.txt'), content);
      const p = await startProxy({ dir, keys: K, upstream: mock.url, logLevel: 'info' });
      try {
        const r = await p.generate('gemini-2.5-flash');
        assert.equal(r.status, 200, r.body);
        const admin = await p.adminKeys();
        assert.equal(admin.keys.length, 3);
        for (const k of admin.keys) assert.equal(k.status, 'active');
        assert.equal(admin.keys.reduce((s, k) => s + k.requests_today, 0), 1);
        assert.ok(p.output().split('\n').some((l) => l.includes('key_usage.txt')),
          `a log line tells the operator the file was not imported:\n${p.output()}`);
      } finally {
        await p.kill9();
      }
    });
  });
}

// The old proxy's last version writes exhausted_keys as {key: [models]}: exhausted for the
// models listed only, usable for the others.
test('exhausted_keys in the object form {key: [models]} exhausts only the models listed', T, async () => {
  await withDir(async (dir) => {
    const K = randomKeys(3);
    const file = {
      date: localDate(),
      counts: { [K[0]]: 2 },
      model_counts: { [K[0]]: { 'gemini-2.5-flash': 2 } },
      exhausted_keys: { [K[1]]: ['gemini-2.5-pro'], [K[2]]: ['models/gemini-2.5-flash', 'gemini-2.0-flash'] },
    };
    fs.writeFileSync(path.join(dir, 'key_usage.txt'), JSON.stringify(file));
    const p = await startProxy({ dir, keys: K, upstream: mock.url, logLevel: 'info' });
    try {
      const admin = await p.adminKeys();
      assert.equal(modelEntry(admin, K[1], 'gemini-2.5-pro').state, 'exhausted', JSON.stringify(keyEntry(admin, K[1])));
      assert.equal(Date.parse(modelEntry(admin, K[1], 'gemini-2.5-pro').until), Date.parse(admin.next_reset));
      assert.equal(modelEntry(admin, K[1], 'gemini-2.5-flash').state, 'ok', 'a model not listed stays usable');
      assert.equal(modelEntry(admin, K[2], 'gemini-2.5-flash').state, 'exhausted', JSON.stringify(keyEntry(admin, K[2])));
      assert.equal(modelEntry(admin, K[2], 'gemini-2.0-flash').state, 'exhausted');
      assert.equal(modelEntry(admin, K[2], 'gemini-2.5-pro').state, 'ok');
      for (const k of K) assert.equal(keyEntry(admin, k).status, 'active');
      assert.equal(modelEntry(admin, K[0], 'gemini-2.5-flash').requests, 2, 'the counts are imported too');

      for (let i = 0; i < 4; i++) assert.equal((await p.generate('gemini-2.5-flash')).status, 200);
      const flash = new Set(mock.keysSeen('gemini-2.5-flash'));
      assert.ok(flash.has(K[1]), 'K1 serves the model it was not exhausted for');
      assert.ok(!flash.has(K[2]), 'K2 is skipped for a model it was exhausted for');
      for (let i = 0; i < 4; i++) assert.equal((await p.generate('gemini-2.5-pro')).status, 200);
      const pro = new Set(mock.keysSeen('gemini-2.5-pro'));
      assert.ok(!pro.has(K[1]) && pro.has(K[2]), `pro: ${[...pro].map((k) => k.slice(-4))}`);
      for (const k of K) assert.ok(!p.output().includes(k), 'no real key in the output');
    } finally {
      await p.kill9();
    }
  });
});

test('exhausted_keys of an unreadable shape: a log line names it, the counts are still imported', T, async () => {
  await withDir(async (dir) => {
    const K = randomKeys(2);
    const file = { date: localDate(), counts: { [K[0]]: 3 }, exhausted_keys: 'everything' };
    fs.writeFileSync(path.join(dir, 'key_usage.txt'), JSON.stringify(file));
    const p = await startProxy({ dir, keys: K, upstream: mock.url, logLevel: 'info' });
    try {
      const admin = await p.adminKeys();
      assert.equal(keyEntry(admin, K[0]).requests_today, 3, 'nothing else is lost');
      const line = p.output().split('\n').find((l) => l.includes('key_usage.txt') && l.includes('exhausted_keys'));
      assert.ok(line, `a log line names the field:\n${p.output()}`);
      assert.match(line, /warn/i, line);
      assert.equal((await p.generate('gemini-2.5-flash')).status, 200);
    } finally {
      await p.kill9();
    }
  });
});
