// Issue #13, the store and lifecycle parts: a reload revives invalid keys (SPEC 4.2), one
// process per state dir, the state database owner-only, and the image fetch refusing URLs
// that would inject into its request or reach private addresses through NAT64.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startMock } from '../mock/mock-gemini.mjs';
import { startProxy, keyEntry, eventually, freePort } from './harness.mjs';
import { randomKeys, runBin, lines, tryConnect } from './lib-lifecycle.mjs';

const T = { timeout: 60000 };

let mock;
before(async () => { mock = await startMock(); });
after(async () => { await mock?.close(); });
beforeEach(() => mock.reset());

const admin = (p) => ({ authorization: `Bearer ${p.adminToken}` });

// Makes one key invalid (a 400 API_KEY_INVALID on the first attempt) and returns it.
async function invalidateOne(p, model) {
  mock.queue('*', model, 'invalid');
  const r = await p.generate(model);
  assert.equal(r.status, 200, `the next key answers: ${r.body}`);
  const bad = mock.requests.find((x) => x.model === model && x.status === 400).key;
  assert.equal(keyEntry(await p.adminKeys(), bad).status, 'invalid');
  return bad;
}

async function keysUsed(p, model, n) {
  mock.clearRequests();
  for (let i = 0; i < n; i++) assert.equal((await p.generate(model)).status, 200);
  return new Set(mock.keysSeen(model));
}

for (const how of ['SIGHUP', 'POST /admin/reload']) {
  test(`${how} revives an invalid key: active in /admin/keys and used again`, T, async () => {
    const keys = randomKeys(2);
    const model = 'sh-revive';
    const p = await startProxy({ keys, upstream: mock.url });
    try {
      const bad = await invalidateOne(p, model);
      assert.ok(!(await keysUsed(p, model, 4)).has(bad), 'an invalid key is skipped');
      if (how === 'SIGHUP') {
        p.proc.kill('SIGHUP');
        await eventually(async () => assert.equal(keyEntry(await p.adminKeys(), bad).status, 'active'), { timeoutMs: 5000 });
      } else {
        const r = await p.request('POST', '/admin/reload', { headers: admin(p) });
        assert.equal(r.status, 200, r.body);
        assert.equal(keyEntry(await p.adminKeys(), bad).status, 'active');
      }
      assert.ok((await keysUsed(p, model, 4)).has(bad), 'the revived key is used again');
    } finally {
      await p.cleanup();
    }
  });
}

test('a second process on the same --state-dir fails at once with one clear line and exit 1', T, async () => {
  const p = await startProxy({ keys: randomKeys(1), upstream: mock.url });
  try {
    const port = await freePort();
    const r = await runBin(['--keys', p.keyFile, '--listen', `127.0.0.1:${port}`, '--token', 'tok',
      '--state-dir', p.dir, '--log-dir', fs.mkdtempSync(path.join(os.tmpdir(), 'gkm-lock-log-'))], { cwd: p.dir });
    assert.equal(r.timedOut, false, 'the second process exits by itself');
    assert.equal(r.code, 1, `exit code 1 (stderr ${r.stderr})`);
    const errLines = lines(r.stderr);
    assert.equal(errLines.length, 1, `exactly one line on stderr:\n${r.stderr}`);
    assert.match(errLines[0], /state.dir/i, errLines[0]);
    assert.match(errLines[0], /in use|another|locked/i, errLines[0]);
    assert.ok(errLines[0].includes(`pid ${p.proc.pid}`), `names the holder: ${errLines[0]}`);
    assert.equal(await tryConnect(port), 'refused', 'the second process does not listen');
    assert.equal((await p.request('GET', '/healthz')).status, 200, 'the first is unharmed');
    assert.equal((await p.generate('sh-lock')).status, 200);

    // Once the first has stopped, the dir is free again.
    assert.equal(await p.stop(), 0);
    const again = await startProxy({ dir: p.dir, keys: randomKeys(1), upstream: mock.url });
    await again.kill9();
  } finally {
    await p.cleanup();
  }
});

