// Soft session affinity (WIRE-AGENTS E2, issue #9 item 6): a request naming a session —
// `prompt_cache_key` (OpenAI Responses and Chat Completions), Claude Code's
// `X-Claude-Code-Session-Id` header or Anthropic's `metadata.user_id` — goes to the key that
// served the session last while that key can serve, so that Gemini's implicit cache of the
// key's project keeps hitting; requests without a session keep rotating; a session whose key
// cannot serve is served by round robin and moves to the key that served it. Through the
// official openai and @anthropic-ai/sdk clients against the real binary and the mock (which
// logs the key of every upstream request).
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startMock } from '../mock/mock-gemini.mjs';
import { startProxy, keyEntry, modelEntry } from './harness.mjs';
import { client } from './openai-lib.mjs';

const Anthropic = (await import('../sdk/anthropic.mjs')).default;

const KEYS = ['test-key-sa01', 'test-key-sa02', 'test-key-sa03'];
const MODEL = 'gemini-2.5-flash';

let mock;
let proxy;
let oa;

before(async () => {
  mock = await startMock();
  proxy = await startProxy({ keys: KEYS, upstream: mock.url, token: ['test-token', 'other-token'] });
  oa = client(proxy);
});
after(async () => {
  await proxy?.cleanup();
  await mock?.close();
});
beforeEach(() => mock.reset());

function anthropic({ headers, apiKey } = {}) {
  return new Anthropic({
    apiKey: apiKey ?? proxy.token,
    baseURL: proxy.url,
    maxRetries: 0,
    timeout: 20000,
    ...(headers ? { defaultHeaders: headers } : {}),
  });
}

// The keys that answered the upstream requests for `model`, in order: [{key, status}].
const served = (model) => mock.requests.filter((e) => e.model === model).map((e) => ({ key: e.key, status: e.status }));
const okKeys = (model) => served(model).filter((s) => s.status === 200).map((s) => s.key);

async function sessionCounts() {
  const r = await proxy.request('GET', '/metrics');
  assert.equal(r.status, 200);
  const count = (result) => {
    const m = new RegExp(`^gkm_session_affinity_total\\{result="${result}"\\} (\\d+)$`, 'm').exec(r.body);
    assert.ok(m, `gkm_session_affinity_total{result="${result}"} in /metrics`);
    return Number(m[1]);
  };
  return { hit: count('hit'), moved: count('moved'), miss: count('miss') };
}

const responses = (model, session) => oa.responses.create({
  model, input: 'hi', ...(session ? { prompt_cache_key: session } : {}),
});

test('Responses: one prompt_cache_key is served by one key; without it the keys rotate', async () => {
  const model = 'sa-responses';
  const before = await sessionCounts();
  for (let i = 0; i < 6; i++) {
    const r = await responses(model, 'codex-thread-1');
    assert.equal(r.status, 'completed');
    assert.equal(r.output_text, 'ok from mock');
  }
  const sessionKeys = okKeys(model);
  assert.equal(sessionKeys.length, 6);
  assert.equal(new Set(sessionKeys).size, 1, `one key for the session: ${JSON.stringify(sessionKeys)}`);
  const after = await sessionCounts();
  assert.equal(after.miss - before.miss, 1, 'the first request knew no key');
  assert.equal(after.hit - before.hit, 5, 'the five others went to the session key');
  assert.equal(after.moved - before.moved, 0);

  mock.reset();
  for (let i = 0; i < 6; i++) assert.equal((await responses(model)).status, 'completed');
  const plain = okKeys(model);
  assert.equal(plain.length, 6);
  for (const k of KEYS) assert.equal(plain.filter((x) => x === k).length, 2, `round robin: ${JSON.stringify(plain)}`);
});

