// Tools through the official `openai` npm SDK, against the mock that checks tool
// declarations as real Gemini does (issue #13 item 3, WIRE.md C): the JSON Schema that zod,
// MCP servers and OpenAI strict mode emit must reach Gemini as parametersJsonSchema (its
// `parameters` field refuses additionalProperties, $ref, ...), search grounding becomes the
// googleSearch tool and comes back as url_citation annotations, extra_body.google is
// honoured, and cache_control on content parts (Roo Code, Cline) is not forwarded.
// The schemas are written out as zod-to-json-schema, zod 4's toJSONSchema and openai's
// zodFunction() emit them (zod itself is not among the test dependencies).
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startMock } from '../mock/mock-gemini.mjs';
import { startProxy } from './harness.mjs';
import { client, bodiesOf, rawJson, rawSse } from './openai-lib.mjs';

// One key, so that a cache made with it is usable on every request.
const KEY = 'test-key-ot01';
const MODEL = 'gemini-2.5-flash';

let mock;
let proxy;
let oa;

before(async () => {
  mock = await startMock();
  proxy = await startProxy({ keys: [KEY], upstream: mock.url });
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

// zod-to-json-schema (zod 3) of
//   const Place = z.object({ lat: z.number(), lon: z.number() });
//   z.object({ city: z.string().min(1).describe('City name'), unit: z.enum(['celsius', 'fahrenheit']).optional(),
//     days: z.number().int().positive().max(14), when: z.string().datetime().nullable(), home: Place, stops: z.array(Place),
//     kind: z.union([z.literal('forecast'), z.literal('history')]) })
// with { definitions: { Place } }: additionalProperties false, $schema, $ref into definitions.
const ZOD3 = {
  type: 'object',
  properties: {
    city: { type: 'string', minLength: 1, description: 'City name' },
    unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
    days: { type: 'integer', exclusiveMinimum: 0, maximum: 14 },
    when: { type: ['string', 'null'], format: 'date-time' },
    home: { $ref: '#/definitions/Place' },
    stops: { type: 'array', items: { $ref: '#/definitions/Place' } },
    kind: { type: 'string', enum: ['forecast', 'history'] },
  },
  required: ['city', 'days', 'when', 'home', 'stops', 'kind'],
  additionalProperties: false,
  definitions: {
    Place: {
      type: 'object',
      properties: { lat: { type: 'number' }, lon: { type: 'number' } },
      required: ['lat', 'lon'],
      additionalProperties: false,
    },
  },
  $schema: 'http://json-schema.org/draft-07/schema#',
};

// zod 4's z.toJSONSchema of a discriminated union with literals and a recursive type.
const ZOD4 = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  properties: {
    action: {
      oneOf: [
        { type: 'object', properties: { op: { type: 'string', const: 'move' }, to: { type: 'string' } }, required: ['op', 'to'], additionalProperties: false },
        { type: 'object', properties: { op: { type: 'string', const: 'delete' } }, required: ['op'], additionalProperties: false },
      ],
    },
    tree: { $ref: '#/$defs/Node' },
  },
  required: ['action'],
  additionalProperties: false,
  $defs: {
    Node: {
      type: 'object',
      properties: { name: { type: 'string' }, children: { type: 'array', items: { $ref: '#/$defs/Node' } } },
      required: ['name', 'children'],
      additionalProperties: false,
    },
  },
};

// The inputSchema of @modelcontextprotocol/server-filesystem's edit_file tool, as its
// tools/list gives it.
const MCP_EDIT_FILE = {
  type: 'object',
  properties: {
    path: { type: 'string' },
    edits: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          oldText: { type: 'string', description: 'Text to search for - must match exactly' },
          newText: { type: 'string', description: 'Text to replace with' },
        },
        required: ['oldText', 'newText'],
        additionalProperties: false,
      },
    },
    dryRun: { type: 'boolean', default: false, description: 'Preview changes using git-style diff format' },
  },
  required: ['path', 'edits'],
  additionalProperties: false,
  $schema: 'http://json-schema.org/draft-07/schema#',
};

// What openai's zodFunction() sends in strict mode: strict: true, every property required,
// optional ones nullable, additionalProperties false on every object.
const STRICT = {
  type: 'object',
  properties: {
    query: { type: 'string' },
    filters: {
      type: 'object',
      properties: {
        after: { type: ['string', 'null'] },
        tags: { type: 'array', items: { type: 'string' } },
        limit: { anyOf: [{ type: 'integer' }, { type: 'null' }] },
      },
      required: ['after', 'tags', 'limit'],
      additionalProperties: false,
    },
  },
  required: ['query', 'filters'],
  additionalProperties: false,
  $schema: 'http://json-schema.org/draft-07/schema#',
};

const fn = (name, parameters, extra = {}) => ({ type: 'function', function: { name, description: `the ${name} tool`, parameters, ...extra } });

