// SPEC 4.5 (projects), 4.6 (learned limits and pacing), 3.9 (/admin/capacity), against a mock
// that counts quotas per project and model the way Google does (tests/mock/mock-gemini.mjs
// "Quotas"): 429s with quotaValue and fractional retryDelay, one budget for all of a
// project's keys.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startMock } from '../mock/mock-gemini.mjs';
import { startProxy, restartProxy, keyEntry, modelEntry, sleep } from './harness.mjs';

// Three keys of project alpha, one of beta, one plain key (a project of its own).
const A = ['test-key-qa01', 'test-key-qa02', 'test-key-qa03'];
const B = ['test-key-qb01'];
const PLAIN = ['test-key-qp01'];
const KEY_LINES = [...A.map((k) => `${k} project=alpha # team a`), `${B[0]} project=beta`, PLAIN[0]];
const ALL = [...A, ...B, ...PLAIN];
const PROJECT = Object.fromEntries([...A.map((k) => [k, 'alpha']), [B[0], 'beta']]);

let mock;
// As harsh as Google gets: every answer gzipped whether asked or not, a 103 before each.
before(async () => { mock = await startMock({ forceGzip: true, informational: [103] }); });
after(async () => { await mock?.close(); });
beforeEach(() => {
  mock.reset();
  mock.setProjects(PROJECT);
});

async function admin(p, pth) {
  const r = await p.request('GET', pth, { headers: { authorization: `Bearer ${p.adminToken}` } });
  assert.equal(r.status, 200, `${pth}: ${r.body}`);
  return r.json;
}

const sentTo = (model) => mock.requests.filter((r) => r.model === model && r.method === 'POST').map((r) => r.keys[0]);
const statuses = (model) => mock.requests.filter((r) => r.model === model && r.method === 'POST').map((r) => r.status);
const metric = (text, line) => {
  const m = text.split('\n').find((l) => l.startsWith(line + ' '));
  return m === undefined ? undefined : Number(m.split(' ')[1]);
};

test('a per-project day 429 retires every key of the project for that model at once, and is learned', async (t) => {
  const p = await startProxy({ keys: KEY_LINES, upstream: mock.url });
  t.after(() => p.cleanup());
  const model = 'gemini-q-day';
  mock.setQuota(model, { rpd: 2 }, 'alpha');
  const codes = [];
  for (let i = 0; i < 12; i++) codes.push((await p.generate(model)).status);
  assert.deepEqual(codes, Array(12).fill(200), 'every request is served (the 429 is retried on another project)');
  // alpha sent 2, then one key of it got the 429; no other key of alpha was tried after that.
  const seen = sentTo(model);
  const st = statuses(model);
  const first429 = st.indexOf(429);
  assert.ok(first429 >= 0, `the mock refused once: ${JSON.stringify(st)}`);
  assert.equal(st.filter((s) => s === 429).length, 1, `one 429 only: ${JSON.stringify(st)}`);
  assert.ok(seen.slice(first429 + 1).every((k) => !A.includes(k)), `alpha not tried after its 429: ${JSON.stringify(seen)}`);
  // Every key of alpha shows the project's state; beta and the plain key are fine.
  const keys = await p.adminKeys();
  for (const k of A) {
    assert.equal(keyEntry(keys, k).project, 'alpha');
    const e = modelEntry(keys, k, model);
    assert.equal(e?.state, 'exhausted', `${k}: ${JSON.stringify(e)}`);
    assert.match(e.reason, /per-day quota/);
  }
  assert.equal(keyEntry(keys, B[0]).project, 'beta');
  assert.equal(keyEntry(keys, PLAIN[0]).project, null);
  assert.notEqual(modelEntry(keys, B[0], model)?.state, 'exhausted');
  // Another model still uses alpha's keys.
  for (let i = 0; i < 5; i++) assert.equal((await p.generate('gemini-q-other')).status, 200);
  assert.ok(sentTo('gemini-q-other').some((k) => A.includes(k)));
  // The learned limit and the state in /admin/capacity and /metrics.
  const cap = await admin(p, '/admin/capacity');
  const m = cap.models.find((x) => x.model === model);
  const alpha = m.projects.find((x) => x.project === 'alpha');
  assert.equal(alpha.learned.rpd, 2);
  assert.equal(alpha.limits.rpd, 2);
  assert.equal(alpha.keys, 3);
  assert.equal(alpha.state, 'exhausted');
  assert.equal(alpha.left_today, 0);
  const plain = m.projects.find((x) => x.project === null);
  assert.match(plain.key_id, /^k[0-9a-f]{12}$/);
  const met = await p.request('GET', '/metrics');
  assert.equal(metric(met.body, 'gkm_project_models{state="exhausted"}'), 1, met.body);
});

