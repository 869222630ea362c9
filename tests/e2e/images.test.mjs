// POST /v1/images/generations (SPEC 3.8) through the real binary, with the official `openai`
// SDK as client and the Gemini mock as Google: Imagen via :predict, Gemini image models via
// generateContent, what the mock received each time, errors in OpenAI's shape, the key pool's
// retries and usage accounting.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startMock } from '../mock/mock-gemini.mjs';
import { FILTER_REASON } from '../mock/mock-images.mjs';
import { startProxy, eventually, modelEntry, assertNoKeys, responseText } from './harness.mjs';
import { client, BadRequestError, assertUpstreamClean } from './openai-lib.mjs';

const KEYS = ['test-key-im01', 'test-key-im02'];
const IMAGEN = 'imagen-4.0-generate-001';
const FLASH_IMAGE = 'gemini-2.5-flash-image';
const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

let mock;
let proxy;
let oa;

before(async () => {
  mock = await startMock();
  proxy = await startProxy({ keys: KEYS, upstream: mock.url, args: ['--model-alias', `dall-e-*=${IMAGEN}`] });
  oa = client(proxy);
});
after(async () => {
  await proxy?.cleanup();
  await mock?.close();
});
beforeEach(() => {
  mock.reset();
});

const predictCalls = (model = IMAGEN) => mock.requests.filter((e) => e.path === `/v1beta/models/${model}:predict`);
const generateCalls = (model = FLASH_IMAGE) => mock.requests.filter((e) => e.path === `/v1beta/models/${model}:generateContent`);

function assertPng(b64) {
  assert.equal(typeof b64, 'string');
  assert.ok(Buffer.from(b64, 'base64').subarray(0, 8).equals(PNG_MAGIC), 'a PNG');
}

test('imagen: n=2 and size → one :predict with sampleCount and aspectRatio; b64_json images in order', { timeout: 20000 }, async () => {
  const r = await oa.images.generate({ model: IMAGEN, prompt: 'a lighthouse at dusk', n: 2, size: '1792x1024', quality: 'hd', style: 'vivid', user: 'u1' });
  assert.equal(typeof r.created, 'number');
  assert.ok(Math.abs(r.created - Date.now() / 1000) < 60);
  assert.equal(r.data.length, 2);
  const calls = predictCalls();
  assert.equal(calls.length, 1);
  assert.deepEqual(JSON.parse(calls[0].body), {
    instances: [{ prompt: 'a lighthouse at dusk' }],
    parameters: { sampleCount: 2, aspectRatio: '16:9', includeRaiReason: true },
  });
  const preds = JSON.parse(calls[0].responseBody).predictions;
  for (let i = 0; i < 2; i++) {
    assertPng(r.data[i].b64_json);
    assert.equal(r.data[i].b64_json, preds[i].bytesBase64Encoded, `image ${i} as Google sent it`);
    assert.equal(r.data[i].url, undefined);
  }
  assert.equal(r.output_format, 'png');
  assert.equal(r.usage, undefined, 'Imagen reports no tokens');
  assertUpstreamClean(mock, KEYS, proxy.token);
});

test('gemini image model: n=2 → two generateContent calls with responseModalities IMAGE and imageConfig', { timeout: 20000 }, async () => {
  const r = await oa.images.generate({ model: FLASH_IMAGE, prompt: 'a teapot', n: 2, size: '1536x1024' });
  const calls = generateCalls();
  assert.equal(calls.length, 2);
  for (const c of calls) {
    assert.deepEqual(JSON.parse(c.body), {
      contents: [{ role: 'user', parts: [{ text: 'a teapot' }] }],
      generationConfig: { responseModalities: ['IMAGE'], imageConfig: { aspectRatio: '3:2' } },
    });
  }
  assert.equal(r.data.length, 2);
  for (let i = 0; i < 2; i++) {
    assertPng(r.data[i].b64_json);
    assert.equal(r.data[i].b64_json, JSON.parse(calls[i].responseBody).candidates[0].content.parts[0].inlineData.data);
  }
  assert.notEqual(r.data[0].b64_json, r.data[1].b64_json);
  // The mock's usage: 7 prompt + 1290 image tokens per call.
  assert.deepEqual(r.usage, { input_tokens: 14, output_tokens: 2580, total_tokens: 2594, input_tokens_details: { text_tokens: 14, image_tokens: 0 } });
});

