// SPEC 3.3: key affinity of uploads, files and cached contents; the upload URL rewrite; no real
// key ever reaches a client.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startMock } from '../mock/mock-gemini.mjs';
import { startProxy, restartProxy, GEN, modelEntry, assertNoKeys, responseText } from './harness.mjs';

const KEYS = ['test-key-0001', 'test-key-0002', 'test-key-0003', 'test-key-0004'];
const MODEL = 'gemini-2.5-flash';

let mock;
let proxy;
// Every response the client saw, checked at the end for real keys.
const seenByClient = [];

before(async () => {
  mock = await startMock();
  proxy = await startProxy({ keys: KEYS, upstream: mock.url });
});
after(async () => {
  await proxy?.cleanup();
  await mock?.close();
});
beforeEach(() => mock.clearRequests());

async function call(method, path, o = {}) {
  const r = await proxy.call(method, path, o);
  seenByClient.push(r);
  return r;
}

// Some unrelated traffic between steps so that round robin moves on.
async function churn(n = 3) {
  for (let i = 0; i < n; i++) assert.equal((await call('POST', `/v1beta/models/${MODEL}:generateContent`, { body: GEN })).status, 200);
}

// Start a resumable upload through the proxy; returns the start response and the upload URL.
async function startUpload(size, name = 'e2e.txt') {
  const r = await call('POST', '/upload/v1beta/files', {
    headers: {
      'x-goog-upload-protocol': 'resumable',
      'x-goog-upload-command': 'start',
      'x-goog-upload-header-content-length': String(size),
      'x-goog-upload-header-content-type': 'text/plain',
      'content-type': 'application/json',
    },
    body: { file: { display_name: name } },
  });
  assert.equal(r.status, 200, r.body);
  const uploadUrl = r.headers['x-goog-upload-url'];
  assert.ok(uploadUrl, `x-goog-upload-url missing: ${JSON.stringify(r.headers)}`);
  return { r, uploadUrl };
}

function assertPointsAtProxy(uploadUrl) {
  const u = new URL(uploadUrl);
  assert.equal(u.protocol, 'http:');
  assert.equal(u.host, `127.0.0.1:${proxy.port}`, `upload URL ${uploadUrl} must point at the proxy`);
  assert.equal(u.pathname, '/upload/v1beta/files');
  assert.ok(u.searchParams.get('upload_id'), 'upload_id kept');
  assertNoKeys(uploadUrl, KEYS, 'upload URL');
}

// Send the bytes to the upload URL the proxy gave (with the client token, as SDKs do).
async function finalize(uploadUrl, data) {
  const u = new URL(uploadUrl);
  const r = await call('POST', u.pathname + u.search, {
    headers: { 'x-goog-upload-command': 'upload, finalize', 'x-goog-upload-offset': '0', 'content-type': 'text/plain' },
    body: data,
  });
  assert.equal(r.status, 200, r.body);
  assert.ok(r.json?.file?.name, r.body);
  return r.json.file;
}

const lastFor = (pred) => [...mock.requests].reverse().find(pred);

const uploaded = []; // { file, id, owner }

test('resumable uploads: rewritten upload URL, finalize with the key that started it', async () => {
  for (let i = 0; i < 4; i++) {
    const data = `file number ${i} `.repeat(3 + i);
    const { r, uploadUrl } = await startUpload(Buffer.byteLength(data), `e2e-${i}.txt`);
    assertPointsAtProxy(uploadUrl);
    const control = r.headers['x-goog-upload-control-url'];
    if (control) assertNoKeys(control, KEYS, 'x-goog-upload-control-url');
    const start = lastFor((e) => e.path === '/upload/v1beta/files' && e.headers['x-goog-upload-command'] === 'start');
    assert.ok(start, 'start reached the mock');
    const owner = start.key;
    assert.ok(KEYS.includes(owner));

    await churn(i + 1);

    const file = await finalize(uploadUrl, data);
    const fin = lastFor((e) => e.path === '/upload/v1beta/files' && /finalize/.test(e.headers['x-goog-upload-command'] ?? ''));
    assert.equal(fin.key, owner, 'finalize went out with the key that started the upload');
    assert.equal(fin.query.upload_id, start.uploadId);
    assert.equal(fin.query.key, undefined, 'no key in the upstream query');
    assert.equal(fin.body, data, 'bytes forwarded unchanged');
    assert.equal(file.sizeBytes, String(Buffer.byteLength(data)));
    const id = file.name.slice('files/'.length);
    assert.equal(mock.files.get(id).owner, owner);
    uploaded.push({ file, id, owner });
  }
  // Round robin spread the uploads over more than one key, so affinity was really exercised.
  assert.ok(new Set(uploaded.map((u) => u.owner)).size >= 2, `owners ${JSON.stringify(uploaded.map((u) => u.owner))}`);
});

