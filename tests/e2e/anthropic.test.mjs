// The Anthropic Messages surface (SPEC 3.6, WIRE-AGENTS D) through the official
// `@anthropic-ai/sdk` npm package (pinned in tests/sdk/package.json), against the mock:
// whole answers and streams, a multi-turn tool loop on a Gemini 3 model whose mock refuses a
// history without the signatures it issued, thinking with its signature, count_tokens with
// system and tools, the 503s as the SDK sees them, and a replayed request shaped like Claude
// Code's, each checked against what the mock received.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startMock } from '../mock/mock-gemini.mjs';
import { startProxy, rawRequest } from './harness.mjs';
import { bodiesOf, rawSse } from './openai-lib.mjs';

// scripts/install-deps.sh --test installs the SDK; its absence is a failure, not a skip.
const sdk = await import('../sdk/anthropic.mjs');
const Anthropic = sdk.default;

const KEY = 'test-key-an01';
const FLASH = 'gemini-2.5-flash';
const G3 = 'gemini-3-pro-preview';
const SKIP = 'skip_thought_signature_validator';

let mock;
let proxy;

before(async () => {
  mock = await startMock();
  proxy = await startProxy({ keys: [KEY], upstream: mock.url });
});
after(async () => {
  await proxy?.cleanup();
  await mock?.close();
});
beforeEach(() => {
  mock.reset();
});

// A client of the proxy: the client token as ANTHROPIC_API_KEY (x-api-key) or, with
// `bearer`, as ANTHROPIC_AUTH_TOKEN. `counter` counts the HTTP requests the SDK made.
function client({ maxRetries = 0, prefix = '', apiKey, bearer = false, counter } = {}) {
  const fetchImpl = counter
    ? async (url, init) => {
      counter.calls.push({ url: String(url), at: Date.now() });
      return fetch(url, init);
    }
    : undefined;
  return new Anthropic({
    ...(bearer ? { authToken: apiKey ?? proxy.token, apiKey: null } : { apiKey: apiKey ?? proxy.token }),
    baseURL: proxy.url + prefix,
    maxRetries,
    timeout: 20000,
    ...(fetchImpl ? { fetch: fetchImpl } : {}),
  });
}

// A header of an SDK error, whether the SDK keeps them as a Headers object or a plain one.
const header = (e, name) => (typeof e.headers?.get === 'function' ? e.headers.get(name) : e.headers?.[name]) ?? null;

const path = (model, method) => new RegExp(`^/v1beta/models/${model.replace(/\./g, '\\.')}:${method}`);

const WEATHER_TOOLS = [
  {
    name: 'get_weather',
    description: 'Weather for a city',
    input_schema: {
      type: 'object',
      properties: { city: { type: 'string' } },
      required: ['city'],
      additionalProperties: false,
      $schema: 'http://json-schema.org/draft-07/schema#',
    },
  },
  { name: 'get_time', description: 'The time', input_schema: { type: 'object', properties: {} } },
];

test('messages.create: a whole answer in Anthropic shape, the model name passed through', async () => {
  const an = client();
  const msg = await an.messages.create({
    model: FLASH, max_tokens: 100, system: 'Be brief.', messages: [{ role: 'user', content: 'hi' }],
  });
  assert.equal(msg.type, 'message');
  assert.equal(msg.role, 'assistant');
  assert.equal(msg.model, FLASH);
  assert.match(msg.id, /^msg_/);
  assert.deepEqual(msg.content, [{ type: 'text', text: 'ok from mock' }]);
  assert.equal(msg.stop_reason, 'end_turn');
  assert.equal(msg.stop_sequence, null);
  // The mock: prompt 3, candidates 2, thoughts 5.
  assert.deepEqual(msg.usage, { input_tokens: 3, output_tokens: 7, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 });
  const [body] = bodiesOf(mock, path(FLASH, 'generateContent'));
  assert.deepEqual(body.systemInstruction, { parts: [{ text: 'Be brief.' }] });
  assert.deepEqual(body.contents, [{ role: 'user', parts: [{ text: 'hi' }] }]);
  assert.equal(body.generationConfig.maxOutputTokens, 100);
});

