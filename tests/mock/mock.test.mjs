// Tests of the Gemini mock itself (no proxy involved): node --test tests/mock/
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import zlib from 'node:zlib';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startMock, chooseEncoding } from './mock-gemini.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const K1 = 'test-key-0001';
const K2 = 'test-key-0002';
const GEN = { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] };

let mock;
before(async () => { mock = await startMock(); });
after(async () => { await mock.close(); });
beforeEach(() => mock.reset());

async function call(p, { method = 'POST', key = K1, body = GEN, headers = {} } = {}) {
  const h = { 'content-type': 'application/json', ...headers };
  if (key) h['x-goog-api-key'] = key;
  const r = await fetch(mock.url + p, {
    method,
    headers: h,
    body: method === 'GET' || method === 'DELETE' ? undefined : (typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body)),
  });
  const text = await r.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: r.status, headers: r.headers, text, json };
}

const gen = (model = 'gemini-2.5-flash', opts = {}) => call(`/v1beta/models/${model}:generateContent`, opts);

test('generateContent ok: body, usage, headers, log entry; the key is never echoed', async () => {
  const r = await gen('gemini-2.5-flash', { headers: { 'user-agent': 'ua-test', 'x-goog-api-client': 'genai-js/1' } });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'application/json; charset=UTF-8');
  assert.equal(r.json.candidates[0].content.parts[0].text, 'ok from mock');
  assert.equal(r.json.candidates[0].finishReason, 'STOP');
  assert.deepEqual(
    { p: r.json.usageMetadata.promptTokenCount, c: r.json.usageMetadata.candidatesTokenCount, t: r.json.usageMetadata.thoughtsTokenCount, all: r.json.usageMetadata.totalTokenCount },
    { p: 3, c: 2, t: 5, all: 10 });
  assert.equal(r.json.modelVersion, 'gemini-2.5-flash');
  assert.ok(!r.text.includes(K1));
  assert.equal(r.headers.get('x-mock-hop'), 'must-not-pass-a-proxy');
  assert.match(r.headers.get('connection'), /X-Mock-Hop/);
  assert.equal(mock.requests.length, 1);
  const e = mock.requests[0];
  assert.equal(e.method, 'POST');
  assert.equal(e.path, '/v1beta/models/gemini-2.5-flash:generateContent');
  assert.deepEqual(e.query, {});
  assert.equal(e.key, K1);
  assert.equal(e.model, 'gemini-2.5-flash');
  assert.equal(e.headers['x-goog-api-key'], K1);
  assert.equal(e.headers['user-agent'], 'ua-test');
  assert.equal(e.body, JSON.stringify(GEN));
  assert.equal(e.status, 200);
  assert.equal(e.responseBody, r.text);
});

test('other vendors\' model names are 404 NOT_FOUND, natively and on the OpenAI layer, as at Google', async () => {
  for (const model of ['claude-sonnet-4-5', 'gpt-4o', 'o3-mini']) {
    const r = await gen(model);
    assert.equal(r.status, 404, model);
    assert.equal(r.json.error.status, 'NOT_FOUND');
    assert.match(r.json.error.message, new RegExp(`models/${model} is not found`));
  }
  const o = await call('/v1beta/openai/chat/completions', {
    key: null, headers: { authorization: `Bearer ${K1}` }, body: { model: 'claude-x', messages: [{ role: 'user', content: 'hi' }] },
  });
  assert.equal(o.status, 404);
  assert.equal(o.json[0].error.status, 'NOT_FOUND');
  assert.equal((await gen('gemini-2.5-flash')).status, 200);
});

test('key from ?key=, from Bearer on the OpenAI layer; Authorization on native routes is refused', async () => {
  const r1 = await call('/v1beta/models/gemini-2.5-flash:generateContent?key=' + K2, { key: null });
  assert.equal(r1.status, 200);
  assert.equal(mock.requests.at(-1).key, K2);
  assert.equal(mock.requests.at(-1).query.key, K2);

  const r2 = await call('/v1beta/openai/chat/completions', {
    key: null, headers: { authorization: `Bearer ${K2}` },
    body: { model: 'gemini-2.5-flash', messages: [{ role: 'user', content: 'hi' }] },
  });
  assert.equal(r2.status, 200);
  assert.equal(r2.json.object, 'chat.completion');
  assert.equal(r2.json.choices[0].message.content, 'ok from mock');
  assert.equal(mock.requests.at(-1).key, K2);
  assert.equal(mock.requests.at(-1).model, 'gemini-2.5-flash');

  const r3 = await gen('gemini-2.5-flash', { headers: { authorization: 'Bearer client-token' } });
  assert.equal(r3.status, 401);
  assert.equal(r3.json.error.status, 'UNAUTHENTICATED');
});

