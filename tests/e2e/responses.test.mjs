// The OpenAI Responses API (SPEC 3.7, WIRE-AGENTS E) through the official `openai` npm SDK's
// client.responses against the mock: text whole and streamed, a multi-turn tool loop on a
// Gemini 3 model whose mock refuses a history without the signatures it issued (parallel
// calls; the client sending its output items back with store:false as Codex does, and a
// client that drops the reasoning items), a replayed Codex-shaped request, stored
// responses (previous_response_id, GET, DELETE), errors in OpenAI's shape, and the 503 of a
// day-long wait as the SDK sees it (no retry storm).
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startMock, SKIP_SIGNATURE } from '../mock/mock-gemini.mjs';
import { startProxy, restartProxy } from './harness.mjs';
import { client, bodiesOf, APIError, BadRequestError, InternalServerError, NotFoundError } from './openai-lib.mjs';

const KEYS = ['test-key-rs01', 'test-key-rs02'];
const MODEL = 'gemini-2.5-flash';
const M3 = 'gemini-3-pro-preview';

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

const auth = () => ({ authorization: `Bearer ${proxy.token}` });
const genRe = (m) => new RegExp(`^/v1beta/models/${m.replace(/\./g, '\\.')}:(generate|streamGenerate)Content$`);

// The frames of a Responses stream as {event, data}.
function frames(text) {
  return text.split('\n\n').filter((f) => f.trim()).map((f) => {
    const lines = f.split('\n');
    assert.ok(lines[0].startsWith('event: '), f);
    assert.ok(lines[1].startsWith('data: '), f);
    const data = JSON.parse(lines[1].slice(6));
    assert.equal(data.type, lines[0].slice(7));
    return data;
  });
}

test('text, not streamed: output_text, a response object, usage', async () => {
  const r = await oa.responses.create({ model: MODEL, input: 'hi', instructions: 'Be brief.' });
  assert.equal(r.object, 'response');
  assert.match(r.id, /^resp_/);
  assert.equal(r.status, 'completed');
  assert.equal(r.output_text, 'ok from mock');
  assert.equal(r.output[0].type, 'message');
  assert.equal(r.instructions, 'Be brief.');
  assert.equal(typeof r.usage.input_tokens, 'number');
  assert.equal(typeof r.usage.output_tokens_details.reasoning_tokens, 'number');
  const [body] = bodiesOf(mock, genRe(MODEL));
  assert.deepEqual(body.contents, [{ role: 'user', parts: [{ text: 'hi' }] }]);
  assert.deepEqual(body.systemInstruction, { parts: [{ text: 'Be brief.' }] });
});

test('text, streamed: created, in_progress, the item events in order, completed', async () => {
  const s = await oa.responses.create({ model: MODEL, input: 'hi', stream: true });
  const types = [];
  let text = '';
  let seq = 0;
  let completed;
  for await (const ev of s) {
    assert.equal(ev.sequence_number, seq++);
    types.push(ev.type);
    if (ev.type === 'response.output_text.delta') text += ev.delta;
    if (ev.type === 'response.completed') completed = ev.response;
  }
  assert.deepEqual(types.slice(0, 2), ['response.created', 'response.in_progress']);
  assert.equal(types.at(-1), 'response.completed');
  assert.ok(types.indexOf('response.output_item.added') < types.indexOf('response.output_text.delta'));
  assert.equal(text, 'ok from mock');
  assert.equal(completed.output[0].content[0].text, 'ok from mock');
  assert.ok(mock.requests.at(-1).path.endsWith(':streamGenerateContent'));
});

test('responses.stream(...).finalResponse() gives the whole response', async () => {
  const final = await oa.responses.stream({ model: MODEL, input: 'hi' }).finalResponse();
  assert.equal(final.status, 'completed');
  // The SDK adds output_text to a stream's final response only for parseable requests
  // (as with OpenAI itself): read the message.
  assert.equal(final.output[0].content[0].text, 'ok from mock');
});

const TOOLS = [
  { type: 'function', name: 'get_weather', description: 'Weather of a city', strict: false,
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false } },
  { type: 'function', name: 'get_time', parameters: { type: 'object', properties: {} } },
];
const CALLS = { type: 'toolcall', thought: 'I need both.', text: 'Checking.', calls: [{ name: 'get_weather', args: { city: 'Paris' } }, { name: 'get_time', args: {} }] };

