// --model-alias (SPEC 2.1) through the real binary and the official SDKs against the mock:
// the names Claude Code and Codex send reach Google as the Gemini model on every surface
// (Anthropic messages and count_tokens, OpenAI chat, embeddings and Responses, native paths,
// --openai-mode google); answers echo the client's name; usage is counted under the Gemini
// model; an unmapped other vendor's name is a 404 in the route's shape naming the flag, and
// nothing reaches the mock; /v1/models lists the literal aliases in OpenAI's shape and in
// Anthropic's; a bad flag value stops startup with one clear line.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startMock, MODELS } from '../mock/mock-gemini.mjs';
import { startProxy, freePort, modelEntry } from './harness.mjs';
import { client as openaiClient, bodiesOf, NotFoundError } from './openai-lib.mjs';
import { runBin, lines, tryConnect } from './lib-lifecycle.mjs';

// scripts/install-deps.sh --test installs the SDK; its absence is a failure, not a skip.
const Anthropic = (await import('../sdk/anthropic.mjs')).default;

const KEY = 'test-key-ma01';
const FLASH = 'gemini-2.5-flash';
const PRO = 'gemini-2.5-pro';
const ALIASES = [
  'claude-*=gemini-2.5-flash',
  'claude-opus-4-1=gemini-2.5-pro',  // exact: wins over the glob given before it
  'gpt-5-codex=gemini-2.5-pro',
  'gpt-4o=models/gemini-2.5-flash',
  'text-embedding-3-small=gemini-embedding-001',
];
const LITERALS = ['claude-opus-4-1', 'gpt-5-codex', 'gpt-4o', 'text-embedding-3-small'];

let mock;
let proxy;  // with the aliases
let bare;   // without any

before(async () => {
  mock = await startMock();
  proxy = await startProxy({
    keys: [KEY], upstream: mock.url, args: ALIASES.flatMap((a) => ['--model-alias', a]),
  });
  bare = await startProxy({ keys: ['test-key-ma02'], upstream: mock.url });
});
after(async () => {
  await proxy?.cleanup();
  await bare?.cleanup();
  await mock?.close();
});
beforeEach(() => mock.reset());

const anthropic = (p) => new Anthropic({ apiKey: p.token, baseURL: p.url, maxRetries: 0, timeout: 20000 });
const paths = () => mock.requests.map((e) => e.path);
const esc = (s) => s.replace(/\./g, '\\.');

test('Anthropic SDK: claude-sonnet-4-5 reaches Google as gemini-2.5-flash; the answer keeps the client\'s name', async () => {
  const an = anthropic(proxy);
  const msg = await an.messages.create({
    model: 'claude-sonnet-4-5', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }],
  });
  assert.equal(msg.type, 'message');
  assert.equal(msg.content[0].text, 'ok from mock');
  assert.equal(msg.model, 'claude-sonnet-4-5');
  assert.deepEqual(paths(), [`/v1beta/models/${FLASH}:generateContent`]);

  const stream = an.messages.stream({
    model: 'claude-haiku-4-5-20251001', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }],
  });
  const final = await stream.finalMessage();
  assert.equal(final.model, 'claude-haiku-4-5-20251001');
  assert.match(paths()[1], new RegExp(`^/v1beta/models/${esc(FLASH)}:streamGenerateContent`));

  // The exact alias beats the glob given before it.
  await an.messages.create({ model: 'claude-opus-4-1', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(paths()[2], `/v1beta/models/${PRO}:generateContent`);

  const count = await an.messages.countTokens({
    model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'count me please' }],
  });
  assert.equal(typeof count.input_tokens, 'number');
  assert.equal(paths()[3], `/v1beta/models/${FLASH}:countTokens`);
  assert.equal(JSON.parse(mock.requests[3].body).generateContentRequest.model, `models/${FLASH}`);
});

