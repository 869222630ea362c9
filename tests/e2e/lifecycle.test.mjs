// SPEC 2 (signals, startup failures, token generation) and 3.5 (/healthz while draining,
// POST /admin/reload): the life of the process.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startMock } from '../mock/mock-gemini.mjs';
import { startProxy, keyEntry, modelEntry, eventually, parseSse, freePort, rawRequest, sleep, GEN } from './harness.mjs';
import { randomKeys, runBin, lines, tryConnect, parseResponses, spawnProxy, waitFor, connectRaw, waitExit } from './lib-lifecycle.mjs';

// Every test is bounded: a hang fails the test instead of the run.
const T = { timeout: 60000 };

let mock;
before(async () => { mock = await startMock(); });
after(async () => { await mock?.close(); });
beforeEach(() => mock.reset());

const admin = (p) => ({ authorization: `Bearer ${p.adminToken}` });
const tail4 = (ks) => ks.map((k) => k.slice(-4));

// Distinct keys seen by the mock for a model since the last clearRequests().
const seenSet = (model) => new Set(mock.keysSeen(model));

async function sendOk(p, model, n) {
  for (let i = 0; i < n; i++) {
    const r = await p.generate(model);
    assert.equal(r.status, 200, `${model} #${i}: ${r.status} ${r.body}`);
  }
}

function tmpDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

// ---- reload ---------------------------------------------------------------------------------

test('SIGHUP reload: a new key joins, a removed key leaves, kept keys keep their state, an open stream is not dropped', T, async () => {
  const [A, B, C, D] = randomKeys(4);
  const model = 'lc-hup';
  const p = await startProxy({ keys: [A, B, C], upstream: mock.url });
  try {
    mock.setKey(B, model, 'day');
    await sendOk(p, model, 4);
    let a = await p.adminKeys();
    assert.equal(modelEntry(a, B, model).state, 'exhausted');
    const bUntil = modelEntry(a, B, model).until;
    const cBefore = keyEntry(a, C).requests_today;
    assert.ok(cBefore > 0);
    mock.clearKey(B, model); // only the proxy's memory keeps B exhausted from now on

    // A slow stream in flight while the reload happens.
    mock.queue('*', 'lc-hup-slow', { type: 'slowstream', events: 5, intervalMs: 200 });
    const slow = p.call('POST', '/v1beta/models/lc-hup-slow:streamGenerateContent?alt=sse', { body: GEN });
    await mock.waitForRequests(mock.requests.length + 1);
    await sleep(100);

    fs.writeFileSync(p.keyFile, `# reloaded\n${B}\n\n${C}\n  ${D}  \n`);
    p.proc.kill('SIGHUP');
    a = await eventually(async () => {
      const x = await p.adminKeys();
      assert.deepEqual(x.keys.map((k) => k.key.slice(-4)).sort(), tail4([B, C, D]).sort(), 'the pool is B, C, D');
      return x;
    }, { timeoutMs: 5000 });

    const s = await slow;
    assert.equal(s.status, 200);
    assert.ok(!s.aborted, 'the stream in flight was not cut by the reload');
    assert.equal(parseSse(s.body).length, 5);

    assert.equal(modelEntry(a, B, model).state, 'exhausted', 'a kept key keeps its exhaustion');
    assert.equal(modelEntry(a, B, model).until, bUntil);
    assert.equal(keyEntry(a, C).requests_today, cBefore, 'a kept key keeps its counters');
    assert.equal(keyEntry(a, D).requests_today, 0);
    assert.equal(p.exited(), null, 'SIGHUP does not stop the proxy');

    mock.clearRequests();
    await sendOk(p, model, 6);
    const seen = seenSet(model);
    assert.ok(seen.has(D), `the new key is used: ${tail4([...seen])}`);
    assert.ok(!seen.has(A), 'the removed key is never used');
    assert.ok(!seen.has(B), 'the kept exhausted key is still skipped');
    mock.clearRequests();
    await sendOk(p, 'lc-hup-other', 6);
    const other = seenSet('lc-hup-other');
    assert.ok(!other.has(A), 'the removed key is never used for any model');
    assert.deepEqual([...other].sort(), [B, C, D].sort(), 'B, C and D serve another model');
  } finally {
    await p.cleanup();
  }
});

