// SPEC 2.3: named clients from the config file, each with its own token and limits (rpm,
// rpd, model globs), enforced before any key is touched; usage per client in SQLite,
// /metrics (label client), the logs (names, never tokens) and GET /admin/clients.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startMock } from '../mock/mock-gemini.mjs';
import { startProxy, restartProxy, rawRequest, GEN, nextReset, quotaDay, freePort } from './harness.mjs';
import { runBin, lines, tryConnect, filesUnder } from './lib-lifecycle.mjs';
import { client as openaiClient } from './openai-lib.mjs';

// scripts/install-deps.sh --test installs the SDKs; their absence is a failure, not a skip.
const Anthropic = (await import('../sdk/anthropic.mjs')).default;

const T = { timeout: 60000 };
const KEYS = ['test-key-cl01', 'test-key-cl02'];
const FLASH = 'gemini-2.5-flash';
const PRO = 'gemini-2.5-pro';
const TOKENS = {
  ci: 'ci-token-0001',
  alice: 'alice-token-0002',
  flash: 'flash-token-0003',
  daily: 'daily-token-0004',
  default: 'default-token-0005',
};
const sha256 = (t) => crypto.createHash('sha256').update(t).digest('hex');

const CONFIG = `
[[client]]
name = "ci-bots"
token = "${TOKENS.ci}"
rpm = 3

[[client]]
name = "alice"
token_sha256 = "${sha256(TOKENS.alice).toUpperCase()}"

[[client]]
name = "flash-only"
token = "${TOKENS.flash}"
models = ["gemini-2.5-flash*"]

[[client]]
name = "daily"
token = "${TOKENS.daily}"
rpd = 2
`;

let mock;
let proxy;
before(async () => {
  mock = await startMock();
  proxy = await startWithConfig(CONFIG, { args: ['--model-alias', `claude-opus-4-1=${PRO}`] });
});
after(async () => {
  await proxy?.cleanup();
  await mock?.close();
});
beforeEach(() => mock.reset());

async function startWithConfig(text, opts = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gkm-clients-'));
  const file = path.join(dir, 'gkm.toml');
  fs.writeFileSync(file, text);
  return startProxy({
    keys: KEYS, upstream: mock.url, token: TOKENS.default, dir, ...opts, args: ['--config', file, ...(opts.args ?? [])],
  });
}

const generate = (p, token, model = FLASH) =>
  rawRequest(p.port, 'POST', `/v1beta/models/${model}:generateContent`, { headers: { 'x-goog-api-key': token }, body: GEN });
const admin = (p, pth) => rawRequest(p.port, 'GET', pth, { headers: { authorization: `Bearer ${p.adminToken}` } });
const header = (e, name) => (typeof e.headers?.get === 'function' ? e.headers.get(name) : e.headers?.[name]) ?? null;
const clientOf = (doc, name) => doc.clients.find((c) => c.name === name);

async function sdkError(promise) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  assert.fail('the SDK call succeeded');
}

test('a client over its rpm gets 429 with Retry-After in each route\'s shape while the others are served', T, async () => {
  for (let i = 0; i < 3; i++) assert.equal((await generate(proxy, TOKENS.ci)).status, 200);
  assert.equal(mock.requests.length, 3);

  // Native: Gemini's error shape.
  const r = await generate(proxy, TOKENS.ci);
  assert.equal(r.status, 429, r.body);
  const wait = Number(r.headers['retry-after']);
  assert.ok(wait >= 1 && wait <= 60, `Retry-After ${r.headers['retry-after']}`);
  assert.equal(r.json.error.code, 429);
  assert.equal(r.json.error.status, 'RESOURCE_EXHAUSTED');
  assert.match(r.json.error.message, /client 'ci-bots' is over its limit of 3 requests per minute/);

  // OpenAI chat through the openai SDK: its RateLimitError, with the header.
  const oe = await sdkError(openaiClient(proxy, { apiKey: TOKENS.ci }).chat.completions.create({
    model: FLASH, messages: [{ role: 'user', content: 'hi' }],
  }));
  assert.equal(oe.status, 429);
  assert.equal(oe.constructor.name, 'RateLimitError');
  assert.ok(Number(header(oe, 'retry-after')) >= 1, `retry-after ${header(oe, 'retry-after')}`);
  assert.match(oe.error?.message ?? oe.message, /ci-bots/);

  // Anthropic Messages through its SDK: rate_limit_error.
  const ae = await sdkError(new Anthropic({ apiKey: TOKENS.ci, baseURL: proxy.url, maxRetries: 0 }).messages.create({
    model: FLASH, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }],
  }));
  assert.equal(ae.status, 429);
  assert.equal(ae.error?.error?.type, 'rate_limit_error');
  assert.ok(Number(header(ae, 'retry-after')) >= 1);

  // Nothing of the refused requests reached Google; the other clients are served meanwhile.
  assert.equal(mock.requests.length, 3);
  assert.equal((await generate(proxy, TOKENS.alice)).status, 200, 'alice (token_sha256)');
  assert.equal((await generate(proxy, TOKENS.default)).status, 200, 'default (--token)');
  assert.equal(mock.requests.length, 5);
});

