// SPEC 8 (issue #13 item 4 and the UTF-8 part of item 9): names a client writes in odd ways.
// Query parameter names and the model segment count after percent-decoding, as Google reads
// them: no credential parameter ever goes upstream, `gemini%2D2.5-flash` is
// `gemini-2.5-flash` to the pool, a model segment that is not a model name is refused with a
// 400 before the pool or Google sees it, and invented model names cost no per-key memory.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { startMock } from '../mock/mock-gemini.mjs';
import { startProxy, GEN } from './harness.mjs';

const KEYS = ['test-key-0001', 'test-key-0002', 'test-key-0003'];
const T = { timeout: 120000 };

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

const CREDENTIALS = ['key', 'access_token', 'oauth_token'];

// Every request the mock got carries no credential in its query, however it was spelled.
function assertNoCredentialUpstream() {
  assert.ok(mock.requests.length > 0, 'the request reached the mock');
  for (const r of mock.requests) {
    const names = Object.keys(r.query);  // the mock decodes the names, as Google does
    for (const c of CREDENTIALS) {
      assert.ok(!names.some((n) => n.toLowerCase() === c), `${c} reached upstream: ${r.url}`);
    }
  }
}

async function assertAllKeysActive(p) {
  const admin = await p.adminKeys();
  for (const k of admin.keys) assert.equal(k.status, 'active', `key ${k.key} was blamed: ${k.reason}`);
}

// One request with exactly these bytes as its target (Node's client would refuse or
// re-encode raw bytes above 0x7F). Resolves with { status, body: Buffer }.
function rawTarget(port, method, targetBytes, headers = {}, body = '') {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const chunks = [];
    const head = Object.entries({ host: `127.0.0.1:${port}`, connection: 'close', 'content-length': Buffer.byteLength(body), ...headers })
      .map(([k, v]) => `${k}: ${v}\r\n`).join('');
    sock.on('connect', () => {
      sock.write(Buffer.concat([Buffer.from(`${method} `), targetBytes, Buffer.from(` HTTP/1.1\r\n${head}\r\n${body}`)]));
    });
    sock.on('data', (d) => chunks.push(d));
    sock.on('error', reject);
    sock.on('close', () => {
      const all = Buffer.concat(chunks);
      const sep = all.indexOf('\r\n\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(all.subarray(0, sep).toString('latin1'))?.[1] ?? 0);
      resolve({ status, body: all.subarray(sep + 4) });
    });
    setTimeout(() => { sock.destroy(new Error('no answer within 10 s')); }, 10000).unref();
  });
}

function assertValidUtf8(buf, what) {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(buf);
  } catch {
    const at = [...buf].findIndex((b) => b >= 0x80);
    assert.fail(`${what} is not valid UTF-8 (near byte ${at}: ${buf.subarray(Math.max(0, at - 40), at + 10).toString('latin1')})`);
  }
}

test('a credential query parameter never goes upstream, however it is spelled', T, async () => {
  for (const q of ['?k%65y=junk', '?%6B%65%79=junk', '?%6b%65%79=junk', '?access_token=x', '?access%5Ftoken=x',
    '?oauth_token=x', '?KEY=junk', '?alt=json&k%65y=junk&key=junk2']) {
    mock.reset();
    const r = await proxy.generate('gemini-2.5-flash', { query: q });
    assert.equal(r.status, 200, `${q}: ${r.body}`);
    assertNoCredentialUpstream();
    assert.ok(!/k%65y|%6B%65%79|access|oauth/i.test(mock.requests[0].url), `${q}: forwarded as ${mock.requests[0].url}`);
  }
  await assertAllKeysActive(proxy);
});

test('the client token in ?k%65y= authenticates (as ?key= does) and is not forwarded', T, async () => {
  const r = await proxy.request('POST', `/v1beta/models/gemini-2.5-flash:generateContent?k%65y=${proxy.token}`, { body: GEN });
  assert.equal(r.status, 200, r.body);
  assertNoCredentialUpstream();
  assert.ok(!mock.requests[0].url.includes(proxy.token), `the token went upstream: ${mock.requests[0].url}`);
});

test('gemini%2D2.5-flash shares the state of gemini-2.5-flash: an exhausted model is not retried', T, async () => {
  const p = await startProxy({ keys: ['test-key-0101', 'test-key-0102'], upstream: mock.url });
  try {
    mock.setKey('*', 'gemini-2.5-flash', 'day');
    let r = await p.generate('gemini-2.5-flash');
    assert.equal(r.status, 503, r.body);
    assert.equal(mock.requests.length, 2, 'both keys tried once');
    for (const spelled of ['gemini%2D2.5-flash', '%67emini-2.5-flash', 'gemini-2.5%2Dflash']) {
      mock.clearRequests();
      r = await p.generate(spelled);
      assert.equal(r.status, 503, `${spelled}: ${r.body}`);
      assert.equal(mock.requests.length, 0, `${spelled}: the exhausted keys were tried again`);
      assert.match(r.json.error.message, /exhausted/);
    }
    const admin = await p.adminKeys();
    for (const k of admin.keys) {
      assert.deepEqual(Object.keys(k.models), ['gemini-2.5-flash'], `one model per key: ${JSON.stringify(k.models)}`);
    }
  } finally {
    await p.cleanup();
  }
});