test('messages.stream: the D5 event sequence, finalMessage assembled by the SDK', async () => {
  const an = client();
  const events = [];
  const stream = an.messages.stream({ model: FLASH, max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] });
  stream.on('streamEvent', (e) => events.push(e.type));
  const msg = await stream.finalMessage();
  assert.deepEqual(msg.content, [{ type: 'text', text: 'ok from mock', ...(msg.content[0].citations !== undefined ? { citations: msg.content[0].citations } : {}) }]);
  assert.equal(msg.stop_reason, 'end_turn');
  assert.equal(msg.usage.output_tokens, 7);
  assert.equal(msg.usage.input_tokens, 3);
  assert.equal(events[0], 'message_start');
  assert.equal(events.at(-1), 'message_stop');
  assert.equal(events.at(-2), 'message_delta');
  assert.ok(events.includes('content_block_start') && events.includes('content_block_stop'), events.join(','));
  assert.equal(events.filter((t) => t === 'content_block_delta').length, 3, events.join(','));
  const entry = mock.requests.find((e) => path(FLASH, 'streamGenerateContent').test(e.path));
  assert.equal(entry.query.alt, 'sse');
});

test('the wire: event names, x-api-key accepted, ?beta=true and /anthropic accepted', async () => {
  for (const p of ['/v1/messages?beta=true', '/anthropic/v1/messages', '/anthropic/v1/messages?beta=true']) {
    const r = await rawRequest(proxy.port, 'POST', p, {
      headers: { 'x-api-key': proxy.token, 'anthropic-version': '2023-06-01' },
      body: { model: FLASH, max_tokens: 10, stream: true, messages: [{ role: 'user', content: 'hi' }] },
    });
    assert.equal(r.status, 200, `${p}: ${r.body}`);
    assert.match(r.headers['content-type'], /^text\/event-stream/);
    const names = [...r.body.matchAll(/^event: (\S+)\ndata: /gm)].map((m) => m[1]);
    assert.deepEqual(names, ['message_start', 'ping', 'content_block_start', 'content_block_delta', 'content_block_delta',
      'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop'], p);
  }
});

test('auth: Bearer (ANTHROPIC_AUTH_TOKEN) works; a wrong token is a 401 authentication_error', async () => {
  const ok = await client({ bearer: true, prefix: '/anthropic' }).messages.create({
    model: FLASH, max_tokens: 10, messages: [{ role: 'user', content: 'hi' }],
  });
  assert.equal(ok.content[0].text, 'ok from mock');
  await assert.rejects(
    client({ apiKey: 'wrong-token' }).messages.create({ model: FLASH, max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }),
    (e) => {
      assert.ok(e instanceof Anthropic.AuthenticationError, e.constructor.name);
      assert.equal(e.status, 401);
      assert.equal(e.error.type, 'error');
      assert.equal(e.error.error.type, 'authentication_error');
      return true;
    });
  assert.equal(mock.requests.length, 1);
});

test('errors: a bad body is a 400 naming the field, a name Gemini cannot serve a 404', async () => {
  const an = client();
  await assert.rejects(an.messages.create({ model: FLASH, max_tokens: 10, stop_sequences: ['a', 'b', 'c', 'd', 'e', 'f'], messages: [{ role: 'user', content: 'hi' }] }),
    (e) => {
      assert.ok(e instanceof Anthropic.BadRequestError, e.constructor.name);
      assert.equal(e.error.error.type, 'invalid_request_error');
      assert.match(e.error.error.message, /^stop_sequences: at most 5/);
      return true;
    });
  await assert.rejects(an.messages.create({ model: 'claude sonnet 4', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }),
    (e) => {
      assert.ok(e instanceof Anthropic.NotFoundError, e.constructor.name);
      assert.equal(e.error.error.type, 'not_found_error');
      return true;
    });
  assert.equal(mock.requests.length, 0);
  // Google's 404 for a model it does not have comes back in Anthropic's shape.
  mock.queue(KEY, '*', 'notfound');
  await assert.rejects(an.messages.create({ model: 'gemini-9-nonexistent', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }),
    (e) => e instanceof Anthropic.NotFoundError && e.error.error.type === 'not_found_error');
});

