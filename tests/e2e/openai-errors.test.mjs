// The official `openai` npm SDK against the proxy (translate mode) when things go wrong:
// wrong token, upstream 400, hostile input, every key spent for the day (SPEC 4.3), a stream
// cut mid-way, a per-day 429 on one key, and remote image URLs (SPEC 3.4).
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startMock } from '../mock/mock-gemini.mjs';
import { startProxy, nextReset, modelEntry, assertNoKeys, responseText } from './harness.mjs';
import {
  client, bodiesOf, within, startFileServer, PNG_1x1, assertUpstreamClean,
  APIError, AuthenticationError, BadRequestError, InternalServerError,
} from './openai-lib.mjs';

const KEYS = ['test-key-oe01', 'test-key-oe02', 'test-key-oe03'];
const MODEL = 'gemini-2.5-flash';

let mock;
let proxy;
let oa;

before(async () => {
  mock = await startMock();
  proxy = await startProxy({ keys: KEYS, upstream: mock.url });
  oa = client(proxy);
});
after(async () => {
  await proxy?.cleanup();
  await mock?.close();
});
beforeEach(() => {
  mock.reset();
});

const HI = [{ role: 'user', content: 'hi' }];

test('wrong token: AuthenticationError (401) and nothing reaches the mock', { timeout: 20000 }, async () => {
  const bad = client(proxy, { apiKey: 'not-the-token', maxRetries: 2 });
  await assert.rejects(bad.chat.completions.create({ model: MODEL, messages: HI }), (e) => {
    assert.ok(e instanceof AuthenticationError, `${e.constructor.name}: ${e.message}`);
    assert.equal(e.status, 401);
    return true;
  });
  await assert.rejects(bad.models.list(), AuthenticationError);
  await assert.rejects(bad.embeddings.create({ model: 'gemini-embedding-001', input: 'x' }), AuthenticationError);
  const stream = bad.chat.completions.create({ model: MODEL, messages: HI, stream: true });
  await assert.rejects(stream, AuthenticationError);
  const prefixed = client(proxy, { apiKey: 'not-the-token', prefix: '/openai/v1' });
  await assert.rejects(prefixed.chat.completions.create({ model: MODEL, messages: HI }), AuthenticationError);
  // No credentials at all.
  const raw = await proxy.request('POST', '/v1/chat/completions', { body: { model: MODEL, messages: HI } });
  assert.equal(raw.status, 401);
  assert.equal(typeof raw.json?.error?.message, 'string');
  assert.equal(mock.requests.length, 0);
});

test('upstream 400: BadRequestError carrying Google\'s message, not retried', { timeout: 20000 }, async () => {
  mock.setKey('*', MODEL, 'badrequest');
  const counter = { calls: [] };
  const withRetries = client(proxy, { maxRetries: 2, counter });
  await assert.rejects(withRetries.chat.completions.create({ model: MODEL, messages: HI }), (e) => {
    assert.ok(e instanceof BadRequestError, `${e.constructor.name}: ${e.message}`);
    assert.equal(e.status, 400);
    assert.match(e.message, /Invalid JSON payload received\. Unknown name "foo": Cannot find field\./);
    assert.equal(e.error?.type, 'invalid_request_error');
    return true;
  });
  assert.equal(counter.calls.length, 1);
  assert.equal(mock.requests.length, 1, 'a client error is not the key\'s fault: no other key tried');
  // The same through a stream: the status line decides before anything was sent.
  mock.clearRequests();
  await assert.rejects(oa.chat.completions.create({ model: MODEL, messages: HI, stream: true }), (e) => {
    assert.ok(e instanceof BadRequestError, `${e.constructor.name}: ${e.message}`);
    assert.match(e.message, /Unknown name "foo"/);
    return true;
  });
  assert.equal(mock.requests.length, 1);
});