test('a model outside the client\'s globs is refused with 403 before any key is used', T, async () => {
  const r = await generate(proxy, TOKENS.flash, PRO);
  assert.equal(r.status, 403, r.body);
  assert.equal(r.json.error.status, 'PERMISSION_DENIED');
  assert.match(r.json.error.message, /client 'flash-only' may not use model 'gemini-2.5-pro'/);
  assert.equal(r.headers['retry-after'], undefined);
  // Globs apply to the model after --model-alias: claude-opus-4-1 is gemini-2.5-pro.
  const ae = await sdkError(new Anthropic({ apiKey: TOKENS.flash, baseURL: proxy.url, maxRetries: 0 }).messages.create({
    model: 'claude-opus-4-1', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }],
  }));
  assert.equal(ae.status, 403);
  assert.equal(ae.error?.error?.type, 'permission_error');
  const oe = await sdkError(openaiClient(proxy, { apiKey: TOKENS.flash }).chat.completions.create({
    model: PRO, messages: [{ role: 'user', content: 'hi' }],
  }));
  assert.equal(oe.status, 403);
  assert.equal(mock.requests.length, 0);
  // Its own models, and requests that name none (the models list), are served.
  assert.equal((await generate(proxy, TOKENS.flash, 'gemini-2.5-flash-lite')).status, 200);
  const list = await rawRequest(proxy.port, 'GET', '/v1beta/models', { headers: { 'x-goog-api-key': TOKENS.flash } });
  assert.equal(list.status, 200);
});

test('GET /admin/clients shows each client\'s limits and today\'s usage; /metrics has the client label', T, async () => {
  assert.equal((await rawRequest(proxy.port, 'GET', '/admin/clients')).status, 401);
  const r = await admin(proxy, '/admin/clients');
  assert.equal(r.status, 200, r.body);
  assert.deepEqual(r.json.clients.map((c) => c.name), ['ci-bots', 'alice', 'flash-only', 'daily', 'default']);
  const ci = clientOf(r.json, 'ci-bots');
  assert.deepEqual(ci.limits, { rpm: 3, rpd: 0, models: [] });
  assert.equal(ci.today.day, quotaDay());
  assert.equal(ci.today.requests, 3, 'refused requests are not counted');
  assert.deepEqual(ci.today.by_model, { [FLASH]: 3 });
  assert.equal(ci.minute.requests, 3);
  assert.equal(ci.refused.rpm, 3);
  const flash = clientOf(r.json, 'flash-only');
  assert.deepEqual(flash.limits.models, ['gemini-2.5-flash*']);
  assert.equal(flash.refused.model, 3);
  assert.deepEqual(flash.today.by_model, { 'gemini-2.5-flash-lite': 1, '-': 1 });
  assert.equal(clientOf(r.json, 'alice').today.requests, 1);
  assert.equal(clientOf(r.json, 'default').today.requests, 1);
  assert.ok(!r.body.includes(TOKENS.ci) && !r.body.includes(sha256(TOKENS.alice)), 'no token in /admin/clients');

  const m = await rawRequest(proxy.port, 'GET', '/metrics');
  assert.match(m.body, /^gkm_client_requests_total\{client="ci-bots",code="200"\} 3$/m);
  assert.match(m.body, /^gkm_client_requests_total\{client="ci-bots",code="429"\} 3$/m);
  assert.match(m.body, /^gkm_client_refused_total\{client="ci-bots",reason="rpm"\} 3$/m);
  assert.match(m.body, /^gkm_client_refused_total\{client="flash-only",reason="model"\} 3$/m);
  assert.match(m.body, /^gkm_client_requests_today\{client="alice"\} 1$/m);
  // The series that existed before keep their shape.
  assert.match(m.body, /^gkm_requests_total\{route="generateContent",code="429"\} \d+$/m);
});