test('edges: other /anthropic paths, oversized and broken bodies, x-api-key only on these routes', async () => {
  const h = { 'x-api-key': proxy.token, 'content-type': 'application/json' };
  const nf = await rawRequest(proxy.port, 'POST', '/anthropic/v1/complete', { headers: h, body: '{}' });
  assert.equal(nf.status, 404);
  assert.equal(nf.json.error.type, 'not_found_error');
  const bad = await rawRequest(proxy.port, 'POST', '/v1/messages', { headers: h, body: '{"model":' });
  assert.equal(bad.status, 400);
  assert.deepEqual(Object.keys(bad.json).sort(), ['error', 'request_id', 'type']);
  assert.equal(bad.json.error.type, 'invalid_request_error');
  assert.match(bad.json.error.message, /not valid JSON/);
  const noAuth = await rawRequest(proxy.port, 'POST', '/v1/messages/count_tokens', { headers: { 'content-type': 'application/json' }, body: '{}' });
  assert.equal(noAuth.status, 401);
  assert.equal(noAuth.json.error.type, 'authentication_error');
  // x-api-key is the Anthropic routes' own: the native API does not take it.
  const native = await rawRequest(proxy.port, 'GET', '/v1beta/models', { headers: { 'x-api-key': proxy.token } });
  assert.equal(native.status, 401);
  assert.equal(native.json.error.status, 'UNAUTHENTICATED');
  assert.equal(mock.requests.length, 0);

  const small = await startProxy({ keys: [KEY], upstream: mock.url, args: ['--max-body-bytes', '1000'] });
  try {
    const big = await rawRequest(small.port, 'POST', '/v1/messages', {
      headers: { 'x-api-key': small.token, 'content-type': 'application/json' },
      body: JSON.stringify({ model: FLASH, max_tokens: 1, messages: [{ role: 'user', content: 'x'.repeat(2000) }] }),
    });
    assert.equal(big.status, 413);
    assert.equal(big.json.type, 'error');
    assert.equal(big.json.error.type, 'request_too_large');
  } finally {
    await small.cleanup();
  }
});

// One turn of the loop: the assistant's content as the SDK assembled it.
async function streamTurn(an, params) {
  const events = [];
  const stream = an.messages.stream(params);
  stream.on('streamEvent', (e) => events.push(e));
  const msg = await stream.finalMessage();
  return { msg, events };
}

function toolResults(msg, results) {
  return msg.content.filter((b) => b.type === 'tool_use').map((b) => ({
    type: 'tool_result', tool_use_id: b.id, content: results[b.name] ?? 'done',
  }));
}

