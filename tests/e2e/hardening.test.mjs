// Issue #13, the request path's part: what Google's real answers (compressed bodies, keys
// echoed in errors), hostile clients (huge bodies where none is read, slow uploads, clients
// that leave mid-wait, too many connections) and the proxy's own failures (an exception
// inside one request) do to the pool. Each test fails on the code before the fix.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { startMock } from '../mock/mock-gemini.mjs';
import { startProxy, sleep, keyEntry, modelEntry, rawRequest, eventually } from './harness.mjs';
import { randomKeys, rawExchange, firstStatus, connectRaw, waitExit } from './lib-lifecycle.mjs';

const T = { timeout: 60000 };
const GEN = JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'hi' }] }] });

const cleanups = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function setup({ keys = randomKeys(2), mockOpts = {}, args = [], env = {} } = {}) {
  const mock = await startMock(mockOpts);
  const p = await startProxy({ keys, upstream: mock.url, args, env });
  cleanups.push(async () => { await p.cleanup(); await mock.close(); });
  return { mock, p, keys };
}

function rssKb(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]);
}

function inflight(metricsText) {
  const m = /^gkm_inflight_requests (\d+)/m.exec(metricsText);
  return m ? Number(m[1]) : undefined;
}

test('a client that accepts gzip: a per-minute 429 cools the key (not the day) and the next key serves', T, async () => {
  const { mock, p, keys } = await setup();
  // Whichever key the rotation starts with meets the 429 (once); the other serves.
  mock.queue('*', 'gemini-2.5-flash', 'minute');
  {
    const r = await p.call('POST', '/v1beta/models/gemini-2.5-flash:generateContent', {
      body: GEN, headers: { 'content-type': 'application/json', 'accept-encoding': 'gzip, deflate, br' },
    });
    assert.equal(r.status, 200, r.body);
    // What the client gets is plain and decodable as it was described.
    assert.ok(r.json, `a plain JSON body: ${r.body.slice(0, 80)}`);
  }
  for (const e of mock.requests) {
    assert.equal(e.headers['accept-encoding'], 'identity', 'the proxy asks Google for plain bodies');
  }
  const admin = await p.adminKeys();
  const states = keys.map((k) => modelEntry(admin, k, 'gemini-2.5-flash')?.state ?? 'ok');
  assert.ok(states.includes('cooling'), `one key cools: ${states}`);
  assert.ok(!states.includes('exhausted'), `no key is retired for the day: ${states}`);
});

test('an upstream that gzips anyway: the suspended 403 naming the key retires it, and no byte the client gets holds the key', T, async () => {
  const { mock, p, keys } = await setup({ keys: randomKeys(1), mockOpts: { forceGzip: true } });
  mock.queue(keys[0], '*', 'suspended');
  const r = await p.generate('gemini-2.5-flash', { headers: { 'accept-encoding': 'gzip' } });
  assert.equal(r.status, 503, r.body);
  assert.equal(mock.requests[0].encoding, 'gzip', 'the mock compressed its 403');
  assert.ok(mock.requests[0].responseBody.includes(`api_key:${keys[0]}`), "Google's 403 names the key");
  assert.equal(keyEntry(await p.adminKeys(), keys[0]).status, 'invalid');
  assert.ok(!r.buffer.includes(Buffer.from(keys[0])), 'the key is not in the 503');

  // A client error that names the key passes through: decoded, masked, plainly framed.
  await p.request('POST', `/admin/keys/${keyEntry(await p.adminKeys(), keys[0]).id}/reset`, { headers: { authorization: `Bearer ${p.adminToken}` } });
  const message = `Request contains an invalid argument for ${keys[0]}.`;
  mock.queue(keys[0], '*', { type: 'error', status: 400, statusText: 'INVALID_ARGUMENT', message });
  const native = await p.generate('gemini-2.5-flash', { headers: { 'accept-encoding': 'gzip' } });
  assert.equal(native.status, 400, native.body);
  assert.equal(native.headers['content-encoding'], undefined, 'the decoded body is sent plain');
  assert.ok(native.json?.error, `a readable Gemini error: ${native.body.slice(0, 80)}`);
  assert.ok(!native.buffer.includes(Buffer.from(keys[0])), 'native: the key is masked');
  assert.match(native.json.error.message, new RegExp(`${keys[0].slice(-4)}\\.$`), 'the masked key keeps its last 4');

  mock.queue(keys[0], '*', { type: 'error', status: 400, statusText: 'INVALID_ARGUMENT', message });
  const oai = await p.request('POST', '/v1/chat/completions', {
    headers: { authorization: `Bearer ${p.token}`, 'content-type': 'application/json', 'accept-encoding': 'gzip' },
    body: { model: 'gemini-2.5-flash', messages: [{ role: 'user', content: 'hi' }] },
  });
  assert.equal(oai.status, 400, oai.body);
  assert.ok(oai.json?.error?.message, oai.body);
  assert.ok(!oai.buffer.includes(Buffer.from(keys[0])), 'OpenAI route: the key is masked');
});

