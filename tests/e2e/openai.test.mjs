// The official `openai` npm SDK against the proxy in --openai-mode translate (the default) and
// the project's Gemini mock: what the SDK gets back (SPEC 3.4, WIRE B) and the translated
// Gemini request the mock received (WIRE C).
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startMock, MODELS } from '../mock/mock-gemini.mjs';
import { startProxy, eventually, modelEntry, parseSse, assertNoKeys, responseText } from './harness.mjs';
import { client, bodiesOf, rawJson, rawSse, assertUpstreamClean, PNG_1x1 } from './openai-lib.mjs';

const KEYS = ['test-key-oa01', 'test-key-oa02', 'test-key-oa03'];
const MODEL = 'gemini-2.5-flash';
const EMBED = 'gemini-embedding-001';
const SIG = 'CmQBcsjafQk3Zb2mOckSignatureForTestsOnly0123456789abcdefABCDEF+/w==';

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

const genPath = new RegExp(`^/v1beta/models/${MODEL.replace(/\./g, '\\.')}:generateContent$`);
const streamPath = new RegExp(`^/v1beta/models/${MODEL.replace(/\./g, '\\.')}:streamGenerateContent$`);

test('chat non-stream: content, usage from usageMetadata, translated request', { timeout: 20000 }, async () => {
  const r = await oa.chat.completions.create({
    model: MODEL,
    messages: [
      { role: 'system', content: 'You are terse.' },
      { role: 'developer', content: 'Answer in English.' },
      { role: 'user', content: 'Say hi' },
      { role: 'user', content: [{ type: 'text', text: 'and more' }] },
    ],
    temperature: 0.3,
    top_p: 0.9,
    max_tokens: 100,
    stop: 'END',
    seed: 7,
    presence_penalty: 0.5,
    frequency_penalty: 0.25,
    reasoning_effort: 'low',
  });
  assert.equal(r.object, 'chat.completion');
  assert.match(r.id, /^chatcmpl-/);
  assert.equal(typeof r.created, 'number');
  assert.ok(Math.abs(r.created - Date.now() / 1000) < 60, `created ${r.created}`);
  assert.equal(r.model, MODEL);
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].index, 0);
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(r.choices[0].message.content, 'ok from mock');
  assert.equal(r.choices[0].finish_reason, 'stop');
  // okGenerate: prompt 3, candidates 2, thoughts 5, total 10.
  assert.equal(r.usage.prompt_tokens, 3);
  assert.equal(r.usage.completion_tokens, 7);
  assert.equal(r.usage.total_tokens, 10);
  assert.equal(r.usage.completion_tokens_details.reasoning_tokens, 5);

  assert.equal(mock.requests.length, 1);
  const e = mock.requests[0];
  assert.match(e.path, genPath);
  const b = JSON.parse(e.body);
  assert.deepEqual(b.systemInstruction.parts, [{ text: 'You are terse.' }, { text: 'Answer in English.' }]);
  // The two consecutive user messages are merged into one content.
  assert.equal(b.contents.length, 1);
  assert.equal(b.contents[0].role, 'user');
  assert.deepEqual(b.contents[0].parts, [{ text: 'Say hi' }, { text: 'and more' }]);
  const g = b.generationConfig;
  assert.equal(g.temperature, 0.3);
  assert.equal(g.topP, 0.9);
  assert.equal(g.maxOutputTokens, 100);
  assert.deepEqual(g.stopSequences, ['END']);
  assert.equal(g.seed, 7);
  assert.equal(g.presencePenalty, 0.5);
  assert.equal(g.frequencyPenalty, 0.25);
  assert.equal(g.thinkingConfig.thinkingBudget, 1024);
  assertUpstreamClean(mock, KEYS, proxy.token);
});

