// Anthropic stream keepalive (WIRE-AGENTS D5 "ping every ~15 s"): while Gemini is silent —
// thinking before its first chunk, or between chunks — the proxy writes `event: ping` to the
// client each time the interval passes without upstream bytes; a stream that keeps coming gets
// none but the one after message_start. The interval is 15 s; GKM_TEST_PING_MS=300 shortens it
// here. Checked on the raw event stream (order and timing) and through the official
// @anthropic-ai/sdk, which must parse such a stream as any other. Other routes get no pings.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startMock } from '../mock/mock-gemini.mjs';
import { startProxy, rawRequest } from './harness.mjs';

const Anthropic = (await import('../sdk/anthropic.mjs')).default;

const KEY = 'test-key-pg01';
const MODEL = 'gemini-2.5-flash';
const PING_MS = 300;

let mock;
let proxy;

before(async () => {
  mock = await startMock();
  proxy = await startProxy({ keys: [KEY], upstream: mock.url, env: { GKM_TEST_PING_MS: String(PING_MS) } });
});
after(async () => {
  await proxy?.cleanup();
  await mock?.close();
});
beforeEach(() => mock.reset());

const BODY = JSON.stringify({ model: MODEL, max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'hi' }] });

// The events of a raw Anthropic stream as {event, data, at}, `at` being when the chunk that
// completed the event arrived (ms after the request began).
async function rawStream(body = BODY, path = '/v1/messages') {
  const r = await rawRequest(proxy.port, 'POST', path, {
    headers: { 'x-api-key': proxy.token, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
    body,
  });
  assert.equal(r.status, 200, r.body);
  const events = [];
  let text = '';
  for (const c of r.chunks) {
    text += Buffer.from(c.data).toString();
    let end;
    while ((end = text.indexOf('\n\n')) >= 0) {
      const frame = text.slice(0, end);
      text = text.slice(end + 2);
      const name = /^event: (.*)$/m.exec(frame)?.[1];
      const data = /^data: (.*)$/m.exec(frame)?.[1];
      events.push({ event: name, data: data === undefined ? undefined : JSON.parse(data), at: c.at - r.startedAt });
    }
  }
  assert.equal(text.trim(), '', 'nothing after the last event');
  return { r, events };
}

test('a stalled upstream gets pings between the content deltas, and before message_start', async () => {
  mock.setKey(KEY, MODEL, { type: 'slowstream', events: 3, intervalMs: 1200, firstDelayMs: 900 });
  const { events } = await rawStream();
  const names = events.map((e) => e.event);
  for (const e of events) {
    assert.equal(e.data.type, e.event, `data.type names the event: ${JSON.stringify(e)}`);
    if (e.event === 'ping') assert.deepEqual(e.data, { type: 'ping' });
  }
  const start = names.indexOf('message_start');
  assert.ok(start >= 0, names.join(','));
  // 900 ms of silence before the first chunk: pings at ~300 and ~600 ms (maybe ~900).
  const early = names.slice(0, start);
  assert.ok(early.length >= 2 && early.every((n) => n === 'ping'), `pings before message_start: ${names}`);
  const deltas = names.map((n, i) => (n === 'content_block_delta' ? i : -1)).filter((i) => i >= 0);
  assert.equal(deltas.length, 3, names.join(','));
  for (let d = 1; d < deltas.length; d++) {
    const between = names.slice(deltas[d - 1] + 1, deltas[d]);
    assert.ok(between.length >= 2 && between.every((n) => n === 'ping'),
      `1.2 s between chunks holds pings only: ${between}`);
  }
  // Pings come with the silence, not in a burst: at least ~PING_MS apart (but for the one
  // that always follows message_start).
  assert.equal(names[start + 1], 'ping');
  const pingTimes = events.filter((e, i) => e.event === 'ping' && i !== start + 1).map((e) => e.at);
  for (let i = 1; i < pingTimes.length; i++) {
    assert.ok(pingTimes[i] - pingTimes[i - 1] >= PING_MS * 0.5, `ping spacing ${JSON.stringify(pingTimes)}`);
  }
  assert.deepEqual(names.slice(-3), ['content_block_stop', 'message_delta', 'message_stop']);
  const text = events.filter((e) => e.event === 'content_block_delta').map((e) => e.data.delta.text).join('');
  assert.equal(text, 'ok from mock');
});

test('a stream that keeps coming gets only the ping after message_start', async () => {
  mock.setKey(KEY, MODEL, { type: 'slowstream', events: 4, intervalMs: 50 });
  const { events } = await rawStream();
  const names = events.map((e) => e.event);
  assert.equal(names.filter((n) => n === 'ping').length, 1, names.join(','));
  assert.deepEqual(names.slice(0, 2), ['message_start', 'ping']);
});

test('the Anthropic SDK parses a stream with pings: text, usage and stop reason intact', async () => {
  mock.setKey(KEY, MODEL, { type: 'slowstream', events: 3, intervalMs: 1200, firstDelayMs: 700 });
  const seen = [];
  const fetchImpl = async (url, init) => {
    const res = await fetch(url, init);
    seen.push(res);
    return res;
  };
  const c = new Anthropic({ apiKey: proxy.token, baseURL: proxy.url, maxRetries: 0, timeout: 20000, fetch: fetchImpl });
  const stream = c.messages.stream({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] });
  const types = [];
  let text = '';
  stream.on('streamEvent', (ev) => types.push(ev.type));
  stream.on('text', (t) => { text += t; });
  const m = await stream.finalMessage();
  assert.equal(seen.length, 1, 'one HTTP request, no retry');
  assert.equal(text, 'ok from mock');
  assert.equal(m.content[0].text, 'ok from mock');
  assert.equal(m.stop_reason, 'end_turn');
  assert.ok(m.usage.output_tokens > 0);
  assert.equal(types[0], 'message_start');
  assert.ok(!types.includes('ping'), 'the SDK skips pings');

  // The raw iterator of messages.create({stream: true}) too.
  mock.setKey(KEY, MODEL, { type: 'slowstream', events: 2, intervalMs: 900, firstDelayMs: 700 });
  const raw = await c.messages.create({ model: MODEL, max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'hi' }] });
  const rawTypes = [];
  for await (const ev of raw) rawTypes.push(ev.type);
  assert.equal(rawTypes[0], 'message_start');
  assert.equal(rawTypes.at(-1), 'message_stop');
});

