// The official `openai` npm SDK against the proxy in --openai-mode google (SPEC 2, 3.2, 3.4):
// the OpenAI requests go as they are to Google's own /v1beta/openai/... layer (here the mock's)
// with a pool key as Bearer, and the answers come back as they are.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startMock, MODELS } from '../mock/mock-gemini.mjs';
import { startProxy, eventually, modelEntry, assertNoKeys, responseText } from './harness.mjs';
import { client, AuthenticationError, BadRequestError, InternalServerError } from './openai-lib.mjs';

const KEYS = ['test-key-og11', 'test-key-og12', 'test-key-og13'];
const MODEL = 'gemini-2.5-flash';

let mock;
let proxy;
let oa;

before(async () => {
  mock = await startMock();
  proxy = await startProxy({ keys: KEYS, upstream: mock.url, args: ['--openai-mode', 'google'] });
  oa = client(proxy);
});
after(async () => {
  await proxy?.cleanup();
  await mock?.close();
});
beforeEach(() => {
  mock.reset();
});

// Every upstream request went to Google's OpenAI layer with a real key as Bearer and never
// the client token.
function assertGoogleLayer(path) {
  assert.ok(mock.requests.length > 0, 'the mock saw the request');
  for (const e of mock.requests) {
    assert.equal(e.path, path);
    const auth = e.headers.authorization ?? '';
    const m = /^Bearer (.+)$/.exec(auth);
    assert.ok(m, `${e.path}: Authorization ${auth}`);
    assert.ok(KEYS.includes(m[1]), `${e.path}: Bearer ${m[1]} is not a pool key`);
    if (e.headers['x-goog-api-key'] !== undefined) assert.ok(KEYS.includes(e.headers['x-goog-api-key']));
    assert.ok(!JSON.stringify(e.rawHeaders).includes(proxy.token), `${e.path}: client token in upstream headers`);
    assert.ok(!e.url.includes(proxy.token), `${e.path}: client token in the upstream URL`);
    assert.ok(!e.body.includes(proxy.token), `${e.path}: client token in the upstream body`);
  }
}

test('google mode: chat non-stream is forwarded to /v1beta/openai/chat/completions', { timeout: 20000 }, async () => {
  const req = { model: MODEL, messages: [{ role: 'system', content: 'terse' }, { role: 'user', content: 'Say hi' }], temperature: 0.2 };
  const r = await oa.chat.completions.create(req);
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].message.content, 'ok from mock');
  assert.equal(r.choices[0].finish_reason, 'stop');
  assert.match(r.id, /^mock-/, 'the answer comes back as Google sent it');
  assert.equal(r.usage.total_tokens, 10);
  assert.equal(mock.requests.length, 1);
  assertGoogleLayer('/v1beta/openai/chat/completions');
  const sent = JSON.parse(mock.requests[0].body);
  assert.deepEqual(sent.messages, req.messages, 'the body goes as it is');
  assert.equal(sent.temperature, 0.2);
  assert.equal(sent.model, MODEL);
});

test('google mode: chat stream with for await', { timeout: 20000 }, async () => {
  const stream = await oa.chat.completions.create({
    model: MODEL, messages: [{ role: 'user', content: 'Say hi' }], stream: true, stream_options: { include_usage: true },
  });
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), 'ok from mock');
  assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
  assert.equal(chunks.at(-1).usage.total_tokens, 10);
  assert.equal(new Set(chunks.map((c) => c.id)).size, 1);
  assert.equal(mock.requests.length, 1);
  assertGoogleLayer('/v1beta/openai/chat/completions');
  assert.equal(JSON.parse(mock.requests[0].body).stream, true);
});

test('google mode: models.list and models.retrieve', { timeout: 20000 }, async () => {
  const ids = [];
  for await (const m of oa.models.list()) ids.push(m.id);
  assert.deepEqual(ids, MODELS.map((m) => m.name), 'Google\'s list as it is');
  assertGoogleLayer('/v1beta/openai/models');
  mock.clearRequests();
  const m = await oa.models.retrieve('gemini-2.5-pro');
  assert.equal(m.id, 'models/gemini-2.5-pro');
  assertGoogleLayer('/v1beta/openai/models/gemini-2.5-pro');
});