test('openai SDK: chat completions, embeddings and Responses go to the mapped Gemini models', async () => {
  const oa = openaiClient(proxy);
  const chat = await oa.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(chat.choices[0].message.content, 'ok from mock');
  assert.equal(chat.model, 'gpt-4o');
  assert.deepEqual(paths(), [`/v1beta/models/${FLASH}:generateContent`]);

  const chunks = [];
  for await (const c of await oa.chat.completions.create({
    model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'hi' }], stream: true,
  })) chunks.push(c);
  assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), 'ok from mock');
  assert.ok(chunks.every((c) => c.model === 'claude-sonnet-4-5'));
  assert.match(paths()[1], new RegExp(`^/v1beta/models/${esc(FLASH)}:streamGenerateContent`));

  const emb = await oa.embeddings.create({ model: 'text-embedding-3-small', input: ['one', 'two'], encoding_format: 'float' });
  assert.equal(emb.data.length, 2);
  assert.equal(emb.model, 'text-embedding-3-small');
  assert.equal(paths()[2], '/v1beta/models/gemini-embedding-001:batchEmbedContents');
  const [batch] = bodiesOf(mock, /batchEmbedContents/);
  assert.ok(batch.requests.every((r) => r.model === 'models/gemini-embedding-001'), JSON.stringify(batch));

  const r = await oa.responses.create({ model: 'gpt-5-codex', input: 'hi' });
  assert.equal(r.output_text, 'ok from mock');
  assert.equal(r.model, 'gpt-5-codex');
  assert.equal(paths()[3], `/v1beta/models/${PRO}:generateContent`);
});

test('native path: the model in the path is replaced upstream, percent-encoded or not', async () => {
  const r = await proxy.generate('claude-sonnet-4-5');
  assert.equal(r.status, 200, r.body);
  assert.equal(r.json.candidates[0].content.parts[0].text, 'ok from mock');
  const enc = await proxy.generate('claude%2Dopus-4-1', { method: 'streamGenerateContent', query: '?alt=sse' });
  assert.equal(enc.status, 200, enc.body);
  const counted = await proxy.generate('gpt-4o', { method: 'countTokens' });
  assert.equal(counted.status, 200, counted.body);
  assert.deepEqual(paths(), [
    `/v1beta/models/${FLASH}:generateContent`,
    `/v1beta/models/${PRO}:streamGenerateContent`,
    `/v1beta/models/${FLASH}:countTokens`,
  ]);
  assert.equal(mock.requests[1].query.alt, 'sse', 'the query goes along');
  // A Gemini name without an alias goes as it is.
  assert.equal((await proxy.generate(PRO)).status, 200);
  assert.equal(paths()[3], `/v1beta/models/${PRO}:generateContent`);
});

test('usage is counted under the Gemini model, never under the client\'s name', async () => {
  const before = modelEntry(await proxy.adminKeys(), KEY, PRO).requests;
  const an = anthropic(proxy);
  await an.messages.create({ model: 'claude-opus-4-1', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] });
  await openaiClient(proxy).responses.create({ model: 'gpt-5-codex', input: 'hi' });
  assert.equal((await proxy.generate('claude-opus-4-1')).status, 200);
  const admin = await proxy.adminKeys();
  assert.equal(modelEntry(admin, KEY, PRO).requests, before + 3);
  const counted = Object.keys(admin.keys[0].models ?? {});
  for (const name of ['claude-opus-4-1', 'gpt-5-codex', 'claude-sonnet-4-5', 'gpt-4o']) {
    assert.ok(!counted.includes(name), `${name} counted: ${counted}`);
  }
});