test('POST /admin/reload does the same as SIGHUP, needs the admin token, answers 200 JSON', T, async () => {
  const [A, B, C, E] = randomKeys(4);
  const model = 'lc-admin';
  const p = await startProxy({ keys: [A, B, C], upstream: mock.url });
  try {
    mock.queue('*', model, 'invalid');
    await sendOk(p, model, 3);
    const invalid = mock.requests.find((r) => r.model === model && r.status === 400).key;
    const keep = [A, B, C].filter((k) => k !== invalid);
    const removed = keep[0];
    const kept = [invalid, keep[1]];
    fs.writeFileSync(p.keyFile, `${kept.join('\n')}\n${E}\n`);

    const unauth = await p.request('POST', '/admin/reload');
    assert.equal(unauth.status, 401);
    const wrong = await p.request('POST', '/admin/reload', { headers: { authorization: 'Bearer not-the-admin-token' } });
    assert.equal(wrong.status, 401);
    const client = await p.request('POST', '/admin/reload', { headers: { authorization: `Bearer ${p.token}` } });
    assert.equal(client.status, 401, 'the client token is not the admin token');
    assert.equal((await p.adminKeys()).keys.length, 3, 'no reload without the admin token');
    assert.ok(keyEntry(await p.adminKeys(), removed), 'still there');

    const r = await p.request('POST', '/admin/reload', { headers: admin(p) });
    assert.equal(r.status, 200, r.body);
    assert.match(r.headers['content-type'] ?? '', /^application\/json/);
    assert.ok(r.json && typeof r.json === 'object', `JSON body: ${r.body}`);
    for (const k of [A, B, C, E]) assert.ok(!r.body.includes(k), 'no real key in the answer');

    const a = await p.adminKeys();
    assert.deepEqual(a.keys.map((k) => k.key.slice(-4)).sort(), tail4([...kept, E]).sort());
    assert.equal(keyEntry(a, invalid).status, 'active', 'a reload revives a kept invalid key (SPEC 4.2: "invalid until reload")');

    mock.clearRequests();
    await sendOk(p, model, 4);
    const seen = seenSet(model);
    assert.ok(seen.has(E), 'the new key is used');
    assert.ok(!seen.has(removed), 'the removed key is not');
    assert.ok(seen.has(invalid), 'the revived key is used again');
  } finally {
    await p.cleanup();
  }
});

test('a reload with an empty (or missing) key file keeps the old keys, reports an error, keeps serving', T, async () => {
  const K = randomKeys(3);
  const p = await startProxy({ keys: K, upstream: mock.url, logLevel: 'info' });
  try {
    const before = (await p.adminKeys()).keys.map((k) => k.id).sort();

    fs.writeFileSync(p.keyFile, '# nothing but comments\n\n   \n');
    const outBefore = p.output().length;
    p.proc.kill('SIGHUP');
    await eventually(() => {
      const fresh = p.output().slice(outBefore);
      assert.match(fresh, /(error|warn)[^\n]*(key|reload)/i, `an error line about the reload:\n${fresh}`);
    }, { timeoutMs: 5000 });
    assert.equal(p.exited(), null, 'still running');
    assert.deepEqual((await p.adminKeys()).keys.map((k) => k.id).sort(), before, 'old keys kept after SIGHUP');
    mock.clearRequests();
    await sendOk(p, 'lc-empty', 3);
    assert.equal(seenSet('lc-empty').size, 3, 'all three old keys still serve');

    const r = await p.request('POST', '/admin/reload', { headers: admin(p) });
    assert.ok(r.status >= 400, `an empty key file is an error: ${r.status} ${r.body}`);
    assert.ok(r.json && typeof r.json === 'object', `JSON body: ${r.body}`);
    assert.match(r.body, /key/i, `the error names the problem: ${r.body}`);
    assert.deepEqual((await p.adminKeys()).keys.map((k) => k.id).sort(), before, 'old keys kept after POST /admin/reload');

    fs.rmSync(p.keyFile);
    const r2 = await p.request('POST', '/admin/reload', { headers: admin(p) });
    assert.ok(r2.status >= 400, `a missing key file is an error: ${r2.status} ${r2.body}`);
    assert.deepEqual((await p.adminKeys()).keys.map((k) => k.id).sort(), before);
    await sendOk(p, 'lc-empty', 3);
    assert.equal((await p.request('GET', '/healthz')).status, 200);
  } finally {
    await p.cleanup();
  }
});