test('hostile input: 400 naming the field, nothing reaches the mock', { timeout: 20000 }, async () => {
  const b64 = PNG_1x1.toString('base64');
  const cases = [
    { what: 'messages not an array', body: { model: MODEL, messages: 'hi' }, field: 'messages' },
    { what: 'temperature a string', body: { model: MODEL, messages: HI, temperature: 'hot' }, field: 'temperature' },
    { what: 'max_tokens a string', body: { model: MODEL, messages: HI, max_tokens: 'many' }, field: 'max_tokens' },
    { what: 'content a number', body: { model: MODEL, messages: [{ role: 'user', content: 42 }] }, field: 'messages[0].content' },
    { what: 'tools not an array', body: { model: MODEL, messages: HI, tools: 'x' }, field: 'tools' },
    {
      what: 'invalid base64 image',
      body: { model: MODEL, messages: [{ role: 'user', content: [{ type: 'text', text: 'see' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,@@not*base64@@' } }] }] },
      field: 'messages[0].content[1].image_url.url',
      re: /base64/,
    },
    {
      what: 'remote image URL without --fetch-image-urls',
      body: { model: MODEL, messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'http://127.0.0.1:9/cat.png' } }, { type: 'text', text: `x${b64.length}` }] }] },
      field: 'messages[0].content[0].image_url.url',
      re: /fetch-image-urls/,
    },
    { what: 'unknown role', body: { model: MODEL, messages: [{ role: 'wizard', content: 'hi' }] }, field: 'messages[0].role' },
    { what: 'model missing', body: { messages: HI }, field: 'model' },
    { what: 'model with a slash', body: { model: '../../v1beta/files', messages: HI }, field: 'model' },
    { what: 'tool_call arguments not JSON', body: { model: MODEL, messages: [...HI, { role: 'assistant', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{nope' } }] }] }, field: 'messages[1].tool_calls[0].function.arguments' },
  ];
  for (const c of cases) {
    await assert.rejects(oa.chat.completions.create(c.body), (e) => {
      assert.ok(e instanceof BadRequestError, `${c.what}: ${e.constructor.name}: ${e.message}`);
      assert.equal(e.status, 400, c.what);
      assert.ok(e.message.includes(c.field), `${c.what}: message ${JSON.stringify(e.message)} names ${c.field}`);
      assert.equal(e.param, c.field, `${c.what}: param`);
      if (c.re) assert.match(e.message, c.re, c.what);
      return true;
    });
  }
  // Embeddings: token input and wrong types.
  await assert.rejects(oa.embeddings.create({ model: 'gemini-embedding-001', input: [[1, 2, 3]], encoding_format: 'float' }), (e) => {
    assert.ok(e instanceof BadRequestError);
    assert.match(e.message, /input/);
    return true;
  });
  await assert.rejects(oa.embeddings.create({ model: 'gemini-embedding-001', input: 'x', dimensions: 'eight' }), (e) => {
    assert.ok(e instanceof BadRequestError);
    assert.match(e.message, /dimensions/);
    return true;
  });
  // A body that is not JSON at all: 400 in OpenAI's shape.
  const raw = await proxy.request('POST', '/v1/chat/completions', {
    headers: { authorization: `Bearer ${proxy.token}`, 'content-type': 'application/json' }, body: '{"model": "x", "messages": [',
  });
  assert.equal(raw.status, 400);
  assert.equal(raw.json.error.type, 'invalid_request_error');
  assert.equal(typeof raw.json.error.message, 'string');
  assert.ok('param' in raw.json.error && 'code' in raw.json.error, raw.body);
  assert.equal(mock.requests.length, 0, `mock saw ${mock.requests.map((e) => e.path)}`);
});

test('the request that spends the last key already answers 503 with the day\'s Retry-After and x-should-retry: false', { timeout: 20000 }, async () => {
  const M = 'gemini-2.5-flash-lite';
  mock.setKey('*', M, 'day');
  const raw = await proxy.request('POST', '/v1/chat/completions', {
    headers: { authorization: `Bearer ${proxy.token}` }, body: { model: M, messages: HI },
  });
  assert.equal(raw.status, 503);
  assertNoKeys(responseText(raw), KEYS);
  assert.deepEqual(mock.requests.map((e) => e.key).sort(), [...KEYS].sort(), 'each key tried once');
  // Every key is now exhausted for the day (SPEC 4.3): the wait is until the reset.
  const admin = await proxy.adminKeys();
  for (const k of KEYS) assert.equal(modelEntry(admin, k, M).state, 'exhausted');
  const wait = Number(raw.headers['retry-after']);
  assert.ok(Number.isInteger(wait), `Retry-After ${raw.headers['retry-after']}`);
  const expected = (nextReset() - Date.now()) / 1000;
  assert.ok(Math.abs(wait - expected) <= 5, `Retry-After ${wait} vs ${expected} s to the reset`);
  assert.equal(raw.headers['x-should-retry'], 'false');
  assert.equal(raw.json.error.type, 'api_error');
  assert.match(raw.json.error.message, /day/i);
});

test('the SDK with default retries does not retry the request that spends the last key', { timeout: 20000 }, async () => {
  const M = 'gemini-2.5-flash-preview-day';
  mock.setKey('*', M, 'day');
  const counter = { calls: [] };
  const sdk = client(proxy, { maxRetries: 2, counter });
  const t0 = Date.now();
  await assert.rejects(sdk.chat.completions.create({ model: M, messages: HI }), (e) => {
    assert.equal(e.status, 503, `${e.constructor.name}: ${e.message}`);
    return true;
  });
  const took = Date.now() - t0;
  assert.equal(mock.requests.length, KEYS.length, 'each key tried once, no more');
  assert.equal(counter.calls.length, 1, `the SDK sent ${counter.calls.length} requests (retried)`);
  assert.ok(took < 1500, `took ${took} ms`);
});

test('all keys spent for the day: 503 with Retry-After and x-should-retry: false; the SDK does not retry', { timeout: 20000 }, async () => {
  const M = 'gemini-2.5-pro';
  mock.setKey('*', M, 'day');
  // Spend every key for M (what that first answer says is the previous test's business).
  await proxy.request('POST', '/v1/chat/completions', {
    headers: { authorization: `Bearer ${proxy.token}` }, body: { model: M, messages: HI },
  });
  assert.deepEqual(mock.requests.map((e) => e.key).sort(), [...KEYS].sort(), 'each key tried once');
  mock.clearRequests();

  const raw = await proxy.request('POST', '/v1/chat/completions', {
    headers: { authorization: `Bearer ${proxy.token}` }, body: { model: M, messages: HI },
  });
  assert.equal(raw.status, 503);
  const wait = Number(raw.headers['retry-after']);
  assert.ok(Number.isInteger(wait), `Retry-After ${raw.headers['retry-after']}`);
  const expected = (nextReset() - Date.now()) / 1000;
  assert.ok(Math.abs(wait - expected) <= 5, `Retry-After ${wait} vs ${expected} s to the reset`);
  assert.equal(raw.headers['x-should-retry'], 'false');
  assert.equal(raw.json.error.type, 'api_error');
  assert.match(raw.json.error.message, /day/i);
  assert.equal(mock.requests.length, 0, 'no upstream request for spent keys');

  // The SDK with its default retries gets the 503 at once.
  const counter = { calls: [] };
  const sdk = client(proxy, { maxRetries: 2, counter });
  const t0 = Date.now();
  await assert.rejects(sdk.chat.completions.create({ model: M, messages: HI }), (e) => {
    assert.ok(e instanceof InternalServerError, `${e.constructor.name}: ${e.message}`);
    assert.equal(e.status, 503);
    assert.equal(e.headers.get('x-should-retry'), 'false');
    return true;
  });
  const took = Date.now() - t0;
  assert.equal(counter.calls.length, 1, 'the SDK did not retry');
  assert.ok(took < 1500, `took ${took} ms`);
  assert.equal(mock.requests.length, 0, 'no upstream request for spent keys');
  // A stream says the same before its first byte.
  await assert.rejects(sdk.chat.completions.create({ model: M, messages: HI, stream: true }), (e) => e.status === 503);
  assert.equal(counter.calls.length, 2);
  assert.equal(mock.requests.length, 0);

  const admin = await proxy.adminKeys();
  for (const k of KEYS) {
    const m = modelEntry(admin, k, M);
    assert.equal(m.state, 'exhausted', `${k}: ${JSON.stringify(m)}`);
    assert.equal(m.requests, 0, '429s are not counted as requests');
  }
  // Other models are unaffected.
  const ok = await sdk.chat.completions.create({ model: MODEL, messages: HI });
  assert.equal(ok.choices[0].message.content, 'ok from mock');
});

test('a per-day 429 on one key is retried on the next key, transparently for the SDK', { timeout: 20000 }, async () => {
  const M = 'gemini-2.0-flash';
  mock.queue('*', M, 'day');
  const counter = { calls: [] };
  const sdk = client(proxy, { maxRetries: 0, counter });
  const r = await sdk.chat.completions.create({ model: M, messages: HI });
  assert.equal(r.choices[0].message.content, 'ok from mock');
  assert.equal(counter.calls.length, 1);
  assert.equal(mock.requests.length, 2);
  assert.equal(mock.requests[0].status, 429);
  assert.equal(mock.requests[1].status, 200);
  assert.notEqual(mock.requests[0].key, mock.requests[1].key);
  const admin = await proxy.adminKeys();
  assert.equal(modelEntry(admin, mock.requests[0].key, M).state, 'exhausted');
  assert.equal(modelEntry(admin, mock.requests[1].key, M).state, 'ok');
  // The same for a stream: the retry happens before the first byte.
  mock.clearRequests();
  mock.queue('*', M, 'day');
  const s = await sdk.chat.completions.create({ model: M, messages: HI, stream: true });
  let text = '';
  for await (const c of s) text += c.choices[0]?.delta?.content ?? '';
  assert.equal(text, 'ok from mock');
  assert.equal(mock.requests.length, 2);
  assert.equal(mock.requests[0].status, 429);
  // The key spent for M is never tried again for it.
  const spent = new Set(Object.values(admin.keys).filter((k) => k.models?.[M]?.state === 'exhausted').map((k) => k.key));
  assert.equal(spent.size, 1);
});

test('a stream cut by the upstream mid-way makes the SDK throw, never hang', { timeout: 20000 }, async () => {
  mock.queue('*', MODEL, { type: 'cutstream', events: 1, intervalMs: 100 });
  const sdk = client(proxy, { maxRetries: 2 });
  const got = [];
  const t0 = Date.now();
  const err = await within(8000, 'for await over a cut stream', async () => {
    try {
      const s = await sdk.chat.completions.create({ model: MODEL, messages: HI, stream: true });
      for await (const c of s) got.push(c);
    } catch (e) {
      return e;
    }
    return null;
  });
  assert.ok(err, `the SDK ended the stream without an error after ${got.length} chunks: ${JSON.stringify(got.map((c) => c.choices))}`);
  assert.ok(err instanceof APIError, `${err.constructor.name}: ${err.message}`);
  assert.ok(Date.now() - t0 < 8000);
  assert.equal(got[0]?.choices[0]?.delta?.role, 'assistant', 'role chunk came first');
  assert.equal(got.map((c) => c.choices[0]?.delta?.content ?? '').join(''), 'ok', 'the first event reached the client');
  assert.ok(!got.some((c) => c.choices[0]?.finish_reason), 'no finish chunk for a broken stream');
  assert.equal(mock.requests.length, 1, 'no retry after the answer began');
  // The proxy keeps serving.
  const r = await sdk.chat.completions.create({ model: MODEL, messages: HI });
  assert.equal(r.choices[0].message.content, 'ok from mock');
  // On the wire: an error event and no [DONE].
  mock.queue('*', MODEL, { type: 'cutstream', events: 1, intervalMs: 50 });
  const raw = await proxy.request('POST', '/v1/chat/completions', {
    headers: { authorization: `Bearer ${proxy.token}` }, body: { model: MODEL, messages: HI, stream: true }, timeoutMs: 8000,
  });
  assert.equal(raw.status, 200);
  assert.match(raw.body, /data: \{"error":/);
  assertNoKeys(responseText(raw), KEYS);
  assert.ok(!raw.body.includes('[DONE]'), 'no [DONE] after an error');
});

test('remote image URLs: fetched with --fetch-image-urls --fetch-allow-private, refused otherwise', { timeout: 30000 }, async () => {
  const files = await startFileServer({
    '/cat.png': { type: 'image/png', body: PNG_1x1 },
    '/page.html': { type: 'text/html', body: Buffer.from('<html></html>') },
  });
  const keys = ['test-key-of01', 'test-key-of02'];
  const fetching = await startProxy({ keys, upstream: mock.url, args: ['--fetch-image-urls', '--fetch-allow-private'] });
  const noPrivate = await startProxy({ keys, upstream: mock.url, args: ['--fetch-image-urls'] });
  try {
    const sdk = client(fetching);
    const url = `${files.url}/cat.png`;
    const r = await sdk.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: [{ type: 'text', text: 'what is this?' }, { type: 'image_url', image_url: { url } }] }],
    });
    assert.equal(r.choices[0].message.content, 'ok from mock');
    assert.deepEqual(files.hits, ['/cat.png']);
    const [b] = bodiesOf(mock, /:generateContent$/);
    assert.deepEqual(b.contents[0].parts, [
      { text: 'what is this?' },
      { inlineData: { mimeType: 'image/png', data: PNG_1x1.toString('base64') } },
    ]);
    assert.ok(!mock.requests[0].body.includes(files.url), 'the URL itself does not go upstream');

    // A URL that answers 404, or not an image: 400 naming the field.
    mock.clearRequests();
    for (const [p, re] of [['/missing.png', /404/], ['/page.html', /image/]]) {
      await assert.rejects(sdk.chat.completions.create({
        model: MODEL, messages: [{ role: 'user', content: [{ type: 'text', text: 'look' }, { type: 'image_url', image_url: { url: files.url + p } }] }],
      }), (e) => {
        assert.ok(e instanceof BadRequestError, `${p}: ${e.constructor.name}: ${e.message}`);
        assert.equal(e.param, 'messages[0].content[1].image_url.url', e.message);
        assert.ok(e.message.includes('messages[0].content[1].image_url.url'), e.message);
        assert.match(e.message, re);
        return true;
      });
    }
    // Without --fetch-allow-private a loopback address is refused.
    const hits = files.hits.length;
    await assert.rejects(client(noPrivate).chat.completions.create({
      model: MODEL, messages: [{ role: 'user', content: [{ type: 'text', text: 'look' }, { type: 'image_url', image_url: { url } }] }],
    }), (e) => {
      assert.ok(e instanceof BadRequestError, `${e.constructor.name}: ${e.message}`);
      assert.ok(e.message.includes('messages[0].content[1].image_url.url'), e.message);
      assert.match(e.message, /private/);
      return true;
    });
    assert.equal(files.hits.length, hits, 'nothing fetched from a private address');
    assert.equal(mock.requests.length, 0);
    assertUpstreamClean(mock, keys, fetching.token);
  } finally {
    await fetching.cleanup();
    await noPrivate.cleanup();
    await files.close();
  }
});

test('a message whose only content is a remote image URL is fetched (--fetch-image-urls)', { timeout: 30000 }, async () => {
  const files = await startFileServer({ '/only.png': { type: 'image/png', body: PNG_1x1 } });
  const keys = ['test-key-og01'];
  const fetching = await startProxy({ keys, upstream: mock.url, args: ['--fetch-image-urls', '--fetch-allow-private'] });
  try {
    const r = await client(fetching).chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: `${files.url}/only.png` } }] }],
    });
    assert.equal(r.choices[0].message.content, 'ok from mock');
    assert.deepEqual(files.hits, ['/only.png']);
    const [b] = bodiesOf(mock, /:generateContent$/);
    assert.deepEqual(b.contents, [{ role: 'user', parts: [{ inlineData: { mimeType: 'image/png', data: PNG_1x1.toString('base64') } }] }]);
  } finally {
    await fetching.cleanup();
    await files.close();
  }
});