test('tool loop on Gemini 3: parallel calls, signatures back from what the SDK keeps', async () => {
  const an = client();
  mock.queue(KEY, G3, {
    type: 'toolcall', thought: 'I need both.', text: 'Checking.',
    calls: [{ name: 'get_weather', args: { city: 'Paris' } }, { name: 'get_time', args: {} }],
  }, {
    type: 'toolcall', calls: [{ name: 'get_weather', args: { city: 'Rome' } }],
  });
  const messages = [{ role: 'user', content: 'Weather and time in Paris, then Rome?' }];
  const params = () => ({ model: G3, max_tokens: 4096, tools: WEATHER_TOOLS, thinking: { type: 'enabled', budget_tokens: 2048 }, messages });

  // Turn 1 (streamed, as Claude Code does): thought, text, two parallel calls.
  const t1 = await streamTurn(an, params());
  assert.equal(t1.msg.stop_reason, 'tool_use');
  assert.deepEqual(t1.msg.content.map((b) => b.type), ['thinking', 'text', 'tool_use', 'tool_use']);
  assert.equal(t1.msg.content[0].thinking, 'I need both.');
  const uses = t1.msg.content.filter((b) => b.type === 'tool_use');
  assert.deepEqual(uses.map((b) => [b.name, b.input]), [['get_weather', { city: 'Paris' }], ['get_time', {}]]);
  for (const b of uses) assert.match(b.id, /^toolu_[a-zA-Z0-9_-]+$/);
  assert.ok(t1.events.some((e) => e.type === 'content_block_delta' && e.delta.type === 'input_json_delta'));
  messages.push({ role: 'assistant', content: t1.msg.content });
  messages.push({ role: 'user', content: toolResults(t1.msg, { get_weather: 'sunny', get_time: 'noon' }) });

  // Turn 2 (whole): the mock checks the signature it issued; a new call.
  const m2 = await an.messages.create(params());
  assert.equal(m2.stop_reason, 'tool_use');
  const e2 = mock.requests.filter((e) => e.model === G3).at(-1);
  assert.equal(e2.status, 200);
  assert.equal(e2.signatures, 'ok');
  const b2 = JSON.parse(e2.body);
  const model1 = b2.contents[1];
  assert.equal(model1.role, 'model');
  const calls1 = model1.parts.filter((p) => p.functionCall);
  assert.equal(calls1.length, 2);
  assert.ok(mock.signatures.has(calls1[0].thoughtSignature), 'first call carries the issued signature');
  assert.equal(calls1[1].thoughtSignature, undefined, 'the parallel call carried none and gets none');
  // The results: one user content, in call order.
  assert.deepEqual(b2.contents[2], { role: 'user', parts: [
    { functionResponse: { name: 'get_weather', response: { output: 'sunny' } } },
    { functionResponse: { name: 'get_time', response: { output: 'noon' } } },
  ] });
  messages.push({ role: 'assistant', content: m2.content });
  messages.push({ role: 'user', content: toolResults(m2, { get_weather: 'rain' }) });

  // Turn 3: both earlier calls' signatures are sent back; the mock answers text.
  const t3 = await streamTurn(an, params());
  assert.equal(t3.msg.stop_reason, 'end_turn');
  const e3 = mock.requests.filter((e) => e.model === G3).at(-1);
  assert.equal(e3.signatures, 'ok');
  const sent = JSON.parse(e3.body).contents.filter((c) => c.role === 'model')
    .map((c) => c.parts.find((p) => p.functionCall).thoughtSignature);
  assert.equal(sent.length, 2);
  for (const s of sent) assert.ok(mock.signatures.has(s));
});