// Turn 1 of a tool loop; returns the output items as the client keeps them.
async function firstTurn(stream) {
  mock.queue('*', M3, CALLS);
  const req = {
    model: M3, input: [{ role: 'user', content: [{ type: 'input_text', text: 'weather and time?' }] }], tools: TOOLS,
    store: false, include: ['reasoning.encrypted_content'], reasoning: { effort: 'high', summary: 'auto' },
  };
  if (!stream) return { req, output: (await oa.responses.create(req)).output };
  const s = await oa.responses.create({ ...req, stream: true });
  const output = [];
  for await (const ev of s) if (ev.type === 'response.output_item.done') output.push(ev.item); // Codex's way
  return { req, output };
}

function outputsFor(items) {
  return items.filter((i) => i.type === 'function_call').map((c) => ({
    type: 'function_call_output', call_id: c.call_id, output: c.name === 'get_time' ? '12:00' : 'sunny',
  }));
}

for (const stream of [false, true]) {
  test(`tool loop on Gemini 3, ${stream ? 'streamed' : 'whole'}: output items sent back keep the signatures (store:false)`, async () => {
    const { req, output } = await firstTurn(stream);
    const calls = output.filter((i) => i.type === 'function_call');
    assert.deepEqual(calls.map((c) => c.name), ['get_weather', 'get_time']);
    assert.deepEqual(JSON.parse(calls[0].arguments), { city: 'Paris' });
    assert.match(calls[0].call_id, /^call_[A-Za-z0-9]+__gs_[A-Za-z0-9_-]+$/);
    const reasoning = output.filter((i) => i.type === 'reasoning');
    assert.ok(reasoning.some((r) => r.summary[0]?.text === 'I need both.'), 'the thought summary');
    assert.ok(reasoning.some((r) => /^gs1\./.test(r.encrypted_content ?? '')), 'a signature in encrypted_content');
    assert.equal(output.find((i) => i.type === 'message').content[0].text, 'Checking.');

    const r2 = await oa.responses.create({ ...req, input: [...req.input, ...output, ...outputsFor(output)] });
    assert.equal(r2.output_text, 'ok from mock');
    const last = mock.requests.at(-1);
    assert.equal(last.status, 200);
    assert.equal(last.signatures, 'ok');
    const body = JSON.parse(last.body);
    const model = body.contents.find((c) => c.role === 'model');
    const fcs = model.parts.filter((p) => p.functionCall);
    assert.equal(fcs.length, 2);
    assert.ok(fcs[0].thoughtSignature && fcs[0].thoughtSignature !== SKIP_SIGNATURE);
    const responses = body.contents.at(-1).parts.map((p) => p.functionResponse);
    assert.deepEqual(responses.map((f) => [f.name, f.response.output]), [['get_weather', 'sunny'], ['get_time', '12:00']]);
    assert.equal(body.contents.filter((c) => c.role === 'user').length, 2, 'one content for the batch of outputs');
  });
}

test('a client that drops the reasoning items keeps the signature through call_id', async () => {
  const { req, output } = await firstTurn(true);
  const kept = output.filter((i) => i.type !== 'reasoning');
  const r2 = await oa.responses.create({ ...req, input: [...req.input, ...kept, ...outputsFor(kept)] });
  assert.equal(r2.status, 'completed');
  assert.equal(mock.requests.at(-1).signatures, 'ok');
});

test('a client that drops every signature still gets a 200 (the documented bypass), never a 400', async () => {
  const { req, output } = await firstTurn(false);
  const bare = output.filter((i) => i.type !== 'reasoning').map((i) => (i.call_id ? { ...i, call_id: i.call_id.split('__gs_')[0] } : i));
  const r2 = await oa.responses.create({ ...req, input: [...req.input, ...bare, ...outputsFor(bare)] });
  assert.equal(r2.status, 'completed');
  assert.equal(mock.requests.at(-1).signatures, 'bypass');
});

test('under /openai too; without include, no encrypted_content, but call_id still carries the signature', async () => {
  mock.queue('*', M3, CALLS);
  const r = await client(proxy, { prefix: '/openai/v1' }).responses.create({ model: M3, input: 'go', tools: TOOLS, reasoning: { summary: 'auto' } });
  assert.equal(r.status, 'completed');
  assert.ok(r.output.every((i) => i.encrypted_content === undefined));
  assert.deepEqual(r.output.map((i) => i.type), ['reasoning', 'message', 'function_call', 'function_call']);
  assert.match(r.output[2].call_id, /__gs_/);
  assert.doesNotMatch(r.output[3].call_id, /__gs_/, 'Gemini signs the first of parallel calls only');
  assert.equal(r.store, true);
});

const LARK = 'start: begin_patch hunk+ end_patch\nbegin_patch: "*** Begin Patch" LF\nend_patch: "*** End Patch" LF?\nhunk: add_hunk\nadd_hunk: "*** Add File: " filename LF\nfilename: /(.+)/\n%import common.LF\n';