function callAnswer(name, args) {
  return rawJson({
    candidates: [{ content: { role: 'model', parts: [{ functionCall: { name, args } }] }, finishReason: 'STOP', index: 0 }],
    usageMetadata: { promptTokenCount: 30, candidatesTokenCount: 8, totalTokenCount: 38 },
    modelVersion: MODEL,
  });
}

// The declarations the mock received carry each schema, unchanged, as parametersJsonSchema.
function assertDeclared(body, tools) {
  assert.equal(body.tools.length, 1, JSON.stringify(body.tools));
  const decls = body.tools[0].functionDeclarations;
  assert.deepEqual(decls.map((d) => d.name), tools.map((t) => t.function.name));
  decls.forEach((d, i) => {
    assert.equal(d.parameters, undefined, `${d.name}: no OpenAPI-subset parameters`);
    assert.equal(d.strict, undefined, `${d.name}: strict dropped`);
    assert.deepEqual(d.parametersJsonSchema, tools[i].function.parameters, `${d.name}: schema unchanged`);
  });
}

test('zod-to-json-schema and zod 4 schemas ($ref, $defs, oneOf, const, exclusiveMinimum) are accepted; the tool call comes back', { timeout: 20000 }, async () => {
  const args = { city: 'Paris', days: 3, when: null, home: { lat: 1, lon: 2 }, stops: [], kind: 'forecast' };
  mock.queue(KEY, MODEL, callAnswer('weather', args));
  const tools = [fn('weather', ZOD3), fn('reorganize', ZOD4)];
  const r = await oa.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Weather in Paris?' }], tools });
  assert.equal(r.choices[0].finish_reason, 'tool_calls');
  const call = r.choices[0].message.tool_calls[0];
  assert.equal(call.function.name, 'weather');
  assert.deepEqual(JSON.parse(call.function.arguments), args);
  const [b] = bodiesOf(mock, genPath);
  assertDeclared(b, tools);
  assert.equal(mock.requests[0].status, 200);
});

test("an MCP server's inputSchema, streamed: accepted, the tool call delta comes back", { timeout: 20000 }, async () => {
  const args = { path: '/tmp/a.txt', edits: [{ oldText: 'a', newText: 'b' }] };
  mock.queue(KEY, MODEL, rawSse([
    { candidates: [{ content: { role: 'model', parts: [{ functionCall: { name: 'edit_file', args } }] }, finishReason: 'STOP', index: 0 }], modelVersion: MODEL },
  ]));
  const tools = [fn('edit_file', MCP_EDIT_FILE)];
  const stream = await oa.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'edit it' }], tools, stream: true });
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  const tc = chunks.flatMap((c) => c.choices[0]?.delta?.tool_calls ?? []);
  assert.equal(tc.length, 1);
  assert.equal(tc[0].function.name, 'edit_file');
  assert.deepEqual(JSON.parse(tc[0].function.arguments), args);
  assert.equal(chunks.find((c) => c.choices[0]?.finish_reason)?.choices[0].finish_reason, 'tool_calls');
  const [b] = bodiesOf(mock, streamPath);
  assertDeclared(b, tools);
});

test('OpenAI strict mode (strict: true, additionalProperties false everywhere, nullable types) is accepted', { timeout: 20000 }, async () => {
  const args = { query: 'gkm', filters: { after: null, tags: ['a'], limit: null } };
  mock.queue(KEY, MODEL, callAnswer('search_docs', args));
  const tools = [fn('search_docs', STRICT, { strict: true })];
  const r = await oa.chat.completions.create({
    model: MODEL, messages: [{ role: 'user', content: 'find gkm' }], tools, tool_choice: 'required', parallel_tool_calls: false,
  });
  assert.equal(r.choices[0].finish_reason, 'tool_calls');
  assert.deepEqual(JSON.parse(r.choices[0].message.tool_calls[0].function.arguments), args);
  const [b] = bodiesOf(mock, genPath);
  assertDeclared(b, tools);
  assert.equal(b.toolConfig.functionCallingConfig.mode, 'ANY');
});

const GROUNDED = {
  candidates: [{
    content: { role: 'model', parts: [{ text: 'Spain won Euro 2024.' }] },
    finishReason: 'STOP',
    index: 0,
    groundingMetadata: {
      webSearchQueries: ['euro 2024 winner'],
      groundingChunks: [{ web: { uri: 'https://vertexaisearch.cloud.google.com/grounding-api-redirect/AAA', title: 'uefa.com' } }],
      groundingSupports: [{ segment: { startIndex: 0, endIndex: 10, text: 'Spain won ' }, groundingChunkIndices: [0] }],
    },
  }],
  usageMetadata: { promptTokenCount: 9, candidatesTokenCount: 6, totalTokenCount: 15 },
  modelVersion: MODEL,
};
const CITATION = {
  type: 'url_citation',
  url_citation: { url: 'https://vertexaisearch.cloud.google.com/grounding-api-redirect/AAA', title: 'uefa.com', start_index: 0, end_index: 10 },
};