test('a client that drops thinking blocks, or even our ids, still gets 200', async () => {
  const an = client();
  mock.queue(KEY, G3, { type: 'toolcall', thought: 'hmm', calls: [{ name: 'get_time', args: {} }] });
  const first = await an.messages.create({ model: G3, max_tokens: 1000, tools: WEATHER_TOOLS, messages: [{ role: 'user', content: 'time?' }] });
  const use = first.content.find((b) => b.type === 'tool_use');
  // Without thinking blocks: the call's signature still rides in its id.
  const noThinking = first.content.filter((b) => b.type !== 'thinking');
  const second = await an.messages.create({ model: G3, max_tokens: 1000, tools: WEATHER_TOOLS, messages: [
    { role: 'user', content: 'time?' }, { role: 'assistant', content: noThinking },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'noon' }] }] });
  assert.equal(second.content[0].text, 'ok from mock');
  assert.equal(mock.requests.at(-1).signatures, 'ok');
  // With ids of its own (a client that rewrote them): Google's bypass value, not a 400.
  const rewritten = noThinking.map((b) => (b.type === 'tool_use' ? { ...b, id: 'toolu_01RewrittenId' } : b));
  const third = await an.messages.create({ model: G3, max_tokens: 1000, tools: WEATHER_TOOLS, messages: [
    { role: 'user', content: 'time?' }, { role: 'assistant', content: rewritten },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_01RewrittenId', content: 'noon' }] }] });
  assert.equal(third.content[0].text, 'ok from mock');
  const last = mock.requests.at(-1);
  assert.equal(last.signatures, 'bypass');
  assert.equal(JSON.parse(last.body).contents[1].parts.find((p) => p.functionCall).thoughtSignature, SKIP);
});

test('thinking on: thinking_delta and one signature_delta, budget sent, signature back next turn', async () => {
  const an = client();
  mock.queue(KEY, FLASH, rawSse([
    { candidates: [{ content: { role: 'model', parts: [{ text: 'Weighing it', thought: true }] }, index: 0 }], usageMetadata: { promptTokenCount: 5, thoughtsTokenCount: 3 } },
    { candidates: [{ content: { role: 'model', parts: [{ text: ' up.', thought: true, thoughtSignature: 'VGhvdWdodFNpZw==' }] }, index: 0 }] },
    { candidates: [{ content: { role: 'model', parts: [{ text: 'Forty-two.', thoughtSignature: 'VGV4dFNpZw==' }] }, finishReason: 'STOP', index: 0 }],
      usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 4, thoughtsTokenCount: 6, totalTokenCount: 15 } },
  ]));
  const { msg, events } = await streamTurn(an, {
    model: FLASH, max_tokens: 8000, thinking: { type: 'enabled', budget_tokens: 2048 },
    messages: [{ role: 'user', content: 'The answer?' }],
  });
  const deltas = events.filter((e) => e.type === 'content_block_delta').map((e) => e.delta.type);
  assert.ok(deltas.includes('thinking_delta'), deltas.join(','));
  const thinkingBlock = events.find((e) => e.type === 'content_block_start' && e.content_block.type === 'thinking').index;
  const ofFirst = events.filter((e) => e.index === thinkingBlock).map((e) => e.type === 'content_block_delta' ? e.delta.type : e.type);
  assert.deepEqual(ofFirst, ['content_block_start', 'thinking_delta', 'thinking_delta', 'signature_delta', 'content_block_stop']);
  assert.equal(msg.content[0].type, 'thinking');
  assert.equal(msg.content[0].thinking, 'Weighing it up.');
  assert.match(msg.content[0].signature, /^gs1\./);
  assert.deepEqual(msg.content[1], { ...msg.content[1], type: 'text', text: 'Forty-two.' });
  assert.equal(msg.usage.output_tokens, 10);
  const [body] = bodiesOf(mock, path(FLASH, 'streamGenerateContent'));
  assert.deepEqual(body.generationConfig.thinkingConfig, { includeThoughts: true, thinkingBudget: 2048 });

  // Next turn: both signatures go back on their own parts.
  await an.messages.create({ model: FLASH, max_tokens: 100, messages: [
    { role: 'user', content: 'The answer?' }, { role: 'assistant', content: msg.content }, { role: 'user', content: 'Sure?' }] });
  const next = JSON.parse(mock.requests.at(-1).body);
  assert.deepEqual(next.contents[1], { role: 'model', parts: [
    { text: 'Weighing it up.', thought: true, thoughtSignature: 'VGhvdWdodFNpZw==' },
    { text: 'Forty-two.', thoughtSignature: 'VGV4dFNpZw==' },
  ] });
});

test('count_tokens: through countTokens, with the system prompt and the tools', async () => {
  const an = client();
  const r = await an.messages.countTokens({
    model: FLASH, system: [{ type: 'text', text: 'You are helpful.', cache_control: { type: 'ephemeral' } }],
    tools: WEATHER_TOOLS, messages: [{ role: 'user', content: 'hi' }],
  });
  assert.deepEqual(r, { input_tokens: 31 });
  const [body] = bodiesOf(mock, path(FLASH, 'countTokens'));
  const g = body.generateContentRequest;
  assert.equal(g.model, `models/${FLASH}`);
  assert.deepEqual(g.systemInstruction, { parts: [{ text: 'You are helpful.' }] });
  assert.deepEqual(g.tools[0].functionDeclarations.map((d) => d.name), ['get_weather', 'get_time']);
  assert.deepEqual(g.tools[0].functionDeclarations[0].parametersJsonSchema, WEATHER_TOOLS[0].input_schema);
  assert.deepEqual(g.contents, [{ role: 'user', parts: [{ text: 'hi' }] }]);
  // The same count again within a minute (Claude Code asks many times): answered from the
  // short cache; another one goes to Gemini.
  const again = await an.messages.countTokens({
    model: FLASH, system: [{ type: 'text', text: 'You are helpful.', cache_control: { type: 'ephemeral' } }],
    tools: WEATHER_TOOLS, messages: [{ role: 'user', content: 'hi' }],
  });
  assert.deepEqual(again, { input_tokens: 31 });
  assert.equal(bodiesOf(mock, path(FLASH, 'countTokens')).length, 1);
  await an.messages.countTokens({ model: FLASH, messages: [{ role: 'user', content: 'hello' }] });
  assert.equal(bodiesOf(mock, path(FLASH, 'countTokens')).length, 2);
});