test('chat stream with for await: one id and created, role chunk first, finish chunk, no usage', { timeout: 20000 }, async () => {
  const stream = await oa.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Say hi' }], stream: true });
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  assert.ok(chunks.length >= 3, `${chunks.length} chunks`);
  const ids = new Set(chunks.map((c) => c.id));
  const created = new Set(chunks.map((c) => c.created));
  assert.equal(ids.size, 1, `ids ${[...ids]}`);
  assert.match([...ids][0], /^chatcmpl-/);
  assert.equal(created.size, 1);
  for (const c of chunks) {
    assert.equal(c.object, 'chat.completion.chunk');
    assert.equal(c.model, MODEL);
    assert.ok(c.usage === undefined || c.usage === null, `usage without include_usage: ${JSON.stringify(c)}`);
  }
  assert.equal(chunks[0].choices[0].delta.role, 'assistant');
  const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
  assert.equal(text, 'ok from mock');
  const last = chunks.at(-1);
  assert.equal(last.choices.length, 1);
  assert.equal(last.choices[0].finish_reason, 'stop');
  assert.ok(!last.choices[0].delta.content, 'finish chunk carries no content');
  for (const c of chunks.slice(0, -1)) assert.ok(!c.choices[0].finish_reason, 'only the last chunk finishes');

  assert.equal(mock.requests.length, 1);
  assert.match(mock.requests[0].path, streamPath);
  assert.equal(mock.requests[0].query.alt, 'sse');
  assertUpstreamClean(mock, KEYS, proxy.token);
});

test('chat stream with include_usage: a last chunk with choices [] and the usage', { timeout: 20000 }, async () => {
  const stream = await oa.chat.completions.create({
    model: MODEL, messages: [{ role: 'user', content: 'Say hi' }], stream: true, stream_options: { include_usage: true },
  });
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  assert.equal(new Set(chunks.map((c) => c.id)).size, 1);
  assert.equal(new Set(chunks.map((c) => c.created)).size, 1);
  const withUsage = chunks.filter((c) => c.usage);
  assert.equal(withUsage.length, 1, 'exactly one usage chunk');
  const last = chunks.at(-1);
  assert.equal(last, withUsage[0], 'the usage chunk is the last');
  assert.deepEqual(last.choices, []);
  assert.equal(last.usage.prompt_tokens, 3);
  assert.equal(last.usage.completion_tokens, 7);
  assert.equal(last.usage.total_tokens, 10);
  assert.equal(last.usage.completion_tokens_details.reasoning_tokens, 5);
  const fin = chunks.at(-2);
  assert.equal(fin.choices[0].finish_reason, 'stop');
  assert.equal(chunks[0].choices[0].delta.role, 'assistant');
  assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), 'ok from mock');
});

test('chat stream on the wire: text/event-stream, data events, [DONE] last', { timeout: 20000 }, async () => {
  const r = await proxy.request('POST', '/v1/chat/completions', {
    headers: { authorization: `Bearer ${proxy.token}` },
    body: { model: MODEL, messages: [{ role: 'user', content: 'Say hi' }], stream: true, stream_options: { include_usage: true } },
  });
  assert.equal(r.status, 200);
  assert.match(r.headers['content-type'], /^text\/event-stream/);
  assert.ok(r.body.endsWith('data: [DONE]\n\n'), `ends with [DONE]: ${JSON.stringify(r.body.slice(-80))}`);
  assert.equal(r.body.split('data: [DONE]').length, 2, 'one [DONE]');
  const events = parseSse(r.body.replace('data: [DONE]\n\n', ''));
  assert.deepEqual(events[0].choices[0].delta, { role: 'assistant', content: '' });
  assert.equal(new Set(events.map((e) => e.id)).size, 1);
  assertNoKeys(responseText(r), KEYS);
});