test('web_search_options → the googleSearch tool; groundingMetadata → url_citation annotations', { timeout: 20000 }, async () => {
  mock.queue(KEY, MODEL, rawJson(GROUNDED));
  const r = await oa.chat.completions.create({
    model: MODEL, messages: [{ role: 'user', content: 'Who won Euro 2024?' }], web_search_options: { search_context_size: 'low' },
  });
  assert.equal(r.choices[0].message.content, 'Spain won Euro 2024.');
  assert.deepEqual(r.choices[0].message.annotations, [CITATION]);
  const [b] = bodiesOf(mock, genPath);
  assert.deepEqual(b.tools, [{ googleSearch: {} }]);
  assert.equal(b.web_search_options, undefined);

  // Streamed: one annotations delta, which the SDK's stream helper puts on the message.
  mock.clearRequests();
  mock.queue(KEY, MODEL, rawSse([GROUNDED]));
  const runner = oa.chat.completions.stream({
    model: MODEL, messages: [{ role: 'user', content: 'Who won Euro 2024?' }], web_search_options: {},
  });
  const final = await runner.finalChatCompletion();
  assert.equal(final.choices[0].message.content, 'Spain won Euro 2024.');
  assert.deepEqual(final.choices[0].message.annotations, [CITATION]);
  const [bs] = bodiesOf(mock, streamPath);
  assert.deepEqual(bs.tools, [{ googleSearch: {} }]);
});

test('a function tool named googleSearch or google_search is search grounding, next to real functions', { timeout: 20000 }, async () => {
  for (const name of ['googleSearch', 'google_search']) {
    mock.reset();
    const tools = [fn(name, { type: 'object', properties: { query: { type: 'string' } }, additionalProperties: false }), fn('lookup', MCP_EDIT_FILE)];
    const r = await oa.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'news?' }], tools });
    assert.equal(r.choices[0].message.content, 'ok from mock', name);
    const [b] = bodiesOf(mock, genPath);
    assert.deepEqual(b.tools, [
      { functionDeclarations: [{ name: 'lookup', description: 'the lookup tool', parametersJsonSchema: MCP_EDIT_FILE }] },
      { googleSearch: {} },
    ], name);
  }
});

test('cache_control on content parts (Roo Code, Cline) is accepted and not forwarded', { timeout: 20000 }, async () => {
  const cc = { type: 'ephemeral' };
  const r = await oa.chat.completions.create({
    model: MODEL,
    messages: [
      { role: 'system', content: [{ type: 'text', text: 'You are a coding agent.', cache_control: cc }] },
      { role: 'user', content: [{ type: 'text', text: '<task>fix it</task>', cache_control: cc }, { type: 'text', text: 'env details' }] },
    ],
  });
  assert.equal(r.choices[0].message.content, 'ok from mock');
  const [b] = bodiesOf(mock, genPath);
  assert.deepEqual(b.systemInstruction.parts, [{ text: 'You are a coding agent.' }]);
  assert.deepEqual(b.contents, [{ role: 'user', parts: [{ text: '<task>fix it</task>' }, { text: 'env details' }] }]);
  assert.ok(!JSON.stringify(b).includes('cache_control'));
});

test('extra_body.google: cached_content, safety_settings and thinking_config reach Gemini', { timeout: 20000 }, async () => {
  // A cache of the proxy's key (the mock refuses another project's cache with 403).
  const made = await fetch(`${mock.url}/v1beta/cachedContents`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-goog-api-key': KEY },
    body: JSON.stringify({ model: `models/${MODEL}`, contents: [{ role: 'user', parts: [{ text: 'a long document' }] }] }),
  }).then((x) => x.json());
  assert.match(made.name, /^cachedContents\//);
  mock.clearRequests();
  const safety = [{ category: 'HARM_CATEGORY_HARASSMENT', threshold: 'BLOCK_NONE' }];
  // The body Google documents: the Python SDK's extra_body={"extra_body": {"google": ...}}.
  const r = await oa.chat.completions.create({
    model: MODEL,
    messages: [{ role: 'user', content: 'Summarize the document' }],
    extra_body: { google: { cached_content: made.name, safety_settings: safety, thinking_config: { thinking_budget: 0 } } },
  });
  assert.equal(r.choices[0].message.content, 'ok from mock');
  const [b] = bodiesOf(mock, genPath);
  assert.equal(b.cachedContent, made.name);
  assert.deepEqual(b.safetySettings, safety);
  assert.deepEqual(b.generationConfig.thinkingConfig, { thinkingBudget: 0 });
  assert.equal(b.extra_body, undefined);
});
