// SPEC 2.1 (--log-format json), 7: with --log-format json every line of the log file and of
// the console is one JSON object with ts, level and msg; the request line carries the text
// line's fields; no key appears, not even one an upstream error echoes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startMock } from '../mock/mock-gemini.mjs';
import { startProxy, keyEntry, assertNoKeys, eventually, sleep } from './harness.mjs';
import { randomKeys, filesUnder, runBin } from './lib-lifecycle.mjs';

const T = { timeout: 60000 };

let mock;
before(async () => { mock = await startMock(); });
after(async () => { await mock?.close(); });

const TS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$/;
const LEVELS = new Set(['trace', 'debug', 'info', 'warning', 'error', 'critical']);

// Every non-empty line of `text` as a JSON object with ts, level and msg; fails naming the
// first line that is not one.
function objects(text, what) {
  const out = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let o;
    try {
      o = JSON.parse(line);
    } catch (e) {
      assert.fail(`${what}: a line that is not JSON (${e.message}): ${line}`);
    }
    assert.equal(typeof o, 'object', `${what}: ${line}`);
    assert.match(o.ts, TS, `${what}: ts in ${line}`);
    assert.ok(LEVELS.has(o.level), `${what}: level in ${line}`);
    assert.equal(typeof o.msg, 'string', `${what}: msg in ${line}`);
    out.push(o);
  }
  return out;
}

test('--log-format json: every log and console line is a JSON object; request lines carry the fields; no key', T, async () => {
  const K = randomKeys(3);
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gkm-jsonlog-'));
  const p = await startProxy({
    keys: K.slice(0, 2), upstream: mock.url, logLevel: 'trace',
    args: ['--log-dir', logDir, '--log-format', 'json', '--max-queue-wait', '5'],
  });
  const expected = []; // { model, status, attempts, route, key }
  try {
    const admin = await p.adminKeys();
    const idOf = Object.fromEntries(K.slice(0, 2).map((k) => [k, keyEntry(admin, k).id]));
    const one = async (model, { method, query, status = 200, route } = {}) => {
      const r = await p.generate(model, { method, query });
      assert.equal(r.status, status, `${model}: ${r.body}`);
      const seen = mock.keysSeen(model);
      expected.push({ model, status, attempts: seen.length, route: route ?? method ?? 'generateContent', key: idOf[seen.at(-1)] });
      return r;
    };
    await one('json-ok');
    await one('json-stream', { method: 'streamGenerateContent', query: '?alt=sse' });
    mock.queue('*', 'json-retried', 'overloaded');
    await one('json-retried');
    // An upstream error that echoes the key it was sent with.
    for (const k of K.slice(0, 2)) mock.queue(k, 'json-echo', { type: 'error', status: 400, statusText: 'INVALID_ARGUMENT', message: `Something about key ${k} went wrong` });
    await one('json-echo', { status: 400 });
    // A path with characters JSON must escape: a quote, a backslash, and a byte that is not
    // UTF-8 (node sends U+00E9 as the one byte 0xE9).
    const oddPath = '/v1beta/models/json-"odd\\\u00e9:generateContent';
    const odd = await p.call('POST', oddPath, { body: { contents: [{ parts: [{ text: 'x' }] }] } });
    assert.ok(odd.status > 0);
    // A request that waits for a key (queued_ms): both keys cool for 1 s on this model.
    mock.queue('*', 'json-queued', 'overloaded');
    mock.queue('*', 'json-queued', 'overloaded');
    assert.equal((await p.generate('json-queued')).status, 503);
    const q = await p.generate('json-queued');
    assert.equal(q.status, 200, q.body);
    // A warning: a duplicate key in the reloaded key file.
    fs.writeFileSync(p.keyFile, [...K, K[0]].join('\n') + '\n');
    p.proc.kill('SIGHUP');
    await eventually(async () => assert.equal((await p.adminKeys()).keys.length, 3), { timeoutMs: 5000 });
    await sleep(100);
    assert.equal(await p.stop('SIGTERM'), 0);

    const files = filesUnder(logDir);
    assert.ok(files.length >= 1, 'a log file');
    const fileText = files.map((f) => fs.readFileSync(f, 'utf8')).join('');
    const fromFile = objects(fileText, 'log file');
    const fromConsole = objects(p.output(), 'console');
    assert.ok(fromFile.length > 10, `the log has lines (${fromFile.length})`);
    assert.equal(fromConsole.length, fromFile.length, 'the console has the lines of the file');
    for (const [name, text] of [['log file', fileText], ['console', p.output()]]) {
      assertNoKeys(text, K, name);
      for (const k of K) assert.ok(!text.includes(k.slice(9, 25)), `${name}: a piece of a key`);
    }
    const levels = new Set(fromFile.map((o) => o.level));
    for (const l of ['debug', 'info', 'warning']) assert.ok(levels.has(l), `a ${l} line (levels: ${[...levels]})`);
    assert.ok(fromFile.some((o) => o.level === 'warning' && o.msg.includes('duplicate')), 'the duplicate key warning');
    assert.ok(fromFile.some((o) => o.msg.startsWith('stopped (state flushed')), 'the stop line');

    const requests = fromFile.filter((o) => o.msg === 'request');
    for (const e of expected) {
      const ls = requests.filter((o) => o.model === e.model);
      assert.equal(ls.length, 1, `one request line for ${e.model}: ${JSON.stringify(ls)}`);
      const o = ls[0];
      assert.equal(typeof o.id, 'number');
      assert.equal(o.method, 'POST');
      assert.ok(o.path.startsWith(`/v1beta/models/${e.model}:`), o.path);
      assert.equal(o.route, e.route);
      assert.equal(o.client, 'default');
      assert.equal(o.key, e.key);
      assert.equal(o.attempts, e.attempts);
      assert.equal(o.status, e.status);
      assert.equal(typeof o.latency_ms, 'number');
      assert.ok(o.latency_ms >= 0);
      assert.equal(o.queued_ms, undefined, 'no queued_ms for a request that did not wait');
    }
    assert.equal(new Set(requests.map((o) => o.id)).size, requests.length, 'request ids are distinct');
    const queued = requests.filter((o) => o.model === 'json-queued' && o.status === 200);
    assert.equal(queued.length, 1);
    assert.ok(queued[0].queued_ms >= 800 && queued[0].queued_ms < 5000, `queued_ms ${queued[0].queued_ms}`);
    const oddLines = requests.filter((o) => o.path.includes('odd'));
    assert.deepEqual(oddLines.map((o) => o.path), [oddPath], 'the odd path, escaped and read back');
    // A request without a key or model: the models list is not made here; the admin call is.
    assert.ok(requests.some((o) => o.route !== 'generateContent'), 'other routes are logged too');
  } finally {
    await p.cleanup();
    fs.rmSync(logDir, { recursive: true, force: true });
  }
});