test('files/{id} requests go out with the key that created the file', async () => {
  assert.ok(uploaded.length > 0, 'needs the upload test');
  for (let round = 0; round < 2; round++) {
    for (const u of uploaded) {
      const r = await call('GET', `/v1beta/files/${u.id}`);
      assert.equal(r.status, 200, r.body);
      assert.equal(r.json.name, u.file.name);
      assert.equal(lastFor((e) => e.path === `/v1beta/files/${u.id}`).key, u.owner);
      await churn(1);
    }
  }
});

test('generateContent with fileData.fileUri goes out with the file\'s key (plain and streamed)', async () => {
  for (const u of uploaded) {
    for (const [method, q] of [['generateContent', ''], ['streamGenerateContent', '?alt=sse'], ['countTokens', '']]) {
      const body = { contents: [{ role: 'user', parts: [{ text: 'what is in this file?' }, { fileData: { mimeType: 'text/plain', fileUri: u.file.uri } }] }] };
      const r = await call('POST', `/v1beta/models/${MODEL}:${method}${q}`, { body });
      assert.equal(r.status, 200, `${method}: ${r.body}`);
      const e = lastFor((x) => x.path.endsWith(`:${method}`));
      assert.equal(e.key, u.owner, `${method} with file ${u.id}`);
      await churn(1);
    }
  }
});

test('file_data.file_uri (snake_case, which the API accepts) is recognised too', async () => {
  const u = uploaded[0];
  for (const part of [{ file_data: { mime_type: 'text/plain', file_uri: u.file.uri } }]) {
    const r = await call('POST', `/v1beta/models/${MODEL}:generateContent`, { body: { contents: [{ role: 'user', parts: [part] }] } });
    assert.equal(r.status, 200, r.body);
    assert.equal(lastFor((x) => x.path.endsWith(':generateContent')).key, u.owner);
    await churn(1);
  }
});

const caches = []; // { name, owner }

