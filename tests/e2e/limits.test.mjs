// SPEC 8: limits and bad input. Bodies over --max-body-bytes get 413 (declared or chunked);
// malformed HTTP gets 400 and a close; an oversized header block 431 (or 400) and a close;
// stalled clients and clients that stop reading are dropped after --client-timeout without
// blocking anyone else; malformed JSON on a native route is passed through; nothing crashes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startMock } from '../mock/mock-gemini.mjs';
import { startProxy, sleep } from './harness.mjs';
import { randomKeys, rawExchange, firstStatus, parseResponses, connectRaw, within } from './lib-lifecycle.mjs';

// Every test is bounded: a hang fails the test instead of the run.
const T = { timeout: 60000 };

const KEYS = randomKeys(2);
const MAX = 1000;
const CLIENT_TIMEOUT_S = 2;

let mock;
let p;
before(async () => {
  mock = await startMock();
  // One I/O thread: a client that blocks it would block everyone.
  p = await startProxy({
    keys: KEYS, upstream: mock.url,
    args: ['--max-body-bytes', String(MAX), '--client-timeout', String(CLIENT_TIMEOUT_S), '--threads', '1'],
  });
});
after(async () => {
  await p?.cleanup();
  await mock?.close();
});

// A generateContent body of exactly n bytes.
function bodyOfSize(n) {
  const empty = JSON.stringify({ contents: [{ role: 'user', parts: [{ text: '' }] }] });
  const s = JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'x'.repeat(n - empty.length) }] }] });
  assert.equal(Buffer.byteLength(s), n);
  return s;
}

function head(model, extra = '') {
  return `POST /v1beta/models/${model}:generateContent HTTP/1.1\r\nHost: 127.0.0.1:${p.port}\r\n`
    + `x-goog-api-key: ${p.token}\r\ncontent-type: application/json\r\n${extra}`;
}

async function assertServing(what) {
  const h = await p.request('GET', '/healthz', { timeoutMs: 3000 });
  assert.equal(h.status, 200, `healthz after ${what}`);
  const r = await p.generate('lim-alive', { timeoutMs: 3000 });
  assert.equal(r.status, 200, `a request after ${what}: ${r.status} ${r.body}`);
}

test('a body of exactly --max-body-bytes passes', T, async () => {
  const ok = await p.call('POST', '/v1beta/models/lim-exact:generateContent', { body: bodyOfSize(MAX), headers: { 'content-type': 'application/json' } });
  assert.equal(ok.status, 200, ok.body);
  assert.equal(mock.keysSeen('lim-exact').length, 1);
});