test('a replayed Codex request: custom apply_patch with a Lark grammar, shell, reasoning, store:false, full history', async () => {
  mock.queue('*', M3, { type: 'toolcall', thought: 'Patch it.', calls: [{ name: 'apply_patch', args: { input: '*** Begin Patch\n*** Add File: b.py\n*** End Patch\n' } }] });
  const codex = {
    model: M3,
    instructions: 'You are Codex, based on GPT-5. You are running as a coding agent in the Codex CLI.',
    input: [
      { type: 'message', role: 'developer', content: [{ type: 'input_text', text: '<permissions instructions>workspace-write</permissions instructions>' }] },
      { type: 'message', role: 'user', content: [{ type: 'input_text', text: '<environment_context><cwd>/w</cwd></environment_context>' }] },
      { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'add b.py' }] },
      { type: 'reasoning', summary: [{ type: 'summary_text', text: '**Looking**' }], content: null, encrypted_content: 'gAAAAABo-not-ours' },
      { type: 'function_call', name: 'shell', arguments: '{"command":["ls"],"workdir":"/w"}', call_id: 'call_ls' },
      { type: 'function_call_output', call_id: 'call_ls', output: 'a.py\n' },
    ],
    tools: [
      { type: 'function', name: 'shell', description: 'Runs a shell command and returns its output.', strict: false,
        parameters: { type: 'object', properties: { command: { type: 'array', items: { type: 'string' } }, workdir: { type: 'string' }, timeout_ms: { type: 'number' } }, required: ['command'], additionalProperties: false } },
      { type: 'custom', name: 'apply_patch', description: 'Use the `apply_patch` tool to edit files.', format: { type: 'grammar', syntax: 'lark', definition: LARK } },
      { type: 'web_search' },
    ],
    tool_choice: 'auto', parallel_tool_calls: false, reasoning: { effort: 'medium', summary: 'auto' },
    store: false, stream: true, include: ['reasoning.encrypted_content'], prompt_cache_key: '0199a-session-uuid',
    text: { verbosity: 'low' },
  };
  const r = await proxy.request('POST', '/v1/responses', { headers: auth(), body: codex });
  assert.equal(r.status, 200, r.body);
  assert.match(r.headers['content-type'], /text\/event-stream/);
  const evs = frames(r.body);
  assert.equal(evs.at(-1).type, 'response.completed');
  const done = evs.filter((e) => e.type === 'response.output_item.done').map((e) => e.item);
  const patch = done.find((i) => i.type === 'custom_tool_call');
  assert.ok(patch, 'a custom_tool_call item');
  assert.equal(patch.name, 'apply_patch');
  assert.equal(patch.input, '*** Begin Patch\n*** Add File: b.py\n*** End Patch\n');
  assert.ok(evs.some((e) => e.type === 'response.custom_tool_call_input.delta'));
  assert.equal(typeof evs.at(-1).response.id, 'string');
  assert.equal(typeof evs.at(-1).response.usage.total_tokens, 'number');

  const sent = mock.requests.at(-1);
  assert.equal(sent.status, 200, sent.responseBody);
  assert.equal(sent.signatures, 'bypass', 'the shell call Gemini never signed goes with the bypass value');
  const body = JSON.parse(sent.body);
  assert.deepEqual(body.systemInstruction.parts.map((p) => p.text), [codex.instructions, codex.input[0].content[0].text]);
  const decls = body.tools[0].functionDeclarations;
  assert.deepEqual(decls.map((d) => d.name), ['shell', 'apply_patch']);
  assert.equal(body.tools.length, 1, 'web_search dropped');
  assert.deepEqual(decls[0].parametersJsonSchema, codex.tools[0].parameters);
  assert.deepEqual(decls[1].parametersJsonSchema, { type: 'object', properties: { input: { type: 'string' } } });
  assert.ok(decls[1].description.includes(LARK), 'the grammar goes to the model');
  assert.equal(body.generationConfig.thinkingConfig.thinkingLevel, 'high');
  assert.equal(body.generationConfig.thinkingConfig.includeThoughts, true);
  assert.deepEqual(body.contents.map((c) => c.role), ['user', 'model', 'user']);
  assert.ok(!sent.body.includes('prompt_cache_key') && !sent.body.includes('0199a-session-uuid'));
  assert.ok(!sent.body.includes('gAAAAABo'), 'a foreign encrypted_content is not forwarded');

  // Turn 2, as Codex sends it: the whole history plus the items it kept and the patch result.
  const turn2 = { ...codex, input: [...codex.input, ...done, { type: 'custom_tool_call_output', call_id: patch.call_id, output: 'Success. Updated: A b.py' }] };
  const r2 = await proxy.request('POST', '/v1/responses', { headers: auth(), body: turn2 });
  assert.equal(r2.status, 200, r2.body);
  const sent2 = mock.requests.at(-1);
  assert.equal(sent2.signatures, 'ok');
  const b2 = JSON.parse(sent2.body);
  const last = b2.contents.at(-1);
  assert.deepEqual(last.parts[0].functionResponse, { name: 'apply_patch', response: { output: 'Success. Updated: A b.py' } });
  const patchPart = b2.contents.at(-2).parts.find((p) => p.functionCall);
  assert.deepEqual(patchPart.functionCall, { name: 'apply_patch', args: { input: '*** Begin Patch\n*** Add File: b.py\n*** End Patch\n' } });
});