test('google mode: embeddings', { timeout: 20000 }, async () => {
  const r = await oa.embeddings.create({ model: 'gemini-embedding-001', input: ['one', 'two'], encoding_format: 'float', dimensions: 8 });
  assert.equal(r.data.length, 2);
  assert.equal(r.data[0].embedding.length, 8);
  const expected = JSON.parse(mock.requests[0].responseBody).data.map((d) => d.embedding);
  assert.deepEqual(r.data.map((d) => d.embedding), expected);
  assertGoogleLayer('/v1beta/openai/embeddings');
  const sent = JSON.parse(mock.requests[0].body);
  assert.deepEqual(sent.input, ['one', 'two']);
  assert.equal(sent.dimensions, 8);
  assert.equal(sent.encoding_format, 'float');
});

test('google mode: the /openai/v1 prefix too', { timeout: 20000 }, async () => {
  const po = client(proxy, { prefix: '/openai/v1' });
  const r = await po.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(r.choices[0].message.content, 'ok from mock');
  assertGoogleLayer('/v1beta/openai/chat/completions');
});

test('google mode: no real key reaches the client', { timeout: 20000 }, async () => {
  for (const [method, p, body] of [
    ['POST', '/v1/chat/completions', { model: MODEL, messages: [{ role: 'user', content: 'hi' }] }],
    ['POST', '/v1/chat/completions', { model: MODEL, messages: [{ role: 'user', content: 'hi' }], stream: true }],
    ['GET', '/v1/models'],
    ['POST', '/v1/embeddings', { model: 'gemini-embedding-001', input: 'x' }],
  ]) {
    const r = await proxy.request(method, p, { headers: { authorization: `Bearer ${proxy.token}` }, body });
    assert.equal(r.status, 200, `${method} ${p}: ${r.body.slice(0, 200)}`);
    assertNoKeys(responseText(r), KEYS, `${method} ${p}`);
  }
});

test('google mode: wrong token is a 401 AuthenticationError and nothing reaches the mock', { timeout: 20000 }, async () => {
  const bad = client(proxy, { apiKey: 'not-the-token', maxRetries: 2 });
  await assert.rejects(bad.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }), AuthenticationError);
  await assert.rejects(bad.models.list(), AuthenticationError);
  assert.equal(mock.requests.length, 0);
});

test('google mode: an upstream 400 is a BadRequestError, not retried on other keys', { timeout: 20000 }, async () => {
  mock.setKey('*', 'gemini-bad', 'badrequest');
  await assert.rejects(oa.chat.completions.create({ model: 'gemini-bad', messages: [{ role: 'user', content: 'hi' }] }), (e) => {
    assert.ok(e instanceof BadRequestError, `${e.constructor.name}: ${e.message}`);
    assert.equal(e.status, 400);
    return true;
  });
  assert.equal(mock.requests.length, 1);
});

test('google mode: keys rotate and are counted per model; all spent for the day → 503 without SDK retries', { timeout: 20000 }, async () => {
  const before = await proxy.adminKeys();
  for (let i = 0; i < 3; i++) await oa.chat.completions.create({ model: 'gemini-2.0-flash', messages: [{ role: 'user', content: `n${i}` }] });
  assert.equal(new Set(mock.requests.map((e) => e.key)).size, 3, 'round robin over the three keys');
  await eventually(async () => {
    const now = await proxy.adminKeys();
    for (const k of KEYS) {
      assert.equal(modelEntry(now, k, 'gemini-2.0-flash').requests - modelEntry(before, k, 'gemini-2.0-flash').requests, 1, k);
    }
  }, { timeoutMs: 3000 });

  mock.clearRequests();
  mock.setKey('*', 'gemini-2.5-pro', 'day');
  // Spend the keys.
  await proxy.request('POST', '/v1/chat/completions', {
    headers: { authorization: `Bearer ${proxy.token}` }, body: { model: 'gemini-2.5-pro', messages: [{ role: 'user', content: 'hi' }] },
  });
  assert.equal(mock.requests.length, 3);
  mock.clearRequests();
  const counter = { calls: [] };
  const sdk = client(proxy, { maxRetries: 2, counter });
  await assert.rejects(sdk.chat.completions.create({ model: 'gemini-2.5-pro', messages: [{ role: 'user', content: 'hi' }] }), (e) => {
    assert.ok(e instanceof InternalServerError, `${e.constructor.name}: ${e.message}`);
    assert.equal(e.status, 503);
    assert.equal(e.headers.get('x-should-retry'), 'false');
    assert.ok(Number(e.headers.get('retry-after')) > 60);
    return true;
  });
  assert.equal(counter.calls.length, 1);
  assert.equal(mock.requests.length, 0);
});