test('cachedContents: created with some key, later uses go out with that key', async () => {
  for (let i = 0; i < 3; i++) {
    const r = await call('POST', '/v1beta/cachedContents', {
      body: { model: `models/${MODEL}`, contents: [{ role: 'user', parts: [{ text: `cache ${i}` }] }], ttl: '600s' },
    });
    assert.equal(r.status, 200, r.body);
    const name = r.json.name;
    assert.match(name, /^cachedContents\//);
    const owner = lastFor((e) => e.path === '/v1beta/cachedContents' && e.method === 'POST').key;
    assert.equal(mock.caches.get(name.split('/')[1]).owner, owner);
    caches.push({ name, owner });
    await churn(1);
  }
  assert.ok(new Set(caches.map((c) => c.owner)).size >= 2);
  for (const c of caches) {
    for (let j = 0; j < 2; j++) {
      const r = await call('POST', `/v1beta/models/${MODEL}:generateContent`, { body: { contents: GEN.contents, cachedContent: c.name } });
      assert.equal(r.status, 200, r.body);
      assert.equal(lastFor((e) => e.path.endsWith(':generateContent')).key, c.owner);
      await churn(1);
    }
    const g = await call('GET', `/v1beta/${c.name}`);
    assert.equal(g.status, 200, g.body);
    assert.equal(lastFor((e) => e.path === `/v1beta/${c.name}`).key, c.owner);
  }
});

test('a cache created from a file goes out with the file\'s key', async () => {
  const u = uploaded.at(-1);
  for (let i = 0; i < 2; i++) {
    await churn(1);
    const r = await call('POST', '/v1beta/cachedContents', {
      body: { model: `models/${MODEL}`, contents: [{ role: 'user', parts: [{ fileData: { mimeType: 'text/plain', fileUri: u.file.uri } }] }] },
    });
    assert.equal(r.status, 200, r.body);
    assert.equal(lastFor((e) => e.path === '/v1beta/cachedContents' && e.method === 'POST').key, u.owner);
  }
});

test('affinity survives a restart (bindings are in the state store)', async () => {
  proxy = await restartProxy(proxy);
  for (const u of uploaded) {
    await churn(1);
    const r = await call('GET', `/v1beta/files/${u.id}`);
    assert.equal(r.status, 200, r.body);
    assert.equal(lastFor((e) => e.path === `/v1beta/files/${u.id}`).key, u.owner);
  }
  for (const c of caches) {
    await churn(1);
    const r = await call('POST', `/v1beta/models/${MODEL}:generateContent`, { body: { contents: GEN.contents, cachedContent: c.name } });
    assert.equal(r.status, 200, r.body);
    assert.equal(lastFor((e) => e.path.endsWith(':generateContent')).key, c.owner);
  }
});

test('DELETE of a file and of a cache go out with the owner key', async () => {
  const u = uploaded[1];
  await churn(1);
  const r = await call('DELETE', `/v1beta/files/${u.id}`);
  assert.equal(r.status, 200, r.body);
  assert.equal(lastFor((e) => e.method === 'DELETE').key, u.owner);
  const c = caches[1];
  await churn(1);
  const d = await call('DELETE', `/v1beta/${c.name}`);
  assert.equal(d.status, 200, d.body);
  assert.equal(lastFor((e) => e.method === 'DELETE').key, c.owner);
});

test('when the owner key is not usable: 503 with a reason, never another key', async () => {
  const u = uploaded[0];
  const model = 'aff-day';
  const body = { contents: [{ role: 'user', parts: [{ fileData: { mimeType: 'text/plain', fileUri: u.file.uri } }] }] };
  mock.setKey(u.owner, model, 'day');
  const first = await call('POST', `/v1beta/models/${model}:generateContent`, { body });
  assert.ok(first.status === 503 || first.status === 429, `status ${first.status}`);
  assert.deepEqual([...new Set(mock.keysSeen(model))], [u.owner], 'only the owner key was tried');
  const admin = await proxy.adminKeys();
  assert.equal(modelEntry(admin, u.owner, model).state, 'exhausted');

  mock.clearRequests();
  const second = await call('POST', `/v1beta/models/${model}:generateContent`, { body });
  assert.equal(second.status, 503, second.body);
  assert.equal(mock.keysSeen(model).length, 0, 'no attempt with another key');
  assert.equal(second.json?.error?.code, 503);
  assert.match(second.json.error.message, /exhaust|quota|not usable|unavailable/i);
  mock.clearKey(u.owner, model);
});

test('the SDK-style upload URL with the token as ?key= works as well', async () => {
  const data = 'query token upload';
  const { uploadUrl } = await startUpload(Buffer.byteLength(data));
  assertPointsAtProxy(uploadUrl);
  const owner = lastFor((e) => e.headers['x-goog-upload-command'] === 'start').key;
  const u = new URL(uploadUrl);
  u.searchParams.set('key', proxy.token);
  const r = await proxy.request('POST', u.pathname + u.search, {
    headers: { 'x-goog-upload-command': 'upload, finalize', 'x-goog-upload-offset': '0' }, body: data,
  });
  seenByClient.push(r);
  assert.equal(r.status, 200, r.body);
  assert.equal(lastFor((e) => /finalize/.test(e.headers['x-goog-upload-command'] ?? '')).key, owner);
});

test('no real key in any response header or body the client saw', () => {
  assert.ok(seenByClient.length > 30);
  for (const r of seenByClient) assertNoKeys(responseText(r), KEYS);
});
