// SPEC 3.2: streamed pass-through (no buffering), byte-identical bodies, hop-by-hop headers.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startMock } from '../mock/mock-gemini.mjs';
import { startProxy, headerCount, parseSse, assertNoKeys, responseText } from './harness.mjs';

const KEYS = ['test-key-0001', 'test-key-0002'];
const HOP_BY_HOP = ['keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'upgrade', 'proxy-connection'];

let mock;
let proxy;
before(async () => {
  mock = await startMock();
  proxy = await startProxy({ keys: KEYS, upstream: mock.url, args: ['--upstream-timeout', '2'] });
});
after(async () => {
  await proxy?.cleanup();
  await mock?.close();
});
beforeEach(() => mock.reset());

const SSE = '?alt=sse';

test('SSE arrives incrementally: the first event reaches the client long before the mock sends the last', async () => {
  const model = 'st-slow';
  mock.setKey('*', model, { type: 'slowstream', events: 5, intervalMs: 300 });
  const r = await proxy.generate(model, { method: 'streamGenerateContent', query: SSE });
  assert.equal(r.status, 200);
  assert.equal(r.aborted, false);
  const e = mock.requests.find((x) => x.model === model);
  assert.equal(e.events.length, 5);
  const firstData = r.chunks.find((c) => c.data.length > 0);
  assert.ok(firstData, 'some data');
  const lastSent = e.events[4];
  assert.ok(firstData.at < lastSent - 600,
    `first chunk at +${firstData.at - r.startedAt} ms, mock sent the last event at +${lastSent - r.startedAt} ms`);
  assert.ok(firstData.at - e.events[0] < 500, `first event took ${firstData.at - e.events[0]} ms through the proxy`);
  // Chunks kept coming over the life of the stream.
  const spread = r.chunks.at(-1).at - firstData.at;
  assert.ok(spread >= 800, `data arrived within ${spread} ms only: buffered?`);
  assert.equal(r.body, e.responseBody, 'SSE body byte-identical');
  const events = parseSse(r.body);
  assert.equal(events.length, 5);
  assert.equal(events.at(-1).candidates[0].finishReason, 'STOP');
  assert.match(r.headers['content-type'], /^text\/event-stream/);
});

test('JSON-array stream form passes through byte-identical', async () => {
  const model = 'st-array';
  const r = await proxy.generate(model, { method: 'streamGenerateContent' });
  assert.equal(r.status, 200);
  const e = mock.requests.find((x) => x.model === model);
  assert.equal(r.body, e.responseBody);
  assert.ok(r.body.startsWith('[{') && r.body.endsWith('\r\n]'));
  assert.equal(JSON.parse(r.body).length, 3);
  assert.equal(r.headers['content-type'], 'application/json; charset=UTF-8');
});

test('JSON-array stream form is streamed too (slow upstream)', async () => {
  const model = 'st-array-slow';
  mock.setKey('*', model, { type: 'slowstream', events: 4, intervalMs: 300 });
  const r = await proxy.generate(model, { method: 'streamGenerateContent' });
  assert.equal(r.status, 200);
  const e = mock.requests.find((x) => x.model === model);
  assert.equal(r.body, e.responseBody);
  assert.ok(r.chunks[0].at < e.events[3] - 400, 'first chunk before the last element was sent');
});

test('plain JSON bodies pass through byte-identical with their headers', async () => {
  for (const [method, model] of [['generateContent', 'st-plain'], ['countTokens', 'st-count'], ['embedContent', 'gemini-embedding-001']]) {
    const body = method === 'embedContent' ? { content: { parts: [{ text: 'hi' }] } } : undefined;
    const r = await proxy.generate(model, { method, body });
    assert.equal(r.status, 200, `${method}: ${r.body}`);
    const e = mock.requests.at(-1);
    assert.equal(r.body, e.responseBody, method);
    assert.equal(r.headers['content-type'], 'application/json; charset=UTF-8');
    assert.equal(r.headers.vary, 'Origin, X-Origin, Referer');
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
  }
});

test('request body goes upstream as raw bytes (odd spacing, key order, unicode kept)', async () => {
  const model = 'st-raw';
  const raw = '{ "contents" :[ {"parts":[{"text":"h\\u00e9llo \u00e9\u6f22\u5b57 \ud83d\ude00"}],"role":"user"}] ,"generationConfig":{"temperature":0.70}}';
  const r = await proxy.call('POST', `/v1beta/models/${model}:generateContent`, { body: raw, headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 200);
  const e = mock.requests.find((x) => x.model === model);
  assert.equal(e.body, raw);
  assert.equal(e.bodyBytes, Buffer.byteLength(raw));
});

test('a stream cut by the upstream mid-way ends the client response (no hang, no retry)', async () => {
  const model = 'st-cut';
  mock.setKey('*', model, { type: 'cutstream', events: 2, intervalMs: 100 });
  const t0 = Date.now();
  const r = await proxy.generate(model, { method: 'streamGenerateContent', query: SSE, timeoutMs: 10000 });
  assert.ok(Date.now() - t0 < 5000, `ended after ${Date.now() - t0} ms`);
  assert.equal(r.status, 200);
  const e = mock.requests.find((x) => x.model === model);
  assert.ok(r.body.startsWith(e.responseBody.slice(0, 20)));
  assert.equal(parseSse(e.responseBody).length, 2);
  assert.ok(r.body.length <= e.responseBody.length);
  assert.equal(mock.keysSeen(model).length, 1, 'no retry once the client got the status line');
});

test('a stream stalled by the upstream ends within the idle limit (--upstream-timeout 2)', async () => {
  const model = 'st-stall';
  mock.setKey('*', model, { type: 'slowstream', events: 3, intervalMs: 30000 });
  const t0 = Date.now();
  const r = await proxy.generate(model, { method: 'streamGenerateContent', query: SSE, timeoutMs: 15000 });
  const took = Date.now() - t0;
  assert.equal(r.status, 200);
  assert.ok(took >= 1500 && took < 8000, `ended after ${took} ms`);
  assert.ok(r.body.startsWith('data: '), 'the first event got through');
  assert.equal(mock.keysSeen(model).length, 1);
});

test('response headers: exactly one Date, no hop-by-hop headers from upstream', async () => {
  for (const query of [SSE, '']) {
    const r = await proxy.generate('st-headers', { method: 'streamGenerateContent', query });
    assert.equal(r.status, 200);
    assert.equal(headerCount(r, 'date'), 1, `Date headers: ${JSON.stringify(r.rawHeaders)}`);
    assert.equal(r.headers['x-mock-hop'], undefined, 'header named in upstream Connection was forwarded');
    for (const h of HOP_BY_HOP) {
      if (h === 'keep-alive') continue;
      assert.equal(r.headers[h], undefined, `hop-by-hop ${h} forwarded`);
    }
    assert.ok(!/x-mock-hop/i.test(r.headers.connection ?? ''), `Connection: ${r.headers.connection}`);
    assert.ok(headerCount(r, 'content-length') + headerCount(r, 'transfer-encoding') <= 1, 'one framing header');
    assertNoKeys(responseText(r), KEYS);
  }
  const plain = await proxy.generate('st-headers');
  assert.equal(headerCount(plain, 'date'), 1);
  assert.equal(plain.headers['x-mock-hop'], undefined);
});

test('request headers: end-to-end ones forwarded, hop-by-hop ones and client credentials dropped', async () => {
  const model = 'st-reqheaders';
  const r = await proxy.call('POST', `/v1beta/models/${model}:generateContent`, {
    body: { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] },
    headers: {
      'user-agent': 'e2e-agent/1.0',
      'x-goog-api-client': 'google-genai-sdk/1.0 gl-node/20',
      'x-e2e-custom': 'kept',
      connection: 'keep-alive, X-Client-Hop',
      'x-client-hop': 'must-not-pass',
      'keep-alive': 'timeout=9',
      'proxy-authorization': 'Basic c2VjcmV0OnNlY3JldA==',
      te: 'trailers',
    },
  });
  assert.equal(r.status, 200, r.body);
  const e = mock.requests.find((x) => x.model === model);
  assert.equal(e.headers['user-agent'], 'e2e-agent/1.0');
  assert.equal(e.headers['x-goog-api-client'], 'google-genai-sdk/1.0 gl-node/20');
  assert.match(e.headers['content-type'], /^application\/json/);
  assert.equal(e.headers['x-e2e-custom'], 'kept');
  assert.equal(e.headers['x-client-hop'], undefined);
  assert.equal(e.headers['proxy-authorization'], undefined);
  assert.equal(e.headers.te, undefined);
  assert.ok(e.headers['keep-alive'] !== 'timeout=9', 'client Keep-Alive forwarded');
  assert.ok(!/x-client-hop/i.test(e.headers.connection ?? ''));
});