test('no key: 403 PERMISSION_DENIED unregistered callers', async () => {
  const r = await gen('gemini-2.5-flash', { key: null });
  assert.equal(r.status, 403);
  assert.equal(r.headers.get('content-type'), 'application/json; charset=UTF-8');
  assert.equal(r.json.error.code, 403);
  assert.equal(r.json.error.status, 'PERMISSION_DENIED');
  assert.match(r.json.error.message, /^Method doesn't allow unregistered callers/);
  assert.equal(mock.requests[0].key, null);
});

test('invalid: exactly WIRE A1, pretty-printed; bad- keys are invalid by default', async () => {
  const r = await gen('gemini-2.5-flash', { key: 'bad-key-0001' });
  assert.equal(r.status, 400);
  assert.equal(r.headers.get('content-type'), 'application/json; charset=UTF-8');
  assert.ok(r.text.startsWith('{\n  "error": {\n'), 'pretty-printed');
  assert.deepEqual(r.json, {
    error: {
      code: 400, message: 'API key not valid. Please pass a valid API key.', status: 'INVALID_ARGUMENT',
      details: [
        { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID', domain: 'googleapis.com', metadata: { service: 'generativelanguage.googleapis.com' } },
        { '@type': 'type.googleapis.com/google.rpc.LocalizedMessage', locale: 'en-US', message: 'API key not valid. Please pass a valid API key.' },
      ],
    },
  });
  mock.setKey(K1, '*', { type: 'invalid', message: 'API key expired. Please renew the API key.' });
  const r2 = await gen();
  assert.equal(r2.status, 400);
  assert.equal(r2.json.error.details[0].reason, 'API_KEY_INVALID');
  assert.equal(r2.json.error.message, 'API key expired. Please renew the API key.');
});

const quotaFailure = (j) => j.error.details.find((d) => d['@type'].endsWith('QuotaFailure'));
const retryInfo = (j) => j.error.details.find((d) => d['@type'].endsWith('RetryInfo'));

test('429 behaviours: day, minute (custom retryDelay), zero, bare429, retryinfo', async () => {
  mock.setKey(K1, 'gemini-2.5-flash', 'day');
  let r = await gen();
  assert.equal(r.status, 429);
  assert.equal(r.json.error.status, 'RESOURCE_EXHAUSTED');
  assert.equal(quotaFailure(r.json).violations[0].quotaId, 'GenerateRequestsPerDayPerProjectPerModel-FreeTier');
  assert.equal(quotaFailure(r.json).violations[0].quotaDimensions.model, 'gemini-2.5-flash');
  assert.equal(retryInfo(r.json).retryDelay, '36s');

  mock.setKey(K1, 'gemini-2.5-flash', { type: 'minute', retryDelay: '2.5s' });
  r = await gen();
  assert.equal(r.status, 429);
  assert.match(quotaFailure(r.json).violations[0].quotaId, /PerMinute/);
  assert.equal(retryInfo(r.json).retryDelay, '2.5s');

  mock.setKey(K1, 'gemini-2.5-flash', 'zero');
  r = await gen();
  assert.equal(r.status, 429);
  assert.equal(quotaFailure(r.json).violations[0].quotaValue, '0');
  assert.match(r.json.error.message, /limit: 0/);

  mock.setKey(K1, 'gemini-2.5-flash', 'bare429');
  r = await gen();
  assert.equal(r.status, 429);
  assert.equal(r.json.error.details, undefined);

  mock.setKey(K1, 'gemini-2.5-flash', { type: 'retryinfo', retryDelay: '3s' });
  r = await gen();
  assert.equal(r.status, 429);
  assert.equal(r.json.error.details.length, 1);
  assert.equal(retryInfo(r.json).retryDelay, '3s');

  mock.setKey(K1, 'gemini-2.5-flash', { type: 'day', reverse: true });
  r = await gen();
  assert.ok(r.json.error.details[0]['@type'].endsWith('RetryInfo'));
});

test('other error behaviours', async () => {
  const cases = [
    ['suspended', 403, 'PERMISSION_DENIED', /suspended/],
    ['denied', 403, 'PERMISSION_DENIED', /denied access/],
    ['overloaded', 503, 'UNAVAILABLE', /overloaded/],
    ['500', 500, 'INTERNAL', /internal error/],
    ['badrequest', 400, 'INVALID_ARGUMENT', /^Invalid JSON payload received/],
    ['location', 400, 'FAILED_PRECONDITION', /User location is not supported/],
    ['notfound', 404, 'NOT_FOUND', /not found/],
    ['filedenied', 403, 'PERMISSION_DENIED', /permission to access the File/],
    [{ type: 'error', status: 504, statusText: 'DEADLINE_EXCEEDED', message: 'late' }, 504, 'DEADLINE_EXCEEDED', /late/],
  ];
  for (const [b, status, st, re] of cases) {
    mock.setKey(K1, '*', b);
    const r = await gen();
    assert.equal(r.status, status, JSON.stringify(b));
    assert.equal(r.json.error.code, status);
    assert.equal(r.json.error.status, st);
    assert.match(r.json.error.message, re);
    if (b === 'badrequest') assert.ok(!JSON.stringify(r.json).includes('API_KEY_INVALID'));
  }
  assert.equal((await gen('x', { key: 'suspended-key-1' })).status, 403);
  mock.setKey(K1, '*', { type: 'raw', status: 302, headers: { location: 'https://example.invalid/' }, body: '' });
  const r = await fetch(mock.url + '/v1beta/models/m:generateContent', { method: 'POST', headers: { 'x-goog-api-key': K1 }, body: JSON.stringify(GEN), redirect: 'manual' });
  assert.equal(r.status, 302);
});

test('queue takes precedence over sticky, each queued one used once, FIFO; model scoping; * key', async () => {
  mock.setKey(K1, 'gemini-2.5-flash', 'overloaded');
  mock.queue(K1, 'gemini-2.5-flash', 'day', 'ok');
  assert.equal((await gen()).status, 429);
  assert.equal((await gen()).status, 200);
  assert.equal((await gen()).status, 503);
  assert.equal((await gen('gemini-2.5-pro')).status, 200, 'other model unaffected');
  assert.equal((await gen('gemini-2.5-flash', { key: K2 })).status, 200, 'other key unaffected');

  mock.reset();
  mock.queue(K1, '*', 'minute');
  assert.equal((await gen('gemini-2.5-pro')).status, 429);
  assert.equal((await gen('gemini-2.5-pro')).status, 200);

  mock.queue('*', 'gemini-2.5-pro', 'day');
  assert.equal((await gen('gemini-2.5-pro', { key: K2 })).status, 429, 'first caller of any key');
  assert.equal((await gen('gemini-2.5-pro', { key: K1 })).status, 200);
  assert.deepEqual(mock.keysSeen('gemini-2.5-pro'), [K1, K1, K2, K1]);
  assert.throws(() => mock.setKey(K1, '*', 'no-such-behaviour'));
});

test('reset destroys the connection; hang never answers; delay answers late', async () => {
  mock.setKey(K1, '*', 'reset');
  await assert.rejects(gen());
  assert.equal(mock.requests[0].reset, true);

  mock.setKey(K1, '*', 'hang');
  await assert.rejects(fetch(mock.url + '/v1beta/models/m:generateContent', {
    method: 'POST', headers: { 'x-goog-api-key': K1 }, body: JSON.stringify(GEN), signal: AbortSignal.timeout(300),
  }), /TimeoutError|aborted/i);

  mock.setKey(K1, '*', { type: 'delay', ms: 200 });
  const t0 = Date.now();
  assert.equal((await gen()).status, 200);
  assert.ok(Date.now() - t0 >= 190);
});

test('request validation: malformed JSON and unknown fields are 400 INVALID_ARGUMENT', async () => {
  let r = await gen('gemini-2.5-flash', { body: '{"contents": [' });
  assert.equal(r.status, 400);
  assert.match(r.json.error.message, /Invalid JSON payload/);
  r = await gen('gemini-2.5-flash', { body: { contents: GEN.contents, foo: 1 } });
  assert.equal(r.status, 400);
  assert.match(r.json.error.message, /Unknown name "foo"/);
  r = await gen('gemini-2.5-flash', { body: {} });
  assert.equal(r.status, 400);
});

function parseSse(text) {
  return text.split(/\r\n\r\n|\n\n|\r\r/).filter((s) => s.trim()).map((ev) => {
    assert.ok(ev.startsWith('data: '), `event ${JSON.stringify(ev)}`);
    return JSON.parse(ev.slice(6));
  });
}

test('SSE framing: data: <one-line JSON>\\r\\n\\r\\n, cumulative usage, finishReason only last', async () => {
  const r = await call('/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'text/event-stream');
  assert.ok(r.text.endsWith('}\r\n\r\n'));
  assert.equal(r.text.split('\r\n\r\n').length, 4);
  const events = parseSse(r.text);
  assert.equal(events.length, 3);
  assert.equal(events.map((e) => e.candidates[0].content.parts[0].text).join(''), 'ok from mock');
  assert.deepEqual(events.map((e) => e.candidates[0].finishReason), [undefined, undefined, 'STOP']);
  const c = events.map((e) => e.usageMetadata.candidatesTokenCount);
  assert.ok(c[0] <= c[1] && c[1] <= c[2]);
  assert.equal(events[2].usageMetadata.totalTokenCount, 10);
  for (const ev of r.text.split('\r\n\r\n').filter(Boolean)) assert.ok(!ev.includes('\n'));
  assert.equal(mock.requests[0].events.length, 3);
});

test('JSON-array stream form and its error form', async () => {
  const r = await call('/v1beta/models/gemini-2.5-flash:streamGenerateContent');
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^application\/json/);
  assert.ok(r.text.startsWith('[{') && r.text.endsWith('\r\n]'));
  assert.ok(r.text.includes('\r\n,\r\n'));
  const arr = JSON.parse(r.text);
  assert.equal(arr.length, 3);
  assert.equal(arr.map((e) => e.candidates[0].content.parts[0].text).join(''), 'ok from mock');

  mock.setKey(K1, '*', 'minute');
  const e = await call('/v1beta/models/gemini-2.5-flash:streamGenerateContent');
  assert.equal(e.status, 429);
  assert.ok(Array.isArray(e.json));
  assert.equal(e.json[0].error.code, 429);
  const e2 = await call('/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
  assert.equal(e2.status, 429);
  assert.equal(e2.json.error.code, 429, 'SSE errors are a plain JSON error');
});

test('slowstream with firstDelayMs sends the head at once and the first event after the delay', async () => {
  mock.setKey(K1, '*', { type: 'slowstream', events: 2, intervalMs: 50, firstDelayMs: 400 });
  const t0 = Date.now();
  const r = await fetch(mock.url + '/v1beta/models/m:streamGenerateContent?alt=sse', {
    method: 'POST', headers: { 'x-goog-api-key': K1 }, body: JSON.stringify(GEN),
  });
  const tHead = Date.now();
  const text = await r.text();
  const ev = mock.requests[0].events;
  assert.equal(r.status, 200);
  assert.ok(tHead - t0 < 300, `head after ${tHead - t0} ms`);
  assert.equal(ev.length, 2);
  assert.ok(ev[0] - t0 >= 390, `first event ${ev[0] - t0} ms after the request`);
  assert.equal((text.match(/^data: /gm) ?? []).length, 2);
});

test('slowstream sends events over time; cutstream breaks the connection mid-body', async () => {
  mock.setKey(K1, '*', { type: 'slowstream', events: 4, intervalMs: 150 });
  const t0 = Date.now();
  const r = await fetch(mock.url + '/v1beta/models/m:streamGenerateContent?alt=sse', {
    method: 'POST', headers: { 'x-goog-api-key': K1 }, body: JSON.stringify(GEN),
  });
  const reader = r.body.getReader();
  const first = await reader.read();
  const tFirst = Date.now();
  let rest = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    rest += Buffer.from(value).toString();
  }
  const tEnd = Date.now();
  assert.ok(Buffer.from(first.value).toString().startsWith('data: '));
  assert.ok(tFirst - t0 < 300, `first event after ${tFirst - t0} ms`);
  assert.ok(tEnd - tFirst >= 400, `stream took ${tEnd - tFirst} ms after the first event`);
  const ev = mock.requests[0].events;
  assert.equal(ev.length, 4);
  assert.ok(ev[3] - ev[0] >= 400);

  mock.setKey(K1, '*', { type: 'cutstream', events: 2, intervalMs: 20 });
  const r2 = await fetch(mock.url + '/v1beta/models/m:streamGenerateContent?alt=sse', {
    method: 'POST', headers: { 'x-goog-api-key': K1 }, body: JSON.stringify(GEN),
  });
  assert.equal(r2.status, 200);
  await assert.rejects(r2.text());
  assert.equal(mock.requests[1].cut, true);
  assert.equal(parseSse(mock.requests[1].responseBody).length, 2);
});

test('countTokens, embedContent, batchEmbedContents', async () => {
  let r = await call('/v1beta/models/gemini-2.5-flash:countTokens', { body: { contents: GEN.contents } });
  assert.equal(r.status, 200);
  assert.equal(r.json.totalTokens, 31);
  r = await call('/v1beta/models/gemini-embedding-001:embedContent', {
    body: { model: 'models/gemini-embedding-001', content: { parts: [{ text: 'hi' }] }, outputDimensionality: 8 },
  });
  assert.equal(r.status, 200);
  assert.equal(r.json.embedding.values.length, 8);
  r = await call('/v1beta/models/gemini-embedding-001:batchEmbedContents', {
    body: { requests: [{ model: 'models/gemini-embedding-001', content: { parts: [{ text: 'a' }] } }, { model: 'models/gemini-embedding-001', content: { parts: [{ text: 'b' }] } }] },
  });
  assert.equal(r.status, 200);
  assert.equal(r.json.embeddings.length, 2);
  assert.notDeepEqual(r.json.embeddings[0].values, r.json.embeddings[1].values);
  assert.equal(mock.requests.at(-1).model, 'gemini-embedding-001');
});

test('models list with pagination, models get, under /v1beta and /v1', async () => {
  for (const v of ['v1beta', 'v1']) {
    const names = [];
    let token = '';
    let pages = 0;
    do {
      const r = await call(`/${v}/models?pageSize=2${token ? `&pageToken=${encodeURIComponent(token)}` : ''}`, { method: 'GET' });
      assert.equal(r.status, 200);
      assert.ok(r.json.models.length <= 2);
      names.push(...r.json.models.map((m) => m.name));
      token = r.json.nextPageToken;
      pages++;
    } while (token);
    assert.ok(pages >= 2);
    for (const n of ['models/gemini-2.5-flash', 'models/gemini-2.5-pro', 'models/gemini-embedding-001']) assert.ok(names.includes(n), n);
    assert.equal(new Set(names).size, names.length);
    const one = await call(`/${v}/models/gemini-2.5-pro`, { method: 'GET' });
    assert.equal(one.status, 200);
    assert.equal(one.json.name, 'models/gemini-2.5-pro');
    const missing = await call(`/${v}/models/nope-1`, { method: 'GET' });
    assert.equal(missing.status, 404);
  }
  const all = await call('/v1beta/models', { method: 'GET' });
  assert.equal(all.json.nextPageToken, undefined);
  const bad = await call('/v1beta/models?pageToken=garbage', { method: 'GET' });
  assert.equal(bad.status, 400);
});

async function startUpload(key, size = 11) {
  const r = await fetch(mock.url + '/upload/v1beta/files', {
    method: 'POST',
    headers: {
      'x-goog-api-key': key, 'content-type': 'application/json',
      'x-goog-upload-protocol': 'resumable', 'x-goog-upload-command': 'start',
      'x-goog-upload-header-content-length': String(size), 'x-goog-upload-header-content-type': 'text/plain',
    },
    body: JSON.stringify({ file: { display_name: 'hello.txt' } }),
  });
  return r;
}

async function finalize(uploadUrl, key, data = 'hello world') {
  const u = new URL(uploadUrl);
  u.searchParams.delete('key');
  const r = await fetch(u, {
    method: 'POST',
    headers: { 'x-goog-api-key': key, 'x-goog-upload-command': 'upload, finalize', 'x-goog-upload-offset': '0', 'content-length': String(Buffer.byteLength(data)) },
    body: data,
  });
  return { status: r.status, headers: r.headers, json: await r.json().catch(() => undefined) };
}

test('resumable upload: the upload URL carries the real key; session and file belong to the starting key', async () => {
  const s = await startUpload(K1);
  assert.equal(s.status, 200);
  assert.equal(s.headers.get('x-goog-upload-status'), 'active');
  const uploadUrl = s.headers.get('x-goog-upload-url');
  const u = new URL(uploadUrl);
  assert.equal(u.origin, mock.url);
  assert.equal(u.pathname, '/upload/v1beta/files');
  assert.equal(u.searchParams.get('key'), K1);
  assert.ok(u.searchParams.get('upload_id'));
  assert.equal(u.searchParams.get('upload_protocol'), 'resumable');
  assert.equal(s.headers.get('x-goog-upload-control-url'), uploadUrl);

  const wrong = await finalize(uploadUrl, K2);
  assert.equal(wrong.status, 403);

  const f = await finalize(uploadUrl, K1);
  assert.equal(f.status, 200);
  assert.equal(f.headers.get('x-goog-upload-status'), 'final');
  const file = f.json.file;
  assert.match(file.name, /^files\/[a-z0-9]+$/);
  const id = file.name.slice(6);
  assert.equal(file.uri, `${mock.url}/v1beta/files/${id}`);
  assert.equal(file.mimeType, 'text/plain');
  assert.equal(file.sizeBytes, '11');
  assert.equal(file.state, 'ACTIVE');
  assert.equal(file.displayName, 'hello.txt');
  assert.equal(mock.files.get(id).owner, K1);
  assert.equal(mock.requests.at(-1).key, K1);

  assert.equal((await call(`/v1beta/files/${id}`, { method: 'GET' })).json.name, file.name);
  const other = await call(`/v1beta/files/${id}`, { method: 'GET', key: K2 });
  assert.equal(other.status, 403);
  assert.equal(other.json.error.status, 'PERMISSION_DENIED');
  assert.equal(other.json.error.message, `You do not have permission to access the File ${id} or it may not exist.`);
  assert.equal((await call('/v1beta/files', { method: 'GET' })).json.files.length, 1);
  assert.deepEqual((await call('/v1beta/files', { method: 'GET', key: K2 })).json, {});

  const withFile = { contents: [{ role: 'user', parts: [{ fileData: { mimeType: 'text/plain', fileUri: file.uri } }, { text: 'summarize' }] }] };
  assert.equal((await gen('gemini-2.5-flash', { body: withFile })).status, 200);
  assert.equal((await gen('gemini-2.5-flash', { body: withFile, key: K2 })).status, 403);
  assert.equal((await call('/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse', { body: withFile, key: K2 })).status, 403);

  assert.equal((await call(`/v1beta/files/${id}`, { method: 'DELETE', key: K2 })).status, 403);
  assert.equal((await call(`/v1beta/files/${id}`, { method: 'DELETE' })).status, 200);
  assert.equal((await call(`/v1beta/files/${id}`, { method: 'GET' })).status, 403);
});

test('chunked resumable upload with offsets', async () => {
  const s = await startUpload(K1, 6);
  const url = new URL(s.headers.get('x-goog-upload-url'));
  url.searchParams.delete('key');
  const a = await fetch(url, { method: 'POST', headers: { 'x-goog-api-key': K1, 'x-goog-upload-command': 'upload', 'x-goog-upload-offset': '0' }, body: 'abc' });
  assert.equal(a.status, 200);
  assert.equal(a.headers.get('x-goog-upload-status'), 'active');
  const bad = await fetch(url, { method: 'POST', headers: { 'x-goog-api-key': K1, 'x-goog-upload-command': 'upload, finalize', 'x-goog-upload-offset': '0' }, body: 'def' });
  assert.equal(bad.status, 400);
  const b = await fetch(url, { method: 'POST', headers: { 'x-goog-api-key': K1, 'x-goog-upload-command': 'upload, finalize', 'x-goog-upload-offset': '3' }, body: 'def' });
  assert.equal(b.status, 200);
  assert.equal((await b.json()).file.sizeBytes, '6');
});

test('cachedContents belong to their key', async () => {
  const c = await call('/v1beta/cachedContents', { body: { model: 'models/gemini-2.5-flash', contents: GEN.contents, ttl: '300s' } });
  assert.equal(c.status, 200);
  assert.match(c.json.name, /^cachedContents\/[a-z0-9]+$/);
  const id = c.json.name.split('/')[1];
  assert.equal(mock.caches.get(id).owner, K1);
  assert.equal((await call(`/v1beta/${c.json.name}`, { method: 'GET' })).status, 200);
  assert.equal((await call(`/v1beta/${c.json.name}`, { method: 'GET', key: K2 })).status, 403);
  const body = { contents: GEN.contents, cachedContent: c.json.name };
  assert.equal((await gen('gemini-2.5-flash', { body })).status, 200);
  const other = await gen('gemini-2.5-flash', { body, key: K2 });
  assert.equal(other.status, 403);
  assert.equal(other.json.error.status, 'PERMISSION_DENIED');
  assert.equal((await call('/v1beta/cachedContents', { method: 'GET' })).json.cachedContents.length, 1);
  assert.equal((await call(`/v1beta/${c.json.name}`, { method: 'DELETE', key: K2 })).status, 403);
  assert.equal((await call(`/v1beta/${c.json.name}`, { method: 'DELETE' })).status, 200);
});

test("Google's OpenAI layer: chat (plain and stream), models, embeddings", async () => {
  const h = { authorization: `Bearer ${K1}` };
  let r = await call('/v1beta/openai/models', { method: 'GET', key: null, headers: h });
  assert.equal(r.status, 200);
  assert.equal(r.json.object, 'list');
  assert.ok(r.json.data.some((m) => m.id === 'models/gemini-2.5-flash'));
  r = await call('/v1beta/openai/embeddings', { key: null, headers: h, body: { model: 'gemini-embedding-001', input: ['a', 'b'], dimensions: 4 } });
  assert.equal(r.status, 200);
  assert.equal(r.json.data.length, 2);
  assert.equal(r.json.data[0].embedding.length, 4);
  r = await call('/v1beta/openai/chat/completions', { key: null, headers: h, body: { model: 'gemini-2.5-flash', messages: [{ role: 'user', content: 'hi' }], stream: true } });
  assert.equal(r.status, 200);
  assert.ok(r.text.endsWith('data: [DONE]\n\n'));
  mock.setKey(K1, 'gemini-2.5-flash', 'day');
  r = await call('/v1beta/openai/chat/completions', { key: null, headers: h, body: { model: 'gemini-2.5-flash', messages: [{ role: 'user', content: 'hi' }] } });
  assert.equal(r.status, 429);
  assert.equal(r.json[0].error.code, 429);
  r = await call('/v1beta/openai/models', { method: 'GET', key: null });
  assert.equal(r.status, 403);
});

test('unknown paths get an HTML 404', async () => {
  const r = await call('/nope', { method: 'GET' });
  assert.equal(r.status, 404);
  assert.match(r.headers.get('content-type'), /text\/html/);
});

test('TLS with a test CA (make-test-ca.sh), checked with https.request and ca', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gkm-ca-'));
  try {
    execFileSync(path.join(HERE, 'make-test-ca.sh'), [dir]);
    const before = fs.statSync(path.join(dir, 'server.pem')).mtimeMs;
    execFileSync(path.join(HERE, 'make-test-ca.sh'), [dir]);
    assert.equal(fs.statSync(path.join(dir, 'server.pem')).mtimeMs, before, 'idempotent');
    const tlsMock = await startMock({ tls: { cert: path.join(dir, 'server.pem'), key: path.join(dir, 'server-key.pem') } });
    try {
      assert.ok(tlsMock.url.startsWith('https://127.0.0.1:'));
      const ca = fs.readFileSync(path.join(dir, 'ca.pem'));
      const get = (host, opts) => new Promise((resolve, reject) => {
        const req = https.request({ host, port: tlsMock.port, path: '/v1beta/models/gemini-2.5-flash:generateContent', method: 'POST', headers: { 'x-goog-api-key': K1 }, ...opts }, (res) => {
          let b = '';
          res.on('data', (c) => { b += c; });
          res.on('end', () => resolve({ status: res.statusCode, body: b }));
        });
        req.on('error', reject);
        req.end(JSON.stringify(GEN));
      });
      const r = await get('127.0.0.1', { ca });
      assert.equal(r.status, 200);
      assert.match(r.body, /ok from mock/);
      assert.equal((await get('localhost', { ca, servername: 'localhost' })).status, 200);
      await assert.rejects(get('127.0.0.1', {}), /self[- ]signed|unable to (get|verify)/i);
      // The upload URL names the https base.
      const s = await new Promise((resolve, reject) => {
        const req = https.request({ host: '127.0.0.1', port: tlsMock.port, path: '/upload/v1beta/files', method: 'POST', ca,
          headers: { 'x-goog-api-key': K1, 'x-goog-upload-protocol': 'resumable', 'x-goog-upload-command': 'start' } }, (res) => { res.resume(); resolve(res.headers); });
        req.on('error', reject);
        req.end();
      });
      assert.ok(s['x-goog-upload-url'].startsWith(`${tlsMock.url}/upload/v1beta/files?key=${K1}&upload_id=`));
    } finally {
      await tlsMock.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('program mode prints {"port":N}, serves, and takes behaviours over /__mock', async () => {
  const child = spawn(process.execPath, [path.join(HERE, 'mock-gemini.mjs'), '--port', '0', '--stream-events', '5', '--stream-interval-ms', '1', '--log-requests'], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const line = await new Promise((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (c) => {
        out += c;
        if (out.includes('\n')) resolve(out.split('\n')[0]);
      });
      child.on('exit', (code) => reject(new Error(`mock exited ${code}`)));
      setTimeout(() => reject(new Error('no port line')), 5000).unref();
    });
    const { port } = JSON.parse(line);
    assert.ok(port > 0);
    const base = `http://127.0.0.1:${port}`;
    let r = await fetch(`${base}/v1beta/models/m:streamGenerateContent?alt=sse`, { method: 'POST', headers: { 'x-goog-api-key': K1 }, body: JSON.stringify(GEN) });
    assert.equal(parseSse(await r.text()).length, 5);
    r = await fetch(`${base}/__mock/behaviour`, { method: 'POST', body: JSON.stringify({ key: K1, model: '*', behaviour: 'day' }) });
    assert.equal(r.status, 200);
    r = await fetch(`${base}/v1beta/models/m:generateContent`, { method: 'POST', headers: { 'x-goog-api-key': K1 }, body: JSON.stringify(GEN) });
    assert.equal(r.status, 429);
    r = await fetch(`${base}/__mock/requests`);
    assert.equal((await r.json()).length, 2);
  } finally {
    child.kill('SIGTERM');
  }
});

test('close() ends hanging requests', async () => {
  const m = await startMock();
  m.setKey(K1, '*', 'hang');
  const p = fetch(m.url + '/v1beta/models/m:generateContent', { method: 'POST', headers: { 'x-goog-api-key': K1 }, body: JSON.stringify(GEN) });
  await m.waitForRequests(1);
  await m.close();
  await assert.rejects(p);
});

// ---- the ways Google is harsher than a kind mock ------------------------------------------

// One request with node:http, which (unlike fetch) neither asks for nor decodes compression:
// the status, the headers, the body's bytes as they came, and the 1xx answers before it.
function rawCall(base, p, { method = 'POST', key = K1, body = GEN, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const h = { 'content-type': 'application/json', ...headers };
    if (key) h['x-goog-api-key'] = key;
    const data = method === 'GET' ? undefined : Buffer.from(JSON.stringify(body));
    const req = http.request(base + p, { method, headers: h }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, bytes: Buffer.concat(chunks), informational }));
      res.on('error', reject);
    });
    const informational = [];
    req.on('information', (i) => informational.push({ status: i.statusCode, headers: i.headers }));
    req.on('error', reject);
    req.end(data);
  });
}

