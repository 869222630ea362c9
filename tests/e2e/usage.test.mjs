// Usage history (SPEC 3.9 GET /admin/usage, SPEC 9 `usage`) against a seeded state
// database: groupings, defaults, JSON and CSV, bad parameters, and the subcommand printing
// the same rows offline, while the proxy runs and after it stopped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { startMock } from '../mock/mock-gemini.mjs';
import { startProxy, restartProxy, BIN } from './harness.mjs';
import { keyIdOf, shiftDay, seedUsage, expectedRows } from './lib-usage.mjs';

const KEYS = ['test-key-0001', 'test-key-0002'];
const [A, B] = KEYS.map(keyIdOf);
const FLASH = 'gemini-2.5-flash';
const PRO = 'gemini-2.5-pro';

// A history over the last 10 quota days up to `today`, and per-client rows; one client's
// name needs CSV quoting.
function history(today) {
  const usage = [];
  for (let i = 0; i < 10; i++) {
    const day = shiftDay(today, -i);
    usage.push({ key_id: A, model: FLASH, day, requests: 10 + i, rate_limited: i % 3, errors: 1, prompt_tokens: 100 * i, candidate_tokens: 7, thought_tokens: i });
    if (i % 2 === 0) usage.push({ key_id: B, model: FLASH, day, requests: 3, rate_limited: 1, errors: 0, prompt_tokens: 5, candidate_tokens: 6, thought_tokens: 0 });
    if (i < 3) usage.push({ key_id: B, model: PRO, day, requests: 2 * i + 1, rate_limited: 0, errors: 2, prompt_tokens: 9, candidate_tokens: 1, thought_tokens: 4 });
  }
  const clients = [
    { client: 'ci', model: FLASH, day: today, requests: 4 },
    { client: 'ci', model: FLASH, day: shiftDay(today, -1), requests: 6 },
    { client: 'team "x",y', model: PRO, day: today, requests: 2 },
    { client: 'bot', model: FLASH, day: shiftDay(today, -8), requests: 9 },
  ];
  return { usage, clients };
}

// A proxy whose state database holds the history: started once to make the database,
// stopped, seeded, started again.
async function seeded() {
  const mock = await startMock();
  let p = await startProxy({ keys: KEYS, upstream: mock.url });
  const today = (await p.adminKeys()).day;
  await p.stop();
  const h = history(today);
  seedUsage(p.dir, h.usage, h.clients);
  p = await restartProxy(p);
  return { mock, p, today, ...h };
}

function usage(p, query, token = p.adminToken) {
  return p.request('GET', '/admin/usage' + query, { headers: token ? { authorization: `Bearer ${token}` } : {} });
}