test('a declared content-length over --max-body-bytes gets 413 without reaching upstream', T, async () => {
  const r = await p.call('POST', '/v1beta/models/lim-over:generateContent', { body: bodyOfSize(MAX + 1), headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 413, r.body);
  const big = await p.call('POST', '/v1beta/models/lim-over:generateContent', { body: bodyOfSize(50 * MAX), headers: { 'content-type': 'application/json' } });
  assert.equal(big.status, 413, big.body);
  assert.equal(mock.keysSeen('lim-over').length, 0, 'nothing forwarded');
  await assertServing('413');
});

test('a chunked body that grows past --max-body-bytes gets 413 and the connection closes', T, async () => {
  const piece = 'y'.repeat(400);
  const chunk = `${piece.length.toString(16)}\r\n${piece}\r\n`;
  const res = await rawExchange(p.port, [
    head('lim-chunked', 'transfer-encoding: chunked\r\n\r\n'),
    `${(11).toString(16)}\r\n{"contents"\r\n`,
    chunk, chunk, chunk, chunk, '0\r\n\r\n',
  ], { gapMs: 30, timeoutMs: 8000 });
  assert.equal(firstStatus(res.text), 413, res.text.slice(0, 300));
  assert.equal(res.closedBy, 'peer', 'the proxy closed the connection');
  assert.equal(mock.keysSeen('lim-chunked').length, 0, 'nothing forwarded');
  await assertServing('a chunked 413');
});

test('malformed HTTP gets 400 and the connection closes', T, async () => {
  for (const garbage of ['GARBAGE\r\n\r\n', 'GET / HTTP/9.9 junk\r\n\r\n', '\x00\x01\x02\xff\xfe\r\n\r\n',
    `POST /v1beta/models/x:generateContent HTTP/1.1\r\nHost: a\r\ncontent-length: abc\r\n\r\n`,
    `GET /healthz HTTP/1.1\r\nBad Header Without Colon\r\n\r\n`]) {
    const t0 = Date.now();
    const res = await rawExchange(p.port, garbage, { timeoutMs: 5000 });
    assert.equal(firstStatus(res.text), 400, `${JSON.stringify(garbage)} -> ${JSON.stringify(res.text.slice(0, 200))}`);
    assert.equal(res.closedBy, 'peer', `the proxy closed the connection after ${JSON.stringify(garbage)}`);
    assert.ok(Date.now() - t0 < 3000, 'closed at once, not after a timeout');
  }
  await assertServing('malformed requests');
});

// The shapes of request smuggling: a body whose end a proxy and the server behind it could
// see in different places is refused before anything goes upstream (docs/DECISIONS.md).
test('ambiguous body framing gets 400, nothing goes upstream, the connection closes', T, async () => {
  mock.clearRequests();
  const body = '5\r\nhello\r\n0\r\n\r\n';
  for (const framing of [
    `transfer-encoding: chunked\r\ncontent-length: ${body.length}\r\n`,
    `content-length: ${body.length}\r\ntransfer-encoding: chunked\r\n`,
    'transfer-encoding: gzip\r\n',
    'transfer-encoding: chunked, gzip\r\n',
    `content-length: ${body.length}\r\ncontent-length: ${body.length + 1}\r\n`,
  ]) {
    const res = await rawExchange(p.port, `${head('lim-smuggle', framing)}\r\n${body}`, { timeoutMs: 5000 });
    assert.equal(firstStatus(res.text), 400, `${JSON.stringify(framing)} -> ${JSON.stringify(res.text.slice(0, 200))}`);
    assert.equal(res.closedBy, 'peer', `the proxy closed the connection after ${JSON.stringify(framing)}`);
  }
  assert.equal(mock.requests.filter((r) => r.model === 'lim-smuggle').length, 0, 'nothing went upstream');
  // A well-framed chunked body passes.
  const gen = bodyOfSize(100);
  const ok = await rawExchange(p.port, `${head('lim-smuggle', 'transfer-encoding: chunked\r\nconnection: close\r\n')}\r\n`
    + `${(40).toString(16)}\r\n${gen.slice(0, 40)}\r\n${(60).toString(16)}\r\n${gen.slice(40)}\r\n0\r\n\r\n`, { timeoutMs: 5000 });
  assert.equal(firstStatus(ok.text), 200, ok.text.slice(0, 200));
  await assertServing('ambiguous framing');
});

// Expect: 100-continue is answered only once the request passed auth and the limits: the
// client sends its body after the 100, or never when the answer is final.
test('Expect: 100-continue gets 100 before the body, or the final answer without it', T, async () => {
  const collect = (sock) => {
    let text = '';
    sock.on('data', (d) => { text += d.toString('latin1'); });
    return () => text;
  };
  const waitFor = async (got, what, pred) => {
    const end = Date.now() + 5000;
    while (!pred(got()) && Date.now() < end) await sleep(10);
    assert.ok(pred(got()), `${what}: ${JSON.stringify(got().slice(0, 300))}`);
  };
  const body = bodyOfSize(200);

  const sock = await connectRaw(p.port);
  const got = collect(sock);
  sock.write(head('lim-continue', `expect: 100-continue\r\ncontent-length: ${body.length}\r\n\r\n`));
  await waitFor(got, 'the 100 before the body', (t) => t.includes('\r\n\r\n'));
  assert.match(got(), /^HTTP\/1\.1 100 Continue\r\n\r\n$/);
  sock.write(body);
  await waitFor(got, 'the answer after the body', (t) => /HTTP\/1\.1 200 [^]*\r\n\r\n[^]*"candidates"/.test(t));
  sock.destroy();

  // A wrong token and a body over the limit get their final answer, no 100.
  for (const [extra, want] of [
    [`content-length: ${body.length}\r\n`, 401],
    [`content-length: ${MAX + 1}\r\n`, 413],
  ]) {
    const s2 = await connectRaw(p.port);
    const got2 = collect(s2);
    const h = want === 401 ? head('lim-continue', extra).replace(p.token, 'wrong-token') : head('lim-continue', extra);
    s2.write(`${h}expect: 100-continue\r\n\r\n`);
    await waitFor(got2, `the ${want}`, (t) => t.includes('\r\n\r\n'));
    assert.equal(firstStatus(got2()), want, got2().slice(0, 200));
    assert.ok(!got2().includes('100 Continue'), 'no 100 before a final answer');
    s2.destroy();
  }
  assert.equal(mock.requests.filter((r) => r.model === 'lim-continue').length, 1);
  await assertServing('expect 100-continue');
});

test('a header block over 64 KiB gets 431 (or 400) and the connection closes', T, async () => {
  const res = await rawExchange(p.port, `GET /healthz HTTP/1.1\r\nHost: a\r\nx-big: ${'a'.repeat(70 * 1024)}\r\n\r\n`, { timeoutMs: 5000 });
  const s = firstStatus(res.text);
  assert.ok(s === 431 || s === 400, `status ${s}: ${res.text.slice(0, 200)}`);
  assert.equal(res.closedBy, 'peer');
  // Many headers adding up to more than 64 KiB.
  let many = 'GET /healthz HTTP/1.1\r\nHost: a\r\n';
  for (let i = 0; i < 1200; i++) many += `x-h-${i}: ${'b'.repeat(60)}\r\n`;
  const res2 = await rawExchange(p.port, many + '\r\n', { timeoutMs: 5000 });
  const s2 = firstStatus(res2.text);
  assert.ok(s2 === 431 || s2 === 400, `status ${s2}: ${res2.text.slice(0, 200)}`);
  assert.equal(res2.closedBy, 'peer');
  await assertServing('oversized headers');
});

test('stalled clients (half a request line; half a body) are closed within --client-timeout, others are served meanwhile', T, async () => {
  const stalledLine = rawExchange(p.port, 'POST /v1beta/mod', { timeoutMs: 10000 });
  const stalledBody = rawExchange(p.port, head('lim-stall', 'content-length: 500\r\n\r\n') + '{"contents": [', { timeoutMs: 10000 });
  // Others are served while those two hang.
  await sleep(300);
  for (let i = 0; i < 3; i++) {
    const t0 = Date.now();
    await assertServing('stalled clients');
    assert.ok(Date.now() - t0 < 1500, 'served without waiting for the stalled clients');
  }
  for (const [what, pr] of [['half a request line', stalledLine], ['half a body', stalledBody]]) {
    const res = await pr;
    assert.equal(res.closedBy, 'peer', `${what}: the proxy closed the connection`);
    const took = res.closedAt - res.openedAt;
    assert.ok(took >= CLIENT_TIMEOUT_S * 1000 - 300, `${what}: closed after ${took} ms, not before the timeout`);
    assert.ok(took <= CLIENT_TIMEOUT_S * 1000 + 2500, `${what}: closed after ${took} ms, expected about ${CLIENT_TIMEOUT_S} s`);
    const s = firstStatus(res.text);
    if (s !== null) assert.ok(s === 408 || s === 400, `${what}: status ${s}`);
  }
  assert.equal(mock.keysSeen('lim-stall').length, 0, 'a half body is never forwarded');
  await assertServing('stalled clients');
});

test('a client that stops reading a long answer does not block others and is dropped after --client-timeout', T, async () => {
  // An SSE stream of 60,000 events (about 15 MB, chunked), far more than socket buffers hold.
  mock.queue('*', 'lim-big', { type: 'slowstream', events: 60000, intervalMs: 0 });
  const sock = await connectRaw(p.port);
  let received = 0;
  let ended = false;
  sock.on('data', (d) => { received += d.length; });
  sock.on('end', () => { ended = true; });
  sock.on('close', () => { ended = true; });
  sock.on('error', () => { ended = true; });
  const body = JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'big' }] }] });
  sock.write(head('lim-big', `content-length: ${body.length}\r\n\r\n`).replace(':generateContent', ':streamGenerateContent?alt=sse') + body);
  // Read a little, then stop reading.
  await within(new Promise((r) => sock.once('data', r)), 5000, 'the first bytes of the stream');
  sock.pause();
  const stoppedAt = Date.now();
  await sleep(300);

  // Others keep being served, promptly, on the same (single) I/O thread.
  for (let i = 0; i < 5; i++) {
    const t0 = Date.now();
    await assertServing('a client that stopped reading');
    assert.ok(Date.now() - t0 < 1500, `request ${i} took ${Date.now() - t0} ms`);
  }
  const s = await p.call('POST', '/v1beta/models/lim-alive2:streamGenerateContent?alt=sse', { body: JSON.parse(body) });
  assert.equal(s.status, 200);
  assert.ok(!s.aborted, 'another stream completes');

  // After the client timeout (plus margin) the proxy has given up on the stuck client: what it
  // can still read is incomplete.
  const remaining = CLIENT_TIMEOUT_S * 1000 + 2500 - (Date.now() - stoppedAt);
  if (remaining > 0) await sleep(remaining);
  sock.resume();
  const end = Date.now() + 10000;
  while (!ended && Date.now() < end) await sleep(50);
  assert.ok(ended, 'the proxy closed the connection of the client that stopped reading');
  const sent = mock.requests.find((r) => r.model === 'lim-big')?.responseBody ?? '';
  const SIZE = Buffer.byteLength(sent);
  assert.ok(SIZE > 8 * 1024 * 1024, `the stream was long (${SIZE} bytes)`);
  assert.ok(received < SIZE, `the client got only part of the answer (${received} of ${SIZE} bytes)`);
  sock.destroy();
  await assertServing('the stuck client was dropped');
});