test('with umask 022 the state database and its -wal and -shm are 0600', T, async () => {
  const old = process.umask(0o022);
  let p;
  try {
    // No --token: the proxy generates one and keeps it in the database.
    p = await startProxy({ keys: randomKeys(1), upstream: mock.url, token: null });
    const db = path.join(p.dir, 'gemini-key-manager.db');
    const token = p.output().match(/gkm-[0-9a-f]{48}/)?.[0];
    assert.ok(token, `a generated token is printed:\n${p.output()}`);
    assert.ok(fs.readFileSync(db).includes(token) || fs.readFileSync(`${db}-wal`).includes(token), 'the token is in the database');
    for (const f of [db, `${db}-wal`, `${db}-shm`]) {
      assert.ok(fs.existsSync(f), `${f} exists`);
      assert.equal((fs.statSync(f).mode & 0o777).toString(8), '600', path.basename(f));
    }
  } finally {
    process.umask(old);
    await p?.cleanup();
  }
});

// A raw TCP server that records every byte it is sent and answers nothing.
async function startRawSink() {
  const seen = [];
  const sockets = new Set();
  const server = net.createServer((s) => {
    sockets.add(s);
    const i = seen.push('') - 1;
    s.on('data', (d) => { seen[i] += d.toString('latin1'); });
    s.on('error', () => {});
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: server.address().port,
    seen,
    close: () => new Promise((r) => { for (const s of sockets) s.destroy(); server.close(r); }),
  };
}

function chatWithImage(p, url) {
  return p.request('POST', '/v1/chat/completions', {
    headers: { authorization: `Bearer ${p.token}`, 'content-type': 'application/json' },
    body: { model: 'gemini-2.5-flash', messages: [{ role: 'user', content: [{ type: 'text', text: 'look' }, { type: 'image_url', image_url: { url } }] }] },
    timeoutMs: 20000,
  });
}

test('an image URL with CR/LF, a space or a control byte is refused before anything is sent', T, async () => {
  const sink = await startRawSink();
  const p = await startProxy({ keys: randomKeys(1), upstream: mock.url, args: ['--fetch-image-urls', '--fetch-allow-private'] });
  try {
    const base = `http://127.0.0.1:${sink.port}`;
    for (const [url, re] of [
      [`${base}/cat.png HTTP/1.1\r\nX-Injected: yes\r\n\r\nGET /second`, /line break/],
      [`${base}/cat.png\nX-Injected: yes`, /line break/],
      [`${base}/a cat.png`, /space/],
      [`${base}/cat\u0001.png`, /control/],
    ]) {
      const r = await chatWithImage(p, url);
      assert.equal(r.status, 400, `${JSON.stringify(url)}: ${r.status} ${r.body}`);
      assert.match(r.body, re, r.body);
      assert.match(r.body, /image_url/, 'the error names the field');
    }
    assert.deepEqual(sink.seen, [], 'no connection was made, no byte sent');
    assert.equal(mock.requests.length, 0, 'nothing went upstream');
  } finally {
    await p.cleanup();
    await sink.close();
  }
});

test('an image URL naming a private IPv4 address through NAT64 or 6to4 is refused as private', T, async () => {
  const p = await startProxy({ keys: randomKeys(1), upstream: mock.url, args: ['--fetch-image-urls'] });
  try {
    for (const host of ['[64:ff9b::7f00:1]', '[64:ff9b::a9fe:a9fe]', '[2002:7f00:1::1]', '198.18.0.1', '192.0.0.8']) {
      const r = await chatWithImage(p, `http://${host}/cat.png`);
      assert.equal(r.status, 400, `${host}: ${r.body}`);
      assert.match(r.body, /private/, `${host}: ${r.body}`);
    }
    assert.equal(mock.requests.length, 0);
  } finally {
    await p.cleanup();
  }
});