test('a 50 MB body posted to /healthz is answered without being buffered', T, async () => {
  const { p } = await setup();
  // Warm up first (allocator caches, the log and store buffers), so that what follows
  // measures the body alone.
  for (let i = 0; i < 5; i++) {
    assert.equal((await p.request('GET', '/healthz')).status, 200);
    assert.equal((await p.generate('gemini-2.5-flash')).status, 200);
  }
  const before = rssKb(p.proc.pid);
  const size = 50 << 20;
  const got = await new Promise((resolve) => {
    const s = net.connect({ port: p.port, host: '127.0.0.1' });
    let text = '';
    s.on('data', (d) => { text += d.toString('latin1'); });
    s.on('error', () => {});
    s.on('close', () => resolve(text));
    s.on('connect', () => {
      s.write(`POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${size}\r\n\r\n`);
      const piece = Buffer.alloc(1 << 20, 0x61);
      let sent = 0;
      const pump = () => {
        while (sent < size) {
          sent += piece.length;
          if (!s.write(piece)) { s.once('drain', pump); return; }
        }
      };
      pump();
    });
    setTimeout(() => s.destroy(), 20000).unref();
  });
  assert.equal(firstStatus(got), 200, got.slice(0, 200));
  assert.match(got, /"status":"ok"/);
  const grown = rssKb(p.proc.pid) - before;
  // Buffering the body would add its 50 MB; 16 MB leaves room for allocator noise.
  assert.ok(grown < 16 * 1024, `RSS grew by ${grown} kB for a body nobody reads`);
  assert.equal((await p.request('GET', '/healthz')).status, 200, 'still serving');
});

test('--client-timeout bounds each wait for the client: a steady 8 s upload passes, a stalled one gets its 408', T, async () => {
  const { mock, p } = await setup({ args: ['--client-timeout', '2'] });
  const body = JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'x'.repeat(1600) }] }] });
  const pieces = [`POST /v1beta/models/slow-upload:generateContent HTTP/1.1\r\nHost: x\r\nx-goog-api-key: ${p.token}\r\n`
    + `Content-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`];
  const n = 16;  // 16 pieces 500 ms apart: 8 s in all, no wait longer than 0.5 s
  const step = Math.ceil(body.length / n);
  for (let i = 0; i < body.length; i += step) pieces.push(body.slice(i, i + step));
  const started = Date.now();
  const r = await rawExchange(p.port, pieces, { gapMs: 500, timeoutMs: 20000 });
  assert.ok(Date.now() - started >= 7500, 'the upload took its 8 s');
  assert.equal(firstStatus(r.text), 200, r.text.slice(0, 300));
  assert.equal(mock.requests.at(-1).body, body, 'the whole body went upstream');

  // A body that stops for longer than the limit gets an answer saying so.
  const stalled = await rawExchange(p.port, [pieces[0], body.slice(0, 10)], { timeoutMs: 10000 });
  assert.equal(firstStatus(stalled.text), 408, stalled.text.slice(0, 300));
  assert.match(stalled.text, /request body/);
});