function decoded(r) {
  const enc = r.headers['content-encoding'];
  if (enc === 'gzip') return zlib.gunzipSync(r.bytes).toString('utf8');
  if (enc === 'deflate') return zlib.inflateSync(r.bytes).toString('utf8');
  assert.equal(enc, undefined, 'no other coding');
  return r.bytes.toString('utf8');
}

test('chooseEncoding reads Accept-Encoding with q-values and *', () => {
  const cases = [
    [undefined, 'identity'], ['', 'identity'], ['identity', 'identity'], ['gzip', 'gzip'],
    ['GZIP', 'gzip'], ['x-gzip', 'gzip'], ['gzip, deflate, br', 'gzip'], ['br, gzip;q=0.1', 'gzip'],
    ['gzip;q=0', 'identity'], ['gzip; q=0.000', 'identity'], ['gzip;q=0, deflate', 'deflate'],
    ['deflate', 'deflate'], ['*', 'gzip'], ['*;q=0', 'identity'], ['gzip;q=0, *', 'deflate'],
    ['*;q=0, gzip;q=0.5', 'gzip'], ['br', 'identity'], ['gzip;q=2', 'identity'], ['gzip;q=0.5', 'gzip'],
  ];
  for (const [header, want] of cases) assert.equal(chooseEncoding(header), want, String(header));
});

