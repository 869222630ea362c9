// SPEC 6: several instances share one key pool through Redis. A real redis-server on a free
// loopback port, with a password, the instances on db 3: verdicts reach every instance,
// counters sum exactly, rotation stays fair, Redis going away and coming back loses nothing,
// and a bad --redis fails the start with one line.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startMock } from '../mock/mock-gemini.mjs';
import { startProxy, freePort, sleep, eventually, keyEntry, modelEntry, rawRequest } from './harness.mjs';
import { startRedisServer, steadyLoad, refusedStart, PW } from './lib-redis.mjs';

const DB = 3;
const KEYS = ['test-key-r001', 'test-key-r002', 'test-key-r003', 'test-key-r004'];

let mock;
let redis;
let redisPort;
const proxies = [];
const startRedis = () => redis.start();
const stopRedis = () => redis.stop();
const cli = (...args) => redis.cli(...args);
const url = (db = DB, pw = PW, port = redisPort) => redis.url(db, pw, port);

async function instance(extra = [], keys = KEYS) {
  const p = await startProxy({ keys, upstream: mock.url, args: ['--redis', url(), '--flush-interval-ms', '200', ...extra] });
  proxies.push(p);
  return p;
}

const sumRequests = (admin, model) => admin.keys.reduce((n, k) => n + (k.models?.[model]?.requests ?? 0), 0);
const mockCount = (model, key) => mock.requests.filter((e) => e.model === model && (!key || e.key === key)).length;

before(async () => {
  mock = await startMock();
  redis = await startRedisServer(DB);
  redisPort = redis.port;
});

after(async () => {
  for (const p of proxies) await p.cleanup().catch(() => {});
  await redis?.close();
  await mock?.close();
});

test('start: a wrong password, an unreachable server and a bad db index are one line and exit 1', async () => {
  const wrong = refusedStart(['--redis', url(DB, 'not-the-password')]);
  assert.equal(wrong.status, 1, wrong.stderr);
  assert.match(wrong.stderr, /--redis: authentication refused by 127\.0\.0\.1:\d+/);
  assert.equal(wrong.stderr.trim().split('\n').length, 1, wrong.stderr);
  assert.ok(!wrong.stderr.includes('not-the-password'), 'the password is never echoed');

  const nowhere = refusedStart(['--redis', url(DB, PW, await freePort())]);
  assert.equal(nowhere.status, 1, nowhere.stderr);
  assert.match(nowhere.stderr, /--redis: cannot connect to 127\.0\.0\.1:\d+/);
  assert.equal(nowhere.stderr.trim().split('\n').length, 1, nowhere.stderr);

  const baddb = refusedStart(['--redis', url(99999)]);
  assert.equal(baddb.status, 1, baddb.stderr);
  assert.match(baddb.stderr, /selecting the db .*DB index is out of range/);

  // rediss:// to a plain-text Redis: the handshake fails (redis-tls.test.mjs has the rest).
  const tls = refusedStart(['--redis', `rediss://:${PW}@127.0.0.1:${redisPort}/3`]);
  assert.equal(tls.status, 1, tls.stderr);
  assert.match(tls.stderr, new RegExp(`--redis: TLS handshake with 127\\.0\\.0\\.1:${redisPort} failed: `));
  assert.equal(tls.stderr.trim().split('\n').length, 1, tls.stderr);
});

test('--redis-optional: an unreachable Redis starts on local state, /healthz says redis down', async () => {
  const p = await startProxy({ keys: KEYS, upstream: mock.url,
    args: ['--redis', url(DB, PW, await freePort()), '--redis-optional'] });
  proxies.push(p);
  const h = await rawRequest(p.port, 'GET', '/healthz');
  assert.equal(h.status, 200);
  assert.deepEqual(h.json, { status: 'ok', redis: 'down' });
  assert.equal((await p.generate('gemini-2.5-flash-lite')).status, 200, 'requests flow without Redis');
  assert.match(p.output(), /--redis-optional/);
  await p.cleanup();
});

let A; let B; let C;