test('tool-call round trip: thought signature carried back to Gemini on the next turn', { timeout: 20000 }, async () => {
  const answer = {
    candidates: [{
      content: {
        role: 'model',
        parts: [
          { text: 'The user wants the weather.', thought: true },
          { functionCall: { name: 'get_weather', args: { city: 'Paris', unit: 'celsius' } }, thoughtSignature: SIG },
        ],
      },
      finishReason: 'STOP',
      index: 0,
    }],
    usageMetadata: { promptTokenCount: 21, candidatesTokenCount: 9, thoughtsTokenCount: 40, totalTokenCount: 70 },
    modelVersion: MODEL,
    responseId: 'fc-turn-1',
  };
  mock.queue('*', MODEL, rawJson(answer));
  const tools = [{
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'Current weather of a city',
      strict: true,
      parameters: {
        $schema: 'http://json-schema.org/draft-07/schema#',
        type: 'object',
        properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } },
        required: ['city'],
        additionalProperties: false,
      },
    },
  }];
  const messages = [
    { role: 'system', content: 'Use the tools.' },
    { role: 'user', content: 'Weather in Paris?' },
  ];
  const r1 = await oa.chat.completions.create({
    model: MODEL, messages, tools, tool_choice: { type: 'function', function: { name: 'get_weather' } },
  });
  const msg = r1.choices[0].message;
  assert.equal(r1.choices[0].finish_reason, 'tool_calls');
  assert.equal(msg.content, null);
  assert.equal(msg.reasoning_content, 'The user wants the weather.');
  assert.equal(msg.tool_calls.length, 1);
  const call = msg.tool_calls[0];
  assert.match(call.id, /^call_/);
  assert.equal(call.type, 'function');
  assert.equal(call.function.name, 'get_weather');
  assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris', unit: 'celsius' });
  assert.equal(call.extra_content?.google?.thought_signature, SIG);
  assert.equal(r1.usage.prompt_tokens, 21);
  assert.equal(r1.usage.completion_tokens, 49);
  assert.equal(r1.usage.total_tokens, 70);
  assert.equal(r1.usage.completion_tokens_details.reasoning_tokens, 40);

  // What the first turn looked like upstream: tools and toolConfig.
  const [b1] = bodiesOf(mock, genPath);
  assert.deepEqual(b1.systemInstruction.parts, [{ text: 'Use the tools.' }]);
  assert.equal(b1.tools.length, 1);
  const decls = b1.tools[0].functionDeclarations;
  assert.equal(decls.length, 1);
  assert.equal(decls[0].name, 'get_weather');
  assert.equal(decls[0].description, 'Current weather of a city');
  assert.equal(decls[0].strict, undefined, 'strict dropped');
  // Gemini's `parameters` refuses JSON Schema keywords: the schema goes as it is (issue #13).
  assert.equal(decls[0].parameters, undefined, 'no OpenAPI-subset parameters');
  assert.deepEqual(decls[0].parametersJsonSchema, tools[0].function.parameters);
  assert.equal(b1.toolConfig.functionCallingConfig.mode, 'ANY');
  assert.deepEqual(b1.toolConfig.functionCallingConfig.allowedFunctionNames, ['get_weather']);

  // Second turn: the SDK's message echoed back as it is, plus the tool result.
  mock.clearRequests();
  const r2 = await oa.chat.completions.create({
    model: MODEL,
    tools,
    messages: [...messages, msg, { role: 'tool', tool_call_id: call.id, content: '{"temp_c":21,"sky":"clear"}' }],
  });
  assert.equal(r2.choices[0].message.content, 'ok from mock');
  const [b2] = bodiesOf(mock, genPath);
  assert.deepEqual(b2.contents.map((c) => c.role), ['user', 'model', 'user']);
  assert.deepEqual(b2.contents[0].parts, [{ text: 'Weather in Paris?' }]);
  const fcParts = b2.contents[1].parts.filter((p) => p.functionCall);
  assert.equal(fcParts.length, 1);
  assert.equal(fcParts[0].functionCall.name, 'get_weather');
  assert.deepEqual(fcParts[0].functionCall.args, { city: 'Paris', unit: 'celsius' });
  assert.equal(fcParts[0].thoughtSignature, SIG, 'thoughtSignature on the functionCall part of the second turn');
  const fr = b2.contents[2].parts;
  assert.equal(fr.length, 1);
  assert.equal(fr[0].functionResponse.name, 'get_weather');
  assert.deepEqual(fr[0].functionResponse.response, { temp_c: 21, sky: 'clear' });

  // A client that drops unknown fields (no extra_content): the proxy remembers the
  // signature by the tool call id. A non-object tool result is wrapped as {"result": ...}.
  mock.clearRequests();
  const bare = { role: 'assistant', content: null, tool_calls: [{ id: call.id, type: 'function', function: { ...call.function } }] };
  await oa.chat.completions.create({
    model: MODEL,
    messages: [...messages, bare, { role: 'tool', tool_call_id: call.id, content: 'sunny, 21 C' }],
  });
  const [b3] = bodiesOf(mock, genPath);
  const fc3 = b3.contents[1].parts.find((p) => p.functionCall);
  assert.equal(fc3.thoughtSignature, SIG, 'signature found again through the tool call id');
  assert.deepEqual(b3.contents[2].parts[0].functionResponse.response, { result: 'sunny, 21 C' });
});