test('malformed JSON on a native route is forwarded as is; the upstream 400 comes back unchanged', T, async () => {
  const model = 'lim-badjson';
  const raw = '{"contents": [ {"role": "user", "parts": [{"text": "hi"}]} ,,, ';
  const r = await p.call('POST', `/v1beta/models/${model}:generateContent`, { body: raw, headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 400, r.body);
  const seen = mock.requests.filter((x) => x.model === model);
  assert.equal(seen.length, 1, 'forwarded once, no retry');
  assert.equal(seen[0].body, raw, 'the body reached upstream as raw bytes');
  assert.equal(r.body, seen[0].responseBody, 'the upstream error body came back byte for byte');
  assert.equal(r.headers['content-type'], 'application/json; charset=UTF-8');
  await assertServing('malformed JSON');
});

test('pipelined requests on one connection are answered in order', T, async () => {
  const req = `GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n`;
  const res = await rawExchange(p.port, req + req + `GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`, { timeoutMs: 5000 });
  const rs = parseResponses(res.buffer);
  assert.equal(rs.length, 3, res.text);
  for (const x of rs) assert.equal(x.status, 200);
});

test('after all of this the proxy still runs and answers /healthz', T, async () => {
  assert.equal(p.exited(), null, `the proxy exited: ${JSON.stringify(p.exited())}\n${p.output().slice(-2000)}`);
  const h = await p.request('GET', '/healthz');
  assert.equal(h.status, 200);
  assert.deepEqual(h.json, { status: 'ok' });
});
