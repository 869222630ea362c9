// SPEC 3.1 (client authentication), 3.5 (operational endpoints without auth, admin API auth).
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startMock } from '../mock/mock-gemini.mjs';
import { startProxy, GEN, assertNoKeys, responseText } from './harness.mjs';

const KEYS = ['test-key-0001', 'test-key-0002'];
const TOKEN = 'test-token';
const MODEL = 'gemini-2.5-flash';
const PATH = `/v1beta/models/${MODEL}:generateContent`;

let mock;
let proxy;
before(async () => {
  mock = await startMock();
  proxy = await startProxy({ keys: KEYS, upstream: mock.url, token: [TOKEN, 'second-token'] });
});
after(async () => {
  await proxy?.cleanup();
  await mock?.close();
});
beforeEach(() => mock.reset());

// What the mock saw must carry a real key in x-goog-api-key and nothing of the client's
// credentials: not the token, not its Authorization header, no `key` query parameter.
function assertForwardedWithRealKey(entry, token = TOKEN) {
  assert.ok(KEYS.includes(entry.headers['x-goog-api-key']), `x-goog-api-key at the mock: ${entry.headers['x-goog-api-key']}`);
  assert.equal(entry.key, entry.headers['x-goog-api-key']);
  assert.equal(entry.headers.authorization, undefined, 'no Authorization header upstream');
  assert.equal(entry.query.key, undefined, 'no key query parameter upstream');
  assert.ok(!JSON.stringify(entry.headers).includes(token), 'token in upstream headers');
  assert.ok(!entry.url.includes(token), 'token in upstream URL');
  assert.ok(!entry.body.includes(token), 'token in upstream body');
  const apiKeyHeaders = entry.rawHeaders.filter((_, i) => i % 2 === 0 && entry.rawHeaders[i].toLowerCase() === 'x-goog-api-key');
  assert.equal(apiKeyHeaders.length, 1, 'exactly one x-goog-api-key upstream');
}

test('401 without a token, before anything goes upstream', async () => {
  const r = await proxy.request('POST', PATH, { body: GEN });
  assert.equal(r.status, 401);
  assertNoKeys(responseText(r), KEYS);
  assert.equal(mock.requests.length, 0);
});

test('401 with a wrong token in each of the three places', async () => {
  const variants = [
    { headers: { 'x-goog-api-key': 'wrong-token' } },
    { query: '?key=wrong-token' },
    { headers: { authorization: 'Bearer wrong-token' } },
    { headers: { 'x-goog-api-key': `${TOKEN}x` } },
    { headers: { 'x-goog-api-key': TOKEN.slice(0, -1) } },
    { headers: { authorization: `Basic ${Buffer.from(`user:${TOKEN}`).toString('base64')}` } },
  ];
  for (const v of variants) {
    const r = await proxy.request('POST', PATH + (v.query ?? ''), { headers: v.headers ?? {}, body: GEN });
    assert.equal(r.status, 401, JSON.stringify(v));
    assertNoKeys(responseText(r), KEYS);
  }
  assert.equal(mock.requests.length, 0);
});

// Each I/O thread remembers the last token it checked (server.cc TokenMatches): tokens that
// differ in one byte, in case or in length, and another valid token must each get their own
// verdict, in any order, on any thread.
test('alternating right and wrong tokens each get their own verdict', async () => {
  const sequence = [
    [TOKEN, 200], ['test-tokeN', 401], [TOKEN, 200], [TOKEN, 200], ['TEST-TOKEN', 401],
    [`${TOKEN}x`, 401], ['second-token', 200], [TOKEN.slice(0, -1), 401], [TOKEN, 200],
    ['x'.repeat(200), 401], [TOKEN, 200], ['second-token', 200], ['second-tokeN', 401],
  ];
  for (let round = 0; round < 3; ++round) {
    for (const [token, want] of sequence) {
      const r = await proxy.request('POST', PATH, { headers: { 'x-goog-api-key': token }, body: GEN });
      assert.equal(r.status, want, JSON.stringify(token));
    }
  }
  assert.equal(mock.requests.length, 3 * sequence.filter(([, want]) => want === 200).length);
});

test('a real key is not a client token', async () => {
  const r = await proxy.request('POST', PATH, { headers: { 'x-goog-api-key': KEYS[0] }, body: GEN });
  assert.equal(r.status, 401);
  assert.equal(mock.requests.length, 0);
});

test('401 comes before the body is read', async () => {
  // Announce a large body, send none: the proxy must answer 401 without waiting for it.
  const status = await new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port: proxy.port, method: 'POST', path: PATH, agent: false,
      headers: { 'content-type': 'application/json', 'content-length': '50000000', 'x-goog-api-key': 'wrong-token' },
    }, (res) => { res.resume(); resolve(res.statusCode); req.destroy(); });
    req.on('error', reject);
    req.flushHeaders();
    setTimeout(() => { req.destroy(); reject(new Error('no answer within 5 s while the body was pending')); }, 5000).unref();
  });
  assert.equal(status, 401);
  assert.equal(mock.requests.length, 0);
});

test('token accepted from x-goog-api-key; the real key goes upstream in x-goog-api-key', async () => {
  const r = await proxy.request('POST', PATH, { headers: { 'x-goog-api-key': TOKEN }, body: GEN });
  assert.equal(r.status, 200, r.body);
  assert.equal(r.json.candidates[0].content.parts[0].text, 'ok from mock');
  assert.equal(mock.requests.length, 1);
  assertForwardedWithRealKey(mock.requests[0]);
  assertNoKeys(responseText(r), KEYS);
});

