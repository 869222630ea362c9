// SPEC 6 over TLS (rediss://): a real redis-server listening on TLS only, its certificate made
// at test time by a CA of the test's own (openssl). Instances given the CA (--redis-ca) share
// state through it, counts land in the URL's db, a Redis restart is survived; an untrusted
// certificate, a certificate for another name and a wrong password fail the start with one
// line naming host:port.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startMock } from '../mock/mock-gemini.mjs';
import { startProxy, sleep, eventually, keyEntry, modelEntry, rawRequest } from './harness.mjs';
import { startRedisServer, steadyLoad, refusedStart, PW } from './lib-redis.mjs';

const DB = 3;
const KEYS = ['test-key-t001', 'test-key-t002', 'test-key-t003', 'test-key-t004'];

let mock;
let redis;   // TLS only, certificate for localhost and 127.0.0.1
let other;   // TLS only, certificate for redis.other.test only
const proxies = [];

async function instance(extra = []) {
  const p = await startProxy({ keys: KEYS, upstream: mock.url,
    args: ['--redis', redis.url(), '--redis-ca', redis.ca, '--flush-interval-ms', '200', ...extra] });
  proxies.push(p);
  return p;
}

function oneLine(r, status) {
  assert.equal(r.status, status, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.ok(!r.stderr.includes(PW), 'the password is never echoed');
  return r.stderr;
}

const sumRequests = (admin, model) => admin.keys.reduce((n, k) => n + (k.models?.[model]?.requests ?? 0), 0);
const mockCount = (model, key) => mock.requests.filter((e) => e.model === model && (!key || e.key === key)).length;

before(async () => {
  mock = await startMock();
  redis = await startRedisServer(DB, { tls: true });
  other = await startRedisServer(DB, { tls: true, names: ['DNS:redis.other.test'] });
});

after(async () => {
  for (const p of proxies) await p.cleanup().catch(() => {});
  await redis?.close();
  await other?.close();
  await mock?.close();
});

test('start over TLS: an untrusted certificate, another name and a wrong password are one line and exit 1', () => {
  const untrusted = oneLine(refusedStart(['--redis', redis.url()]), 1);
  assert.match(untrusted, new RegExp(`--redis: TLS handshake with localhost:${redis.port} failed: the server's certificate was refused: .*\\(give its CA with --redis-ca\\)`));

  const name = oneLine(refusedStart(['--redis', other.url(), '--redis-ca', other.ca]), 1);
  assert.match(name, new RegExp(`TLS handshake with localhost:${other.port} failed: .*hostname mismatch`));
  // The same CA, by IP: the certificate names no IP address either.
  const ip = oneLine(refusedStart(['--redis', `rediss://:${PW}@127.0.0.1:${other.port}/3`, '--redis-ca', other.ca]), 1);
  assert.match(ip, new RegExp(`TLS handshake with 127\\.0\\.0\\.1:${other.port} failed: .*IP address mismatch`));

  const wrong = oneLine(refusedStart(['--redis', redis.url(DB, 'not-the-password'), '--redis-ca', redis.ca]), 1);
  assert.match(wrong, new RegExp(`--redis: authentication refused by localhost:${redis.port}: WRONGPASS`));
  assert.ok(!wrong.includes('not-the-password'));

  const baddb = oneLine(refusedStart(['--redis', redis.url(99999), '--redis-ca', redis.ca]), 1);
  assert.match(baddb, /selecting the db .*DB index is out of range/);
});

test('--redis-ca: a file that is not PEM, or without rediss://, is a config error (exit 2)', () => {
  const notPem = path.join(redis.dir, 'not-a-ca.txt');
  fs.writeFileSync(notPem, 'hello\n');
  const bad = oneLine(refusedStart(['--redis', redis.url(), '--redis-ca', notPem]), 2);
  assert.match(bad, /--redis-ca: cannot load '.*not-a-ca\.txt'/);
  const plain = oneLine(refusedStart(['--redis', `redis://:${PW}@127.0.0.1:${redis.port}/3`, '--redis-ca', redis.ca]), 2);
  assert.match(plain, /--redis-ca: needs a rediss:\/\/ URL in --redis/);
});

test('--redis-optional with an untrusted certificate: starts on local state with the reason', async () => {
  const p = await startProxy({ keys: KEYS, upstream: mock.url, args: ['--redis', redis.url(), '--redis-optional'] });
  proxies.push(p);
  assert.deepEqual((await rawRequest(p.port, 'GET', '/healthz')).json, { status: 'ok', redis: 'down' });
  assert.equal((await p.generate('gemini-2.5-flash-lite')).status, 200);
  assert.match(p.output(), /TLS handshake with localhost:\d+ failed: the server's certificate was refused/);
  await p.cleanup();
});

let A; let B;

test('two instances over TLS: verdicts shared, counts in the URL\'s db', async () => {
  [A, B] = [await instance(), await instance()];
  for (const p of [A, B]) {
    assert.deepEqual((await rawRequest(p.port, 'GET', '/healthz')).json, { status: 'ok', redis: 'up' });
    assert.match(p.output(), new RegExp(`sharing state through localhost:${redis.port} \\(db 3`));
  }
  // A day 429 on A: B never sends that key.
  const model = 'gemini-2.5-flash';
  mock.reset();
  mock.setKey(KEYS[0], model, 'day');
  for (let i = 0; i < 4 && mockCount(model, KEYS[0]) === 0; i++) assert.equal((await A.generate(model)).status, 200);
  assert.equal(mockCount(model, KEYS[0]), 1);
  await eventually(async () => {
    assert.equal(modelEntry(await B.adminKeys(), KEYS[0], model).state, 'exhausted');
  }, { timeoutMs: 2000 });
  for (let i = 0; i < 12; i++) assert.equal((await B.generate(model)).status, 200);
  assert.equal(mockCount(model, KEYS[0]), 1, 'B never sent the exhausted key');

  // An invalid key on B: A never sends it.
  mock.setKey(KEYS[1], '*', 'invalid');
  const used = mockCount(model, KEYS[1]);
  for (let i = 0; i < 4 && mockCount(model, KEYS[1]) === used; i++) assert.equal((await B.generate(model)).status, 200);
  assert.equal(mockCount(model, KEYS[1]), used + 1);
  await eventually(async () => {
    assert.equal(keyEntry(await A.adminKeys(), KEYS[1]).status, 'invalid');
  }, { timeoutMs: 2000 });
  for (let i = 0; i < 8; i++) assert.equal((await A.generate(model)).status, 200);
  assert.equal(mockCount(model, KEYS[1]), used + 1, 'A never used the invalid key');
  mock.setKey(KEYS[1], '*', 'ok');

  // Every request of both instances is in db 3's counters, read over TLS by redis-cli (the
  // one answered by the day 429 is not a request of the day's count).
  const sent = mockCount(model) - 1;
  for (const p of [A, B]) {
    await eventually(async () => {
      assert.equal(sumRequests(await p.adminKeys(), model), sent, `instance on ${p.port}: pool-wide total`);
    }, { timeoutMs: 5000 });
  }
  await eventually(() => {
    const day = redis.cli('--scan', '--pattern', 'gkm:req:*').trim().split('\n');
    assert.equal(day.length, 1, `one day's counters: ${day}`);
    const fields = redis.cli('HGETALL', day[0]).trim().split('\n');
    let n = 0;
    for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i].endsWith(`|${model}`)) n += Number(fields[i + 1]);
    assert.equal(n, sent);
  }, { timeoutMs: 5000 });
  assert.equal(redis.cli('-n', '0', 'DBSIZE').trim(), '0', 'nothing in db 0');
});