test('compression: success and error bodies gzip-encoded when gzip is accepted, plain otherwise', async () => {
  for (const [ae, want] of [['gzip, deflate, br', 'gzip'], ['*', 'gzip'], ['deflate', 'deflate'],
    ['gzip;q=0', 'identity'], ['identity', 'identity'], [undefined, 'identity']]) {
    mock.reset();
    const headers = ae === undefined ? {} : { 'accept-encoding': ae };
    const ok = await rawCall(mock.url, '/v1beta/models/gemini-2.5-flash:generateContent', { headers });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['content-encoding'], want === 'identity' ? undefined : want, String(ae));
    assert.equal(Number(ok.headers['content-length']), ok.bytes.length, 'Content-Length counts the bytes sent');
    assert.equal(JSON.parse(decoded(ok)).candidates[0].content.parts[0].text, 'ok from mock');
    if (want !== 'identity') assert.throws(() => JSON.parse(ok.bytes.toString('latin1')), 'compressed on the wire');

    mock.setKey(K1, '*', 'minute');
    const err = await rawCall(mock.url, '/v1beta/models/gemini-2.5-flash:generateContent', { headers });
    assert.equal(err.status, 429);
    assert.equal(err.headers['content-encoding'], want === 'identity' ? undefined : want);
    assert.equal(Number(err.headers['content-length']), err.bytes.length);
    assert.match(decoded(err), /GenerateRequestsPerMinutePerProjectPerModel-FreeTier/);
    // Errors before any behaviour is picked (no key) are compressed too.
    const nokey = await rawCall(mock.url, '/v1beta/models/gemini-2.5-flash:generateContent', { key: null, headers });
    assert.equal(nokey.status, 403);
    assert.equal(nokey.headers['content-encoding'], want === 'identity' ? undefined : want);
    assert.deepEqual(mock.requests.map((e) => e.encoding), [want, want, want]);
    assert.equal(mock.requests[1].responseBody, decoded(err), 'the log keeps the plain text');
  }
});