test('503 on a day-long wait: overloaded_error, x-should-retry false, the SDK does not retry', async () => {
  mock.setKey(KEY, 'gemini-2.0-flash', 'day');
  const counter = { calls: [] };
  const an = client({ maxRetries: 3, counter });
  await assert.rejects(an.messages.create({ model: 'gemini-2.0-flash', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }),
    (e) => {
      assert.equal(e.status, 503);
      assert.equal(e.error.error.type, 'overloaded_error');
      assert.match(e.error.error.message, /exhausted/);
      assert.equal(header(e, 'x-should-retry'), 'false');
      const ra = Number(header(e, 'retry-after'));
      assert.ok(ra > 60, `retry-after ${ra}`);
      return true;
    });
  assert.equal(counter.calls.length, 1, 'the SDK made one request');
  assert.equal(mock.requests.length, 1, 'one upstream attempt');
  // Again: the key is known exhausted, nothing goes upstream, still one SDK request.
  await assert.rejects(an.messages.create({ model: 'gemini-2.0-flash', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }),
    (e) => e.status === 503);
  assert.equal(counter.calls.length, 2);
  assert.equal(mock.requests.length, 1);
});

test('429 upstream: the proxy moves to another key, the SDK sees a plain 200', async () => {
  const two = await startProxy({ keys: ['test-key-an02', 'test-key-an03'], upstream: mock.url });
  try {
    mock.queue('*', 'gemini-2.5-pro', 'minute');
    const counter = { calls: [] };
    const an = new Anthropic({ apiKey: two.token, baseURL: two.url, maxRetries: 2, fetch: async (u, i) => { counter.calls.push(u); return fetch(u, i); } });
    const msg = await an.messages.create({ model: 'gemini-2.5-pro', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(msg.content[0].text, 'ok from mock');
    assert.equal(counter.calls.length, 1);
    assert.deepEqual(mock.requests.map((e) => e.status), [429, 200]);
    assert.notEqual(mock.requests[0].key, mock.requests[1].key);
  } finally {
    await two.cleanup();
  }
});

test('503 on a short wait: Retry-After the SDK honours, then its retry succeeds', async () => {
  const model = 'gemini-2.5-flash-lite';
  mock.queue(KEY, model, 'overloaded');  // transient: the only key cools for 1 s
  const counter = { calls: [] };
  const an = client({ maxRetries: 2, counter });
  const msg = await an.messages.create({ model, max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(msg.content[0].text, 'ok from mock');
  assert.equal(counter.calls.length, 2, 'one retry');
  assert.ok(counter.calls[1].at - counter.calls[0].at >= 900, 'after the Retry-After');
  assert.deepEqual(mock.requests.map((e) => e.status), [503, 200]);
  // With retries off the SDK surfaces the 503 as it came.
  mock.queue(KEY, model, 'overloaded');
  await assert.rejects(client().messages.create({ model, max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }),
    (e) => {
      assert.ok(e instanceof Anthropic.InternalServerError, e.constructor.name);
      assert.equal(e.status, 503);
      assert.equal(e.error.error.type, 'overloaded_error');
      assert.equal(header(e, 'retry-after'), '1');
      assert.equal(header(e, 'x-should-retry'), null);
      return true;
    });
});

test('a stream that breaks mid-way ends in an error event the SDK throws', async () => {
  mock.queue(KEY, FLASH, { type: 'cutstream', events: 1, intervalMs: 10 });
  const stream = client().messages.stream({ model: FLASH, max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] });
  await assert.rejects(stream.finalMessage(), (e) => {
    assert.match(String(e.message), /broke off/);
    return true;
  });
});

// A request as Claude Code sends it (captures of 2.x): streamed, ?beta=true, its headers,
// system blocks with cache_control and the per-request billing block, tools with
// cache_control, metadata.user_id; then the next turn with the tool result.
test('a replayed Claude Code request reaches Gemini clean, and its tool turn validates', async () => {
  const model = G3;
  mock.queue(KEY, model, { type: 'toolcall', thought: 'Look first.', text: "I'll list the files.", calls: [{ name: 'Bash', args: { command: 'ls', description: 'List files' } }] });
  const headers = {
    'x-api-key': proxy.token,
    'anthropic-version': '2023-06-01',
    'anthropic-beta': 'claude-code-20250219,interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14',
    'anthropic-dangerous-direct-browser-access': 'true',
    'x-app': 'cli',
    'user-agent': 'claude-cli/2.0.14 (external, cli)',
    'x-claude-code-session-id': '5c1d9f4e-8a7b-4c3d-9e2f-1a2b3c4d5e6f',
    'x-stainless-lang': 'js',
  };
  const BASH_SCHEMA = {
    type: 'object',
    properties: {
      command: { type: 'string', description: 'The command to execute' },
      timeout: { type: 'number', description: 'Optional timeout in milliseconds (max 600000)' },
      description: { type: 'string' },
      run_in_background: { type: 'boolean' },
    },
    required: ['command'],
    additionalProperties: false,
    $schema: 'http://json-schema.org/draft-07/schema#',
  };
  const tools = [
    { name: 'Bash', description: 'Executes a given bash command', input_schema: BASH_SCHEMA },
    { name: 'Read', description: 'Reads a file', input_schema: { type: 'object', properties: { file_path: { type: 'string' } }, required: ['file_path'], additionalProperties: false, $schema: 'http://json-schema.org/draft-07/schema#' }, cache_control: { type: 'ephemeral' } },
  ];
  const system = [
    { type: 'text', text: 'x-anthropic-billing-header: cc_version=2.0.14.a1b; cc_entrypoint=cli' },
    { type: 'text', text: "You are Claude Code, Anthropic's official CLI for Claude.", cache_control: { type: 'ephemeral' } },
    { type: 'text', text: 'You are an interactive CLI tool that helps users with software engineering tasks.', cache_control: { type: 'ephemeral' } },
  ];
  const first = [{ role: 'user', content: [
    { type: 'text', text: '<system-reminder>\nAs you answer the user\'s questions, you can use the following context.\n</system-reminder>' },
    { type: 'text', text: 'what is in this directory?', cache_control: { type: 'ephemeral' } },
  ] }];
  const body = (messages) => ({
    model, max_tokens: 32000, stream: true, temperature: 1, system, tools, messages,
    thinking: { type: 'enabled', budget_tokens: 31999 },
    metadata: { user_id: 'user_3f2a_account_9c1b_session_5c1d9f4e-8a7b-4c3d-9e2f-1a2b3c4d5e6f' },
    context_management: { edits: [{ type: 'clear_thinking_20251015', keep: 'all' }] },
  });
  const r1 = await rawRequest(proxy.port, 'POST', '/v1/messages?beta=true', { headers, body: body(first) });
  assert.equal(r1.status, 200, r1.body);
  const e1 = mock.requests.at(-1);
  assert.equal(e1.path, `/v1beta/models/${model}:streamGenerateContent`);
  assert.deepEqual(e1.query, { alt: 'sse' });
  for (const h of ['anthropic-version', 'anthropic-beta', 'x-claude-code-session-id', 'x-api-key', 'anthropic-dangerous-direct-browser-access', 'x-app', 'authorization']) {
    assert.equal(e1.headers[h], undefined, `${h} went upstream`);
  }
  assert.ok(!JSON.stringify(e1.headers).includes(proxy.token));
  const g1 = JSON.parse(e1.body);
  assert.deepEqual(g1.systemInstruction, { parts: [
    { text: "You are Claude Code, Anthropic's official CLI for Claude." },
    { text: 'You are an interactive CLI tool that helps users with software engineering tasks.' },
  ] });
  assert.deepEqual(g1.tools, [{ functionDeclarations: [
    { name: 'Bash', description: 'Executes a given bash command', parametersJsonSchema: BASH_SCHEMA },
    { name: 'Read', description: 'Reads a file', parametersJsonSchema: tools[1].input_schema },
  ] }]);
  assert.deepEqual(g1.contents, [{ role: 'user', parts: [{ text: first[0].content[0].text }, { text: 'what is in this directory?' }] }]);
  assert.deepEqual(g1.generationConfig, { maxOutputTokens: 32000, temperature: 1, thinkingConfig: { includeThoughts: true, thinkingBudget: 31999 } });
  for (const k of ['metadata', 'context_management', 'cache_control']) assert.ok(!e1.body.includes(k), `${k} went upstream`);

  // The client rebuilds the assistant turn from the events, as the SDK does.
  const blocks = [];
  for (const m of r1.body.matchAll(/^event: (\S+)\ndata: (.*)$/gm)) {
    const d = JSON.parse(m[2]);
    if (d.type === 'content_block_start') blocks[d.index] = { ...d.content_block, _json: '' };
    if (d.type === 'content_block_delta') {
      const b = blocks[d.index];
      if (d.delta.type === 'text_delta') b.text += d.delta.text;
      if (d.delta.type === 'thinking_delta') b.thinking += d.delta.thinking;
      if (d.delta.type === 'signature_delta') b.signature = d.delta.signature;
      if (d.delta.type === 'input_json_delta') b._json += d.delta.partial_json;
    }
  }
  const content = blocks.map(({ _json, ...b }) => (b.type === 'tool_use' ? { ...b, input: JSON.parse(_json) } : b));
  assert.deepEqual(content.map((b) => b.type), ['thinking', 'text', 'tool_use']);
  const use = content[2];
  assert.deepEqual(use.input, { command: 'ls', description: 'List files' });

  const second = [...first, { role: 'assistant', content }, { role: 'user', content: [
    { type: 'tool_result', tool_use_id: use.id, content: 'README.md\nsrc', cache_control: { type: 'ephemeral' } },
  ] }];
  const r2 = await rawRequest(proxy.port, 'POST', '/v1/messages?beta=true', { headers, body: body(second) });
  assert.equal(r2.status, 200, r2.body);
  const said = [...r2.body.matchAll(/"text_delta","text":"([^"]*)"/g)].map((m) => m[1]).join('');
  assert.equal(said, 'ok from mock');
  assert.match(r2.body, /"stop_reason":"end_turn"/);
  const e2 = mock.requests.at(-1);
  assert.equal(e2.signatures, 'ok');
  const g2 = JSON.parse(e2.body);
  assert.deepEqual(g2.contents.slice(1), [
    { role: 'model', parts: [
      { text: 'Look first.', thought: true },
      { text: "I'll list the files." },
      { functionCall: { name: 'Bash', args: { command: 'ls', description: 'List files' } }, thoughtSignature: g2.contents[1].parts[2].thoughtSignature },
    ] },
    { role: 'user', parts: [{ functionResponse: { name: 'Bash', response: { output: 'README.md\nsrc' } } }] },
  ]);
  assert.ok(mock.signatures.has(g2.contents[1].parts[2].thoughtSignature));

  // count_tokens as Claude Code calls it (no metadata, ?beta=true).
  const c = await rawRequest(proxy.port, 'POST', '/v1/messages/count_tokens?beta=true', {
    headers, body: { model, system, tools, messages: second },
  });
  assert.equal(c.status, 200, c.body);
  assert.deepEqual(c.json, { input_tokens: 31 });
});
