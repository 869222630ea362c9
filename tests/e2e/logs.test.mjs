// SPEC 7: logging. No real key in any output or log file at any level (trace here), for a mixed
// workload; one line per request with route, model, key id, attempts, status, latency; log
// files rotate by size with a bounded count.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startMock } from '../mock/mock-gemini.mjs';
import { startProxy, keyEntry, assertNoKeys, responseText, eventually, GEN } from './harness.mjs';
import { randomKeys, filesUnder } from './lib-lifecycle.mjs';

// Every test is bounded: a hang fails the test instead of the run.
const T = { timeout: 60000 };

let mock;
before(async () => { mock = await startMock(); });
after(async () => { await mock?.close(); });

// Lines that look like the per-request line of a request for `model`: they name the model and
// carry a status code and a latency.
const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const mentions = (line, word) => new RegExp(`(^|[^\\w-])${esc(word)}([^\\w-]|$)`).test(line);
function requestLines(text, model) {
  return text.split('\n').filter((l) => mentions(l, model)
    && /\b(status|code)\b["']?\s*[=:]\s*["']?\d{3}\b/i.test(l)
    && /(\b\d+(\.\d+)?\s*(ms|s)\b|\b(ms|latency|duration|elapsed)\b["']?\s*[=:]\s*["']?\d)/i.test(l));
}

test('no real key in any output or log file at --log-level trace; one request line per request', T, async () => {
  const K = randomKeys(5);
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gkm-logs-'));
  let p;
  try {
    p = await startProxy({ keys: K.slice(0, 4), upstream: mock.url, logLevel: 'trace', args: ['--log-dir', logDir] });
  } catch (e) {
    fs.rmSync(logDir, { recursive: true, force: true });
    throw e;
  }
  const idOf = {}; // key -> id from /admin/keys
  const expectLine = []; // { model, key, attempts, status, route }
  try {
    const admin0 = await p.adminKeys();
    for (const k of K.slice(0, 4)) idOf[k] = keyEntry(admin0, k).id;

    const one = async (model, { behaviour, method, query, status = 200, attempts, route } = {}) => {
      if (behaviour) mock.queue('*', model, behaviour);
      const r = await p.generate(model, { method, query });
      assert.equal(r.status, status, `${model}: ${r.body}`);
      assertNoKeys(responseText(r), K, `${model} response`);
      const seen = mock.keysSeen(model);
      expectLine.push({ model, key: seen.at(-1), attempts: attempts ?? seen.length, status, route: route ?? method ?? 'generateContent' });
      return r;
    };
    await one('log-ok-1');
    await one('log-ok-2', { query: '?alt=json' });
    await one('log-stream', { method: 'streamGenerateContent', query: '?alt=sse' });
    await one('log-array', { method: 'streamGenerateContent' });
    await one('log-count', { method: 'countTokens' });
    await one('log-day', { behaviour: 'day', attempts: 2 });
    await one('log-minute', { behaviour: { type: 'minute', retryDelay: '40s' }, attempts: 2 });
    await one('log-zero', { behaviour: 'zero', attempts: 2 });
    await one('log-503', { behaviour: 'overloaded', attempts: 2 });
    await one('log-500', { behaviour: '500', attempts: 2 });
    await one('log-invalid', { behaviour: 'invalid', attempts: 2 });
    await one('log-client', { behaviour: 'badrequest', status: 400 });
    // An upstream error that echoes the key it was sent with (the proxy must mask it everywhere).
    for (const k of K.slice(0, 4)) mock.queue(k, 'log-echo', { type: 'error', status: 400, statusText: 'INVALID_ARGUMENT', message: `Something about key ${k} went wrong` });
    await one('log-echo', { status: 400 });
    for (const k of K.slice(0, 4)) mock.clearKey(k, 'log-echo');
    // Everything usable is exhausted: a 503 from the proxy itself.
    mock.setKey('*', 'log-allday', 'day');
    const all = await p.generate('log-allday');
    assert.equal(all.status, 503);
    assertNoKeys(responseText(all), K);
    const all2 = await p.generate('log-allday');
    assert.equal(all2.status, 503);
    mock.clearKey('*', 'log-allday');
    // Client token in ?key= and in Bearer: neither is forwarded nor logged as a key.
    const q = await p.request('POST', `/v1beta/models/log-query:generateContent?key=${p.token}`, { body: GEN });
    assert.equal(q.status, 200);
    const unauth = await p.request('POST', '/v1beta/models/log-unauth:generateContent', { body: GEN, headers: { 'x-goog-api-key': 'wrong-token' } });
    assert.equal(unauth.status, 401);
    // Models list (no model: "-").
    assert.equal((await p.call('GET', '/v1beta/models')).status, 200);

    // A resumable upload: the upload URL Google returns carries the key; the proxy rewrites it.
    const start = await p.call('POST', '/upload/v1beta/files', {
      headers: {
        'x-goog-upload-protocol': 'resumable', 'x-goog-upload-command': 'start',
        'x-goog-upload-header-content-length': '5', 'x-goog-upload-header-content-type': 'text/plain',
      },
      body: { file: { display_name: 'log-upload' } },
    });
    assert.equal(start.status, 200, start.body);
    assertNoKeys(responseText(start), K, 'upload start response');
    const uploadUrl = new URL(start.headers['x-goog-upload-url']);
    assert.equal(uploadUrl.host, `127.0.0.1:${p.port}`);
    const fin = await p.call('POST', uploadUrl.pathname + uploadUrl.search, {
      headers: { 'x-goog-upload-command': 'upload, finalize', 'x-goog-upload-offset': '0', 'content-type': 'text/plain' },
      body: 'hello',
    });
    assert.equal(fin.status, 200, fin.body);
    assertNoKeys(responseText(fin), K, 'upload finalize response');
    const file = await p.call('GET', `/v1beta/${fin.json.file.name}`);
    assert.equal(file.status, 200, file.body);

    // Admin, metrics, reloads (SIGHUP and POST), with a key that joins.
    const admin = await p.adminKeys();
    assertNoKeys(JSON.stringify(admin), K, '/admin/keys');
    const metrics = await p.request('GET', '/metrics');
    assert.equal(metrics.status, 200);
    assertNoKeys(metrics.body, K, '/metrics');
    fs.writeFileSync(p.keyFile, K.join('\n') + '\n' + K[0] + '\n'); // a duplicate too (a warning)
    p.proc.kill('SIGHUP');
    await eventually(async () => assert.equal((await p.adminKeys()).keys.length, 5), { timeoutMs: 5000 });
    const rl = await p.request('POST', '/admin/reload', { headers: { authorization: `Bearer ${p.adminToken}` } });
    assert.equal(rl.status, 200, rl.body);
    assertNoKeys(responseText(rl), K, 'reload answer');
    // The key that joined serves too (new models rotate over every key from where the rotation is).
    const admin1 = await p.adminKeys();
    for (const k of K) idOf[k] ??= keyEntry(admin1, k).id;
    const invalidKey = mock.requests.find((r) => r.model === 'log-invalid' && r.status === 400).key;
    const reset = await p.request('POST', `/admin/keys/${idOf[invalidKey]}/reset`, { headers: { authorization: `Bearer ${p.adminToken}` } });
    assertNoKeys(responseText(reset), K, 'key reset answer');
    for (let i = 0; i < 5; i++) await one(`log-after-reload-${i}`);

    const code = await p.stop('SIGTERM');
    assert.equal(code, 0);
  } catch (e) {
    await p.cleanup();
    fs.rmSync(logDir, { recursive: true, force: true });
    throw e;
  }
  try {
    const output = p.output();
    const files = filesUnder(logDir);
    assert.ok(files.length >= 1, 'a log file was written');
    const texts = files.map((f) => fs.readFileSync(f, 'utf8'));
    const logText = texts.join('\n');
    assert.ok(logText.length > 1000, `the log has content (${logText.length} bytes)`);
    // The verbose levels were on (so the no-key check below covers what they print).
    assert.ok(/\b(debug|trace)\b/i.test(logText), 'debug/trace lines in the log');
    // No real key anywhere: stdout/stderr and every file of the log dir.
    assertNoKeys(output, K, 'proxy stdout/stderr');
    files.forEach((f, i) => assertNoKeys(texts[i], K, `log file ${path.basename(f)}`));
    // Not even a long piece of a key (a key cut or partially masked badly).
    for (const k of K) {
      const piece = k.slice(9, 9 + 16);
      assert.ok(!output.includes(piece) && !logText.includes(piece), `a 16-character piece of a key in the logs: ${piece}`);
    }
    // The log names keys by their ids.
    for (const k of K.slice(0, 4)) assert.ok(logText.includes(idOf[k]), `the log names key id ${idOf[k]}`);

    // One request line per request, with route, model, key id, attempts, status, latency.
    for (const e of expectLine) {
      const ls = requestLines(logText, e.model);
      assert.equal(ls.length, 1, `one request line for ${e.model}, got ${ls.length}:\n${ls.join('\n')}`);
      const l = ls[0];
      assert.ok(l.includes(e.route), `route ${e.route} in: ${l}`);
      assert.ok(l.includes(idOf[e.key] ?? '(no id)'), `key id ${idOf[e.key]} in: ${l}`);
      assert.match(l, new RegExp(`attempts?["']?\\s*[=:]\\s*["']?${e.attempts}\\b`), `attempts ${e.attempts} in: ${l}`);
      assert.match(l, new RegExp(`\\b(status|code)["']?\\s*[=:]\\s*["']?${e.status}\\b`), `status ${e.status} in: ${l}`);
    }
    // The request lines are in the console output as well.
    assert.equal(requestLines(output, 'log-ok-1').length, 1, 'the request line is on the console too');
  } finally {
    await p.cleanup();
    fs.rmSync(logDir, { recursive: true, force: true });
  }
});

test('log files rotate by size: --log-max-size 4096 --log-max-files 2 keeps at most 3 files', T, async () => {
  const K = randomKeys(3);
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gkm-logrot-'));
  let p;
  try {
    p = await startProxy({ keys: K, upstream: mock.url, logLevel: 'debug', args: ['--log-dir', logDir, '--log-max-size', '4096', '--log-max-files', '2'] });
    for (let i = 0; i < 150; i++) {
      const r = await p.generate(`log-rotation-model-with-a-long-name-${i}`);
      assert.equal(r.status, 200);
    }
    assert.equal(await p.stop('SIGTERM'), 0);
    const files = filesUnder(logDir);
    const sizes = files.map((f) => `${path.basename(f)}: ${fs.statSync(f).size}`);
    assert.ok(files.length >= 2, `the log rotated (${sizes.join(', ')})`);
    assert.ok(files.length <= 3, `at most 1 + 2 log files, got ${files.length}: ${sizes.join(', ')}`);
    for (const f of files) assert.ok(fs.statSync(f).size <= 4096 + 1024, `${path.basename(f)} stays near --log-max-size: ${fs.statSync(f).size}`);
    const total = files.reduce((s, f) => s + fs.statSync(f).size, 0);
    assert.ok(total > 4096, `the files hold the recent log (${total} bytes)`);
    // The newest requests are kept, the oldest rotated away.
    const text = files.map((f) => fs.readFileSync(f, 'utf8')).join('\n');
    assert.ok(text.includes('log-rotation-model-with-a-long-name-149'), 'the last request is in the log');
    assert.ok(!text.split('\n').some((l) => mentions(l, 'log-rotation-model-with-a-long-name-0')), 'the first request rotated away');
    for (const t of [text, p.output()]) assertNoKeys(t, K, 'log');
  } finally {
    await p?.cleanup();
    fs.rmSync(logDir, { recursive: true, force: true });
  }
});
