// The official @google/genai SDK (pinned in tests/sdk/package.json) talking to the proxy, with
// the client token as its apiKey and the proxy as its baseUrl.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startMock } from '../mock/mock-gemini.mjs';
import { startProxy } from './harness.mjs';

const KEYS = ['test-key-0001', 'test-key-0002', 'test-key-0003'];
const MODEL = 'gemini-2.5-flash';

// scripts/install-deps.sh --test installs the SDK; its absence is a failure, not a skip.
const genai = await import('../sdk/genai.mjs');

let mock;
let proxy;
let ai;
// Every exchange the SDK had with the proxy (through httpOptions.fetch), to check that no real
// key ever reached the client: not in a URL it was told to call, not in a response header.
const exchanges = [];
async function recordingFetch(url, init) {
  const r = await fetch(url, init);
  exchanges.push({ url: String(url), status: r.status, headers: [...r.headers].map(([k, v]) => `${k}: ${v}`).join('\n') });
  return r;
}
before(async () => {
  mock = await startMock();
  proxy = await startProxy({ keys: KEYS, upstream: mock.url });
  ai = new genai.GoogleGenAI({ apiKey: proxy.token, httpOptions: { baseUrl: proxy.url, fetch: recordingFetch } });
});
after(async () => {
  await proxy?.cleanup();
  await mock?.close();
});
beforeEach(() => mock?.clearRequests());

// Every upstream request carried a real key and nothing of the token.
function assertUpstreamClean() {
  assert.ok(mock.requests.length > 0);
  for (const e of mock.requests) {
    assert.ok(KEYS.includes(e.key), `${e.path}: key ${e.key}`);
    assert.ok(!JSON.stringify(e.headers).includes(proxy.token), `${e.path}: token upstream`);
    assert.ok(!e.url.includes(proxy.token), `${e.path}: token in the upstream URL`);
  }
}

test('models.generateContent', async () => {
  const r = await ai.models.generateContent({ model: MODEL, contents: 'Say hi' });
  assert.equal(r.text, 'ok from mock');
  assert.equal(r.usageMetadata.totalTokenCount, 10);
  assert.equal(r.usageMetadata.thoughtsTokenCount, 5);
  assert.equal(r.modelVersion, MODEL);
  assert.equal(mock.requests.length, 1);
  assert.equal(mock.requests[0].path, `/v1beta/models/${MODEL}:generateContent`);
  assert.match(mock.requests[0].headers['x-goog-api-client'] ?? '', /google-genai-sdk\/|genai-js/);
  assertUpstreamClean();
});

test('models.generateContentStream', async () => {
  const stream = await ai.models.generateContentStream({ model: MODEL, contents: 'Say hi' });
  let text = '';
  let n = 0;
  let last;
  for await (const chunk of stream) {
    text += chunk.text ?? '';
    n++;
    last = chunk;
  }
  assert.equal(text, 'ok from mock');
  assert.equal(n, 3);
  assert.equal(last.candidates[0].finishReason, 'STOP');
  assert.equal(last.usageMetadata.totalTokenCount, 10);
  assert.equal(mock.requests[0].query.alt, 'sse');
  assertUpstreamClean();
});

test('models.countTokens', async () => {
  const r = await ai.models.countTokens({ model: MODEL, contents: 'Count me' });
  assert.equal(r.totalTokens, 31);
  assertUpstreamClean();
});

test('models.embedContent', async () => {
  const r = await ai.models.embedContent({ model: 'gemini-embedding-001', contents: ['first', 'second'], config: { outputDimensionality: 8 } });
  assert.equal(r.embeddings.length, 2);
  assert.equal(r.embeddings[0].values.length, 8);
  assert.notDeepEqual(r.embeddings[0].values, r.embeddings[1].values);
  assertUpstreamClean();
});