test('an unmapped other vendor\'s name: 404 in each surface\'s shape naming --model-alias; nothing reaches Google', async () => {
  const hint = (name) => `model "${name}" is not a Gemini model; map it with --model-alias ${name}=gemini-2.5-flash`;
  const an = anthropic(bare);
  await assert.rejects(
    an.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }),
    (e) => {
      assert.ok(e instanceof Anthropic.NotFoundError, String(e));
      assert.equal(e.error.type, 'error');
      assert.equal(e.error.error.type, 'not_found_error');
      assert.equal(e.error.error.message, hint('claude-sonnet-4-5'));
      return true;
    });
  await assert.rejects(an.messages.countTokens({ model: 'claude-haiku-4-5', messages: [{ role: 'user', content: 'x' }] }),
    Anthropic.NotFoundError);

  const oa = openaiClient(bare);
  for (const call of [
    () => oa.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }),
    () => oa.responses.create({ model: 'gpt-5-codex', input: 'hi' }),
    () => oa.embeddings.create({ model: 'text-embedding-3-small', input: 'x' }),
    () => oa.chat.completions.create({ model: 'o3-mini', messages: [{ role: 'user', content: 'hi' }] }),
  ]) {
    await assert.rejects(call(), (e) => {
      assert.ok(e instanceof NotFoundError, String(e));
      assert.equal(e.status, 404);
      assert.equal(e.error.type, 'invalid_request_error');
      assert.equal(e.error.code, 'model_not_found');
      assert.equal(e.error.param, 'model');
      assert.match(e.error.message, /is not a Gemini model; map it with --model-alias /);
      return true;
    });
  }
  const native = await bare.generate('claude-sonnet-4-5');
  assert.equal(native.status, 404);
  assert.deepEqual(native.json, { error: { code: 404, message: hint('claude-sonnet-4-5'), status: 'NOT_FOUND' } });
  // Also on the proxy with aliases, for a name none of them maps.
  const unmapped = await proxy.generate('gpt-4.1');
  assert.equal(unmapped.status, 404);
  assert.equal(unmapped.json.error.message, hint('gpt-4.1'));
  assert.equal(mock.requests.length, 0, `the mock received ${paths()}`);

  // Names of no known other vendor go to Google, whose own answer comes back.
  const google = await bare.generate('gemini-9-ultra');
  assert.equal(google.status, 200);
  assert.deepEqual(paths(), ['/v1beta/models/gemini-9-ultra:generateContent']);
});

test('/v1/models lists the literal aliases: openai SDK models.list and retrieve', async () => {
  const oa = openaiClient(proxy);
  const listed = [];
  for await (const m of oa.models.list()) listed.push(m);
  const ids = listed.map((m) => m.id);
  for (const alias of LITERALS) {
    const m = listed.find((x) => x.id === alias);
    assert.deepEqual(m, { id: alias, object: 'model', created: 0, owned_by: 'gemini-key-manager' });
  }
  assert.ok(!ids.some((id) => id.includes('*')), 'glob FROMs are not listed');
  for (const m of MODELS) assert.ok(ids.includes(m.name.replace(/^models\//, '')), m.name);
  assert.equal(ids.length, LITERALS.length + MODELS.length);

  const alias = await oa.models.retrieve('gpt-4o');
  assert.deepEqual({ ...alias }, { id: 'gpt-4o', object: 'model', created: 0, owned_by: 'gemini-key-manager' });
  const glob = await oa.models.retrieve('claude-sonnet-4-5');
  assert.equal(glob.id, 'claude-sonnet-4-5');
  const gemini = await oa.models.retrieve(FLASH);
  assert.equal(gemini.owned_by, 'google');
  await assert.rejects(openaiClient(bare).models.retrieve('gpt-4o'), (e) => e instanceof NotFoundError && e.error.code === 'model_not_found');
  // Only the listing and the Gemini model were asked of Google.
  assert.deepEqual(paths().filter((p) => p !== '/v1beta/models'), [`/v1beta/models/${FLASH}`]);
});

test('/v1/models with anthropic-version: Anthropic\'s shape, x-api-key accepted; Anthropic SDK models.list and retrieve', async () => {
  const an = anthropic(proxy);
  const listed = [];
  for await (const m of an.models.list()) listed.push(m);
  const ids = listed.map((m) => m.id);
  assert.deepEqual(ids.slice(0, LITERALS.length), LITERALS);
  for (const m of listed) {
    assert.equal(m.type, 'model');
    assert.equal(typeof m.display_name, 'string');
    assert.ok(!Number.isNaN(Date.parse(m.created_at)), m.created_at);
  }
  assert.equal(listed[0].display_name, 'claude-opus-4-1 (gemini-2.5-pro)');
  assert.equal(listed.find((m) => m.id === FLASH).display_name, 'Gemini 2.5 Flash');
  assert.equal(ids.length, LITERALS.length + MODELS.length);

  const raw = await proxy.request('GET', '/v1/models?limit=1000', {
    headers: { 'x-api-key': proxy.token, 'anthropic-version': '2023-06-01' },
  });
  assert.equal(raw.status, 200, raw.body);
  assert.equal(raw.json.has_more, false);
  assert.equal(raw.json.first_id, 'claude-opus-4-1');
  assert.equal(raw.json.last_id, ids.at(-1));
  assert.equal(raw.json.object, undefined);

  const one = await an.models.retrieve('claude-sonnet-4-5');
  assert.equal(one.id, 'claude-sonnet-4-5');
  assert.equal(one.type, 'model');
  assert.equal(one.display_name, 'claude-sonnet-4-5 (gemini-2.5-flash)');
  await assert.rejects(anthropic(bare).models.retrieve('claude-sonnet-4-5'),
    (e) => e instanceof Anthropic.NotFoundError && e.error.error.type === 'not_found_error');

  // Without the client token: 401 in Anthropic's shape.
  const denied = await proxy.request('GET', '/v1/models', { headers: { 'x-api-key': 'wrong', 'anthropic-version': '2023-06-01' } });
  assert.equal(denied.status, 401);
  assert.equal(denied.json.type, 'error');
  assert.equal(denied.json.error.type, 'authentication_error');
  // x-api-key alone is not a token on the OpenAI list.
  const plain = await proxy.request('GET', '/v1/models', { headers: { 'x-api-key': proxy.token } });
  assert.equal(plain.status, 401);
});

test('--openai-mode google: the body reaches Google\'s OpenAI layer with the Gemini name; unmapped names stay home', async () => {
  const g = await startProxy({
    keys: ['test-key-ma03'], upstream: mock.url, args: ['--openai-mode', 'google', '--model-alias', 'gpt-4o=gemini-2.5-flash'],
  });
  try {
    const oa = openaiClient(g);
    const r = await oa.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], temperature: 0.3 });
    assert.equal(r.choices[0].message.content, 'ok from mock');
    assert.deepEqual(paths(), ['/v1beta/openai/chat/completions']);
    const sent = JSON.parse(mock.requests[0].body);
    assert.equal(sent.model, FLASH);
    assert.equal(sent.temperature, 0.3);
    assert.deepEqual(sent.messages, [{ role: 'user', content: 'hi' }]);
    await assert.rejects(oa.chat.completions.create({ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'hi' }] }),
      (e) => e instanceof NotFoundError && e.error.code === 'model_not_found' && /--model-alias/.test(e.error.message));
    assert.equal(mock.requests.length, 1);
    assert.equal(modelEntry(await g.adminKeys(), 'test-key-ma03', FLASH).requests, 1);
  } finally {
    await g.cleanup();
  }
});