test('token accepted from ?key=; the key parameter is not forwarded, other parameters are', async () => {
  const r = await proxy.request('POST', `/v1beta/models/${MODEL}:streamGenerateContent?alt=sse&key=${TOKEN}`, { body: GEN });
  assert.equal(r.status, 200, r.body);
  assert.equal(mock.requests.length, 1);
  assertForwardedWithRealKey(mock.requests[0]);
  assert.deepEqual(mock.requests[0].query, { alt: 'sse' });
  assertNoKeys(responseText(r), KEYS);
});

test('token accepted from Authorization: Bearer; the Authorization header is not forwarded', async () => {
  const r = await proxy.request('POST', PATH, { headers: { authorization: `Bearer ${TOKEN}` }, body: GEN });
  assert.equal(r.status, 200, r.body);
  assert.equal(mock.requests.length, 1);
  assertForwardedWithRealKey(mock.requests[0]);
});

test('every configured token (--token repeated) is accepted', async () => {
  const r = await proxy.request('POST', PATH, { headers: { 'x-goog-api-key': 'second-token' }, body: GEN });
  assert.equal(r.status, 200, r.body);
  assertForwardedWithRealKey(mock.requests[0], 'second-token');
});

test('GET routes authenticate the same way (models list with ?key=)', async () => {
  assert.equal((await proxy.request('GET', '/v1beta/models')).status, 401);
  const r = await proxy.request('GET', `/v1beta/models?key=${TOKEN}&pageSize=2`);
  assert.equal(r.status, 200, r.body);
  assert.equal(r.json.models.length, 2);
  assertForwardedWithRealKey(mock.requests[0]);
  assert.equal(mock.requests[0].query.pageSize, '2');
});

test('upload routes need the token too', async () => {
  const r = await proxy.request('POST', '/upload/v1beta/files', {
    headers: { 'x-goog-upload-protocol': 'resumable', 'x-goog-upload-command': 'start' }, body: '{}',
  });
  assert.equal(r.status, 401);
  assert.equal(mock.requests.length, 0);
});

test("Google's OpenAI layer (/v1beta/openai/...): the real key goes as Authorization: Bearer", async () => {
  assert.equal((await proxy.request('GET', '/v1beta/openai/models')).status, 401);
  const r = await proxy.request('GET', '/v1beta/openai/models', { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(r.status, 200, r.body);
  assert.equal(r.json.object, 'list');
  assert.equal(mock.requests.length, 1);
  const e = mock.requests[0];
  const m = /^Bearer (.+)$/.exec(e.headers.authorization ?? '');
  assert.ok(m && KEYS.includes(m[1]), `Authorization at the mock: ${e.headers.authorization}`);
  assert.ok(!JSON.stringify(e.headers).includes(TOKEN));
  assertNoKeys(responseText(r), KEYS);
});

test('/healthz and /metrics need no auth and show no key', async () => {
  const h = await proxy.request('GET', '/healthz');
  assert.equal(h.status, 200);
  assert.deepEqual(h.json, { status: 'ok' });
  // Some traffic first, so that metrics have series.
  await proxy.request('POST', PATH, { headers: { 'x-goog-api-key': TOKEN }, body: GEN });
  const m = await proxy.request('GET', '/metrics');
  assert.equal(m.status, 200);
  assert.match(m.headers['content-type'] ?? '', /^text\/plain/);
  assert.match(m.body, /^gkm_requests_total\{/m);
  assert.match(m.body, /^gkm_inflight_requests /m);
  assertNoKeys(responseText(m), KEYS, '/metrics');
  assert.ok(!m.body.includes(TOKEN));
});

test('admin API: 401/403 without the admin token, 200 with it, keys masked', async () => {
  for (const headers of [{}, { authorization: `Bearer ${TOKEN}` }, { 'x-goog-api-key': TOKEN }, { authorization: 'Bearer admin-tokenx' }, { 'x-goog-api-key': 'admin-token' }]) {
    const r = await proxy.request('GET', '/admin/keys', { headers });
    assert.ok(r.status === 401 || r.status === 403, `${JSON.stringify(headers)} -> ${r.status}`);
    assertNoKeys(responseText(r), KEYS);
  }
  const post = await proxy.request('POST', '/admin/reload', { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.ok(post.status === 401 || post.status === 403, `reload with client token -> ${post.status}`);
  const r = await proxy.request('GET', '/admin/keys', { headers: { authorization: 'Bearer admin-token' } });
  assert.equal(r.status, 200, r.body);
  assert.equal(r.json.keys.length, KEYS.length);
  for (const k of r.json.keys) {
    assert.match(k.id, /^[A-Za-z0-9_-]+$/);
    assert.ok(KEYS.some((key) => k.key.endsWith(key.slice(-4))), `masked ${k.key}`);
  }
  assertNoKeys(responseText(r), KEYS, '/admin/keys');
});

test('admin API answers 404 when no admin token is configured', async () => {
  const p = await startProxy({ keys: KEYS, upstream: mock.url, adminToken: null });
  try {
    const r = await p.request('GET', '/admin/keys', { headers: { authorization: 'Bearer admin-token' } });
    assert.equal(r.status, 404);
    assert.equal((await p.request('GET', '/admin/keys')).status, 404);
  } finally {
    await p.cleanup();
  }
});
