// SPEC 4.7 (waiting instead of failing), 2.1 (--max-queue-wait, --max-queued).
//
// Waits are made with transient failures: a 503 from Google cools the (key, model) for 1 s,
// doubling with each transient failure in a row (SPEC 4.2), so one or two 'overloaded'
// answers give a key that opens again in 1 or 2 s. (A 429's cooling lasts at least to the
// next wall-clock minute, too long and too uneven for these tests; it serves below as the
// wait that does not end in time.) With one key, the proxy makes one attempt per request:
// the request that meets the 503 answers 503 itself, and the requests after it wait.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startMock } from '../mock/mock-gemini.mjs';
import { startProxy, eventually, sleep, GEN } from './harness.mjs';

const KEY = 'test-key-0001';

let mock;
before(async () => { mock = await startMock({ forceGzip: true, informational: [103] }); });
after(async () => { await mock?.close(); });
beforeEach(() => mock.reset());

async function withProxy(args, fn) {
  const p = await startProxy({ keys: [KEY], upstream: mock.url, args });
  try {
    return await fn(p);
  } finally {
    await p.cleanup();
  }
}

// A sample of /metrics: value(name, labels) for a series, 0 when absent.
async function metrics(p) {
  const r = await p.request('GET', '/metrics');
  assert.equal(r.status, 200);
  const text = r.body;
  return {
    text,
    value(name, labels = '') {
      const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
      return line === undefined ? 0 : Number(line.split(' ').pop());
    },
  };
}
const waitCount = (m, result) => m.value('gkm_queue_wait_seconds_count', `result="${result}"`);

function body(text) {
  return { contents: [{ role: 'user', parts: [{ text }] }] };
}

// The key cools for 1 s (one transient failure) or 2 s (two in a row): the requests that
// make it so answer 503 themselves.
async function coolKey(p, model, seconds) {
  mock.queue(KEY, model, 'overloaded');
  assert.equal((await p.generate(model)).status, 503);
  if (seconds === 2) {
    await sleep(1100);  // the 1 s cooling is over; the next failure doubles it
    mock.queue(KEY, model, 'overloaded');
    assert.equal((await p.generate(model)).status, 503);
  }
}

const served = (model) => mock.requests.filter((r) => r.model === model && r.status === 200);

test('a request waits for the key to open and is served then, once upstream', async () => {
  await withProxy(['--max-queue-wait', '5'], async (p) => {
    const model = 'queue-served';
    await coolKey(p, model, 2);
    const cooledAt = Date.now();
    const r = await p.generate(model, { body: body('waiting one') });
    assert.equal(r.status, 200, r.body);
    const waited = r.endedAt - r.startedAt;
    assert.ok(waited >= 1700, `served after ${waited} ms: it did not wait for the key`);
    assert.ok(waited < 4000, `served after ${waited} ms: it waited far past the key's window`);
    // Waiting costs Google nothing: one request upstream for it, sent when the key opened.
    const ok = served(model);
    assert.equal(ok.length, 1, JSON.stringify(mock.requests.map((x) => x.status)));
    assert.ok(ok[0].time - cooledAt >= 1700, 'sent upstream before the key opened');
    const m = await metrics(p);
    assert.equal(waitCount(m, 'served'), 1, m.text);
    assert.ok(m.value('gkm_queue_wait_seconds_sum', 'result="served"') >= 1.6, m.text);
    assert.equal(m.value('gkm_queue_length'), 0);
    // The request's log line says how long it waited.
    await eventually(() => assert.match(p.output(), /status=200 ms=[\d.]+ queued_ms=(1[6-9]\d\d|[23]\d\d\d)\b/));
  });
});

test('a request with attempts left waits for the key its own attempt cooled', async () => {
  await withProxy(['--max-queue-wait', '5', '--max-attempts', '2'], async (p) => {
    const model = 'queue-own';
    mock.queue(KEY, model, 'overloaded');
    const r = await p.generate(model);
    assert.equal(r.status, 200, r.body);
    assert.ok(r.endedAt - r.startedAt >= 800, `answered after ${r.endedAt - r.startedAt} ms`);
    // The same key twice, a window apart: after a wait the key counts as new.
    assert.deepEqual(mock.requests.filter((x) => x.model === model).map((x) => [x.key, x.status]),
      [[KEY, 503], [KEY, 200]]);
  });
});