test('an upstream break after pings still ends in an error event the SDK throws', async () => {
  mock.setKey(KEY, MODEL, { type: 'cutstream', events: 1, intervalMs: 1000 });
  const { events } = await rawStream();
  const names = events.map((e) => e.event);
  assert.ok(names.indexOf('ping', names.indexOf('content_block_delta')) > 0, `a ping while stalled: ${names}`);
  assert.equal(names.at(-1), 'error', names.join(','));
  const c = new Anthropic({ apiKey: proxy.token, baseURL: proxy.url, maxRetries: 0, timeout: 20000 });
  await assert.rejects(
    c.messages.stream({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] }).finalMessage(),
    /broke off/);
});

test('other routes get no pings from a stalled upstream', async () => {
  mock.setKey(KEY, MODEL, { type: 'slowstream', events: 2, intervalMs: 1000, firstDelayMs: 700 });
  const chat = await rawRequest(proxy.port, 'POST', '/v1/chat/completions', {
    headers: { authorization: `Bearer ${proxy.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL, stream: true, messages: [{ role: 'user', content: 'hi' }] }),
  });
  assert.equal(chat.status, 200);
  assert.ok(!chat.body.includes('ping'), chat.body);
  assert.match(chat.body, /data: \[DONE\]/);
  const native = await proxy.generate(MODEL, { method: 'streamGenerateContent', query: '?alt=sse' });
  assert.equal(native.status, 200);
  assert.ok(!native.body.includes('ping'), native.body);
  assert.equal(native.body, mock.requests.at(-1).responseBody, 'the native stream is passed through unchanged');
});
