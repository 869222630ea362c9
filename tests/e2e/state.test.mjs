// SPEC 5: state and persistence. Usage counters, day-exhausted and invalid states, and the
// rotation position survive a graceful restart and a kill -9; state changes are flushed at once;
// the database never holds a real key; /admin/keys shows only masked keys.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { startMock } from '../mock/mock-gemini.mjs';
import { startProxy, restartProxy, keyEntry, modelEntry, eventually, sleep } from './harness.mjs';
import { randomKeys, sqliteIntegrity, assertNoKeyBytes } from './lib-lifecycle.mjs';

// Every test is bounded: a hang fails the test instead of the run.
const T = { timeout: 60000 };

const DB = 'gemini-key-manager.db';

let mock;
before(async () => { mock = await startMock(); });
after(async () => { await mock?.close(); });
beforeEach(() => mock.reset());

// What must survive a restart: per key, status, requests today and per-model entries.
function snapshot(admin) {
  const keys = admin.keys.map((k) => ({
    id: k.id,
    key: k.key,
    status: k.status,
    requests_today: k.requests_today,
    models: Object.fromEntries(Object.entries(k.models ?? {})
      .filter(([, m]) => m.requests > 0 || m.state !== 'ok')
      .map(([name, m]) => [name, { requests: m.requests, state: m.state, until: m.until }])),
  }));
  keys.sort((a, b) => a.id.localeCompare(b.id));
  return { day: admin.day, keys };
}

async function sendOk(p, model, n) {
  for (let i = 0; i < n; i++) {
    const r = await p.generate(model);
    assert.equal(r.status, 200, `request ${i} on ${model}: ${r.status} ${r.body}`);
  }
}

test('(a) counters and a day-exhausted key survive a SIGTERM restart; SIGTERM exits 0', T, async () => {
  const KEYS = randomKeys(3);
  let p = await startProxy({ keys: KEYS, upstream: mock.url });
  try {
    mock.queue('*', 'st-a', 'day'); // the first key tried for st-a is exhausted for the day
    await sendOk(p, 'st-a', 5);
    await sendOk(p, 'st-a2', 2);
    const exhausted = mock.requests.find((r) => r.model === 'st-a' && r.status === 429).key;
    const before = await eventually(async () => {
      const a = await p.adminKeys();
      assert.equal(a.keys.reduce((s, k) => s + k.requests_today, 0), 7);
      assert.equal(modelEntry(a, exhausted, 'st-a').state, 'exhausted');
      return a;
    });
    const code = await p.stop('SIGTERM');
    assert.equal(code, 0, `exit code after SIGTERM\n${p.output()}`);

    p = await restartProxy(p);
    const afterAdmin = await p.adminKeys();
    assert.deepEqual(snapshot(afterAdmin), snapshot(before), 'the state after the restart equals the state before');
    assert.equal(modelEntry(afterAdmin, exhausted, 'st-a').state, 'exhausted');
    // And it is still honoured: the exhausted key is not used for st-a after the restart.
    mock.clearRequests();
    await sendOk(p, 'st-a', 4);
    assert.ok(!mock.keysSeen('st-a').includes(exhausted), `exhausted key used after restart: ${JSON.stringify(mock.keysSeen('st-a'))}`);
  } finally {
    await p.cleanup();
  }
});

test('(b) kill -9 after more than the flush interval keeps the counters; the database is not corrupt', T, async () => {
  const KEYS = randomKeys(3);
  let p = await startProxy({ keys: KEYS, upstream: mock.url, args: ['--flush-interval-ms', '200'] });
  try {
    await sendOk(p, 'st-b', 5);
    await sendOk(p, 'st-b2', 3);
    const before = await eventually(async () => {
      const a = await p.adminKeys();
      assert.equal(a.keys.reduce((s, k) => s + k.requests_today, 0), 8);
      return a;
    });
    await sleep(800); // four flush intervals
    const sig = await p.kill9();
    assert.equal(sig, 'SIGKILL');

    const check = sqliteIntegrity(path.join(p.dir, DB));
    if (check.available) assert.ok(check.ok, `PRAGMA integrity_check after kill -9: ${check.output}`);

    p = await restartProxy(p);
    const afterAdmin = await p.adminKeys();
    assert.deepEqual(snapshot(afterAdmin), snapshot(before), 'counters kept across kill -9');
    assert.equal(afterAdmin.keys.reduce((s, k) => s + k.requests_today, 0), 8);
  } finally {
    await p.cleanup();
  }
});

for (const [what, behaviour, expect] of [
  ['day-exhausted', 'day', (a, key, model) => assert.equal(modelEntry(a, key, model).state, 'exhausted', JSON.stringify(keyEntry(a, key)))],
  ['invalid', 'invalid', (a, key) => assert.equal(keyEntry(a, key).status, 'invalid', JSON.stringify(keyEntry(a, key)))],
]) {
  test(`(c) a ${what} state is flushed at once: kill -9 right after the request (flush interval 60 s)`, T, async () => {
    const KEYS = randomKeys(3);
    const model = `st-c-${behaviour}`;
    let p = await startProxy({ keys: KEYS, upstream: mock.url, args: ['--flush-interval-ms', '60000'] });
    try {
      mock.queue('*', model, behaviour);
      const r = await p.generate(model);
      const t = Date.now();
      assert.equal(r.status, 200, r.body);
      await p.kill9();
      const killedAfter = Date.now() - t;
      assert.ok(killedAfter < 300, `kill -9 came ${killedAfter} ms after the answer`);
      const bad = mock.requests.find((x) => x.model === model && x.status !== 200)?.key;
      assert.ok(bad, 'the mock answered the first attempt with an error');

      p = await restartProxy(p);
      const a = await p.adminKeys();
      expect(a, bad, model);
      mock.clearRequests();
      await sendOk(p, model, 4);
      assert.ok(!mock.keysSeen(model).includes(bad), `${what} key used after kill -9 and restart: ${JSON.stringify(mock.keysSeen(model))}`);
    } finally {
      await p.cleanup();
    }
  });
}