test('a wait longer than --max-queue-wait is not waited: 503 at once with Retry-After', async () => {
  await withProxy(['--max-queue-wait', '1'], async (p) => {
    const model = 'queue-toolong';
    await coolKey(p, model, 2);
    const r = await p.generate(model);
    assert.equal(r.status, 503, r.body);
    assert.ok(r.endedAt - r.startedAt < 500, `answered after ${r.endedAt - r.startedAt} ms`);
    assert.equal(r.headers['retry-after'], '2');
    assert.match(r.json.error.message, /cooling/);
    const m = await metrics(p);
    assert.equal(m.value('gkm_queue_wait_seconds_count', 'result="served"'), 0);
    assert.equal(m.value('gkm_queue_rejected_total'), 0);
    assert.equal(served(model).length, 0);
  });
});

test('a wait that ends in no key gives the usual 503 early, with the new Retry-After', async () => {
  await withProxy(['--max-queue-wait', '3'], async (p) => {
    const model = 'queue-nokey';
    // X holds the key upstream for 600 ms and then gets a per-minute 429 (cooling ≥ 30 s);
    // meanwhile A's 503 cools the key for 1 s, and B lines up for that second.
    mock.queue(KEY, model, { type: 'minute', retryDelay: '30s', delayMs: 600 }, 'overloaded');
    const x = p.generate(model);
    await eventually(() => assert.equal(mock.requests.filter((e) => e.model === model).length, 1));
    assert.equal((await p.generate(model)).status, 503);  // A
    const b = await p.generate(model, { body: body('B') });
    assert.equal(b.status, 503, b.body);
    const waited = b.endedAt - b.startedAt;
    assert.ok(waited >= 200, `B answered after ${waited} ms: it did not wait`);
    assert.ok(waited < 2000, `B answered after ${waited} ms: it waited on a hopeless wait`);
    assert.ok(Number(b.headers['retry-after']) >= 25, `Retry-After ${b.headers['retry-after']}`);
    assert.match(b.json.error.message, /waited [\d.]+ s for a key/);
    assert.equal((await x).status, 503);  // its one attempt met the 429
    assert.equal(mock.requests.filter((e) => e.model === model && e.body.includes('"B"')).length, 0);
    const m = await metrics(p);
    assert.equal(waitCount(m, 'no_key'), 1, m.text);
    assert.equal(m.value('gkm_queue_length'), 0);
  });
});

test('--max-queued 1: with one request waiting, the next gets 503 at once', async () => {
  await withProxy(['--max-queue-wait', '5', '--max-queued', '1'], async (p) => {
    const model = 'queue-full';
    await coolKey(p, model, 1);
    const first = p.generate(model, { body: body('first') });
    await eventually(async () => assert.equal((await metrics(p)).value('gkm_queue_length'), 1));
    const second = await p.generate(model, { body: body('second') });
    assert.equal(second.status, 503, second.body);
    assert.ok(second.endedAt - second.startedAt < 300, `after ${second.endedAt - second.startedAt} ms`);
    assert.ok(Number(second.headers['retry-after']) >= 1);
    assert.match(second.json.error.message, /queue .* is full/);
    assert.equal((await first).status, 200);
    const m = await metrics(p);
    assert.equal(m.value('gkm_queue_rejected_total'), 1, m.text);
    assert.equal(waitCount(m, 'served'), 1, m.text);
    assert.deepEqual(served(model).map((e) => JSON.parse(e.body).contents[0].parts[0].text), ['first']);
  });
});