test('compression of streams: each event flushed, so it decodes before the stream ends', async () => {
  for (const [p, sse] of [['/v1beta/models/m:streamGenerateContent?alt=sse', true], ['/v1beta/models/m:streamGenerateContent', false]]) {
    mock.reset();
    mock.setKey(K1, '*', { type: 'slowstream', events: 3, intervalMs: 150 });
    const r = await new Promise((resolve, reject) => {
      const req = http.request(mock.url + p, { method: 'POST', headers: { 'x-goog-api-key': K1, 'accept-encoding': 'gzip' } }, (res) => {
        const gunzip = zlib.createGunzip();
        let text = '';
        let firstSeenWhileOpen;
        gunzip.on('data', (c) => {
          if (firstSeenWhileOpen === undefined) firstSeenWhileOpen = mock.requests[0].finishedAt === undefined;
          text += c.toString('utf8');
        });
        gunzip.on('end', () => resolve({ headers: res.headers, text, firstSeenWhileOpen }));
        gunzip.on('error', reject);
        res.pipe(gunzip);
      });
      req.on('error', reject);
      req.end(JSON.stringify(GEN));
    });
    assert.equal(r.headers['content-encoding'], 'gzip');
    assert.equal(r.firstSeenWhileOpen, true, 'the first event decoded while the mock was still streaming');
    const events = sse ? parseSse(r.text) : JSON.parse(r.text);
    assert.equal(events.map((e) => e.candidates[0].content.parts[0].text).join(''), 'ok from mock');
    assert.equal(mock.requests[0].encoding, 'gzip');
    assert.equal(mock.requests[0].responseBody, r.text);
  }
  // Google's OpenAI layer streams compressed as well.
  const r = await rawCall(mock.url, '/v1beta/openai/chat/completions', {
    key: null, headers: { authorization: `Bearer ${K1}`, 'accept-encoding': 'gzip' },
    body: { model: 'gemini-2.5-flash', stream: true, messages: [{ role: 'user', content: 'hi' }] },
  });
  assert.equal(r.headers['content-encoding'], 'gzip');
  assert.match(decoded(r), /data: \[DONE\]\n\n$/);
});

test('forced coding: forceGzip, a behaviour\'s gzip/encoding; raw answers go as given', async () => {
  const forced = await startMock({ forceGzip: true });
  try {
    for (const ae of [undefined, 'identity', 'gzip;q=0']) {
      const r = await rawCall(forced.url, '/v1beta/models/gemini-2.5-flash:generateContent', { headers: ae ? { 'accept-encoding': ae } : {} });
      assert.equal(r.headers['content-encoding'], 'gzip', String(ae));
      assert.equal(JSON.parse(decoded(r)).candidates[0].content.parts[0].text, 'ok from mock');
    }
    assert.ok(forced.requests.every((e) => e.encoding === 'gzip'));
  } finally {
    await forced.close();
  }
  mock.setKey(K1, '*', { type: 'suspended', gzip: true });
  let r = await rawCall(mock.url, '/v1beta/models/gemini-2.5-flash:generateContent');
  assert.equal(r.status, 403);
  assert.equal(r.headers['content-encoding'], 'gzip');
  assert.match(decoded(r), /has been suspended/);
  mock.setKey(K1, '*', { type: 'minute', encoding: 'deflate' });
  r = await rawCall(mock.url, '/v1beta/models/gemini-2.5-flash:generateContent');
  assert.equal(r.headers['content-encoding'], 'deflate');
  assert.match(decoded(r), /RESOURCE_EXHAUSTED/);
  mock.setKey(K1, '*', { type: 'ok', encoding: 'identity' });
  r = await rawCall(mock.url, '/v1beta/models/gemini-2.5-flash:generateContent', { headers: { 'accept-encoding': 'gzip' } });
  assert.equal(r.headers['content-encoding'], undefined);
  mock.setKey(K1, '*', { type: 'raw', status: 200, headers: { 'content-type': 'text/plain' }, body: 'exactly this' });
  r = await rawCall(mock.url, '/v1beta/models/gemini-2.5-flash:generateContent', { headers: { 'accept-encoding': 'gzip' } });
  assert.equal(r.headers['content-encoding'], undefined);
  assert.equal(r.bytes.toString(), 'exactly this');
  assert.throws(() => mock.setKey(K1, '*', { type: 'ok', encoding: 'br' }));
});

test('the suspended 403 names the key, as Google does; consumer gives the project form', async () => {
  const key = 'suspended-key-0001';
  const r = await gen('gemini-2.5-flash', { key });
  assert.equal(r.status, 403);
  const message = `Permission denied: Consumer 'api_key:${key}' has been suspended.`;
  assert.equal(r.json.error.message, message);
  assert.equal(r.json.error.status, 'PERMISSION_DENIED');
  const info = r.json.error.details.find((d) => d['@type'].endsWith('ErrorInfo'));
  assert.equal(info.reason, 'CONSUMER_SUSPENDED');
  assert.equal(info.metadata.consumer, `api_key:${key}`);
  assert.equal(r.json.error.details.find((d) => d['@type'].endsWith('LocalizedMessage')).message, message);

  mock.setKey(K1, '*', { type: 'suspended', consumer: 'projects/604713412345' });
  const r2 = await gen();
  assert.equal(r2.json.error.message, "Permission denied: Consumer 'projects/604713412345' has been suspended.");
  assert.ok(!r2.text.includes(K1));
});