test('streamed tool call: reasoning and tool_calls deltas, finish tool_calls, signature next turn', { timeout: 20000 }, async () => {
  const usage = { promptTokenCount: 12, candidatesTokenCount: 6, thoughtsTokenCount: 30, totalTokenCount: 48 };
  mock.queue('*', MODEL, rawSse([
    { candidates: [{ content: { role: 'model', parts: [{ text: 'Thinking about tools.', thought: true }] }, index: 0 }], usageMetadata: { ...usage, candidatesTokenCount: 0, totalTokenCount: 42 }, modelVersion: MODEL },
    {
      candidates: [{ content: { role: 'model', parts: [{ functionCall: { name: 'lookup', args: { q: 'gkm' } }, thoughtSignature: SIG }] }, finishReason: 'STOP', index: 0 }],
      usageMetadata: usage, modelVersion: MODEL,
    },
  ]));
  const tools = [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: { q: { type: 'string' } } } } }];
  const stream = await oa.chat.completions.create({
    model: MODEL, messages: [{ role: 'user', content: 'find gkm' }], tools, tool_choice: 'required', stream: true, stream_options: { include_usage: true },
  });
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  assert.equal(new Set(chunks.map((c) => c.id)).size, 1);
  assert.equal(chunks[0].choices[0].delta.role, 'assistant');
  const reasoning = chunks.map((c) => c.choices[0]?.delta?.reasoning_content ?? '').join('');
  assert.equal(reasoning, 'Thinking about tools.');
  const tc = chunks.flatMap((c) => c.choices[0]?.delta?.tool_calls ?? []);
  assert.equal(tc.length, 1);
  assert.equal(tc[0].index, 0);
  assert.match(tc[0].id, /^call_/);
  assert.equal(tc[0].type, 'function');
  assert.equal(tc[0].function.name, 'lookup');
  assert.deepEqual(JSON.parse(tc[0].function.arguments), { q: 'gkm' });
  const fin = chunks.filter((c) => c.choices[0]?.finish_reason);
  assert.equal(fin.length, 1);
  assert.equal(fin[0].choices[0].finish_reason, 'tool_calls');
  const last = chunks.at(-1);
  assert.deepEqual(last.choices, []);
  assert.equal(last.usage.prompt_tokens, 12);
  assert.equal(last.usage.completion_tokens, 36);
  assert.equal(last.usage.total_tokens, 48);
  assert.equal(last.usage.completion_tokens_details.reasoning_tokens, 30);
  const [b1] = bodiesOf(mock, streamPath);
  assert.equal(b1.toolConfig.functionCallingConfig.mode, 'ANY');

  // Next turn with the id only (as an SDK accumulating the stream would send it).
  mock.clearRequests();
  await oa.chat.completions.create({
    model: MODEL,
    messages: [
      { role: 'user', content: 'find gkm' },
      { role: 'assistant', content: null, tool_calls: [{ id: tc[0].id, type: 'function', function: { name: 'lookup', arguments: tc[0].function.arguments } }] },
      { role: 'tool', tool_call_id: tc[0].id, content: '{"found":true}' },
    ],
  });
  const [b2] = bodiesOf(mock, genPath);
  const fc = b2.contents[1].parts.find((p) => p.functionCall);
  assert.equal(fc.thoughtSignature, SIG);
});