test('(d) the rotation position survives a restart', T, async () => {
  const KEYS = randomKeys(3);
  const model = 'st-rr';
  let p = await startProxy({ keys: KEYS, upstream: mock.url });
  try {
    await sendOk(p, model, 2);
    assert.equal(await p.stop('SIGTERM'), 0);
    p = await restartProxy(p);
    await sendOk(p, model, 2);
    const seen = mock.keysSeen(model);
    assert.equal(seen.length, 4);
    assert.notEqual(seen[0], seen[1], `first two requests: ${JSON.stringify(seen)}`);
    const third = KEYS.find((k) => k !== seen[0] && k !== seen[1]);
    assert.equal(seen[2], third,
      `after the restart the round robin continues with the key not used yet (${third.slice(-4)}), not from the start; order ${JSON.stringify(seen.map((k) => k.slice(-4)))}`);
    assert.equal(seen[3], seen[0], `then the cycle goes on: ${JSON.stringify(seen.map((k) => k.slice(-4)))}`);
  } finally {
    await p.cleanup();
  }
});

test('(e) the database holds no real key; /admin/keys shows only masked keys', T, async () => {
  const KEYS = randomKeys(4);
  let p = await startProxy({ keys: KEYS, upstream: mock.url, args: ['--flush-interval-ms', '100'] });
  try {
    // A workload that writes every kind of record: usage, exhausted, cooling, invalid, and an
    // affinity binding (a cached content).
    mock.queue('*', 'st-e', 'day');
    await sendOk(p, 'st-e', 3);
    mock.queue('*', 'st-e2', { type: 'minute', retryDelay: '30s' });
    await sendOk(p, 'st-e2', 2);
    mock.queue('*', 'st-e3', 'invalid');
    await sendOk(p, 'st-e3', 2);
    const c = await p.call('POST', '/v1beta/cachedContents', { body: { model: 'models/gemini-2.5-flash', contents: [{ role: 'user', parts: [{ text: 'x' }] }] } });
    assert.equal(c.status, 200, c.body);
    await sleep(500);

    const dbFiles = () => fs.readdirSync(p.dir).filter((f) => f.startsWith(DB)).map((f) => path.join(p.dir, f));
    // While running (the WAL holds recent writes) ...
    const running = dbFiles();
    assert.ok(running.some((f) => f.endsWith(DB)), `database file present: ${running}`);
    for (const f of running) assertNoKeyBytes(fs.readFileSync(f), KEYS, f);

    // ... and the ids it stores are those of /admin/keys (so the check above looked at real data).
    const admin = await p.adminKeys();
    const all = Buffer.concat(running.map((f) => fs.readFileSync(f)));
    for (const k of admin.keys) {
      if (k.requests_today > 0) assert.ok(all.includes(Buffer.from(k.id)), `key id ${k.id} is in the database`);
    }

    // /admin/keys: masked keys only, ending with the key's last 4 characters.
    assert.equal(admin.keys.length, KEYS.length);
    const text = JSON.stringify(admin);
    for (const k of KEYS) {
      assert.ok(!text.includes(k), 'a real key in /admin/keys');
      assert.ok(!text.includes(k.slice(9, 25)), 'a long piece of a real key in /admin/keys');
      const e = keyEntry(admin, k);
      assert.ok(e.key.endsWith(k.slice(-4)));
      assert.ok(e.key.length < k.length - 8, `masked form ${e.key} hides most of the key`);
      assert.ok(!e.id.includes(k.slice(-8)), 'the id is not derived from the key text');
    }

    // After a graceful stop (checkpointed), and the textual dump of the database.
    assert.equal(await p.stop('SIGTERM'), 0);
    for (const f of dbFiles()) assertNoKeyBytes(fs.readFileSync(f), KEYS, f);
    const check = sqliteIntegrity(path.join(p.dir, DB));
    if (check.available) assert.ok(check.ok, check.output);
  } finally {
    await p.cleanup();
  }
});

// Google nests arrays of objects among the counts (promptTokensDetails before
// thoughtsTokenCount, as the mock's okGenerate does): every count reaches the store, for plain
// answers and for the last event of a stream.
test('(f) prompt, candidate and thought tokens of native answers are stored per key, model and day', T, async () => {
  const KEYS = randomKeys(2);
  const p = await startProxy({ keys: KEYS, upstream: mock.url });
  try {
    await sendOk(p, 'st-f', 2);
    const s = await p.generate('st-f', { method: 'streamGenerateContent', query: '?alt=sse' });
    assert.equal(s.status, 200, s.body);
    assert.equal(await p.stop('SIGTERM'), 0, p.output());
    const db = sqliteIntegrity(path.join(p.dir, DB));
    assert.ok(db.available, 'sqlite3 (installed by scripts/install-deps.sh) is needed');
    const r = spawnSync('sqlite3', [path.join(p.dir, DB),
      "SELECT SUM(requests), SUM(prompt_tokens), SUM(candidate_tokens), SUM(thought_tokens) FROM usage WHERE model = 'st-f';"],
    { encoding: 'utf8' });
    // Each answer: prompt 3, candidates 2, thoughts 5.
    assert.equal(r.stdout.trim(), '3|9|6|15', r.stderr);
  } finally {
    await p.cleanup();
  }
});