test('models.list pages through the proxy', async () => {
  const pager = await ai.models.list({ config: { pageSize: 2 } });
  const names = [];
  for await (const m of pager) names.push(m.name);
  for (const n of ['models/gemini-2.5-flash', 'models/gemini-2.5-pro', 'models/gemini-embedding-001']) assert.ok(names.includes(n), `${n} in ${names}`);
  assert.ok(mock.requests.filter((e) => e.path === '/v1beta/models').length >= 2, 'several pages fetched');
  assert.ok(mock.requests.some((e) => e.query.pageToken), 'pageToken forwarded');
  assertUpstreamClean();
});

test('models.get', async () => {
  const m = await ai.models.get({ model: 'gemini-2.5-pro' });
  assert.equal(m.name, 'models/gemini-2.5-pro');
  assert.equal(m.inputTokenLimit, 1048576);
});

test('files.upload through the proxy (the upload URL must be the proxy\'s), then use the file', async () => {
  const file = await ai.files.upload({ file: new Blob(['hello from the sdk test'], { type: 'text/plain' }), config: { mimeType: 'text/plain', displayName: 'sdk.txt' } });
  assert.match(file.name, /^files\//);
  assert.equal(file.sizeBytes, String(Buffer.byteLength('hello from the sdk test')));
  const start = mock.requests.find((e) => e.headers['x-goog-upload-command'] === 'start');
  const fin = mock.requests.find((e) => /finalize/.test(e.headers['x-goog-upload-command'] ?? ''));
  assert.ok(start && fin);
  assert.equal(fin.key, start.key, 'same key for the whole upload');
  const uploadCalls = exchanges.filter((x) => x.url.includes('/upload/'));
  assert.ok(uploadCalls.length >= 2, 'start and finalize went through the recording fetch');
  for (const x of uploadCalls) {
    assert.ok(x.url.startsWith(proxy.url + '/'), `upload call to ${x.url}`);
    for (const k of KEYS) {
      assert.ok(!x.url.includes(k), `real key in the URL the SDK was given: ${x.url}`);
      assert.ok(!x.headers.includes(k), 'real key in a response header');
    }
  }
  const got = await ai.files.get({ name: file.name });
  assert.equal(got.name, file.name);
  const r = await ai.models.generateContent({
    model: MODEL,
    contents: genai.createUserContent([genai.createPartFromUri(file.uri, file.mimeType), 'What is in this file?']),
  });
  assert.equal(r.text, 'ok from mock');
  for (const e of mock.requests) assert.equal(e.key, start.key, `${e.method} ${e.path}`);
  assertUpstreamClean();
});

test('caches.create and generateContent with the cache', async () => {
  const cache = await ai.caches.create({ model: MODEL, config: { contents: [{ role: 'user', parts: [{ text: 'cache me' }] }], ttl: '300s' } });
  assert.match(cache.name, /^cachedContents\//);
  const owner = mock.requests[0].key;
  for (let i = 0; i < 3; i++) {
    const r = await ai.models.generateContent({ model: MODEL, contents: 'Use the cache', config: { cachedContent: cache.name } });
    assert.equal(r.text, 'ok from mock');
  }
  for (const e of mock.requests) assert.equal(e.key, owner);
});

test('errors surface as SDK errors with the status (client error passes through)', async () => {
  mock.setKey('*', 'sdk-bad', 'badrequest');
  await assert.rejects(ai.models.generateContent({ model: 'sdk-bad', contents: 'x' }), (e) => {
    assert.match(String(e.message), /400|INVALID_ARGUMENT|Invalid JSON payload/);
    return true;
  });
  mock.clearKey('*', 'sdk-bad');
});

test('no real key in any URL the SDK called or any response header it got', () => {
  assert.ok(exchanges.length >= 10, `${exchanges.length} exchanges recorded`);
  for (const x of exchanges) {
    for (const k of KEYS) {
      assert.ok(!x.url.includes(k), `real key in ${x.url}`);
      assert.ok(!x.headers.includes(k), `real key in the headers of ${x.url}`);
    }
  }
});