test('with --limit known up front, no 429 reaches the pool; the 503 says when the first budget opens', async (t) => {
  const model = 'gemini-q-flag';
  const p = await startProxy({ keys: KEY_LINES, upstream: mock.url, args: ['--limit', 'gemini-q-*=-/3'] });
  t.after(() => p.cleanup());
  mock.setQuota(model, { rpd: 3 });
  const codes = [];
  for (let i = 0; i < 11; i++) codes.push((await p.generate(model)).status);
  // Three projects of three requests each.
  assert.deepEqual(codes.slice(0, 9), Array(9).fill(200), JSON.stringify(codes));
  assert.deepEqual(codes.slice(9), [503, 503]);
  assert.equal(statuses(model).filter((s) => s === 429).length, 0, 'no upstream 429');
  assert.equal(sentTo(model).length, 9, 'nothing sent once every project is at its limit');
  const stats = mock.quotaStats();
  assert.equal(stats[`alpha|${model}`].served, 3);
  assert.equal(stats[`beta|${model}`].served, 3);
  const r = await p.generate(model);
  assert.equal(r.status, 503);
  assert.ok(Number(r.headers['retry-after']) > 60, `Retry-After until the reset: ${r.headers['retry-after']}`);
  assert.match(r.json.error.message, /exhausted for today/);
  const met = await p.request('GET', '/metrics');
  assert.equal(metric(met.body, 'gkm_project_models{state="paced"}'), 3, met.body);
});

test('learned limits and project states survive a restart: no 429 for what is known', async (t) => {
  let p = await startProxy({ keys: KEY_LINES, upstream: mock.url });
  t.after(() => p.cleanup());
  const model = 'gemini-q-restart';
  mock.setQuota(model, { rpd: 2 }, 'beta');
  for (let i = 0; i < 12; i++) assert.equal((await p.generate(model)).status, 200);
  assert.equal(statuses(model).filter((s) => s === 429).length, 1);
  p = await restartProxy(p);
  mock.clearRequests();
  const cap = await admin(p, '/admin/capacity');
  const beta = cap.models.find((x) => x.model === model).projects.find((x) => x.project === 'beta');
  assert.equal(beta.learned.rpd, 2, JSON.stringify(beta));
  assert.equal(beta.state, 'exhausted');
  // Google's day turns (new windows), ours does not: beta stays out, as today's usage says.
  for (let i = 0; i < 6; i++) assert.equal((await p.generate(model)).status, 200);
  assert.ok(!sentTo(model).includes(B[0]), 'beta stays exhausted after the restart');
  assert.equal(statuses(model).filter((s) => s === 429).length, 0);
});

test('a per-minute 429 teaches the minute limit; later windows are paced without a 429', async (t) => {
  // Only alpha (three keys, one budget) serves this model.
  const p = await startProxy({ keys: A.map((k) => `${k} project=alpha`), upstream: mock.url });
  t.after(() => p.cleanup());
  const model = 'gemini-q-minute';
  mock.setQuota(model, { rpm: 2 });
  // Start early in a wall-clock minute so that the burst stays inside one window.
  const into = Date.now() % 60000;
  if (into > 40000) await sleep(60000 - into + 200);
  const first = [];
  for (let i = 0; i < 4; i++) first.push((await p.generate(model)).status);
  assert.deepEqual(first, [200, 200, 503, 503], 'two served, then the project cools');
  assert.equal(statuses(model).filter((s) => s === 429).length, 1, 'one 429 to learn it');
  const cap = await admin(p, '/admin/capacity');
  assert.equal(cap.models.find((x) => x.model === model).projects[0].learned.rpm, 2);
  // The next window: two go out, the third is paced here, not refused by Google.
  await sleep(60000 - (Date.now() % 60000) + 300);
  mock.clearRequests();
  const second = [];
  for (let i = 0; i < 3; i++) second.push((await p.generate(model)).status);
  assert.deepEqual(second, [200, 200, 503]);
  assert.equal(sentTo(model).length, 2);
  assert.equal(statuses(model).filter((s) => s === 429).length, 0);
});

test('--limit: bad values exit 2 with one line naming the flag', async () => {
  for (const bad of ['gemini-x', 'gemini-x=5', 'gemini-x=a/b', 'gemini x=1/2', 'gemini-x=1/2/3/4']) {
    await assert.rejects(startProxy({ keys: ALL, upstream: mock.url, args: ['--limit', bad] }),
      (e) => /exited during startup \(code 2/.test(e.message) && /--limit/.test(e.message), bad);
  }
});

test('--strategy fill_first drains alpha, then beta, then the plain key; least_used and bad values', async (t) => {
  const model = 'gemini-q-fill';
  const p = await startProxy({ keys: KEY_LINES, upstream: mock.url, args: ['--strategy', 'fill_first', '--limit', `${model}=-/3`] });
  t.after(() => p.cleanup());
  for (let i = 0; i < 9; i++) assert.equal((await p.generate(model)).status, 200);
  const projects = sentTo(model).map((k) => PROJECT[k] ?? 'plain');
  assert.deepEqual(projects, ['alpha', 'alpha', 'alpha', 'beta', 'beta', 'beta', 'plain', 'plain', 'plain']);
  // alpha's three keys shared its three requests.
  assert.equal(new Set(sentTo(model).slice(0, 3)).size, 3);
  const lu = await startProxy({ keys: KEY_LINES, upstream: mock.url, args: ['--strategy', 'least_used'] });
  await lu.cleanup();
  await assert.rejects(startProxy({ keys: ALL, upstream: mock.url, args: ['--strategy', 'random'] }),
    (e) => /exited during startup \(code 2/.test(e.message) && /--strategy/.test(e.message));
});