test('three instances, one Redis: 600 requests give exact totals everywhere, rotation is fair', async () => {
  [A, B, C] = [await instance(), await instance(), await instance()];
  for (const p of [A, B, C]) {
    assert.deepEqual((await rawRequest(p.port, 'GET', '/healthz')).json, { status: 'ok', redis: 'up' });
  }
  const model = 'gemini-2.5-pro';
  mock.reset();
  const all = [A, B, C];
  const statuses = [];
  // 600 requests, 200 per instance, 8 at a time.
  let next = 0;
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next < 600) {
      const i = next++;
      const r = await all[i % 3].generate(model);
      statuses.push(r.status);
    }
  }));
  assert.equal(statuses.filter((s) => s === 200).length, 600);
  assert.equal(mockCount(model), 600);
  for (const p of all) {
    await eventually(async () => {
      const admin = await p.adminKeys();
      assert.equal(sumRequests(admin, model), 600, `instance on ${p.port}: pool-wide total`);
      for (const k of KEYS) assert.equal(modelEntry(admin, k, model).requests, mockCount(model, k), `key ${k}`);
    }, { timeoutMs: 5000 });
  }
  for (const k of KEYS) {
    const n = mockCount(model, k);
    assert.ok(Math.abs(n - 150) <= 6, `key ${k} served ${n} of 600 (fair: 150 each)`);
  }
  // /metrics on any instance: the pool-wide day count.
  const m = await rawRequest(C.port, 'GET', '/metrics');
  assert.match(m.body, new RegExp(`gkm_requests_today_total\\{model="${model}"\\} 600\\b`));
  // Everything lives under the prefix in db 3, nothing in db 0.
  assert.ok(cli('--scan', '--pattern', 'gkm:*').trim().length > 0);
  assert.equal(execFileSync('redis-cli', ['-p', String(redisPort), '-a', PW, '--no-auth-warning', '-n', '0', 'DBSIZE'],
    { encoding: 'utf8' }).trim(), '0');
});

test('a per-day 429 seen by one instance is never retried by the others', async () => {
  const model = 'gemini-2.5-flash';
  mock.reset();
  mock.setKey(KEYS[0], model, 'day');
  // A meets the exhausted key within its first four requests (round robin over four keys).
  for (let i = 0; i < 4 && mockCount(model, KEYS[0]) === 0; i++) {
    assert.equal((await A.generate(model)).status, 200);
  }
  assert.equal(mockCount(model, KEYS[0]), 1);
  await sleep(100);  // SPEC 6: within 100 ms
  await Promise.all([B, C].map(async (p) => {
    for (let i = 0; i < 12; i++) assert.equal((await p.generate(model)).status, 200);
  }));
  assert.equal(mockCount(model, KEYS[0]), 1, 'B and C never sent the exhausted key');
  for (const p of [B, C]) {
    const e = modelEntry(await p.adminKeys(), KEYS[0], model);
    assert.equal(e.state, 'exhausted');
    assert.match(e.reason, /per-day/i);
  }
});

test('a key marked invalid on one instance is invalid on all', async () => {
  const model = 'gemini-2.0-flash';
  mock.reset();
  mock.setKey(KEYS[1], '*', 'invalid');
  for (let i = 0; i < 4 && mockCount(model, KEYS[1]) === 0; i++) {
    assert.equal((await B.generate(model)).status, 200);
  }
  assert.equal(mockCount(model, KEYS[1]), 1);
  await sleep(100);
  for (const p of [A, C]) {
    for (let i = 0; i < 8; i++) assert.equal((await p.generate(model)).status, 200);
    assert.equal(keyEntry(await p.adminKeys(), KEYS[1]).status, 'invalid');
  }
  assert.equal(mock.requests.filter((e) => e.key === KEYS[1]).length, 1, 'no instance used the invalid key again');
  mock.setKey(KEYS[1], '*', 'ok');
});

test('Redis stopped and restarted mid-load: no failed request, exact totals, a late instance joins', async () => {
  const model = 'gemini-2.5-flash-lite';
  mock.reset();
  const load = steadyLoad([A, B, C], model);
  await sleep(500);
  await stopRedis();
  await eventually(async () => {
    assert.deepEqual((await rawRequest(A.port, 'GET', '/healthz')).json, { status: 'ok', redis: 'down' });
  }, { timeoutMs: 5000 });
  // An instance started while Redis is down (it must be told to): it serves on its own.
  const D = await instance(['--redis-optional']);
  assert.deepEqual((await rawRequest(D.port, 'GET', '/healthz')).json, { status: 'ok', redis: 'down' });
  for (let i = 0; i < 10; i++) assert.equal((await D.generate(model)).status, 200);
  await sleep(700);
  await startRedis();
  for (const p of [A, D]) {
    await eventually(async () => {
      assert.deepEqual((await rawRequest(p.port, 'GET', '/healthz')).json, { status: 'ok', redis: 'up' });
    }, { timeoutMs: 5000 });
  }
  await sleep(500);
  const { failures, sent: loaded } = await load.stop();
  const sent = loaded + 10;  // and D's own
  assert.deepEqual(failures, []);
  assert.equal(mockCount(model), sent);
  for (const p of [A, B, C, D]) {
    await eventually(async () => {
      const admin = await p.adminKeys();
      assert.equal(sumRequests(admin, model), sent, `instance on ${p.port}: every request counted once`);
    }, { timeoutMs: 8000 });
  }
});