test('percent-decoding: query names and values, path segments', async () => {
  // The model segment is decoded before routing.
  let r = await gen('gemini%2D2.5-flash');
  assert.equal(r.status, 200);
  assert.equal(mock.requests[0].model, 'gemini-2.5-flash');
  assert.equal(mock.requests[0].path, '/v1beta/models/gemini%2D2.5-flash:generateContent');
  assert.equal(mock.requests[0].decodedPath, '/v1beta/models/gemini-2.5-flash:generateContent');
  r = await call('/v1beta/models/gemini-2.5-flash%3AgenerateContent');
  assert.equal(r.status, 200, 'an encoded colon still names the method');
  r = await call('/v1beta/%6Dodels/gemini-2.5-flash', { method: 'GET' });
  assert.equal(r.json.name, 'models/gemini-2.5-flash');
  // A query name is decoded: %61lt is alt.
  r = await call('/v1beta/models/gemini-2.5-flash:streamGenerateContent?%61lt=%73se');
  assert.equal(r.headers.get('content-type'), 'text/event-stream');
  // A key in an encoded name is a key.
  mock.reset();
  r = await call('/v1beta/models/gemini-2.5-flash:generateContent?k%65y=' + K1, { key: null });
  assert.equal(r.status, 200);
  assert.equal(mock.requests[0].key, K1);
  assert.equal(mock.requests[0].query.key, K1);
});

test('every credential is checked: a second key that differs, or an OAuth token parameter, is 400 API_KEY_INVALID', async () => {
  const refused = [
    ['?k%65y=junk', {}],
    ['?key=junk', {}],
    ['?%6B%65%79=' + K2, {}],
    ['?key=' + K1 + '&key=junk', {}],
    ['?access_token=junk', {}],
    ['?oauth%5Ftoken=junk', {}],
    ['?access_token=' + K1, {}],
  ];
  for (const [q, headers] of refused) {
    mock.reset();
    mock.setKey(K1, '*', 'ok');
    const r = await call('/v1beta/models/gemini-2.5-flash:generateContent' + q, { headers });
    assert.equal(r.status, 400, q);
    assert.equal(r.json.error.details[0].reason, 'API_KEY_INVALID', q);
    assert.equal(mock.requests[0].credentialsRefused, true);
    assert.ok(!r.text.includes('junk') && !r.text.includes(K1), 'names no key');
  }
  // Array form on the JSON stream, and the OpenAI layer's Bearer counts as a key.
  let r = await call('/v1beta/models/gemini-2.5-flash:streamGenerateContent?key=junk');
  assert.equal(r.status, 400);
  assert.equal(r.json[0].error.details[0].reason, 'API_KEY_INVALID');
  r = await call('/v1beta/openai/chat/completions?key=junk', {
    key: null, headers: { authorization: `Bearer ${K1}` }, body: { model: 'gemini-2.5-flash', messages: [{ role: 'user', content: 'hi' }] },
  });
  assert.equal(r.status, 400);
  // The same key twice is fine.
  mock.reset();
  r = await call('/v1beta/models/gemini-2.5-flash:generateContent?key=' + K1);
  assert.equal(r.status, 200);
  assert.deepEqual(mock.requests[0].keys, [K1, K1]);
});