// ---- graceful drain ----------------------------------------------------------------------------

test('SIGTERM mid-stream: the stream completes intact, new connections are refused, exit code 0', T, async () => {
  const K = randomKeys(2);
  const p = await startProxy({ keys: K, upstream: mock.url });
  try {
    mock.queue('*', 'lc-drain', { type: 'slowstream', events: 6, intervalMs: 300 });
    const streamP = p.call('POST', '/v1beta/models/lc-drain:streamGenerateContent?alt=sse', { body: GEN });
    await mock.waitForRequests(1);
    await sleep(400); // a couple of events are out
    const tSig = Date.now();
    p.proc.kill('SIGTERM');

    // New connections are refused soon after the signal, while the stream goes on.
    const refused = await waitFor(async () => (await tryConnect(p.port, '127.0.0.1', 500)) === 'refused', { timeoutMs: 1000 });
    assert.ok(refused, 'a new connection is refused during the drain');
    assert.equal(p.exited(), null, 'the proxy waits for the stream');

    const s = await streamP;
    assert.equal(s.status, 200);
    assert.ok(!s.aborted, 'the stream was not cut');
    const events = parseSse(s.body);
    assert.equal(events.length, 6, s.body);
    assert.equal(events.at(-1).candidates[0].finishReason, 'STOP');
    assert.equal(s.body, mock.requests[0].responseBody, 'byte for byte what upstream sent');
    assert.ok(s.endedAt - tSig > 800, 'the stream went on after the signal');

    const code = await waitExit(p, 15000);
    assert.equal(code, 0, `exit code\n${p.output().slice(-1500)}`);
    assert.equal(await tryConnect(p.port), 'refused');
  } finally {
    await p.cleanup();
  }
});