test('--log-format json: a failure after the log is set up is a JSON line too; a bad value is refused', T, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gkm-jsonfail-'));
  try {
    fs.writeFileSync(path.join(dir, 'key.txt'), 'test-key-json-failure-0001\n');
    fs.writeFileSync(path.join(dir, 'not-a-dir'), '');
    const r = await runBin(['--keys', path.join(dir, 'key.txt'), '--log-dir', dir, '--log-format', 'json',
      '--state-dir', path.join(dir, 'not-a-dir', 'state'), '--listen', '127.0.0.1:0', '--token', 't']);
    assert.equal(r.code, 1, r.stderr);
    const lines = objects(r.stderr, 'stderr');
    assert.ok(lines.some((o) => o.level === 'error' && o.msg.startsWith('--state-dir:')), r.stderr);
    const bad = await runBin(['--log-format', 'yaml']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--log-format.*'yaml' is not text or json/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('--log-format json: the generated client token is printed as a JSON object too', T, async () => {
  const p = await startProxy({ keys: randomKeys(1), upstream: mock.url, token: null, args: ['--log-format', 'json'] });
  try {
    assert.equal(await p.stop('SIGTERM'), 0);
    const lines = objects(p.output(), 'output');
    const t = lines.filter((o) => typeof o.token === 'string');
    assert.equal(t.length, 1, p.output());
    assert.match(t[0].msg, /generated/);
    assert.ok(t[0].token.length >= 32, 'the token itself');
    assert.ok(t[0].kept_in.endsWith('gemini-key-manager.db'), t[0].kept_in);
  } finally {
    await p.cleanup();
  }
});