// The bytes on the wire of one request on a fresh connection, up to the end of the answer.
function wireCall(base, p, key = K1) {
  return new Promise((resolve, reject) => {
    const u = new URL(base);
    const body = JSON.stringify(GEN);
    const s = net.connect(Number(u.port), u.hostname, () => {
      s.write(`POST ${p} HTTP/1.1\r\nHost: mock\r\nx-goog-api-key: ${key}\r\nContent-Type: application/json\r\n`
        + `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
    });
    const chunks = [];
    s.on('data', (c) => chunks.push(c));
    s.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
    s.on('error', reject);
  });
}

test('informational answers before the final one: per behaviour and for every answer', async () => {
  mock.setKey(K1, '*', { type: 'ok', informational: [103, 100] });
  const wire = await wireCall(mock.url, '/v1beta/models/gemini-2.5-flash:generateContent');
  assert.match(wire, /^HTTP\/1\.1 103 Early Hints\r\nLink: <[^>]+>; rel=preload; as=style\r\n\r\nHTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
  assert.deepEqual(mock.requests[0].informational, [103, 100]);

  mock.setKey(K1, '*', { type: 'minute', informational: [102, 103, 199], informationalDelayMs: 50 });
  const r = await rawCall(mock.url, '/v1beta/models/gemini-2.5-flash:generateContent');
  assert.equal(r.status, 429);
  assert.deepEqual(r.informational.map((i) => i.status), [102, 103, 199]);
  assert.match(r.informational[1].headers.link, /rel=preload/);
  assert.throws(() => mock.setKey(K1, '*', { type: 'ok', informational: [101] }));
  assert.throws(() => mock.setKey(K1, '*', { type: 'ok', informational: [200] }));

  const early = await startMock({ informational: [103] });
  try {
    early.setKey(K1, '*', { type: 'slowstream', events: 2, intervalMs: 10 });
    const s = await rawCall(early.url, '/v1beta/models/m:streamGenerateContent?alt=sse');
    assert.equal(s.status, 200);
    assert.deepEqual(s.informational.map((i) => i.status), [103]);
    assert.equal(parseSse(s.bytes.toString()).length, 2);
    // Answers sent before any behaviour is picked (no key) get it as well.
    const nokey = await rawCall(early.url, '/v1beta/models/m:generateContent', { key: null });
    assert.equal(nokey.status, 403);
    assert.deepEqual(nokey.informational.map((i) => i.status), [103]);
    // A behaviour's own list wins, even an empty one.
    early.setKey(K1, '*', { type: 'ok', informational: [] });
    const none = await rawCall(early.url, '/v1beta/models/m:generateContent');
    assert.deepEqual(none.informational, []);
  } finally {
    await early.close();
  }
});

// validateToolsAndParts: what real Gemini answers to JSON Schema in `parameters` (WIRE C).
const withTools = (tools, contents = GEN.contents) => ({ contents, tools });
const decl = (parameters, extra = {}) => [{ functionDeclarations: [{ name: 'f', description: 'd', ...extra, parameters }] }];

test('tools: JSON Schema keywords in parameters are 400 with the proto path, like Google', async () => {
  let r = await gen('gemini-2.5-flash', { body: withTools(decl({ type: 'object', properties: { a: { type: 'string' } }, additionalProperties: false })) });
  assert.equal(r.status, 400);
  assert.equal(r.json.error.status, 'INVALID_ARGUMENT');
  const top = 'Invalid JSON payload received. Unknown name "additionalProperties" at \'tools[0].function_declarations[0].parameters\': Cannot find field.';
  assert.equal(r.json.error.message, top);
  assert.deepEqual(r.json.error.details, [{
    '@type': 'type.googleapis.com/google.rpc.BadRequest',
    fieldViolations: [{ field: 'tools[0].function_declarations[0].parameters', description: top }],
  }]);

  // Nested: inside a property's schema, items and anyOf members; snake_case tool lists too.
  r = await gen('gemini-2.5-flash', {
    body: {
      contents: GEN.contents,
      tools: [{ function_declarations: [{ name: 'g' }, {
        name: 'f',
        parameters: {
          type: 'OBJECT',
          properties: {
            a: { type: 'string' },
            b: { type: 'object', properties: { c: { type: 'string', const: 'x' } } },
            d: { type: 'array', items: { type: 'object', $ref: '#/$defs/x' } },
            e: { anyOf: [{ type: 'string' }, { type: 'number', exclusiveMinimum: 0 }] },
          },
        },
      }] }],
    },
  });
  assert.equal(r.status, 400);
  const fields = r.json.error.details[0].fieldViolations.map((v) => v.field);
  assert.deepEqual(fields, [
    'tools[0].function_declarations[1].parameters.properties[1].value.properties[0].value',
    'tools[0].function_declarations[1].parameters.properties[2].value.items',
    'tools[0].function_declarations[1].parameters.properties[3].value.any_of[1]',
  ]);
  assert.match(r.json.error.message, /Unknown name "const" at 'tools\[0\]\.function_declarations\[1\]\.parameters\.properties\[1\]\.value\.properties\[0\]\.value': Cannot find field\./);
  assert.match(r.json.error.message, /Unknown name "\$ref"/);
  assert.match(r.json.error.message, /Unknown name "exclusiveMinimum"/);

  // The same on the stream methods (array form too) and countTokens.
  r = await call('/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse', { body: withTools(decl({ type: 'object', $schema: 'x' })) });
  assert.equal(r.status, 400);
  assert.match(r.json.error.message, /Unknown name "\$schema"/);
  r = await call('/v1beta/models/gemini-2.5-flash:streamGenerateContent', { body: withTools(decl({ type: 'object', $schema: 'x' })) });
  assert.equal(r.status, 400);
  assert.match(r.json[0].error.message, /Unknown name "\$schema"/);
  r = await call('/v1beta/models/gemini-2.5-flash:countTokens', { body: { generateContentRequest: { model: 'models/gemini-2.5-flash', ...withTools(decl({ type: 'object', oneOf: [] })) } } });
  assert.equal(r.status, 400);
  assert.match(r.json.error.message, /Unknown name "oneOf" at 'generate_content_request\.tools\[0\]\.function_declarations\[0\]\.parameters'/);
  // Even a raw behaviour does not skip the check: Google looks at the payload first.
  mock.queue(K1, '*', { type: 'raw', status: 200, body: '{}' });
  r = await gen('gemini-2.5-flash', { body: withTools(decl({ type: 'object', additionalProperties: {} })) });
  assert.equal(r.status, 400);
});

test('tools: the OpenAPI subset, parametersJsonSchema, googleSearch and type values', async () => {
  // Every key of the subset, in camelCase and snake_case, any case of type: accepted.
  const subset = {
    type: 'object', title: 't', description: 'd', nullable: false, required: ['a'], minProperties: 1, max_properties: 9,
    propertyOrdering: ['a', 'b'], example: { a: 'x' }, default: {},
    properties: {
      a: { type: 'STRING', format: 'enum', enum: ['x', 'y'], minLength: 1, maxLength: 3, pattern: '^x' },
      b: { type: 'Array', items: { type: 'integer', minimum: 0, maximum: 9 }, minItems: 0, max_items: 4 },
      c: { any_of: [{ type: 'boolean' }, { type: 'number' }] },
    },
  };
  let r = await gen('gemini-2.5-flash', { body: withTools(decl(subset)) });
  assert.equal(r.status, 200, r.text);
  // parametersJsonSchema takes any JSON Schema.
  const full = {
    $schema: 'http://json-schema.org/draft-07/schema#', type: 'object', additionalProperties: false,
    properties: { a: { $ref: '#/$defs/A' }, b: { oneOf: [{ const: 1 }, { type: 'string' }] }, n: { type: ['number', 'null'], exclusiveMinimum: 0 } },
    $defs: { A: { type: 'string' } },
  };
  r = await gen('gemini-2.5-flash', { body: { contents: GEN.contents, tools: [{ functionDeclarations: [{ name: 'f', parametersJsonSchema: full }] }, { googleSearch: {} }] } });
  assert.equal(r.status, 200, r.text);
  r = await gen('gemini-2.5-flash', { body: { contents: GEN.contents, tools: [{ function_declarations: [{ name: 'f', parameters_json_schema: full }] }, { google_search: {} }] } });
  assert.equal(r.status, 200, r.text);
  // Both at once: 400.
  r = await gen('gemini-2.5-flash', { body: withTools(decl({ type: 'object' }, { parametersJsonSchema: { type: 'object' } })) });
  assert.equal(r.status, 400);
  assert.match(r.json.error.message, /parameters and parameters_json_schema cannot both be set/);
  // A type outside Gemini's enum (JSON Schema's list form, "null").
  r = await gen('gemini-2.5-flash', { body: withTools(decl({ type: 'object', properties: { n: { type: ['number', 'null'] }, z: { type: 'null' } } })) });
  assert.equal(r.status, 400);
  assert.deepEqual(r.json.error.details[0].fieldViolations.map((v) => v.field), [
    'tools[0].function_declarations[0].parameters.properties[0].value.type',
    'tools[0].function_declarations[0].parameters.properties[1].value.type',
  ]);
  assert.match(r.json.error.message, /^Invalid value at 'tools\[0\]\.function_declarations\[0\]\.parameters\.properties\[0\]\.value\.type' \(type\.googleapis\.com\/google\.ai\.generativelanguage\.v1beta\.Type\), \["number","null"\]/);
  // Unknown tool kinds and unknown declaration fields (OpenAI's `strict`).
  r = await gen('gemini-2.5-flash', { body: { contents: GEN.contents, tools: [{ webSearch: {} }] } });
  assert.equal(r.status, 400);
  assert.equal(r.json.error.message, 'Invalid JSON payload received. Unknown name "webSearch" at \'tools[0]\': Cannot find field.');
  r = await gen('gemini-2.5-flash', { body: withTools(decl({ type: 'object' }, { strict: true })) });
  assert.equal(r.status, 400);
  assert.match(r.json.error.message, /Unknown name "strict" at 'tools\[0\]\.function_declarations\[0\]'/);
});

test('content parts: an unknown field (cache_control) is 400, like Google', async () => {
  const contents = [{ role: 'user', parts: [{ text: 'a' }, { text: 'b', cache_control: { type: 'ephemeral' } }] }];
  let r = await gen('gemini-2.5-flash', { body: { contents } });
  assert.equal(r.status, 400);
  assert.equal(r.json.error.message, 'Invalid JSON payload received. Unknown name "cache_control" at \'contents[0].parts[1]\': Cannot find field.');
  assert.equal(r.json.error.details[0].fieldViolations[0].field, 'contents[0].parts[1]');
  r = await gen('gemini-2.5-flash', { body: { contents: GEN.contents, systemInstruction: { parts: [{ text: 's', cacheControl: {} }] } } });
  assert.equal(r.status, 400);
  assert.match(r.json.error.message, /Unknown name "cacheControl" at 'system_instruction\.parts\[0\]'/);
  // Every field a Gemini part may carry is fine.
  r = await gen('gemini-2.5-flash', {
    body: {
      contents: [
        { role: 'user', parts: [{ text: 'q' }, { inlineData: { mimeType: 'image/png', data: 'AAAA' } }, { file_data: { mime_type: 'a/b', file_uri: 'u' } }] },
        { role: 'model', parts: [{ text: 't', thought: true, thoughtSignature: 'c2ln' }, { functionCall: { name: 'f', args: {} }, thought_signature: 'c2ln' }] },
        { role: 'user', parts: [{ functionResponse: { name: 'f', response: {} } }] },
      ],
    },
  });
  assert.equal(r.status, 200, r.text);
});

// ---- thought signatures (WIRE-AGENTS D4) --------------------------------------------------

test('toolcall: Gemini 3 signatures on the first parallel call; a history without them is refused', async () => {
  const m = mock;
  {
    m.queue(K1, '*', { type: 'toolcall', thought: 'Let me look.', calls: [{ name: 'read', args: { p: 'a' } }, { name: 'read', args: { p: 'b' } }] });
    const first = await gen('gemini-3-pro-preview');
    assert.equal(first.status, 200, first.body);
    const parts = first.json.candidates[0].content.parts;
    assert.deepEqual(parts.map((p) => Object.keys(p).sort().join('+')),
      ['text+thought', 'functionCall+thoughtSignature', 'functionCall']);
    assert.ok(m.signatures.has(parts[1].thoughtSignature));
    const turn = (modelParts) => ({ contents: [
      { role: 'user', parts: [{ text: 'read both' }] },
      { role: 'model', parts: modelParts },
      { role: 'user', parts: [{ functionResponse: { name: 'read', response: { output: 'A' } } }, { functionResponse: { name: 'read', response: { output: 'B' } } }] },
    ] });
    const calls = parts.filter((p) => p.functionCall);
    assert.equal((await gen('gemini-3-pro-preview', { body: turn(calls) })).status, 200);
    assert.equal(m.requests.at(-1).signatures, 'ok');
    const stripped = calls.map((p) => ({ functionCall: p.functionCall }));
    const missing = await gen('gemini-3-pro-preview', { body: turn(stripped) });
    assert.equal(missing.status, 400);
    assert.match(missing.json.error.message, /function call `read` in the 2\. content block is missing a `thought_signature`/);
    const forged = await gen('gemini-3-pro-preview', { body: turn([{ ...stripped[0], thoughtSignature: 'Zm9yZ2Vk' }, stripped[1]]) });
    assert.equal(forged.status, 400);
    assert.match(forged.json.error.message, /Corrupted thought signature/);
    const bypass = await gen('gemini-3-pro-preview', { body: turn([{ ...stripped[0], thoughtSignature: 'skip_thought_signature_validator' }, stripped[1]]) });
    assert.equal(bypass.status, 200);
    assert.equal(m.requests.at(-1).signatures, 'bypass');
    // Gemini 2.5 does not check, and an earlier turn is not the current one.
    assert.equal((await gen('gemini-2.5-flash', { body: turn(stripped) })).status, 200);
  }
});

test('toolcall: streamed as thought, text, then the calls with STOP', async () => {
  const m = mock;
  {
    m.queue(K1, '*', { type: 'toolcall', thought: 'Hmm.', text: 'Reading.', calls: [{ name: 'read', args: {} }] });
    const r = await fetch(`${m.url}/v1beta/models/gemini-3-pro-preview:streamGenerateContent?alt=sse`, {
      method: 'POST', headers: { 'x-goog-api-key': K1, 'content-type': 'application/json', 'accept-encoding': 'identity' }, body: JSON.stringify(GEN),
    });
    assert.equal(r.status, 200);
    const events = (await r.text()).split(/\r\n\r\n/).filter(Boolean).map((e) => JSON.parse(e.replace(/^data: /, '')));
    assert.equal(events.length, 3);
    assert.equal(events[0].candidates[0].content.parts[0].thought, true);
    assert.equal(events[1].candidates[0].content.parts[0].text, 'Reading.');
    assert.equal(events[2].candidates[0].finishReason, 'STOP');
    assert.ok(m.signatures.has(events[2].candidates[0].content.parts[0].thoughtSignature));
  }
});

test('toolcall without calls: streamed once each, the last part with STOP and the signature', async () => {
  mock.queue(K1, '*', { type: 'toolcall', thought: 'Hmm.', text: 'Done.' });
  const r = await fetch(`${mock.url}/v1beta/models/gemini-3-pro-preview:streamGenerateContent?alt=sse`, {
    method: 'POST', headers: { 'x-goog-api-key': K1, 'content-type': 'application/json', 'accept-encoding': 'identity' }, body: JSON.stringify(GEN),
  });
  const events = (await r.text()).split(/\r\n\r\n/).filter(Boolean).map((e) => JSON.parse(e.replace(/^data: /, '')));
  assert.deepEqual(events.map((e) => e.candidates[0].content.parts[0].text), ['Hmm.', 'Done.']);
  assert.equal(events[1].candidates[0].finishReason, 'STOP');
  assert.equal(events[0].candidates[0].finishReason, undefined);
  assert.ok(mock.signatures.has(events[1].candidates[0].content.parts[0].thoughtSignature));
});

test('key probes (models?pageSize=1): one model page; invalid 400, suspended 403 naming the key (gzip when accepted); flipped by setKey', async () => {
  const probe = (key, headers = {}) => call('/v1beta/models?pageSize=1', { method: 'GET', key, headers });
  const ok = await probe(K1);
  assert.equal(ok.status, 200);
  assert.equal(ok.json.models.length, 1);
  assert.equal(typeof ok.json.nextPageToken, 'string');
  const bad = await probe('bad-key-0001');
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.details.find((d) => d.reason).reason, 'API_KEY_INVALID');
  // fetch() accepts gzip: the 403 comes compressed and names the key once decoded.
  const sus = await probe('suspended-key-0002');
  assert.equal(sus.status, 403);
  assert.equal(sus.headers.get('content-encoding'), 'gzip');
  assert.match(sus.json.error.message, /api_key:suspended-key-0002/);
  // A test makes an invalid key valid (and back).
  mock.setKey('bad-key-0001', '*', 'ok');
  assert.equal((await probe('bad-key-0001')).status, 200);
  mock.clearKey('bad-key-0001', '*');
  assert.equal((await probe('bad-key-0001')).status, 400);
  assert.deepEqual(mock.probes('bad-key-0001').map((r) => r.status), [400, 200, 400]);
  assert.equal(mock.probes().length, 5);
  // A models list of another size is no probe.
  await call('/v1beta/models?pageSize=2', { method: 'GET' });
  assert.equal(mock.probes().length, 5);
});

test('delayMs on any behaviour; inFlight and maxInFlight count requests answered at once', async () => {
  mock.setKey('*', '*', { type: 'invalid', delayMs: 200 });
  assert.equal(mock.maxInFlight, 0);
  const t0 = Date.now();
  const all = await Promise.all([1, 2, 3].map((i) => call('/v1beta/models?pageSize=1', { method: 'GET', key: `k-${i}` })));
  assert.ok(Date.now() - t0 >= 190, 'answered after the delay');
  assert.deepEqual(all.map((r) => r.status), [400, 400, 400]);
  assert.equal(mock.maxInFlight, 3);
  assert.equal(mock.inFlight, 0);
  mock.resetMaxInFlight();
  assert.equal(mock.maxInFlight, 0);
  await call('/v1beta/models?pageSize=1', { method: 'GET' });
  assert.equal(mock.maxInFlight, 1);
  mock.reset();
  assert.equal(mock.maxInFlight, 0);
});

test('quotas: one budget per project and model, Google\'s 429s with quotaValue and a fractional retryDelay', async () => {
  mock.setProjects({ [K1]: 'p1', [K2]: 'p1' });
  mock.setQuota('gemini-q', { rpm: 2, rpd: 3 });
  mock.setQuota('gemini-q', { rpd: 0 }, 'p0');
  mock.setProjects({ 'test-key-0003': 'p0' });
  // Keep the burst inside one wall-clock minute.
  if (Date.now() % 60000 > 55000) await new Promise((r) => setTimeout(r, 60000 - (Date.now() % 60000) + 100));
  assert.equal((await gen('gemini-q', { key: K1 })).status, 200);
  assert.equal((await gen('gemini-q', { key: K2 })).status, 200);
  const minute = await gen('gemini-q', { key: K1 });
  assert.equal(minute.status, 429);
  const qf = minute.json.error.details.find((d) => d['@type'].endsWith('QuotaFailure'));
  assert.equal(qf.violations[0].quotaId, 'GenerateRequestsPerMinutePerProjectPerModel-FreeTier');
  assert.equal(qf.violations[0].quotaValue, '2');
  const retry = minute.json.error.details.find((d) => d['@type'].endsWith('RetryInfo')).retryDelay;
  assert.match(retry, /^\d+\.\d{9}s$/);
  const secs = parseFloat(retry);
  const toMinute = (60000 - (Date.now() % 60000)) / 1000;
  assert.ok(Math.abs(secs - toMinute) < 1.5, `retryDelay ${retry} ends the wall-clock minute (${toMinute}s left)`);
  // Another model, or a key of its own project, has its own budget.
  assert.equal((await gen('gemini-other', { key: K1 })).status, 200);
  mock.setQuota('gemini-q', { rpm: 10, rpd: 3 });
  assert.equal((await gen('gemini-q', { key: K2 })).status, 200);
  const day = await gen('gemini-q', { key: K1 });
  assert.equal(day.status, 429);
  const dv = day.json.error.details.find((d) => d['@type'].endsWith('QuotaFailure')).violations[0];
  assert.equal(dv.quotaId, 'GenerateRequestsPerDayPerProjectPerModel-FreeTier');
  assert.equal(dv.quotaValue, '3');
  const zero = await gen('gemini-q', { key: 'test-key-0003' });
  assert.equal(zero.status, 429);
  assert.match(zero.json.error.message, /limit: 0/);
  assert.deepEqual(mock.quotaStats()['p1|gemini-q'], { served: 3, rejected_minute: 1, rejected_day: 1 });
  mock.resetQuotas();
  assert.equal((await gen('gemini-q', { key: K1 })).status, 200);
});