test('response_format url → a data: URL (the proxy hosts nothing); /openai prefix serves it too', { timeout: 20000 }, async () => {
  const po = client(proxy, { prefix: '/openai/v1' });
  const r = await po.images.generate({ model: 'gemini-3-pro-image-preview', prompt: 'a kite', response_format: 'url' });
  assert.equal(r.data.length, 1);
  const m = /^data:image\/png;base64,(.+)$/.exec(r.data[0].url);
  assert.ok(m, r.data[0].url?.slice(0, 40));
  assertPng(m[1]);
  assert.equal(r.data[0].b64_json, undefined);
  assert.equal(generateCalls('gemini-3-pro-image-preview').length, 1);
});

test('imagen output_format jpeg → outputOptions; the answer says jpeg', { timeout: 20000 }, async () => {
  const r = await oa.images.generate({ model: IMAGEN, prompt: 'x', output_format: 'jpeg', output_compression: 60 });
  const body = JSON.parse(predictCalls()[0].body);
  assert.deepEqual(body.parameters.outputOptions, { mimeType: 'image/jpeg', compressionQuality: 60 });
  assert.equal(r.output_format, 'jpeg');
  assert.equal(r.data.length, 1);
});

test('bad size, prompt, model, n → 400 naming the field; nothing reaches Google', { timeout: 20000 }, async () => {
  const cases = [
    [{ model: IMAGEN, prompt: 'x', size: '1000x1000' }, 'size'],
    [{ model: IMAGEN, prompt: 'x', size: '21:9' }, 'size'],
    [{ model: IMAGEN, prompt: '' }, 'prompt'],
    [{ model: IMAGEN }, 'prompt'],
    [{ prompt: 'x' }, 'model'],
    [{ model: 'gemini-2.5-flash', prompt: 'x' }, 'model'],
    [{ model: IMAGEN, prompt: 'x', n: 5 }, 'n'],
    [{ model: FLASH_IMAGE, prompt: 'x', response_format: 'png' }, 'response_format'],
  ];
  for (const [body, param] of cases) {
    await assert.rejects(oa.images.generate(body), (e) => {
      assert.ok(e instanceof BadRequestError, `${JSON.stringify(body)}: ${e}`);
      assert.equal(e.status, 400);
      assert.equal(e.param, param, JSON.stringify(body));
      assert.match(e.message, new RegExp(`^400 ${param}: `));
      assert.equal(e.type, 'invalid_request_error');
      return true;
    });
  }
  assert.equal(mock.requests.length, 0, 'the mock received nothing');
});

test('--model-alias maps an OpenAI image model; an unmapped one is a 404 naming the flag', { timeout: 20000 }, async () => {
  const r = await oa.images.generate({ model: 'dall-e-3', prompt: 'a fox', n: 1 });
  assert.equal(r.data.length, 1);
  assertPng(r.data[0].b64_json);
  assert.equal(predictCalls().length, 1, 'dall-e-3 went to Imagen');
  mock.reset();
  await assert.rejects(oa.images.generate({ model: 'gpt-image-1', prompt: 'x' }), (e) => {
    assert.equal(e.status, 404, String(e));
    assert.equal(e.param, 'model');
    assert.match(e.message, /--model-alias gpt-image-1=/);
    return true;
  });
  assert.equal(mock.requests.length, 0, 'the mock received nothing');
});

test('all images filtered → 400 content_policy_violation with Google\'s reason; partly filtered → the rest', { timeout: 20000 }, async () => {
  mock.setKey('*', IMAGEN, { type: 'imagefiltered' });
  await assert.rejects(oa.images.generate({ model: IMAGEN, prompt: 'bad', n: 2 }), (e) => {
    assert.ok(e instanceof BadRequestError, String(e));
    assert.equal(e.code, 'content_policy_violation');
    assert.ok(e.message.includes(FILTER_REASON), e.message);
    return true;
  });
  assert.equal(predictCalls().length, 1, 'a filter is not retried');
  mock.setKey('*', IMAGEN, { type: 'imagefiltered', count: 1 });
  const r = await oa.images.generate({ model: IMAGEN, prompt: 'half', n: 3 });
  assert.equal(r.data.length, 2);

  mock.setKey('*', FLASH_IMAGE, { type: 'imagefiltered' });
  await assert.rejects(oa.images.generate({ model: FLASH_IMAGE, prompt: 'bad' }), (e) => {
    assert.equal(e.status, 400);
    assert.equal(e.code, 'content_policy_violation');
    assert.match(e.message, /IMAGE_SAFETY/);
    return true;
  });
});

