// Re-checking invalid keys (SPEC 2.1 --recheck-invalid, 3.9 POST /admin/keys/{id}/check) and
// the check-keys subcommand (SPEC 9), end to end against the mock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { startMock } from '../mock/mock-gemini.mjs';
import { startProxy, restartProxy, keyEntry, eventually, sleep, BIN } from './harness.mjs';

const GOOD = 'test-key-0001';
const FLIP = 'test-key-0002';  // invalid at first, made valid by the test
const MODEL = 'gemini-2.5-flash';

function gauge(text, status) {
  const m = new RegExp(`^gkm_keys\\{status="${status}"\\} (\\d+)`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

async function metricsText(p) {
  return (await p.request('GET', '/metrics')).body;
}

function check(p, id, token = p.adminToken) {
  return p.request('POST', `/admin/keys/${id}/check`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
}

// Sends requests until every key in `keys` has been tried (and, being invalid, marked so).
async function touchAll(p, mock, keys) {
  for (let i = 0; i < 10 * keys.length; i++) {
    const r = await p.generate(MODEL);
    assert.equal(r.status, 200, r.body);
    const seen = new Set(mock.requests.filter((e) => e.model === MODEL).map((e) => e.key));
    if (keys.every((k) => seen.has(k))) return;
  }
  throw new Error('not every key was tried');
}

function logsOf(p) {
  let text = p.output();
  for (const f of fs.readdirSync(p.dir)) {
    if (f.endsWith('.log') || f.includes('.log.')) text += fs.readFileSync(path.join(p.dir, f), 'utf8');
  }
  return text;
}

test('an invalid key is revived by the background re-check, serves again, and stays active after a restart', async () => {
  const mock = await startMock();
  const p = await startProxy({ keys: [GOOD, FLIP], upstream: mock.url, args: ['--recheck-invalid', '1'] });
  try {
    mock.setKey(FLIP, '*', 'invalid');
    await touchAll(p, mock, [FLIP]);
    const id = keyEntry(await p.adminKeys(), FLIP).id;
    assert.equal(keyEntry(await p.adminKeys(), FLIP).status, 'invalid');
    assert.equal(gauge(await metricsText(p), 'invalid'), 1);
    // While Google still says invalid, probes leave it so.
    await eventually(() => assert.ok(mock.probes(FLIP).length >= 1, 'probed'), { timeoutMs: 5000 });
    assert.equal(mock.probes(FLIP)[0].status, 400);
    assert.equal(keyEntry(await p.adminKeys(), FLIP).status, 'invalid');
    // The probe is GET models?pageSize=1 with the key in x-goog-api-key, off the request path.
    const probe = mock.probes(FLIP)[0];
    assert.equal(probe.headers['x-goog-api-key'], FLIP);
    assert.equal(probe.url, '/v1beta/models?pageSize=1');
    assert.ok(mock.probes(GOOD).length === 0, 'an active key is not probed');

    mock.clearKey(FLIP, '*');  // the operator fixed the key at Google
    await eventually(async () => assert.equal(keyEntry(await p.adminKeys(), FLIP).status, 'active'),
      { timeoutMs: 5000, intervalMs: 100 });
    assert.equal(mock.probes(FLIP).at(-1).status, 200);
    const m = await metricsText(p);
    assert.equal(gauge(m, 'active'), 2);
    assert.equal(gauge(m, 'invalid'), 0);
    // Requests use it again.
    mock.clearRequests();
    for (let i = 0; i < 4; i++) assert.equal((await p.generate(MODEL)).status, 200);
    assert.ok(mock.requests.some((e) => e.model === MODEL && e.key === FLIP), 'the revived key serves');
    // No more probes once it is active.
    const probes = mock.probes(FLIP).length;
    await sleep(1500);
    assert.equal(mock.probes(FLIP).length, probes);
    assert.match(logsOf(p), new RegExp(`invalid key ${id} answered 200 to a re-check: active again`));

    // The revival was stored: after a restart without re-checks it is still active.
    const q = await restartProxy(p, { args: ['--recheck-invalid', '0'] });
    try {
      assert.equal(keyEntry(await q.adminKeys(), FLIP).status, 'active');
    } finally {
      await q.cleanup();
    }
  } finally {
    await p.cleanup();
    await mock.close();
  }
});

test('--recheck-invalid 0 never probes; keys invalid at start are probed one interval after it', async () => {
  const mock = await startMock();
  const p = await startProxy({ keys: [GOOD, FLIP], upstream: mock.url, args: ['--recheck-invalid', '0'] });
  try {
    mock.setKey(FLIP, '*', 'invalid');
    await touchAll(p, mock, [FLIP]);
    mock.clearKey(FLIP, '*');
    await sleep(2500);
    assert.equal(mock.probes().length, 0, 'no probe at all');
    assert.equal(keyEntry(await p.adminKeys(), FLIP).status, 'invalid');
    // Restarted with re-checks, the key found invalid in the store is probed one interval
    // (2 s) after the start, not at once.
    const q = await restartProxy(p, { args: ['--recheck-invalid', '2'] });
    try {
      const started = Date.now();
      assert.equal(keyEntry(await q.adminKeys(), FLIP).status, 'invalid');
      await eventually(async () => assert.equal(keyEntry(await q.adminKeys(), FLIP).status, 'active'),
        { timeoutMs: 6000, intervalMs: 100 });
      assert.ok(Date.now() - started >= 1500, `revived after ${Date.now() - started} ms`);
      assert.equal(mock.probes(FLIP).length, 1);
      assert.equal(mock.probes(GOOD).length, 0);
    } finally {
      await q.cleanup();
    }
  } finally {
    await p.cleanup();
    await mock.close();
  }
});

test('POST /admin/keys/{id}/check probes one key now: revives, invalidates, keeps the status when nothing is proved', async () => {
  const mock = await startMock();
  const p = await startProxy({ keys: [GOOD, FLIP], upstream: mock.url, args: ['--recheck-invalid', '0'] });
  try {
    const id = keyEntry(await p.adminKeys(), GOOD).id;
    let r = await check(p, id);
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json.id, id);
    assert.equal(r.json.status, 'active');
    assert.equal(r.json.verdict, 'success');
    assert.equal(r.json.http_status, 200);
    assert.equal(r.json.reason, null);
    assert.equal(typeof r.json.latency_ms, 'number');
    assert.ok(r.json.key.endsWith(GOOD.slice(-4)) && !r.json.key.includes(GOOD));

    // An active key Google now refuses becomes invalid.
    mock.setKey(GOOD, '*', 'invalid');
    r = await check(p, id);
    assert.deepEqual([r.json.status, r.json.verdict, r.json.http_status], ['invalid', 'invalid', 400]);
    assert.equal(keyEntry(await p.adminKeys(), GOOD).status, 'invalid');
    assert.equal(gauge(await metricsText(p), 'invalid'), 1);

    // A 5xx or a refused connection proves nothing: the key stays invalid.
    mock.setKey(GOOD, '*', '500');
    r = await check(p, id);
    assert.deepEqual([r.json.status, r.json.verdict, r.json.http_status], ['invalid', 'transient', 500]);
    assert.equal(keyEntry(await p.adminKeys(), GOOD).status, 'invalid');

    // A 429 on the models list: the key is alive (quota is counted per project).
    mock.setKey(GOOD, '*', 'minute');
    r = await check(p, id);
    assert.deepEqual([r.json.status, r.json.verdict, r.json.http_status], ['active', 'cooling', 429]);
    assert.equal(keyEntry(await p.adminKeys(), GOOD).status, 'active');

    mock.clearKey(GOOD, '*');
    r = await check(p, id);
    assert.deepEqual([r.json.status, r.json.verdict], ['active', 'success']);

    // Unknown ids, a missing admin token, other methods.
    r = await check(p, 'k000000000000');
    assert.equal(r.status, 404);
    assert.match(r.json.error.message, /no key with id k000000000000/);
    r = await check(p, id, null);
    assert.equal(r.status, 401);
    r = await p.request('GET', `/admin/keys/${id}/check`, { headers: { authorization: `Bearer ${p.adminToken}` } });
    assert.equal(r.status, 404);
  } finally {
    await p.cleanup();
    await mock.close();
  }
});

test('re-checks run at most 4 at once', async () => {
  const mock = await startMock();
  const bad = Array.from({ length: 10 }, (_, i) => `bad-key-${String(i).padStart(2, '0')}x${i}`);
  const p = await startProxy({ keys: [GOOD, ...bad], upstream: mock.url, args: ['--recheck-invalid', '1'] });
  try {
    await touchAll(p, mock, bad);
    assert.equal(gauge(await metricsText(p), 'invalid'), 10);
    // From now on every answer to a bad key takes 400 ms.
    for (const k of bad) mock.setKey(k, '*', { type: 'invalid', delayMs: 400 });
    mock.resetMaxInFlight();
    await eventually(() => assert.ok(mock.probes().length >= 12, `${mock.probes().length} probes`),
      { timeoutMs: 10000, intervalMs: 100 });
    assert.equal(mock.maxInFlight, 4);
    assert.equal(gauge(await metricsText(p), 'invalid'), 10);
    // Each key is probed about once a second, not more.
    const perKey = bad.map((k) => mock.probes(k).length);
    assert.ok(Math.max(...perKey) <= 3, `probes per key: ${perKey}`);
  } finally {
    await p.cleanup();
    await mock.close();
  }
});

test("a suspended key's 403, which names the key, reaches neither the logs nor the admin answer", async () => {
  const SUS = 'suspended-key-0003';
  const mock = await startMock();
  const p = await startProxy({ keys: [GOOD, SUS], upstream: mock.url, args: ['--recheck-invalid', '1'], logLevel: 'trace' });
  try {
    mock.setKey(SUS, '*', { type: 'suspended', gzip: true });  // compressed even unasked
    await touchAll(p, mock, [SUS]);
    const entry = keyEntry(await p.adminKeys(), SUS);
    assert.equal(entry.status, 'invalid');
    await eventually(() => assert.ok(mock.probes(SUS).length >= 1), { timeoutMs: 5000 });
    assert.equal(mock.probes(SUS)[0].status, 403);
    assert.equal(mock.probes(SUS)[0].encoding, 'gzip');
    assert.match(mock.probes(SUS)[0].responseBody, new RegExp(SUS));
    const r = await check(p, entry.id);
    assert.equal(r.status, 200);
    assert.deepEqual([r.json.status, r.json.verdict, r.json.http_status], ['invalid', 'invalid', 403]);
    assert.match(r.json.reason, /suspend/i);
    assert.ok(!r.body.includes(SUS), r.body);
    const admin = await p.request('GET', '/admin/keys', { headers: { authorization: `Bearer ${p.adminToken}` } });
    assert.ok(!admin.body.includes(SUS));
    await p.stop();
    const logs = logsOf(p);
    assert.ok(logs.includes(entry.id), 'the logs name the key by id');
    assert.ok(!logs.includes(SUS), 'the key never appears in the logs');
  } finally {
    await p.cleanup();
    await mock.close();
  }
});

// ---- check-keys (SPEC 9) ----------------------------------------------------------------------

function runCheckKeys(args, { cwd } = {}) {
  return new Promise((resolve) => {
    const proc = spawn(BIN, ['check-keys', ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => { stdout += d; });
    proc.stderr.on('data', (d) => { stderr += d; });
    proc.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

test('check-keys against the mock with invalid, suspended and good keys: table, --json, exit status, --model, --concurrency', async () => {
  const mock = await startMock();
  const dir = fs.mkdtempSync(path.join(fs.realpathSync('/tmp'), 'gkm-check-'));
  const keys = [GOOD, 'bad-key-0002', 'suspended-key-0003', 'test-key-0004'];
  const all = path.join(dir, 'all.txt');
  fs.writeFileSync(all, `${GOOD} project=team-a\nbad-key-0002\nsuspended-key-0003 project=team-b\ntest-key-0004\n`);
  const good = path.join(dir, 'good.txt');
  fs.writeFileSync(good, `${GOOD}\ntest-key-0004\n`);
  const t0 = Date.now();
  try {
    // The table: one row per key, in file order; exit 1 as two keys are not usable.
    let r = await runCheckKeys(['--keys', all, '--upstream', mock.url], { cwd: dir });
    assert.equal(r.code, 1, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0], /^ID\s+KEY\s+PROJECT\s+VERDICT\s+LATENCY/);
    assert.equal(lines.length, 6);
    assert.match(lines[1], /^k[0-9a-f]{12}\s+\S*0001\s+team-a\s+success\s+\d+ ms\s+200/);
    assert.match(lines[2], /invalid\s+\d+ ms\s+400 /);
    assert.match(lines[3], /team-b\s+invalid\s+\d+ ms\s+403 /);
    assert.match(lines[4], /\s-\s+success/);
    assert.equal(lines[5], '2 of 4 keys usable');
    for (const k of keys) assert.ok(!r.stdout.includes(k) && !r.stderr.includes(k), `key ${k} printed`);
    assert.equal(mock.probes().length, 4);

    // --json: one document.
    r = await runCheckKeys(['--json', '--keys', all, '--upstream', mock.url]);
    assert.equal(r.code, 1);
    const doc = JSON.parse(r.stdout);
    assert.deepEqual([doc.total, doc.usable, doc.model], [4, 2, null]);
    assert.deepEqual(doc.keys.map((k) => k.verdict), ['success', 'invalid', 'invalid', 'success']);
    assert.deepEqual(doc.keys.map((k) => k.project), ['team-a', null, 'team-b', null]);
    assert.deepEqual(doc.keys.map((k) => k.http_status), [200, 400, 403, 200]);
    assert.match(doc.keys[2].reason, /suspend/i);
    assert.ok(doc.keys.every((k) => /^k[0-9a-f]{12}$/.test(k.id) && typeof k.latency_ms === 'number'));
    for (const k of keys) assert.ok(!r.stdout.includes(k));

    // Every key usable: exit 0.
    r = await runCheckKeys(['--keys', good, '--upstream', mock.url]);
    assert.equal(r.code, 0, r.stdout + r.stderr);

    // --model: a one-token generate per key; a key out of quota for it is not usable.
    mock.clearRequests();
    mock.setKey('test-key-0004', MODEL, 'day');
    r = await runCheckKeys(['--keys', good, '--upstream', mock.url, '--model', MODEL, '--json']);
    assert.equal(r.code, 1);
    assert.deepEqual(JSON.parse(r.stdout).keys.map((k) => k.verdict), ['success', 'day_exhausted']);
    const gens = mock.requests.filter((e) => e.model === MODEL);
    assert.equal(gens.length, 2);
    assert.equal(gens[0].path, `/v1beta/models/${MODEL}:generateContent`);
    assert.equal(JSON.parse(gens[0].body).generationConfig.maxOutputTokens, 1);
    assert.equal(mock.probes().length, 0);
    mock.clearKey('test-key-0004', MODEL);

    // --concurrency bounds the probes at once.
    const many = path.join(dir, 'many.txt');
    fs.writeFileSync(many, Array.from({ length: 8 }, (_, i) => `test-key-10${i}${i}`).join('\n') + '\n');
    mock.setKey('*', '*', { type: 'ok', delayMs: 300 });
    mock.resetMaxInFlight();
    r = await runCheckKeys(['--keys', many, '--upstream', mock.url, '--concurrency', '2']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(mock.maxInFlight, 2);
    mock.resetMaxInFlight();
    r = await runCheckKeys(['--keys', many, '--upstream', mock.url]);
    assert.equal(mock.maxInFlight, 4, 'default concurrency 4');

    // An unreachable upstream: transient, exit 1.
    r = await runCheckKeys(['--keys', good, '--upstream', 'http://127.0.0.1:1', '--json']);
    assert.equal(r.code, 1);
    assert.deepEqual(JSON.parse(r.stdout).keys.map((k) => k.verdict), ['transient', 'transient']);

    // Bad arguments: exit 2 with a line naming the flag.
    for (const bad of [['--concurrency', '0'], ['--model', 'a/b'], ['--concurrency'], ['--nope']]) {
      r = await runCheckKeys(['--keys', good, '--upstream', mock.url, ...bad]);
      assert.equal(r.code, 2, `${bad}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /^gemini-key-manager check-keys: .*--(concurrency|model|nope)/);
    }
    r = await runCheckKeys(['--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /check-keys \[--json\] \[--model M\] \[--concurrency N\]/);
    assert.ok(Date.now() - t0 < 20000, 'each run ends once its probes are done');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    await mock.close();
  }
});