test('stored responses: previous_response_id continues, GET returns it, DELETE removes it', async () => {
  const r1 = await oa.responses.create({ model: MODEL, input: 'first' });
  const got = await oa.responses.retrieve(r1.id);
  assert.equal(got.id, r1.id);
  assert.equal(got.output_text, 'ok from mock');
  mock.clearRequests();
  const r2 = await oa.responses.create({ model: MODEL, input: 'more', previous_response_id: r1.id });
  assert.equal(r2.previous_response_id, r1.id);
  const [body] = bodiesOf(mock, genRe(MODEL));
  assert.deepEqual(body.contents, [
    { role: 'user', parts: [{ text: 'first' }] },
    { role: 'model', parts: [{ text: 'ok from mock' }] },
    { role: 'user', parts: [{ text: 'more' }] },
  ]);
  // A chain: the third turn sees both earlier ones.
  mock.clearRequests();
  const r3 = await oa.responses.create({ model: MODEL, input: 'again', previous_response_id: r2.id, stream: false });
  assert.equal(bodiesOf(mock, genRe(MODEL))[0].contents.length, 5);
  await oa.responses.delete(r1.id);
  await assert.rejects(oa.responses.retrieve(r1.id), (e) => e instanceof NotFoundError && e.status === 404);
  await assert.rejects(oa.responses.delete(r1.id), (e) => e instanceof NotFoundError);
  assert.equal((await oa.responses.retrieve(r3.id)).id, r3.id);
});

test('store:false keeps nothing; an unknown previous_response_id is a 404 in OpenAI\'s shape', async () => {
  const r = await oa.responses.create({ model: MODEL, input: 'x', store: false });
  await assert.rejects(oa.responses.retrieve(r.id), (e) => e instanceof NotFoundError);
  mock.clearRequests();
  const raw = await proxy.request('POST', '/v1/responses', { headers: auth(), body: { model: MODEL, input: 'x', previous_response_id: r.id } });
  assert.equal(raw.status, 404);
  assert.equal(raw.json.error.param, 'previous_response_id');
  assert.equal(raw.json.error.code, 'not_found');
  assert.equal(mock.requests.length, 0);
  // A streamed response is stored too.
  const s = await oa.responses.stream({ model: MODEL, input: 'y' }).finalResponse();
  assert.equal((await oa.responses.retrieve(s.id)).status, 'completed');
});

test('a stored response belongs to the client token that made it', async () => {
  const two = await startProxy({ keys: KEYS, upstream: mock.url, token: ['token-alpha', 'token-beta'] });
  try {
    const a = client(two, { apiKey: 'token-alpha' });
    const b = client(two, { apiKey: 'token-beta' });
    const r = await a.responses.create({ model: MODEL, input: 'mine' });
    assert.equal((await a.responses.retrieve(r.id)).id, r.id);
    await assert.rejects(b.responses.retrieve(r.id), (e) => e instanceof NotFoundError);
    await assert.rejects(b.responses.delete(r.id), (e) => e instanceof NotFoundError);
    await assert.rejects(b.responses.create({ model: MODEL, input: 'x', previous_response_id: r.id }), (e) => e instanceof NotFoundError);
    assert.equal((await a.responses.create({ model: MODEL, input: 'more', previous_response_id: r.id })).status, 'completed');
  } finally {
    await two.cleanup();
  }
});

test('stored responses outlive a restart (the state database)', async () => {
  let p = await startProxy({ keys: KEYS, upstream: mock.url });
  try {
    const r = await client(p).responses.create({ model: MODEL, input: 'remember me' });
    p = await restartProxy(p);
    const got = await client(p).responses.retrieve(r.id);
    assert.equal(got.id, r.id);
    mock.clearRequests();
    await client(p).responses.create({ model: MODEL, input: 'and?', previous_response_id: r.id });
    assert.deepEqual(bodiesOf(mock, genRe(MODEL))[0].contents[0], { role: 'user', parts: [{ text: 'remember me' }] });
  } finally {
    await p.cleanup();
  }
});