test('a client that leaves while waiting leaves the queue; its request never goes upstream', async () => {
  await withProxy(['--max-queue-wait', '5'], async (p) => {
    const model = 'queue-gone';
    await coolKey(p, model, 2);
    const payload = JSON.stringify(body('leaver'));
    const sock = net.connect(p.port, '127.0.0.1');
    await new Promise((resolve) => sock.once('connect', resolve));
    sock.write(`POST /v1beta/models/${model}:generateContent HTTP/1.1\r\nHost: x\r\n`
      + `x-goog-api-key: ${p.token}\r\ncontent-type: application/json\r\n`
      + `content-length: ${Buffer.byteLength(payload)}\r\n\r\n${payload}`);
    await eventually(async () => assert.equal((await metrics(p)).value('gkm_queue_length'), 1));
    sock.destroy();
    await eventually(async () => {
      const m = await metrics(p);
      assert.equal(m.value('gkm_queue_length'), 0);
      assert.equal(waitCount(m, 'gone'), 1, m.text);
    }, { timeoutMs: 1500 });
    await eventually(() => assert.match(p.output(), /the client left while waiting for a key/));
    await sleep(2200);  // past the key's window
    assert.equal(mock.requests.filter((e) => e.body.includes('leaver')).length, 0);
    assert.equal((await p.generate(model)).status, 200);  // the key serves the next one
  });
});

test('requests waiting for a model are served in the order they came', async () => {
  // The line hands the key out in arrival order; the three then go upstream at once, each on
  // a connection of its own. On one I/O thread with idle connections ready, they are sent in
  // the order they got the key; new connections would race (a connect that finishes first
  // sends first), which once reordered them under load.
  await withProxy(['--max-queue-wait', '5', '--threads', '1'], async (p) => {
    const model = 'queue-fifo';
    const warm = await Promise.all([1, 2, 3].map(() => p.generate('queue-warm-up')));
    assert.deepEqual(warm.map((r) => r.status), [200, 200, 200]);
    await coolKey(p, model, 1);
    const names = ['first', 'second', 'third'];
    const pending = [];
    for (const [i, name] of names.entries()) {
      pending.push(p.generate(model, { body: body(name) }));
      await eventually(async () => assert.equal((await metrics(p)).value('gkm_queue_length'), i + 1));
    }
    for (const r of await Promise.all(pending)) assert.equal(r.status, 200, r.body);
    assert.deepEqual(served(model).map((e) => JSON.parse(e.body).contents[0].parts[0].text), names);
    assert.equal(waitCount(await metrics(p), 'served'), 3);
  });
});

test('a graceful stop ends the waits at once with 503 instead of holding the stop', async () => {
  await withProxy(['--max-queue-wait', '90'], async (p) => {
    const model = 'queue-drain';
    // A RetryInfo 429 cools the key for 40 to 60 s (to the minute boundary at least).
    mock.queue(KEY, model, { type: 'retryinfo', retryDelay: '40s' });
    assert.equal((await p.generate(model)).status, 503);
    const waiting = p.generate(model, { body: body('drained') });
    await eventually(async () => assert.equal((await metrics(p)).value('gkm_queue_length'), 1));
    const stopAt = Date.now();
    const stopped = p.stop('SIGTERM');
    const r = await waiting;
    assert.equal(r.status, 503, r.body);
    assert.ok(Date.now() - stopAt < 2000, `answered ${Date.now() - stopAt} ms after SIGTERM`);
    assert.ok(Number(r.headers['retry-after']) >= 30, `Retry-After ${r.headers['retry-after']}`);
    assert.equal(await stopped, 0);
    assert.equal(mock.requests.filter((e) => e.body.includes('drained')).length, 0);
  });
});

test('without --max-queue-wait nothing waits: 503 at once, as before', async () => {
  await withProxy([], async (p) => {
    const model = 'queue-off';
    await coolKey(p, model, 1);
    const r = await p.generate(model, { body: GEN });
    assert.equal(r.status, 503, r.body);
    assert.ok(r.endedAt - r.startedAt < 300, `answered after ${r.endedAt - r.startedAt} ms`);
    assert.equal(r.headers['retry-after'], '1');
    const m = await metrics(p);
    assert.equal(m.value('gkm_queue_length'), 0);
    assert.equal(waitCount(m, 'served'), 0);
    assert.equal(served(model).length, 0);
  });
});