test('rpd counts the quota day, survives a restart, and its Retry-After is the reset', T, async () => {
  let p = await startWithConfig(CONFIG);
  try {
    assert.equal((await generate(p, TOKENS.daily)).status, 200);
    assert.equal((await generate(p, TOKENS.daily)).status, 200);
    const r = await generate(p, TOKENS.daily);
    assert.equal(r.status, 429, r.body);
    assert.match(r.json.error.message, /client 'daily' has used its 2 requests of this quota day/);
    const expected = (nextReset() - Date.now()) / 1000;
    assert.ok(Math.abs(Number(r.headers['retry-after']) - expected) < 5, `Retry-After ${r.headers['retry-after']}, reset in ${expected} s`);

    p = await restartProxy(p);
    const again = await generate(p, TOKENS.daily);
    assert.equal(again.status, 429, `after a restart: ${again.status} ${again.body}`);
    const doc = (await admin(p, '/admin/clients')).json;
    assert.equal(clientOf(doc, 'daily').today.requests, 2);
    assert.equal(mock.requests.length, 2);
    // Others are unaffected.
    assert.equal((await generate(p, TOKENS.ci)).status, 200);
  } finally {
    await p.cleanup();
  }
});

test('the logs name the client and never hold a token', T, async () => {
  const p = await startWithConfig(CONFIG);
  try {
    assert.equal((await generate(p, TOKENS.alice)).status, 200);
    assert.equal((await generate(p, TOKENS.flash, PRO)).status, 403);
    assert.equal(await p.stop('SIGTERM'), 0);
    const text = filesUnder(p.dir).filter((f) => f.endsWith('.log')).map((f) => fs.readFileSync(f, 'utf8')).join('\n');
    assert.match(text, /route=generateContent client=alice model=gemini-2\.5-flash .*status=200/);
    assert.match(text, /client=flash-only model=gemini-2\.5-pro .*status=403/);
    for (const t of [...Object.values(TOKENS), sha256(TOKENS.alice)]) {
      assert.ok(!text.includes(t) && !p.output().includes(t), `token ${t} in the logs`);
    }
  } finally {
    await p.cleanup();
  }
});

test('a mistake in a [[client]] table stops startup with one line naming the client and field (exit 2)', T, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gkm-clients-bad-'));
  try {
    fs.writeFileSync(path.join(dir, 'key.txt'), `${KEYS[0]}\n`);
    const ok = `[[client]]\nname = "a"\ntoken = "${TOKENS.ci}"\n`;
    const cases = [
      [`${ok}rpm = -5\n`, [], /\[\[client\]\] 'a': rpm: '-5' must not be negative/],
      [`${ok}models = "gemini-*"\n`, [], /\[\[client\]\] 'a': models: expected an array of strings/],
      ['[[client]]\nname = "b"\n', [], /\[\[client\]\] 'b': give exactly one of token and token_sha256/],
      [`[[client]]\nname = "c"\ntoken_sha256 = "xyz"\n`, [], /'c': token_sha256: 'xyz' is not 64 hex digits/],
      [`${ok}[[client]]\nname = "a"\ntoken = "other"\n`, [], /line 4: \[\[client\]\] 'a': name: another client has this name/],
      [ok, ['--token', TOKENS.ci], /\[\[client\]\] 'a': its token is also given by --token/],
    ];
    for (const [toml, extra, re] of cases) {
      const file = path.join(dir, 'gkm.toml');
      fs.writeFileSync(file, toml);
      const port = await freePort();
      const r = await runBin(['--keys', path.join(dir, 'key.txt'), '--listen', `127.0.0.1:${port}`, '--state-dir', dir,
        '--log-dir', dir, '--config', file, ...extra], { cwd: dir });
      assert.equal(r.code, 2, `${toml}: exit code (stderr ${r.stderr})`);
      const errLines = lines(r.stderr);
      assert.equal(errLines.length, 1, `one line, got:\n${r.stderr}`);
      assert.match(errLines[0], re);
      assert.ok(!r.stderr.includes(TOKENS.ci), 'the token is not echoed');
      assert.equal(await tryConnect(port), 'refused');
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('with clients named and no --token, no token is generated and only the clients are accepted', T, async () => {
  const p = await startWithConfig(CONFIG, { token: null });
  try {
    assert.doesNotMatch(p.output(), /generated one/);
    assert.equal((await generate(p, TOKENS.alice)).status, 200);
    assert.equal((await generate(p, TOKENS.default)).status, 401);
    const doc = (await admin(p, '/admin/clients')).json;
    assert.equal(clientOf(doc, 'default'), undefined);
  } finally {
    await p.cleanup();
  }
});
