// Answers from Google that are legal HTTP but easy to get wrong (issue #13): interim 1xx
// answers (103 Early Hints, an unasked 100 Continue) before the final one. The proxy must
// skip them and judge, count and relay the final answer, not the first head it reads.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startMock } from '../mock/mock-gemini.mjs';
import { startProxy, modelEntry, keyEntry, parseSse, assertNoKeys, responseText, eventually } from './harness.mjs';

const KEYS = ['test-key-0001', 'test-key-0002'];

let mock;
let proxy;
before(async () => {
  mock = await startMock();
  proxy = await startProxy({ keys: KEYS, upstream: mock.url });
});
after(async () => {
  await proxy?.cleanup();
  await mock?.close();
});
beforeEach(() => mock.reset());

// A short client timeout: a proxy that takes the 1xx for the answer leaves the client waiting.
const T = { timeoutMs: 5000 };

test('generateContent after 103 and 100: the client gets the final 200 and its body', async () => {
  for (const [i, behaviour] of [
    { type: 'ok', informational: [103, 100] },
    // The interim answers in their own read, before the final head.
    { type: 'ok', informational: [103], informationalDelayMs: 100 },
    { type: 'ok', informational: [100, 102, 103, 100] },
  ].entries()) {
    const model = `quirk-1xx-${i}`;
    mock.setKey('*', model, behaviour);
    // Twice: the upstream connection must still be in step after the interim answers.
    for (let n = 0; n < 2; n++) {
      const r = await proxy.generate(model, T);
      assert.equal(r.status, 200, `${JSON.stringify(behaviour)}: status ${r.status} ${r.body}`);
      assert.equal(r.json?.candidates?.[0]?.content?.parts?.[0]?.text, 'ok from mock', r.body);
      assert.equal(r.json.usageMetadata.totalTokenCount, 10);
      assertNoKeys(responseText(r), KEYS);
    }
    const seen = mock.requests.filter((e) => e.model === model);
    assert.equal(seen.length, 2, 'one upstream call per request: nothing retried');
    assert.ok(seen.every((e) => e.informational?.length === behaviour.informational.length));
  }
  // The successes were counted for their keys.
  await eventually(async () => {
    const admin = await proxy.adminKeys();
    const total = KEYS.reduce((s, k) => s + modelEntry(admin, k, 'quirk-1xx-0').requests, 0);
    assert.equal(total, 2);
  });
});

test('streamGenerateContent (SSE) after a 103: every event reaches the client', async () => {
  const model = 'quirk-1xx-sse';
  mock.setKey('*', model, { type: 'ok', informational: [103] });
  const r = await proxy.generate(model, { method: 'streamGenerateContent', query: '?alt=sse', ...T });
  assert.equal(r.status, 200, r.body);
  assert.match(r.headers['content-type'] ?? '', /^text\/event-stream/);
  const events = parseSse(r.body);
  assert.equal(events.map((e) => e.candidates[0].content.parts[0].text).join(''), 'ok from mock');
  assert.equal(events.at(-1).candidates[0].finishReason, 'STOP');
});

test('a per-minute 429 after a 103 still cools the key: retried on the other key, which serves the next request', async () => {
  const model = 'quirk-1xx-429';
  mock.queue('*', model, { type: 'minute', informational: [103], retryDelay: '30s' });
  const r = await proxy.generate(model, T);
  assert.equal(r.status, 200, `status ${r.status} ${r.body}`);
  assert.equal(r.json.candidates[0].content.parts[0].text, 'ok from mock');
  const seen = mock.keysSeen(model);
  assert.equal(seen.length, 2, `attempts ${JSON.stringify(seen)}`);
  assert.notEqual(seen[0], seen[1], 'the retry used the other key');
  assert.equal(mock.requests[0].status, 429);
  assert.deepEqual(mock.requests[0].informational, [103]);

  const admin = await proxy.adminKeys();
  const cooled = modelEntry(admin, seen[0], model);
  assert.equal(cooled.state, 'cooling', JSON.stringify(cooled));
  assert.ok(Date.parse(cooled.until) > Date.now(), `cooling until ${cooled.until}`);
  assert.equal(keyEntry(admin, seen[0]).status, 'active', 'a per-minute 429 is not a dead key');

  // The next requests go to the other key only.
  mock.clearRequests();
  for (let i = 0; i < 3; i++) assert.equal((await proxy.generate(model, T)).status, 200);
  assert.deepEqual(mock.keysSeen(model), [seen[1], seen[1], seen[1]]);
});