test('Google\'s own 400 comes back in OpenAI\'s shape', { timeout: 20000 }, async () => {
  mock.queue('*', IMAGEN, { type: 'error', status: 400, statusText: 'INVALID_ARGUMENT', message: 'Imagen API is only accessible to billed users at this time.' });
  await assert.rejects(oa.images.generate({ model: IMAGEN, prompt: 'x' }), (e) => {
    assert.ok(e instanceof BadRequestError);
    assert.match(e.message, /only accessible to billed users/);
    return true;
  });
  assert.equal(predictCalls().length, 1, 'a client error is not retried');
});

test('a per-minute 429 on one key is retried on the other; /admin/keys counts each image call', { timeout: 20000 }, async () => {
  const before = await proxy.adminKeys();
  mock.setKey(KEYS[0], IMAGEN, 'minute');
  for (let i = 0; i < 2; i++) {
    const r = await oa.images.generate({ model: IMAGEN, prompt: `p${i}`, n: 1 });
    assert.equal(r.data.length, 1);
  }
  const limited = predictCalls().filter((e) => e.status === 429);
  assert.equal(limited.length, 1, 'the limited key was tried once, then cooled');
  assert.equal(limited[0].key, KEYS[0]);
  const served = predictCalls().filter((e) => e.status === 200);
  assert.equal(served.length, 2);
  assert.ok(served.every((e) => e.key === KEYS[1]));
  // Both prompts reached Google, the retried one twice with the same body.
  assert.deepEqual(served.map((e) => JSON.parse(e.body).instances[0].prompt).sort(), ['p0', 'p1']);
  assert.ok(served.some((e) => e.body === limited[0].body), 'retried with the same body');

  await oa.images.generate({ model: FLASH_IMAGE, prompt: 'q', n: 2 });
  await eventually(async () => {
    const now = await proxy.adminKeys();
    const diff = (key, model) => modelEntry(now, key, model).requests - modelEntry(before, key, model).requests;
    assert.equal(diff(KEYS[1], IMAGEN), 2);
    assert.equal(diff(KEYS[0], IMAGEN), 0, 'a 429 is not counted');
    assert.equal(diff(KEYS[0], FLASH_IMAGE) + diff(KEYS[1], FLASH_IMAGE), 2);
    assert.equal(modelEntry(now, KEYS[0], IMAGEN).state, 'cooling');
  }, { timeoutMs: 3000 });
  mock.clearKey(KEYS[0], IMAGEN);
});

test('no usable key → 503 in OpenAI\'s shape with Retry-After; nothing leaks a key', { timeout: 20000 }, async () => {
  mock.setKey('*', 'imagen-4.0-fast-generate-001', 'day');
  const r = await proxy.request('POST', '/v1/images/generations', {
    headers: { authorization: `Bearer ${proxy.token}` }, body: { model: 'imagen-4.0-fast-generate-001', prompt: 'x' },
  });
  assert.equal(r.status, 503);
  assert.ok(r.json.error.message);
  assert.ok(Number(r.headers['retry-after']) > 0);
  assertNoKeys(responseText(r), KEYS);
  assert.equal(predictCalls('imagen-4.0-fast-generate-001').length, 2);
});

test('unauthenticated → 401 before anything reaches Google', { timeout: 20000 }, async () => {
  const r = await proxy.request('POST', '/v1/images/generations', { body: { model: IMAGEN, prompt: 'x' } });
  assert.equal(r.status, 401);
  assert.equal(r.json.error.type, 'authentication_error');
  assert.equal(mock.requests.length, 0);
});

test('--openai-mode google still translates images (Google\'s layer makes Imagen only)', { timeout: 20000 }, async () => {
  const g = await startProxy({ keys: KEYS, upstream: mock.url, args: ['--openai-mode', 'google'] });
  try {
    const r = await client(g).images.generate({ model: FLASH_IMAGE, prompt: 'x' });
    assert.equal(r.data.length, 1);
    assert.equal(generateCalls().length, 1);
    assert.ok(!mock.requests.some((e) => e.path.includes('/openai/')), 'nothing went to Google\'s OpenAI layer');
  } finally {
    await g.cleanup();
  }
});