test('image input: data: URLs become inlineData (image/jpg → image/jpeg)', { timeout: 20000 }, async () => {
  const b64 = PNG_1x1.toString('base64');
  const r = await oa.chat.completions.create({
    model: MODEL,
    messages: [{
      role: 'user',
      content: [
        { type: 'text', text: 'What is in these images?' },
        { type: 'image_url', image_url: { url: `data:image/jpg;base64,${b64}` } },
        { type: 'image_url', image_url: { url: `data:image/png;base64,${b64}`, detail: 'high' } },
      ],
    }],
  });
  assert.equal(r.choices[0].message.content, 'ok from mock');
  const [b] = bodiesOf(mock, genPath);
  assert.deepEqual(b.contents, [{
    role: 'user',
    parts: [
      { text: 'What is in these images?' },
      { inlineData: { mimeType: 'image/jpeg', data: b64 } },
      { inlineData: { mimeType: 'image/png', data: b64 } },
    ],
  }]);
});

test('response_format json_schema → responseMimeType + responseJsonSchema; json_object', { timeout: 20000 }, async () => {
  const schema = {
    type: 'object',
    properties: { name: { type: 'string' }, age: { type: 'integer', minimum: 0 } },
    required: ['name', 'age'],
    additionalProperties: false,
  };
  mock.queue('*', MODEL, rawJson({
    candidates: [{ content: { role: 'model', parts: [{ text: '{"name":"Ada","age":36}' }] }, finishReason: 'STOP', index: 0 }],
    usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 8, totalTokenCount: 13 },
    modelVersion: MODEL,
  }));
  const r = await oa.chat.completions.create({
    model: MODEL,
    messages: [{ role: 'user', content: 'Who wrote the first program?' }],
    response_format: { type: 'json_schema', json_schema: { name: 'person', strict: true, schema } },
  });
  assert.deepEqual(JSON.parse(r.choices[0].message.content), { name: 'Ada', age: 36 });
  assert.equal(r.usage.completion_tokens, 8);
  assert.equal(r.usage.total_tokens, 13);
  const [b] = bodiesOf(mock, genPath);
  assert.equal(b.generationConfig.responseMimeType, 'application/json');
  assert.deepEqual(b.generationConfig.responseJsonSchema, schema);

  mock.clearRequests();
  await oa.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'json please' }], response_format: { type: 'json_object' } });
  const [b2] = bodiesOf(mock, genPath);
  assert.equal(b2.generationConfig.responseMimeType, 'application/json');
  assert.equal(b2.generationConfig.responseJsonSchema, undefined);
});

test('blocked prompt: content_filter with null content', { timeout: 20000 }, async () => {
  mock.queue('*', MODEL, rawJson({ promptFeedback: { blockReason: 'SAFETY' }, usageMetadata: { promptTokenCount: 4, totalTokenCount: 4 }, modelVersion: MODEL }));
  const r = await oa.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'something bad' }] });
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].finish_reason, 'content_filter');
  assert.equal(r.choices[0].message.content, null);
});