test('a bad --model-alias stops startup with one line naming the flag (exit code 2)', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gkm-alias-'));
  try {
    const keyFile = path.join(dir, 'key.txt');
    fs.writeFileSync(keyFile, 'test-key-ma04\n');
    const cases = [
      ['claude-sonnet-4-5', /--model-alias: 'claude-sonnet-4-5': expected FROM=TO/],
      ['=gemini-2.5-flash', /FROM is empty/],
      ['claude-*=', /TO is empty/],
      ['claude-*=gemini-*', /not a glob/],
      ['claude-*=gpt-4o', /'gpt-4o' is not a Gemini model/],
      ['claude-*=gemini 2.5', /TO: invalid model name/],
    ];
    for (const [value, re] of cases) {
      const port = await freePort();
      const r = await runBin(['--keys', keyFile, '--listen', `127.0.0.1:${port}`, '--token', 'tok',
        '--state-dir', dir, '--log-dir', dir, '--model-alias', value], { cwd: dir });
      assert.equal(r.code, 2, `${value}: exit code (stderr ${r.stderr})`);
      const errLines = lines(r.stderr);
      assert.equal(errLines.length, 1, `${value}: one line, got:\n${r.stderr}`);
      assert.match(errLines[0], /^.*--model-alias: /, errLines[0]);
      assert.match(errLines[0], re, errLines[0]);
      assert.equal(await tryConnect(port), 'refused', `${value}: nothing listens`);
    }
    // The environment's list too, named in the message.
    const port = await freePort();
    const r = await runBin(['--keys', keyFile, '--listen', `127.0.0.1:${port}`, '--token', 'tok', '--state-dir', dir, '--log-dir', dir],
      { cwd: dir, env: { GKM_MODEL_ALIASES: 'gpt-4o=gemini-2.5-flash,oops' } });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--model-alias: 'oops': expected FROM=TO .*\(from GKM_MODEL_ALIASES\)/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
