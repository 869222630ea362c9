// Tests of the mock's image generation (mock-images.mjs), no proxy involved: Imagen's
// :predict and the image output of Gemini image models, checked as Google checks them.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startMock } from './mock-gemini.mjs';
import { FILTER_REASON } from './mock-images.mjs';

const K1 = 'test-key-img1';
const IMAGEN = 'imagen-4.0-generate-001';
const FLASH_IMAGE = 'gemini-2.5-flash-image';
const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

let mock;
before(async () => { mock = await startMock(); });
after(async () => { await mock.close(); });
beforeEach(() => mock.reset());

async function post(model, method, body) {
  const r = await fetch(`${mock.url}/v1beta/models/${model}:${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-goog-api-key': K1 },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await r.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: r.status, json, text };
}

const predict = (body, model = IMAGEN) => post(model, 'predict', body);
const prompt = (p = 'a red fox') => ({ instances: [{ prompt: p }] });

function assertPng(b64) {
  const buf = Buffer.from(b64, 'base64');
  assert.ok(buf.subarray(0, 8).equals(PNG_MAGIC), 'PNG signature');
  assert.equal(buf.subarray(12, 16).toString('ascii'), 'IHDR');
  assert.equal(buf.subarray(buf.length - 8, buf.length - 4).toString('ascii'), 'IEND');
}

test('predict: sampleCount images, distinct valid PNGs; default 4 like Google', async () => {
  const r = await predict({ ...prompt(), parameters: { sampleCount: 2, aspectRatio: '16:9' } });
  assert.equal(r.status, 200);
  assert.equal(r.json.predictions.length, 2);
  for (const p of r.json.predictions) {
    assert.equal(p.mimeType, 'image/png');
    assertPng(p.bytesBase64Encoded);
  }
  assert.notEqual(r.json.predictions[0].bytesBase64Encoded, r.json.predictions[1].bytesBase64Encoded);
  const d = await predict(prompt());
  assert.equal(d.json.predictions.length, 4);
  assert.equal(mock.requests.length, 2);
  assert.equal(mock.requests[0].model, IMAGEN);
});

test('predict: outputOptions jpeg and enhancePrompt show in the answer', async () => {
  const r = await predict({ ...prompt('owl'), parameters: { sampleCount: 1, outputOptions: { mimeType: 'image/jpeg', compressionQuality: 80 }, enhancePrompt: true } });
  assert.equal(r.status, 200);
  assert.equal(r.json.predictions[0].mimeType, 'image/jpeg');
  assert.match(r.json.predictions[0].prompt, /owl/);
});

test('predict: bad bodies are 400 INVALID_ARGUMENT', async () => {
  const bad = [
    { instances: [] },
    { instances: [{ prompt: '' }] },
    { instances: [{ prompt: 5 }] },
    { instances: [{ prompt: 'a' }, { prompt: 'b' }] },
    { instances: [{ prompt: 'a', seed: 1 }] },
    { ...prompt(), parameters: { sampleCount: 5 } },
    { ...prompt(), parameters: { sampleCount: 0 } },
    { ...prompt(), parameters: { sampleCount: 1.5 } },
    { ...prompt(), parameters: { aspectRatio: '3:2' } },
    { ...prompt(), parameters: { aspectRatio: '1024x1024' } },
    { ...prompt(), parameters: { personGeneration: 'everyone' } },
    { ...prompt(), parameters: { numberOfImages: 2 } },
    { ...prompt(), parameters: { outputOptions: { mimeType: 'image/webp' } } },
    { ...prompt(), parameters: { includeRaiReason: 'yes' } },
    { ...prompt(), extra: 1 },
  ];
  for (const body of bad) {
    const r = await predict(body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal(r.json.error.status, 'INVALID_ARGUMENT', JSON.stringify(body));
  }
});

test('predict is for imagen-* only; imagen-* refuses generateContent', async () => {
  const p = await predict(prompt(), 'gemini-2.5-flash');
  assert.equal(p.status, 404);
  assert.match(p.json.error.message, /not supported for predict/);
  const g = await post(IMAGEN, 'generateContent', { contents: [{ role: 'user', parts: [{ text: 'x' }] }] });
  assert.equal(g.status, 404);
  assert.equal(g.json.error.status, 'NOT_FOUND');
});

test('predict: imagefiltered gives raiFilteredReason with includeRaiReason, else leaves images out', async () => {
  mock.queue(K1, IMAGEN, { type: 'imagefiltered', count: 1 });
  const r = await predict({ ...prompt(), parameters: { sampleCount: 2, includeRaiReason: true } });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.predictions[0], { raiFilteredReason: FILTER_REASON });
  assert.ok(r.json.predictions[1].bytesBase64Encoded);
  mock.queue(K1, IMAGEN, { type: 'imagefiltered' });
  const all = await predict({ ...prompt(), parameters: { sampleCount: 2 } });
  assert.equal(all.status, 200);
  assert.deepEqual(all.json, {});
});

test('predict: error behaviours apply (per-minute 429)', async () => {
  mock.queue(K1, IMAGEN, 'minute');
  const r = await predict(prompt());
  assert.equal(r.status, 429);
  assert.equal(r.json.error.status, 'RESOURCE_EXHAUSTED');
});

const genImage = (model, generationConfig) => post(model, 'generateContent', {
  contents: [{ role: 'user', parts: [{ text: 'a cat' }] }], generationConfig,
});

test('image model: IMAGE-only answers one inlineData PNG; TEXT+IMAGE adds a text part', async () => {
  const r = await genImage(FLASH_IMAGE, { responseModalities: ['IMAGE'], imageConfig: { aspectRatio: '21:9' } });
  assert.equal(r.status, 200);
  const parts = r.json.candidates[0].content.parts;
  assert.equal(parts.length, 1);
  assert.equal(parts[0].inlineData.mimeType, 'image/png');
  assertPng(parts[0].inlineData.data);
  assert.equal(r.json.usageMetadata.candidatesTokenCount, 1290);
  const both = await genImage('gemini-3-pro-image-preview', { responseModalities: ['TEXT', 'IMAGE'] });
  assert.equal(both.json.candidates[0].content.parts.length, 2);
  assert.equal(typeof both.json.candidates[0].content.parts[0].text, 'string');
});

test('image output is refused for non-image models; imageConfig and modalities are checked', async () => {
  const cases = [
    ['gemini-2.5-flash', { responseModalities: ['IMAGE'] }, /response modalities/],
    ['gemini-2.5-flash', { responseModalities: ['TEXT', 'IMAGE'] }, /response modalities/],
    ['gemini-2.5-flash', { imageConfig: { aspectRatio: '1:1' } }, /Image config/],
    [FLASH_IMAGE, { responseModalities: ['Image'] }, /Invalid value/],
    [FLASH_IMAGE, { imageConfig: { aspectRatio: '7:5' } }, /aspect ratio/],
    [FLASH_IMAGE, { imageConfig: { imageSize: '8K' } }, /image size/],
    [FLASH_IMAGE, { imageConfig: { ratio: '1:1' } }, /Unknown name "ratio"/],
  ];
  for (const [model, config, words] of cases) {
    const r = await genImage(model, config);
    assert.equal(r.status, 400, `${model} ${JSON.stringify(config)}`);
    assert.equal(r.json.error.status, 'INVALID_ARGUMENT');
    assert.match(r.json.error.message, words);
  }
  // A text model without image options still answers text.
  const ok = await genImage('gemini-2.5-flash', { responseModalities: ['TEXT'] });
  assert.equal(ok.status, 200);
});

test('image model: imagefiltered answers IMAGE_SAFETY without content', async () => {
  mock.queue(K1, FLASH_IMAGE, 'imagefiltered');
  const r = await genImage(FLASH_IMAGE, { responseModalities: ['IMAGE'] });
  assert.equal(r.status, 200);
  assert.equal(r.json.candidates[0].finishReason, 'IMAGE_SAFETY');
  assert.equal(r.json.candidates[0].content, undefined);
});