test('Redis over TLS killed and restarted: both instances reconnect, no request lost or counted twice', async () => {
  const model = 'gemini-2.5-flash-lite';
  mock.reset();
  const load = steadyLoad([A, B], model);
  await sleep(400);
  redis.proc.kill('SIGKILL');
  await new Promise((res) => redis.proc.once('exit', res));
  redis.proc = null;
  for (const p of [A, B]) {
    await eventually(async () => {
      assert.deepEqual((await rawRequest(p.port, 'GET', '/healthz')).json, { status: 'ok', redis: 'down' });
    }, { timeoutMs: 8000 });
  }
  await sleep(500);
  await redis.start();
  for (const p of [A, B]) {
    await eventually(async () => {
      assert.deepEqual((await rawRequest(p.port, 'GET', '/healthz')).json, { status: 'ok', redis: 'up' });
    }, { timeoutMs: 8000 });
  }
  await sleep(400);
  const { failures, sent } = await load.stop();
  assert.deepEqual(failures, []);
  assert.equal(mockCount(model), sent);
  // Counted once each, pool-wide: the batches buffered while Redis was down went through the
  // new TLS connections, and the subscriber listens again (a verdict still crosses).
  for (const p of [A, B]) {
    await eventually(async () => {
      assert.equal(sumRequests(await p.adminKeys(), model), sent, `instance on ${p.port}`);
    }, { timeoutMs: 8000 });
  }
  mock.setKey(KEYS[2], model, 'day');
  const before = mockCount(model, KEYS[2]);
  for (let i = 0; i < 4 && mockCount(model, KEYS[2]) === before; i++) await A.generate(model);
  assert.equal(mockCount(model, KEYS[2]), before + 1);
  await eventually(async () => {
    assert.equal(modelEntry(await B.adminKeys(), KEYS[2], model).state, 'exhausted');
  }, { timeoutMs: 3000 });
});

test('/admin/usage reads today\'s pool-wide rows over TLS; SIGTERM sends the last batch and exits 0', async () => {
  const model = 'gemini-2.0-flash';
  mock.reset();
  for (let i = 0; i < 6; i++) assert.equal((await [A, B][i % 2].generate(model)).status, 200);
  const usage = async (p) => {
    const r = await rawRequest(p.port, 'GET', '/admin/usage?group_by=model', { headers: { authorization: `Bearer ${p.adminToken}` } });
    assert.equal(r.status, 200, r.body);
    return r.json.rows.find((row) => row.model === model)?.requests;
  };
  await eventually(async () => {
    assert.equal(await usage(A), 6, 'A sees B\'s three as well (Redis\'s counters, its own day reader)');
    assert.equal(await usage(B), 6);
  }, { timeoutMs: 5000 });
  assert.equal(await A.stop(), 0);
  assert.equal(await B.stop(), 0);
  assert.match(A.output(), /redis: \d+ round trips made by the writer/);
});