test('models.list: every model of the mock, ids without models/', { timeout: 20000 }, async () => {
  const ids = [];
  for await (const m of oa.models.list()) {
    assert.equal(m.object, 'model');
    assert.equal(m.owned_by, 'google');
    ids.push(m.id);
  }
  assert.deepEqual(ids.sort(), MODELS.map((m) => m.name.replace(/^models\//, '')).sort());
  assert.ok(mock.requests.length >= 1);
  for (const e of mock.requests) assert.equal(e.path, '/v1beta/models');
  assertUpstreamClean(mock, KEYS, proxy.token);
});

test('models.list follows nextPageToken over all pages', { timeout: 20000 }, async () => {
  const page = (models, next) => rawJson({ models, ...(next ? { nextPageToken: next } : {}) });
  mock.queue('*', '*', page(MODELS.slice(0, 2), 'cGFnZTI'), page(MODELS.slice(2, 4), 'cGFnZTM'), page(MODELS.slice(4)));
  const ids = [];
  for await (const m of oa.models.list()) ids.push(m.id);
  assert.deepEqual(ids.sort(), MODELS.map((m) => m.name.replace(/^models\//, '')).sort());
  const lists = mock.requests.filter((e) => e.path === '/v1beta/models');
  assert.equal(lists.length, 3);
  assert.equal(lists[0].query.pageToken, undefined);
  assert.equal(lists[1].query.pageToken, 'cGFnZTI');
  assert.equal(lists[2].query.pageToken, 'cGFnZTM');
});

test('models.retrieve', { timeout: 20000 }, async () => {
  const m = await oa.models.retrieve('gemini-2.5-pro');
  assert.deepEqual({ id: m.id, object: m.object, owned_by: m.owned_by }, { id: 'gemini-2.5-pro', object: 'model', owned_by: 'google' });
  assert.equal(mock.requests.at(-1).path, '/v1beta/models/gemini-2.5-pro');
  await assert.rejects(oa.models.retrieve('no-such-model'), (e) => {
    assert.equal(e.status, 404);
    return true;
  });
});

test('GET /v1/models: x-goog-api-key or ?key= is the native Gemini list, Bearer the OpenAI list', { timeout: 20000 }, async () => {
  const native = await proxy.request('GET', '/v1/models', { headers: { 'x-goog-api-key': proxy.token } });
  assert.equal(native.status, 200);
  assert.ok(Array.isArray(native.json.models), native.body.slice(0, 200));
  assert.ok(native.json.models.some((m) => m.name === 'models/gemini-2.5-flash'));
  assert.equal(native.json.object, undefined);
  assert.equal(mock.requests.at(-1).path, '/v1/models', 'native pass-through keeps the path');

  const nativeQ = await proxy.request('GET', `/v1/models?key=${proxy.token}`);
  assert.equal(nativeQ.status, 200);
  assert.ok(Array.isArray(nativeQ.json.models));
  assert.ok(!mock.requests.at(-1).url.includes(proxy.token), 'client key not forwarded in the query');

  const oai = await proxy.request('GET', '/v1/models', { headers: { authorization: `Bearer ${proxy.token}` } });
  assert.equal(oai.status, 200);
  assert.equal(oai.json.object, 'list');
  assert.ok(oai.json.data.some((m) => m.id === 'gemini-2.5-flash'));
  assert.ok(oai.json.data.every((m) => !m.id.startsWith('models/')));
  for (const x of [native, nativeQ, oai]) assertNoKeys(responseText(x), KEYS);
  assertUpstreamClean(mock, KEYS, proxy.token);
});

test('embeddings: encoding_format float, SDK default base64, dimensions → outputDimensionality', { timeout: 20000 }, async () => {
  const inputs = ['first text', 'second text'];
  const f = await oa.embeddings.create({ model: EMBED, input: inputs, encoding_format: 'float', dimensions: 8 });
  assert.equal(f.object, 'list');
  assert.equal(f.data.length, 2);
  const calls = mock.requests.filter((e) => e.path === `/v1beta/models/${EMBED}:batchEmbedContents`);
  assert.equal(calls.length, 1);
  const body = JSON.parse(calls[0].body);
  assert.equal(body.requests.length, 2);
  for (let i = 0; i < 2; i++) {
    assert.equal(body.requests[i].outputDimensionality, 8);
    assert.deepEqual(body.requests[i].content.parts, [{ text: inputs[i] }]);
  }
  const expected = JSON.parse(calls[0].responseBody).embeddings.map((x) => x.values);
  for (let i = 0; i < 2; i++) {
    assert.equal(f.data[i].object, 'embedding');
    assert.equal(f.data[i].index, i);
    assert.equal(f.data[i].embedding.length, 8);
    for (let j = 0; j < 8; j++) assert.ok(Math.abs(f.data[i].embedding[j] - expected[i][j]) <= 1e-6, `float [${i}][${j}] ${f.data[i].embedding[j]} vs ${expected[i][j]}`);
  }
  assert.equal(typeof f.usage.prompt_tokens, 'number');
  assert.equal(typeof f.usage.total_tokens, 'number');

  // The SDK's default: it asks for base64 and decodes the little-endian float32 itself.
  mock.clearRequests();
  const d = await oa.embeddings.create({ model: EMBED, input: 'third text' });
  const call = mock.requests.find((e) => e.path === `/v1beta/models/${EMBED}:batchEmbedContents`);
  assert.ok(call);
  const exp = JSON.parse(call.responseBody).embeddings[0].values;
  assert.equal(exp.length, 16);
  assert.equal(d.data.length, 1);
  assert.equal(d.data[0].embedding.length, exp.length);
  for (let j = 0; j < exp.length; j++) assert.equal(d.data[0].embedding[j], Math.fround(exp[j]), `base64 [${j}]`);

  // On the wire the default answer is a base64 string.
  const raw = await proxy.request('POST', '/v1/embeddings', {
    headers: { authorization: `Bearer ${proxy.token}` }, body: { model: EMBED, input: 'third text', encoding_format: 'base64' },
  });
  assert.equal(raw.status, 200);
  assert.equal(typeof raw.json.data[0].embedding, 'string');
  const buf = Buffer.from(raw.json.data[0].embedding, 'base64');
  assert.equal(buf.length, 16 * 4);
  for (let j = 0; j < 16; j++) assert.equal(buf.readFloatLE(j * 4), Math.fround(exp[j]));
});

test('routes under the /openai/v1 prefix', { timeout: 20000 }, async () => {
  const po = client(proxy, { prefix: '/openai/v1' });
  const r = await po.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(r.choices[0].message.content, 'ok from mock');
  const s = await po.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], stream: true });
  let text = '';
  for await (const c of s) text += c.choices[0]?.delta?.content ?? '';
  assert.equal(text, 'ok from mock');
  const ids = [];
  for await (const m of po.models.list()) ids.push(m.id);
  assert.ok(ids.includes('gemini-2.5-pro'));
  const m = await po.models.retrieve('gemini-2.0-flash');
  assert.equal(m.id, 'gemini-2.0-flash');
  const e = await po.embeddings.create({ model: EMBED, input: 'x', encoding_format: 'float' });
  assert.equal(e.data[0].embedding.length, 16);
  assert.ok(mock.requests.some((x) => genPath.test(x.path)));
  assert.ok(mock.requests.some((x) => streamPath.test(x.path)));
  assert.ok(mock.requests.some((x) => x.path === `/v1beta/models/${EMBED}:batchEmbedContents`));
  // The prefixed models list stays the OpenAI one even with x-goog-api-key.
  const raw = await proxy.request('GET', '/openai/v1/models', { headers: { 'x-goog-api-key': proxy.token } });
  assert.equal(raw.status, 200);
  assert.equal(raw.json.object, 'list');
  assertUpstreamClean(mock, KEYS, proxy.token);
});

test('/admin/keys counts the requests per key and model', { timeout: 20000 }, async () => {
  const before = await proxy.adminKeys();
  for (let i = 0; i < 4; i++) await oa.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: `n${i}` }] });
  const s = await oa.chat.completions.create({ model: 'gemini-2.5-pro', messages: [{ role: 'user', content: 'pro' }], stream: true });
  for await (const c of s) void c;
  await oa.embeddings.create({ model: EMBED, input: ['a', 'b'], encoding_format: 'float' });
  const served = {};
  for (const e of mock.requests) {
    assert.equal(e.status, 200);
    const k = `${e.key}|${e.model}`;
    served[k] = (served[k] ?? 0) + 1;
  }
  assert.equal(mock.requests.length, 6);
  // Round robin spreads the four flash requests over the three keys.
  assert.ok(new Set(mock.requests.filter((e) => e.model === MODEL).map((e) => e.key)).size >= 2, 'spread over keys');
  await eventually(async () => {
    const now = await proxy.adminKeys();
    for (const key of KEYS) {
      for (const model of [MODEL, 'gemini-2.5-pro', EMBED]) {
        const diff = modelEntry(now, key, model).requests - modelEntry(before, key, model).requests;
        assert.equal(diff, served[`${key}|${model}`] ?? 0, `${key} ${model}`);
      }
    }
    const total = (a) => a.keys.reduce((n, k) => n + k.requests_today, 0);
    assert.equal(total(now) - total(before), 6);
  }, { timeoutMs: 3000 });
});
