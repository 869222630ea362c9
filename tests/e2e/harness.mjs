// End-to-end harness: starts the real proxy binary against the Gemini mock.
//
//   import { startMock } from '../mock/mock-gemini.mjs';
//   import { startProxy, restartProxy } from './harness.mjs';
//   const mock = await startMock();
//   const proxy = await startProxy({ keys: ['test-key-0001', 'test-key-0002'], upstream: mock.url });
//   const r = await proxy.request('POST', '/v1beta/models/gemini-2.5-flash:generateContent',
//                                 { headers: { 'x-goog-api-key': proxy.token }, body: GEN });
//   await proxy.stop();
//
// The binary is build/gemini-key-manager (override with env GKM_BIN). Keys are made up
// (test-key-0001, ...): never anything that looks like a real key.
import http from 'node:http';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = process.env.GKM_BIN || path.join(REPO, 'build', 'gemini-key-manager');

export const GEN = { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] };
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A free loopback port: bind 0, read it, close.
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// One raw HTTP/1.1 request on a fresh connection (no agent, no retries). Resolves with
// { status, headers, rawHeaders, body (utf8), buffer, json, chunks: [{at, data}], startedAt,
//   headersAt, endedAt, aborted } — `aborted` is true when the response was cut before its end.
export function rawRequest(port, method, p, { headers = {}, body, timeoutMs = 30000, host = '127.0.0.1' } = {}) {
  return new Promise((resolve, reject) => {
    let payload = body;
    const h = { ...headers };
    if (payload !== undefined && payload !== null && typeof payload !== 'string' && !Buffer.isBuffer(payload)) {
      payload = JSON.stringify(payload);
      if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['content-type'] = 'application/json';
    }
    const startedAt = Date.now();
    const req = http.request({ host, port, method, path: p, headers: h, agent: false }, (res) => {
      const headersAt = Date.now();
      const chunks = [];
      let settled = false;
      const finish = (aborted) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        const buffer = Buffer.concat(chunks.map((c) => c.data));
        const text = buffer.toString('utf8');
        let json;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({
          status: res.statusCode, headers: res.headers, rawHeaders: res.rawHeaders, body: text, buffer, json,
          chunks, startedAt, headersAt, endedAt: Date.now(), aborted,
        });
      };
      res.on('data', (d) => chunks.push({ at: Date.now(), data: d }));
      res.on('end', () => finish(!res.complete));
      res.on('aborted', () => finish(true));
      res.on('error', () => finish(true));
      res.on('close', () => finish(!res.complete));
    });
    const timer = setTimeout(() => {
      req.destroy(new Error(`${method} ${p}: no complete answer within ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('error', (e) => { clearTimeout(timer); reject(e); });
    if (payload !== undefined && payload !== null) req.end(payload);
    else req.end();
  });
}

function httpGetStatus(port, p, timeoutMs) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('timeout', () => { req.destroy(); resolve(0); });
    req.on('error', () => resolve(0));
  });
}

// Proxies still running when the test process exits (an uncaught error, a crash of the test
// file) are killed, so that none is left behind.
const live = new Set();
process.on('exit', () => {
  for (const proc of live) {
    try { proc.kill('SIGKILL'); } catch { /* gone */ }
  }
});

export async function startProxy(opts = {}) {
  const {
    keys,
    args = [],
    env = {},
    upstream,
    token = 'test-token',
    adminToken = 'admin-token',
    logLevel = 'debug',
    startTimeoutMs = 10000,
  } = opts;
  if (!fs.existsSync(BIN)) {
    throw new Error(`proxy binary not found at ${BIN}: build it first (cmake --build build) or set GKM_BIN`);
  }
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'gkm-e2e-'));
  const ownDir = opts.dir === undefined;
  const keyFile = path.join(dir, 'key.txt');
  if (keys) fs.writeFileSync(keyFile, keys.join('\n') + '\n');
  const port = opts.port ?? await freePort();

  const argv = ['--keys', keyFile, '--listen', `127.0.0.1:${port}`];
  if (upstream) argv.push('--upstream', upstream);
  for (const t of token === null ? [] : [].concat(token)) argv.push('--token', t);
  if (adminToken !== null) argv.push('--admin-token', adminToken);
  argv.push('--state-dir', dir, '--log-dir', dir, '--log-level', logLevel, ...args);

  const childEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GKM_')) childEnv[k] = v;
  Object.assign(childEnv, env);

  const proc = spawn(BIN, argv, { cwd: dir, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(proc);
  let out = '';
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => { out += d; });
  let exit = null;
  const exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => {
      live.delete(proc);
      exit = { code, signal };
      resolve(exit);
    });
    proc.on('error', (e) => {
      out += `\n[harness] spawn error: ${e.message}\n`;
      exit = { code: -1, signal: null };
      resolve(exit);
    });
  });

  const describe = () => `${BIN} ${argv.join(' ')}\n--- proxy output ---\n${out}--- end ---`;
  const deadline = Date.now() + startTimeoutMs;
  for (;;) {
    if (exit) {
      if (ownDir) fs.rmSync(dir, { recursive: true, force: true });
      throw new Error(`proxy exited during startup (code ${exit.code}, signal ${exit.signal})\n${describe()}`);
    }
    if (await httpGetStatus(port, '/healthz', 500) === 200) break;
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      await exited;
      if (ownDir) fs.rmSync(dir, { recursive: true, force: true });
      throw new Error(`proxy did not answer 200 on /healthz within ${startTimeoutMs} ms\n${describe()}`);
    }
    await sleep(50);
  }

  const p = {
    url: `http://127.0.0.1:${port}`,
    port,
    dir,
    ownDir,
    keyFile,
    token: token === null ? null : [].concat(token)[0],
    tokens: token === null ? [] : [].concat(token),
    adminToken,
    proc,
    argv,
    options: { ...opts, dir, port },
    output: () => out,
    exited: () => exit,
    describe,
    // Signal the proxy and wait for it to exit; resolves with the exit code (or the signal's
    // name when it died of one). Kills it and throws when it does not exit within graceMs.
    async stop(signal = 'SIGTERM', graceMs = 20000) {
      if (!exit) {
        proc.kill(signal);
        let timer;
        const t = new Promise((r) => { timer = setTimeout(() => r('timeout'), graceMs); });
        const first = await Promise.race([exited, t]);
        clearTimeout(timer);
        if (first === 'timeout') {
          proc.kill('SIGKILL');
          await exited;
          throw new Error(`proxy did not exit within ${graceMs} ms of ${signal}\n${describe()}`);
        }
      }
      return exit.code ?? exit.signal;
    },
    async kill9() {
      if (!exit) {
        proc.kill('SIGKILL');
        await exited;
      }
      return exit.code ?? exit.signal;
    },
    request(method, pth, o = {}) {
      return rawRequest(port, method, pth, o);
    },
    // A native call authenticated with the client token in x-goog-api-key.
    call(method, pth, o = {}) {
      return rawRequest(port, method, pth, { ...o, headers: { 'x-goog-api-key': p.token, ...(o.headers ?? {}) } });
    },
    generate(model, o = {}) {
      const m = o.method ?? 'generateContent';
      const q = o.query ?? '';
      return p.call('POST', `/v1beta/models/${model}:${m}${q}`, { body: o.body ?? GEN, headers: o.headers, timeoutMs: o.timeoutMs });
    },
    async adminKeys() {
      const r = await rawRequest(port, 'GET', '/admin/keys', { headers: { authorization: `Bearer ${adminToken}` } });
      if (r.status !== 200 || !r.json) throw new Error(`GET /admin/keys: ${r.status} ${r.body}`);
      return r.json;
    },
    // Stop (if running) and remove the temporary directory the harness created.
    async cleanup() {
      try { await p.kill9(); } finally {
        if (p.ownDir) fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  };
  return p;
}

// Start the proxy again on the same state dir and port (the key file is kept unless
// overrides.keys is given). The old process must have exited.
export async function restartProxy(p, overrides = {}) {
  if (!p.exited()) await p.stop();
  const { keys, ...rest } = overrides;
  const np = await startProxy({ ...p.options, keys, ...rest, dir: p.dir, port: p.port });
  np.ownDir = p.ownDir;
  return np;
}

// ---------------------------------------------------------------------------------------------
// Helpers for assertions.

// The /admin/keys entry of a key: its masked form ends with the key's last 4 characters
// (SPEC 3.5), so tests use keys whose last 4 characters differ.
export function keyEntry(admin, key) {
  const hits = admin.keys.filter((k) => typeof k.key === 'string' && k.key.endsWith(key.slice(-4)));
  if (hits.length !== 1) throw new Error(`key ending ${key.slice(-4)}: ${hits.length} entries in /admin/keys ${JSON.stringify(admin.keys.map((k) => k.key))}`);
  return hits[0];
}

// A model's entry for a key; a model never used may be absent (then it is ok, 0 requests).
export function modelEntry(admin, key, model) {
  return keyEntry(admin, key).models?.[model] ?? { requests: 0, state: 'ok', until: null, reason: null };
}

// The local wall-clock fields of an instant in a time zone.
function wall(tz, t) {
  const f = new Intl.DateTimeFormat('en-US', {
    timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
  const o = {};
  for (const p of f.formatToParts(new Date(t))) if (p.type !== 'literal') o[p.type] = Number(p.value);
  return o;
}

// The UTC instant of a local wall-clock time in a zone.
function fromWall(tz, y, mo, d, h, mi, s) {
  const asUtc = Date.UTC(y, mo - 1, d, h, mi, s);
  let t = asUtc;
  for (let i = 0; i < 3; i++) {
    const w = wall(tz, t);
    const shown = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
    t += asUtc - shown;
  }
  return t;
}

function parseResetTime(resetTime) {
  const [h, m, s] = resetTime.split(':').map(Number);
  return { h, m, s: s || 0 };
}

// The next quota-day reset after `now` (SPEC 4.4) as epoch milliseconds.
export function nextReset(now = Date.now(), tz = 'America/Los_Angeles', resetTime = '00:00') {
  const { h, m, s } = parseResetTime(resetTime);
  const w = wall(tz, now);
  for (let add = 0; add < 3; add++) {
    const day = new Date(Date.UTC(w.year, w.month - 1, w.day + add));
    const t = fromWall(tz, day.getUTCFullYear(), day.getUTCMonth() + 1, day.getUTCDate(), h, m, s);
    if (t > now) return t;
  }
  throw new Error('no next reset found');
}

// The quota day (YYYY-MM-DD) that contains `now` (SPEC 4.4).
export function quotaDay(now = Date.now(), tz = 'America/Los_Angeles', resetTime = '00:00') {
  const { h, m, s } = parseResetTime(resetTime);
  const w = wall(tz, now);
  const secs = w.hour * 3600 + w.minute * 60 + w.second;
  const d = new Date(Date.UTC(w.year, w.month - 1, w.day - (secs < h * 3600 + m * 60 + s ? 1 : 0)));
  return d.toISOString().slice(0, 10);
}

// Every place a client could see a key: headers (raw) and body of a response.
export function responseText(r) {
  return `${(r.rawHeaders ?? []).join('\n')}\n${r.body ?? ''}`;
}

// Throws when any of the real keys appears in the text.
export function assertNoKeys(text, keys, what = 'response') {
  for (const k of keys) {
    if (text.includes(k)) throw new Error(`real key ${k} leaked into the ${what}`);
  }
}

// How many times a header appears in a response's raw headers.
export function headerCount(r, name) {
  let n = 0;
  for (let i = 0; i < r.rawHeaders.length; i += 2) if (r.rawHeaders[i].toLowerCase() === name.toLowerCase()) n++;
  return n;
}

// Parse the events of an SSE body (accepts \r\n\r\n, \n\n and \r\r separators).
export function parseSse(text) {
  return text.split(/\r\n\r\n|\n\n|\r\r/).filter((s) => s.trim()).map((ev) => {
    const data = ev.split(/\r\n|\n|\r/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
    return JSON.parse(data);
  });
}

// Retry an async assertion until it passes or timeoutMs has passed (then throw its last
// error). For bookkeeping that the proxy may finish a moment after the client got its answer.
export async function eventually(fn, { timeoutMs = 2000, intervalMs = 50 } = {}) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() > end) throw e;
      await sleep(intervalMs);
    }
  }
}