test('a model segment that is not a model name is a 400 naming the problem; /metrics and /admin/keys stay UTF-8', T, async () => {
  const long = 'a'.repeat(200);
  const targets = [
    Buffer.from('/v1beta/models/gemini%FF:generateContent'),
    Buffer.concat([Buffer.from('/v1beta/models/gemini'), Buffer.from([0xff, 0xfe]), Buffer.from(':generateContent')]),
    Buffer.concat([Buffer.from('/v1beta/models/caf'), Buffer.from([0xc3, 0xa9]), Buffer.from(':generateContent')]),
    Buffer.from('/v1beta/models/gemini%0A%0D:generateContent'),
    Buffer.from('/v1beta/models/gemini%00:generateContent'),
    Buffer.from('/v1beta/models/gemini%20flash:generateContent'),
    Buffer.from(`/v1beta/models/${long}:generateContent`),
    Buffer.from('/v1beta/models/gemini%ZZ:generateContent'),
  ];
  for (const t of targets) {
    const r = await rawTarget(proxy.port, 'POST', t, { 'x-goog-api-key': proxy.token, 'content-type': 'application/json' }, JSON.stringify(GEN));
    const shown = t.toString('latin1');
    assert.equal(r.status, 400, `${shown}: ${r.body.toString('latin1')}`);
    assertValidUtf8(r.body, `the 400 body for ${shown}`);
    const err = JSON.parse(r.body.toString('utf8')).error;
    assert.equal(err.code, 400);
    assert.equal(err.status, 'INVALID_ARGUMENT');
    assert.match(err.message, /model name|%/, shown);
  }
  assert.equal(mock.requests.length, 0, 'nothing went upstream');

  // Raw bytes above 0x7F elsewhere in the path (an invented method, an unknown route).
  await rawTarget(proxy.port, 'POST', Buffer.concat([Buffer.from('/v1beta/models/gemini-2.5-flash:gen'), Buffer.from([0xff])]),
    { 'x-goog-api-key': proxy.token, 'content-type': 'application/json' }, JSON.stringify(GEN));
  const nf = await rawTarget(proxy.port, 'GET', Buffer.concat([Buffer.from('/nowhere/'), Buffer.from([0xff])]));
  assert.equal(nf.status, 404);
  assertValidUtf8(nf.body, 'the 404 body');

  const metrics = await rawTarget(proxy.port, 'GET', Buffer.from('/metrics'));
  assert.equal(metrics.status, 200);
  assertValidUtf8(metrics.body, '/metrics');
  const admin = await rawTarget(proxy.port, 'GET', Buffer.from('/admin/keys'), { authorization: `Bearer ${proxy.adminToken}` });
  assert.equal(admin.status, 200);
  assertValidUtf8(admin.body, '/admin/keys');
  assert.ok(!/gemini%FF|gemini\uFFFD/.test(admin.body.toString('utf8')), 'the refused names are not in the pool');
});

test('the OpenAI layer in --openai-mode google refuses a model that is not a model name', T, async () => {
  const p = await startProxy({ keys: ['test-key-0201'], upstream: mock.url, args: ['--openai-mode', 'google'] });
  try {
    const r = await p.request('POST', '/v1/chat/completions', {
      headers: { authorization: `Bearer ${p.token}` },
      body: { model: 'gemini 2.5\nflash', messages: [{ role: 'user', content: 'hi' }] },
    });
    assert.equal(r.status, 400, r.body);
    assert.equal(r.json?.error?.param, 'model', r.body);
    assert.equal(mock.requests.length, 0, 'nothing went upstream');
  } finally {
    await p.cleanup();
  }
});

function rssKb(pid) {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]);
}

// 1,000 keys × 1,500 invented names took 290 MB (each name a per-key state for every key,
// kept for good). A model Google answers 404 must cost nothing per key: the bound, 30 MB, is
// what 150 tracked models would cost at 1,000 keys (~200 B per key and model), ten times
// below the old growth and far above the allocator's noise (the same workload on a known
// model grows RSS by well under 10 MB).
test('1,000 keys × 1,500 invented model names: bounded RSS, no model tracked for them', { timeout: 300000 }, async (t) => {
  const keys = Array.from({ length: 1000 }, (_, i) => `test-key-${String(i + 1).padStart(4, '0')}`);
  const p = await startProxy({ keys, upstream: mock.url, logLevel: 'warn' });
  try {
    // Warm up with a model Google knows, so the baseline holds its pools and buffers.
    for (let i = 0; i < 200; i++) assert.equal((await p.generate('gemini-2.5-flash')).status, 200);
    await new Promise((r) => setTimeout(r, 300));
    const before = rssKb(p.proc.pid);
    mock.setKey('*', '*', 'notfound');  // as Google answers a model that does not exist
    const N = 1500;
    let next = 0;
    const worker = async () => {
      while (next < N) {
        const i = next++;
        const r = await p.generate(`invented-model-${i}`);
        assert.equal(r.status, 404, r.body);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    const grown = (rssKb(p.proc.pid) - before) / 1024;
    t.diagnostic(`RSS ${(before / 1024).toFixed(1)} MB before, grew by ${grown.toFixed(1)} MB`);
    assert.ok(grown < 30, `RSS grew by ${grown.toFixed(1)} MB for ${N} invented model names`);

    const metrics = (await p.request('GET', '/metrics')).body;
    const models = [...metrics.matchAll(/^gkm_requests_today_total\{model="([^"]*)"\}/gm)].map((m) => m[1]);
    assert.ok(!models.some((m) => m.startsWith('invented-model-')), `invented models tracked: ${models.length}`);
    assert.ok(models.length <= 256, `${models.length} models tracked`);
    const tracked = /^gkm_pool_models (\d+)$/m.exec(metrics);
    assert.ok(tracked, 'gkm_pool_models present');
    assert.ok(Number(tracked[1]) <= 2, `gkm_pool_models ${tracked[1]}`);
  } finally {
    await p.cleanup();
  }
});