test('errors in OpenAI\'s shape: the field named, model_not_found, Google\'s own errors translated', async () => {
  await assert.rejects(oa.responses.create({ model: MODEL, input: 'x', conversation: 'conv_1' }), (e) => {
    assert.ok(e instanceof BadRequestError);
    assert.equal(e.param, 'conversation');
    return true;
  });
  const bad = await proxy.request('POST', '/v1/responses', { headers: auth(), body: { model: 'gemini-2.5-flash:generateContent', input: 'x' } });
  assert.equal(bad.status, 404);
  assert.equal(bad.json.error.code, 'model_not_found');
  mock.queue('*', MODEL, 'notfound');
  const nf = await proxy.request('POST', '/v1/responses', { headers: auth(), body: { model: MODEL, input: 'x' } });
  assert.equal(nf.status, 404);
  assert.equal(nf.json.error.code, 'model_not_found');
  mock.queue('*', MODEL, 'badrequest');
  await assert.rejects(oa.responses.create({ model: MODEL, input: 'x' }), (e) => e instanceof BadRequestError && /Invalid JSON payload/.test(e.message));
  const unauth = await proxy.request('POST', '/openai/v1/responses', { headers: { authorization: 'Bearer nope' }, body: { model: MODEL, input: 'x' } });
  assert.equal(unauth.status, 401);
  assert.equal(unauth.json.error.code, 'invalid_api_key');
});

test('a stream that breaks after it began ends in an error event, then response.failed', async () => {
  mock.queue('*', MODEL, { type: 'cutstream', events: 2, intervalMs: 10 });
  const r = await proxy.request('POST', '/v1/responses', { headers: auth(), body: { model: MODEL, input: 'x', stream: true } });
  assert.equal(r.status, 200);
  const evs = frames(r.body);
  assert.deepEqual(evs.slice(-2).map((e) => e.type), ['error', 'response.failed']);
  assert.equal(evs.at(-1).response.status, 'failed');
  assert.equal(evs.at(-1).response.error.code, 'server_error');
  // openai-node raises on the error event.
  mock.queue('*', MODEL, { type: 'cutstream', events: 2, intervalMs: 10 });
  const s = await oa.responses.create({ model: MODEL, input: 'x', stream: true });
  await assert.rejects((async () => { for await (const ev of s) void ev; })(), (e) => {
    assert.ok(e instanceof APIError, `${e.constructor.name}: ${e.message}`);
    assert.match(e.message, /broke off/);
    return true;
  });
});

test('every key spent for the day: 503, Retry-After, x-should-retry false; the SDK does not retry', async () => {
  const M = 'gemini-2.0-flash-lite';
  mock.setKey('*', M, 'day');
  await proxy.request('POST', '/v1/responses', { headers: auth(), body: { model: M, input: 'x' } });
  mock.clearRequests();
  const counter = { calls: [] };
  const sdk = client(proxy, { maxRetries: 2, counter });
  const t0 = Date.now();
  await assert.rejects(sdk.responses.create({ model: M, input: 'x' }), (e) => {
    assert.ok(e instanceof InternalServerError, `${e.constructor.name}: ${e.message}`);
    assert.equal(e.status, 503);
    assert.equal(e.headers.get('x-should-retry'), 'false');
    assert.ok(Number(e.headers.get('retry-after')) > 60);
    return true;
  });
  assert.equal(counter.calls.length, 1, 'the SDK did not retry');
  assert.ok(Date.now() - t0 < 1500);
  await assert.rejects(sdk.responses.create({ model: M, input: 'x', stream: true }), (e) => e.status === 503);
  assert.equal(counter.calls.length, 2);
  assert.equal(mock.requests.length, 0, 'no upstream request for spent keys');
});

test('a per-day 429 on one key is retried on the other before the first byte', async () => {
  const M = 'gemini-2.0-flash';
  mock.queue('*', M, 'day');
  const counter = { calls: [] };
  const sdk = client(proxy, { maxRetries: 0, counter });
  const final = await sdk.responses.stream({ model: M, input: 'x' }).finalResponse();
  assert.equal(final.output[0].content[0].text, 'ok from mock');
  assert.equal(counter.calls.length, 1);
  assert.deepEqual(mock.requests.map((e) => e.status), [429, 200]);
});