function cli(args) {
  const r = spawnSync(BIN, ['usage', ...args], { encoding: 'utf8', timeout: 20000, env: { PATH: process.env.PATH } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('GET /admin/usage: defaults, groupings, client rows and CSV from the seeded history', async () => {
  const { mock, p, today, usage: rows, clients } = await seeded();
  try {
    // Defaults: the last 7 quota days up to today, by day, JSON.
    let r = await usage(p, '');
    assert.equal(r.status, 200, r.body);
    assert.match(r.headers['content-type'], /^application\/json/);
    const from = shiftDay(today, -6);
    assert.deepEqual(r.json, { from, to: today, group_by: ['day'], rows: expectedRows(rows, ['day'], from, today) });
    assert.equal(r.json.rows.length, 7);
    assert.equal(r.json.rows[6].requests, 10 + 3 + 1); // today: A flash 10, B flash 3, B pro 1

    // Several dimensions, in the order asked, with only those columns.
    const f = shiftDay(today, -3);
    r = await usage(p, `?from=${f}&to=${today}&group_by=model,key`);
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(r.json.group_by, ['model', 'key']);
    assert.deepEqual(r.json.rows, expectedRows(rows, ['model', 'key'], f, today));
    assert.deepEqual(Object.keys(r.json.rows[0]), ['model', 'key_id', 'requests', 'rate_limited', 'errors', 'prompt_tokens', 'candidate_tokens', 'thought_tokens']);
    r = await usage(p, `?from=${shiftDay(today, -9)}&to=${today}&group_by=key,model,day`);
    assert.deepEqual(r.json.rows, expectedRows(rows, ['key', 'model', 'day'], shiftDay(today, -9), today));
    assert.equal(r.json.rows.length, 10 + 5 + 3);
    // %2C for the comma, as browsers and URLSearchParams send it.
    r = await usage(p, `?group_by=key%2Cday&from=${today}&to=${today}`);
    assert.deepEqual(r.json.rows, expectedRows(rows, ['key', 'day'], today, today));

    // Clients: from the client table, only "requests".
    r = await usage(p, `?group_by=client,model&from=${shiftDay(today, -9)}`);
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(r.json.rows, expectedRows(clients, ['client', 'model'], shiftDay(today, -9), today, true));
    assert.deepEqual(Object.keys(r.json.rows[0]), ['client', 'model', 'requests']);
    r = await usage(p, '?group_by=client');
    assert.deepEqual(r.json.rows, [{ client: 'ci', requests: 10 }, { client: 'team "x",y', requests: 2 }]);

    // CSV: a header line, one line per row, RFC 4180 quoting.
    r = await usage(p, '?group_by=client,day&format=csv');
    assert.equal(r.status, 200, r.body);
    assert.match(r.headers['content-type'], /^text\/csv/);
    assert.equal(r.body, 'client,day,requests\r\n' +
      `ci,${shiftDay(today, -1)},6\r\nci,${today},4\r\n"team ""x"",y",${today},2\r\n`);
    r = await usage(p, `?from=${today}&to=${today}&group_by=model&format=csv`);
    const todayRows = expectedRows(rows, ['model'], today, today);
    assert.equal(r.body, 'model,requests,rate_limited,errors,prompt_tokens,candidate_tokens,thought_tokens\r\n' +
      todayRows.map((x) => Object.values(x).join(',') + '\r\n').join(''));

    // A range with no usage: no rows.
    r = await usage(p, '?from=2001-01-01&to=2001-01-07');
    assert.deepEqual(r.json.rows, []);
  } finally {
    await p.cleanup();
    await mock.close();
  }
});

test('GET /admin/usage: bad parameters are 400 naming the parameter; the token is required', async () => {
  const mock = await startMock();
  const p = await startProxy({ keys: KEYS, upstream: mock.url });
  try {
    const cases = [
      ['?from=2026-13-01', 'from'], ['?to=yesterday', 'to'], ['?from=2026-02-30', 'from'],
      ['?from=2026-12-08&to=2026-12-07', 'from'], ['?from=2025-01-01&to=2026-12-07', 'from'],
      ['?group_by=keys', 'group_by'], ['?group_by=', 'group_by'], ['?group_by=day,day', 'group_by'],
      ['?group_by=client,key', 'group_by'], ['?format=xml', 'format'],
    ];
    for (const [q, param] of cases) {
      const r = await usage(p, q);
      assert.equal(r.status, 400, `${q}: ${r.body}`);
      assert.ok(r.json?.error?.message.startsWith(param + ': '), `${q}: ${r.body}`);
    }
    assert.equal((await usage(p, '', null)).status, 401);
    assert.equal((await usage(p, '', 'wrong-token')).status, 401);
    assert.equal((await p.request('POST', '/admin/usage', { headers: { authorization: `Bearer ${p.adminToken}` } })).status, 404);
  } finally {
    await p.cleanup();
    await mock.close();
  }
});

test('the usage subcommand prints the same rows from --state-dir, with the proxy running and without', async () => {
  const { mock, p, today, usage: rows } = await seeded();
  try {
    const queries = [
      [[], ''],
      [['--group-by', 'key,model', '--from', shiftDay(today, -9)], `?group_by=key,model&from=${shiftDay(today, -9)}`],
      [['--group-by=client,day', `--to=${shiftDay(today, -1)}`], `?group_by=client,day&to=${shiftDay(today, -1)}`],
    ];
    const printed = new Map(); // what the subcommand printed while the proxy ran
    const check = async (running) => {
      for (const [args, q] of queries) {
        const j = cli(['--state-dir', p.dir, '--format', 'json', ...args]);
        assert.equal(j.code, 0, j.err);
        const c = cli(['--state-dir', p.dir, '--format', 'csv', ...args]);
        assert.equal(c.code, 0, c.err);
        if (running) {
          assert.ok(JSON.parse(j.out).rows.length > 0, j.out);
          assert.deepEqual(JSON.parse(j.out), (await usage(p, q)).json, args.join(' '));
          assert.equal(c.out, (await usage(p, q + (q ? '&' : '?') + 'format=csv')).body, args.join(' '));
          printed.set(args.join(' '), [j.out, c.out]);
        } else {
          assert.deepEqual([j.out, c.out], printed.get(args.join(' ')), args.join(' '));
        }
      }
      // The table: aligned columns, the same numbers.
      const t = cli(['--state-dir', p.dir, '--group-by', 'day,model']);
      assert.equal(t.code, 0, t.err);
      const lines = t.out.trimEnd().split('\n');
      assert.match(lines[0], /^day\s+model\s+requests\s+rate_limited\s+errors\s+prompt_tokens\s+candidate_tokens\s+thought_tokens$/);
      const expected = expectedRows(rows, ['day', 'model'], shiftDay(today, -6), today);
      assert.equal(lines.length, 1 + expected.length);
      const end = lines[0].length;
      for (let i = 0; i < expected.length; i++) {
        const cells = lines[i + 1].trim().split(/\s+/);
        assert.deepEqual(cells, Object.values(expected[i]).map(String));
        assert.equal(lines[i + 1].length, end, 'numbers end in the same column');
      }
      return JSON.parse(cli(['--state-dir', p.dir, '--format', 'json']).out);
    };
    const whileRunning = await check(true);
    await p.stop();
    const stopped = await check(false);
    assert.deepEqual(stopped, whileRunning);
  } finally {
    await p.cleanup();
    await mock.close();
  }
});

test('the usage subcommand: bad flags exit 2 with one line; a missing database exits 1', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gkm-usage-'));
  try {
    for (const args of [['--format', 'xml'], ['--from', '2026-02-30'], ['--to', 'x'],
      ['--group-by', 'client,key'], ['--group-by', 'nope'], ['--bogus'], ['--from'],
      ['--from', '2026-12-08', '--to', '2026-12-01']]) {
      const r = cli(['--state-dir', dir, ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
      assert.equal(r.err.trimEnd().split('\n').length, 1, r.err);
      assert.match(r.err, /^gemini-key-manager usage: /);
      assert.equal(r.out, '');
    }
    const r = cli(['--state-dir', dir]);
    assert.equal(r.code, 1);
    assert.match(r.err, /no state database/);
    const h = cli(['--help']);
    assert.equal(h.code, 0);
    assert.match(h.out, /--group-by/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