test('a client that leaves while Google thinks cancels the upstream call: not counted, no key blamed', T, async () => {
  const { mock, p, keys } = await setup({ keys: randomKeys(1) });
  mock.setKey(keys[0], 'left-model', { type: 'delay', ms: 3000 });
  const s = await connectRaw(p.port);
  s.on('error', () => {});
  s.write(`POST /v1beta/models/left-model:generateContent HTTP/1.1\r\nHost: x\r\nx-goog-api-key: ${p.token}\r\n`
    + `Content-Type: application/json\r\nContent-Length: ${GEN.length}\r\n\r\n${GEN}`);
  await mock.waitForRequests(1);
  await sleep(200);
  const left = Date.now();
  s.destroy();
  // The upstream connection is closed at once, long before the 3 s answer.
  await eventually(async () => {
    const n = await new Promise((r) => mock.server.getConnections((e, c) => r(c)));
    assert.equal(n, 0, 'no upstream connection left open');
  }, { timeoutMs: 1500 });
  assert.ok(Date.now() - left < 1500);
  await eventually(() => assert.match(p.output(), /status=499/), { timeoutMs: 2000 });
  await sleep(3200);  // past the moment the mock would have answered
  const k = keyEntry(await p.adminKeys(), keys[0]);
  assert.equal(k.status, 'active');
  assert.equal(k.requests_today, 0, 'an abandoned call is not counted as served');
  assert.equal(modelEntry(await p.adminKeys(), keys[0], 'left-model')?.state ?? 'ok', 'ok', 'the key is not cooled');
});

test('250 OpenAI embedding inputs with one key: every batch gets its own attempts', T, async () => {
  const { mock, p } = await setup({ keys: randomKeys(1) });
  const input = Array.from({ length: 250 }, (_, i) => `text ${i}`);
  const r = await p.request('POST', '/v1/embeddings', {
    headers: { authorization: `Bearer ${p.token}`, 'content-type': 'application/json' },
    body: { model: 'gemini-embedding-001', input },
  });
  assert.equal(r.status, 200, r.body.slice(0, 300));
  assert.equal(r.json.data.length, 250);
  assert.deepEqual(r.json.data.map((d) => d.index), input.map((_, i) => i));
  assert.equal(mock.requests.filter((e) => e.path.endsWith(':batchEmbedContents')).length, 3, 'three batches of at most 100');
});

test('an exception inside one request: a 500 (or a closed stream), the gauge back to 0, SIGTERM still prompt', T, async () => {
  const { p } = await setup({ env: { GKM_FAULT_INJECTION: '1' }, mockOpts: { streamEvents: 4, streamIntervalMs: 50 } });
  const r = await p.generate('gemini-2.5-flash', { headers: { 'x-gkm-fault': 'serve' } });
  assert.equal(r.status, 500, r.body);
  assert.match(r.body, /internal error/);
  // Bytes of a stream already went out: the connection closes under the answer.
  const s = await p.generate('gemini-2.5-flash', { method: 'streamGenerateContent', query: '?alt=sse', headers: { 'x-gkm-fault': 'relay' } });
  assert.equal(s.status, 200);
  assert.ok(s.aborted, 'the half-sent stream is cut, not completed');
  // Later requests are served; nothing is left in flight.
  assert.equal((await p.generate('gemini-2.5-flash')).status, 200);
  const m = await p.request('GET', '/metrics');
  assert.equal(inflight(m.body), 1, 'gkm_inflight_requests counts only the scrape itself');
  assert.match(p.output(), /fault injected at serve/);
  // Keep one idle connection open: a leaked session would hold the drain for its grace time.
  const idle = await connectRaw(p.port);
  idle.on('error', () => {});
  const t0 = Date.now();
  p.proc.kill('SIGTERM');
  assert.equal(await waitExit(p, 10000), 0);
  assert.ok(Date.now() - t0 < 3000, `exited ${Date.now() - t0} ms after SIGTERM`);
  idle.destroy();
});

test('--max-connections: one connection too many waits in the backlog until another ends', T, async () => {
  const { p } = await setup({ args: ['--max-connections', '2', '--threads', '1'] });
  const a = await connectRaw(p.port);
  const b = await connectRaw(p.port);
  a.on('error', () => {});
  b.on('error', () => {});
  await sleep(100);
  const third = rawRequest(p.port, 'GET', '/healthz', { timeoutMs: 10000 });
  let answered = false;
  third.then(() => { answered = true; }, () => {});
  await sleep(600);
  assert.equal(answered, false, 'the third connection is not served while two are open');
  a.destroy();
  const r = await third;
  assert.equal(r.status, 200);
  b.destroy();
});