test('Responses stream and Chat Completions: the same prompt_cache_key stays on one key', async () => {
  const model = 'sa-chat';
  for (let i = 0; i < 3; i++) {
    const stream = await oa.responses.create({ model, input: 'hi', prompt_cache_key: 'shared-s', stream: true });
    let text = '';
    for await (const ev of stream) if (ev.type === 'response.output_text.delta') text += ev.delta;
    assert.equal(text, 'ok from mock');
    const c = await oa.chat.completions.create({
      model, messages: [{ role: 'user', content: 'hi' }], prompt_cache_key: 'shared-s',
    });
    assert.equal(c.choices[0].message.content, 'ok from mock');
  }
  const keys = okKeys(model);
  assert.equal(keys.length, 6);
  assert.equal(new Set(keys).size, 1, `one key for the session on both routes: ${JSON.stringify(keys)}`);
  // Nothing of the session goes to Google.
  for (const e of mock.requests.filter((x) => x.model === model)) {
    assert.ok(!e.body.includes('shared-s'), `session name upstream: ${e.body}`);
  }
});

test('Chat Completions: a prompt_cache_key that is not a string is a 400 naming it', async () => {
  const r = await proxy.request('POST', '/v1/chat/completions', {
    headers: { authorization: `Bearer ${proxy.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], prompt_cache_key: 5 }),
  });
  assert.equal(r.status, 400, r.body);
  assert.match(r.json.error.message, /prompt_cache_key/);
  assert.equal(mock.requests.length, 0);
});

test('Anthropic: metadata.user_id and the X-Claude-Code-Session-Id header each keep a session on one key', async () => {
  const model = 'sa-anthropic';
  const userId = 'user_5c1d_account_7e2a_session_0a8f2b44-9f1e-4c55-b3a8-1d2e3f405162';
  const plain = anthropic();
  for (let i = 0; i < 4; i++) {
    const m = await plain.messages.create({
      model, max_tokens: 64, metadata: { user_id: userId }, messages: [{ role: 'user', content: 'hi' }],
    });
    assert.equal(m.content[0].text, 'ok from mock');
  }
  const byUser = okKeys(model);
  assert.equal(byUser.length, 4);
  assert.equal(new Set(byUser).size, 1, `metadata.user_id: ${JSON.stringify(byUser)}`);

  mock.reset();
  const cc = anthropic({ headers: { 'X-Claude-Code-Session-Id': '9d3c1f0e-58a4-4b7e-a2c9-6e0f1b2d3c4a' } });
  for (let i = 0; i < 4; i++) {
    const stream = cc.messages.stream({ model, max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] });
    const m = await stream.finalMessage();
    assert.equal(m.content[0].text, 'ok from mock');
  }
  const byHeader = okKeys(model);
  assert.equal(byHeader.length, 4);
  assert.equal(new Set(byHeader).size, 1, `X-Claude-Code-Session-Id: ${JSON.stringify(byHeader)}`);
  assert.ok(!JSON.stringify(mock.requests.map((e) => e.headers)).includes('9d3c1f0e'), 'the header stays here');

  mock.reset();
  for (let i = 0; i < 3; i++) {
    await plain.messages.create({ model, max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] });
  }
  assert.equal(new Set(okKeys(model)).size, 3, `no session: round robin ${JSON.stringify(okKeys(model))}`);
});

test('a session whose key gets a per-minute 429 is served by another key and stays there', async () => {
  const model = 'sa-moved';
  const session = 'moving-session';
  assert.equal((await responses(model, session)).status, 'completed');
  const [first] = okKeys(model);
  assert.ok(KEYS.includes(first));

  mock.queue(first, model, 'minute');
  const before = await sessionCounts();
  const r = await responses(model, session);
  assert.equal(r.status, 'completed', 'the preference never fails a request');
  const log = served(model);
  assert.deepEqual(log.slice(1, 2), [{ key: first, status: 429 }], `the session's key first: ${JSON.stringify(log)}`);
  assert.equal(log[2].status, 200);
  const moved = log[2].key;
  assert.notEqual(moved, first);
  const after = await sessionCounts();
  assert.equal(after.moved - before.moved, 1);

  // Once the first key is usable again (a cooldown lasts to the next minute at least: the
  // admin resets it), the session still stays on the key that served it.
  const id = keyEntry(await proxy.adminKeys(), first).id;
  const reset = await proxy.request('POST', `/admin/keys/${id}/reset`, { headers: { authorization: `Bearer ${proxy.adminToken}` } });
  assert.equal(reset.status, 200, reset.body);
  assert.equal(modelEntry(await proxy.adminKeys(), first, model).state, 'ok');
  mock.reset();
  for (let i = 0; i < 4; i++) assert.equal((await responses(model, session)).status, 'completed');
  assert.deepEqual(okKeys(model), [moved, moved, moved, moved]);
});

test('a session whose key is exhausted for the day moves too', async () => {
  const model = 'sa-day';
  const user = { metadata: { user_id: 'user_day_session_1' } };
  const c = anthropic();
  const ask = () => c.messages.create({ model, max_tokens: 64, ...user, messages: [{ role: 'user', content: 'hi' }] });
  await ask();
  const [first] = okKeys(model);
  mock.setKey(first, model, 'day');
  for (let i = 0; i < 3; i++) assert.equal((await ask()).content[0].text, 'ok from mock');
  const log = served(model);
  assert.equal(log.filter((s) => s.key === first && s.status === 429).length, 1, `tried once: ${JSON.stringify(log)}`);
  const later = okKeys(model).slice(1);
  assert.equal(later.length, 3);
  assert.equal(new Set(later).size, 1, `moved to one key: ${JSON.stringify(later)}`);
  assert.notEqual(later[0], first);
});

// Plain requests (no session) on `model` until the round robin's next key is known and is
// not `avoid`; returns that next key. With every key usable the round robin is a fixed cycle.
async function nextKeyOtherThan(model, avoid) {
  mock.reset();
  for (let i = 0; i < KEYS.length; i++) assert.equal((await responses(model)).status, 'completed');
  const cycle = okKeys(model);
  assert.equal(new Set(cycle).size, KEYS.length, `a full cycle: ${JSON.stringify(cycle)}`);
  if (cycle[0] !== avoid) {
    mock.reset();
    return cycle[0];
  }
  assert.equal((await responses(model)).status, 'completed');
  mock.reset();
  return cycle[1];
}

test('different sessions, and one session name under two client tokens, are kept apart', async () => {
  const model = 'sa-two';
  await nextKeyOtherThan(model, null);
  for (let i = 0; i < 4; i++) {
    assert.equal((await responses(model, 'session-a')).status, 'completed');
    assert.equal((await responses(model, 'session-b')).status, 'completed');
  }
  const keys = okKeys(model);
  const a = keys.filter((_, i) => i % 2 === 0);
  const b = keys.filter((_, i) => i % 2 === 1);
  assert.equal(new Set(a).size, 1, JSON.stringify(keys));
  assert.equal(new Set(b).size, 1, JSON.stringify(keys));
  // Each new session took the next key of the round robin.
  assert.notEqual(a[0], b[0], `two sessions on different keys: ${JSON.stringify(keys)}`);

  const expected = await nextKeyOtherThan(model, a[0]);
  const other = client(proxy, { apiKey: 'other-token' });
  for (let i = 0; i < 3; i++) {
    assert.equal((await other.responses.create({ model, input: 'hi', prompt_cache_key: 'session-a' })).status, 'completed');
  }
  assert.deepEqual(okKeys(model), [expected, expected, expected],
    'the other token\'s "session-a" is a session of its own, started by round robin');
});

test('a session is per model: the same session name for another model starts by round robin', async () => {
  const m1 = 'sa-model-one';
  const m2 = 'sa-model-two';
  for (let i = 0; i < 3; i++) assert.equal((await responses(m1, 'per-model')).status, 'completed');
  const keys1 = okKeys(m1);
  assert.equal(new Set(keys1).size, 1);
  const expected = await nextKeyOtherThan(m2, keys1[0]);
  for (let i = 0; i < 3; i++) assert.equal((await responses(m2, 'per-model')).status, 'completed');
  assert.deepEqual(okKeys(m2), [expected, expected, expected]);
});