test('during the drain, /healthz on an already-open connection answers 503 {"status":"draining"}', T, async () => {
  const K = randomKeys(2);
  const p = await startProxy({ keys: K, upstream: mock.url });
  try {
    mock.queue('*', 'lc-drain-hz', { type: 'slowstream', events: 6, intervalMs: 300 });
    // One keep-alive connection: a slow stream in flight, and a /healthz pipelined behind it.
    const body = JSON.stringify(GEN);
    const sock = await connectRaw(p.port);
    const chunks = [];
    let closed = false;
    sock.on('data', (d) => chunks.push(d));
    sock.on('close', () => { closed = true; });
    sock.on('error', () => { closed = true; });
    sock.write(`POST /v1beta/models/lc-drain-hz:streamGenerateContent?alt=sse HTTP/1.1\r\nHost: 127.0.0.1\r\n`
      + `x-goog-api-key: ${p.token}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
    await mock.waitForRequests(1);
    await sleep(300);
    p.proc.kill('SIGTERM');
    await sleep(200);
    sock.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    const end = Date.now() + 10000;
    while (!closed && Date.now() < end) {
      const rs = parseResponses(Buffer.concat(chunks));
      if (rs.length >= 2 && rs[1].complete) break;
      await sleep(50);
    }
    sock.destroy();
    const rs = parseResponses(Buffer.concat(chunks));
    assert.ok(rs.length >= 1 && rs[0].complete, 'the stream completed');
    assert.equal(rs[0].status, 200);
    assert.equal(parseSse(rs[0].body).length, 6);
    assert.equal(rs.length, 2, `the pipelined /healthz on the open connection got an answer (got ${rs.length} responses; connection closed: ${closed})`);
    assert.equal(rs[1].status, 503);
    assert.deepEqual(JSON.parse(rs[1].body), { status: 'draining' });
    assert.equal(await waitExit(p, 15000), 0);
  } finally {
    await p.cleanup();
  }
});

// ---- startup failures -----------------------------------------------------------------------

async function assertStartupFails(args, re, what, { cwd } = {}) {
  const dir = cwd ?? tmpDir('gkm-fail-');
  try {
    const port = await freePort();
    const r = await runBin(['--listen', `127.0.0.1:${port}`, '--token', 'tok', '--state-dir', dir, '--log-dir', dir, ...args], { cwd: dir });
    assert.equal(r.timedOut, false, `${what}: the process exits by itself`);
    assert.notEqual(r.code, 0, `${what}: non-zero exit code (stderr ${r.stderr})`);
    assert.equal(r.signal, null, `${what}: exits, does not crash (${r.signal})`);
    const errLines = lines(r.stderr);
    assert.equal(errLines.length, 1, `${what}: exactly one line on stderr, got:\n${r.stderr}`);
    assert.match(errLines[0], re, `${what}: the line names the problem: ${errLines[0]}`);
    assert.equal(await tryConnect(port), 'refused', `${what}: nothing listens`);
    return r;
  } finally {
    if (!cwd) fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('startup fails with one clear line and a non-zero exit code', T, async () => {
  const dir = tmpDir('gkm-fail-keys-');
  try {
    const keyFile = path.join(dir, 'key.txt');
    fs.writeFileSync(keyFile, randomKeys(1)[0] + '\n');
    const missing = path.join(dir, 'no-such-key-file.txt');
    await assertStartupFails(['--keys', missing], /no-such-key-file\.txt|key file/i, 'missing key file');
    const empty = path.join(dir, 'empty.txt');
    fs.writeFileSync(empty, '');
    await assertStartupFails(['--keys', empty], /empty\.txt|key/i, 'empty key file');
    const comments = path.join(dir, 'comments.txt');
    fs.writeFileSync(comments, '# only a comment\n\n   \n# another\n');
    await assertStartupFails(['--keys', comments], /comments\.txt|key/i, 'key file with only comments');
    await assertStartupFails(['--keys', keyFile, '--listen', 'nonsense'], /--listen|listen/i, '--listen nonsense');
    await assertStartupFails(['--keys', keyFile, '--reset-timezone', 'Mars/Olympus'], /Mars\/Olympus|reset-timezone/i, 'unknown time zone');
    await assertStartupFails(['--keys', keyFile, '--reset-time', '25:61'], /reset-time|25:61/i, 'bad reset time');
    await assertStartupFails(['--keys', keyFile, '--max-attempts', 'many'], /max-attempts|many/i, 'bad number');
    await assertStartupFails(['--keys', keyFile, '--log-level', 'loud'], /log-level|loud/i, 'bad log level');
    await assertStartupFails(['--keys', keyFile, '--no-such-flag', 'x'], /no-such-flag/i, 'unknown flag');
    const notADir = path.join(dir, 'a-file');
    fs.writeFileSync(notADir, 'x');
    await assertStartupFails(['--keys', keyFile, '--state-dir', notADir], /state-dir|a-file/i, 'state dir that is a file');

    // Port in use: a second proxy on the port of a running one.
    const p = await startProxy({ keys: randomKeys(1), upstream: mock.url });
    try {
      const r = await runBin(['--keys', keyFile, '--listen', `127.0.0.1:${p.port}`, '--token', 'tok', '--state-dir', dir, '--log-dir', dir], { cwd: dir });
      assert.notEqual(r.code, 0, `port in use: non-zero exit (stderr ${r.stderr})`);
      const errLines = lines(r.stderr);
      assert.equal(errLines.length, 1, `port in use: exactly one line on stderr, got:\n${r.stderr}`);
      assert.match(errLines[0], new RegExp(`in use|${p.port}`, 'i'), errLines[0]);
      assert.equal((await p.request('GET', '/healthz')).status, 200, 'the first proxy is unharmed');
    } finally {
      await p.cleanup();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('--help and --version exit 0', T, async () => {
  const h = await runBin(['--help']);
  assert.equal(h.code, 0, h.stderr);
  for (const flag of ['--config', '--keys', '--listen', '--upstream', '--token', '--admin-token', '--state-dir', '--redis',
    '--log-dir', '--log-level', '--reset-timezone', '--reset-time', '--openai-mode', '--max-attempts', '--upstream-timeout',
    '--max-body-bytes', '--threads', '--client-timeout', '--bare-429', '--log-max-size', '--log-max-files', '--upstream-ca']) {
    assert.ok(h.stdout.includes(flag), `--help documents ${flag}`);
  }
  const v = await runBin(['--version']);
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, /\d+\.\d+/, `a version number: ${v.stdout}`);
});

// ---- token generation -----------------------------------------------------------------------

test('without --token a token is generated, printed once on stdout, works, and is kept across a restart', T, async () => {
  const dir = tmpDir('gkm-token-');
  try {
    const keys = randomKeys(2);
    const keyFile = path.join(dir, 'key.txt');
    fs.writeFileSync(keyFile, keys.join('\n') + '\n');
    const port = await freePort();
    const args = ['--keys', keyFile, '--listen', `127.0.0.1:${port}`, '--upstream', mock.url, '--state-dir', dir, '--log-dir', dir];
    const first = await spawnProxy(args, { port, cwd: dir });
    let token;
    try {
      // The token is one of the words printed on stdout: the one the proxy accepts.
      const words = [...new Set(first.stdout().split(/[\s"'`,;()<>]+/).filter((w) => w.length >= 16 && !w.includes('/')))];
      assert.ok(words.length > 0, `stdout prints a token:\n${first.stdout()}`);
      const good = [];
      for (const w of words) {
        const r = await rawRequest(port, 'POST', '/v1beta/models/lc-token:generateContent', { headers: { 'x-goog-api-key': w }, body: GEN });
        if (r.status === 200) good.push(w);
      }
      assert.equal(good.length, 1, `exactly one printed word is the token: ${JSON.stringify(words)}`);
      token = good[0];
      assert.ok(token.length >= 20, 'a token long enough to be unguessable');
      assert.equal(first.stdout().split(token).length - 1, 1, 'printed once');
      assert.ok(!first.stderr().includes(token), 'not repeated on stderr');
      const bad = await rawRequest(port, 'POST', '/v1beta/models/lc-token:generateContent', { headers: { 'x-goog-api-key': 'PLACEHOLDER_GEMINI_TOKEN' }, body: GEN });
      assert.equal(bad.status, 401, 'the legacy placeholder is not accepted unless configured');
      const bearer = await rawRequest(port, 'POST', '/v1beta/models/lc-token:generateContent', { headers: { authorization: `Bearer ${token}` }, body: GEN });
      assert.equal(bearer.status, 200);
    } finally {
      assert.equal(await first.stop(), 0);
    }

    const second = await spawnProxy(args, { port, cwd: dir });
    try {
      assert.ok(!second.stdout().includes(token) && !second.stderr().includes(token), 'the token is not printed again');
      assert.ok(!/[0-9a-f]{32}/i.test(second.stdout()), `no new token printed:\n${second.stdout()}`);
      const r = await rawRequest(port, 'POST', '/v1beta/models/lc-token:generateContent', { headers: { 'x-goog-api-key': token }, body: GEN });
      assert.equal(r.status, 200, 'the same token is accepted after the restart');
    } finally {
      assert.equal(await second.stop(), 0);
    }
    for (const k of keys) {
      for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.log'))) {
        assert.ok(!fs.readFileSync(path.join(dir, f), 'utf8').includes(k), 'no key in the log');
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
