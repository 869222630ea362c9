// Helpers for the lifecycle, state, limits, logs, TLS and metrics end-to-end tests
// (state, import, reset, limits, lifecycle, tls, logs, metrics .test.mjs).
import net from 'node:net';
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { BIN, sleep } from './harness.mjs';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

function randomChars(n) {
  const bytes = crypto.randomBytes(n);
  let s = '';
  for (let i = 0; i < n; i++) s += ALPHABET[bytes[i] % ALPHABET.length];
  return s;
}

// `n` made-up keys `test-key-<30 random chars>`: long and unique, so that a substring check for
// a leak is meaningful; their last 4 characters differ (harness keyEntry() relies on it).
export function randomKeys(n, prefix = 'test-key-') {
  const keys = [];
  const tails = new Set();
  while (keys.length < n) {
    const k = prefix + randomChars(30);
    if (tails.has(k.slice(-4))) continue;
    tails.add(k.slice(-4));
    keys.push(k);
  }
  return keys;
}

// Run the binary to completion (startup failures, --help, --version).
export function runBin(args, { env = {}, cwd, timeoutMs = 15000 } = {}) {
  return new Promise((resolve) => {
    const childEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GKM_')) childEnv[k] = v;
    Object.assign(childEnv, env);
    const proc = spawn(BIN, args, { cwd, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => { stdout += d; });
    proc.stderr.on('data', (d) => { stderr += d; });
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; proc.kill('SIGKILL'); }, timeoutMs);
    proc.on('exit', (code, signal) => {
      clearTimeout(timer);
      // Let the pipes drain.
      setImmediate(() => resolve({ code, signal, stdout, stderr, timedOut }));
    });
  });
}

// Non-empty lines of a text.
export const lines = (text) => text.split(/\r?\n/).filter((l) => l.trim() !== '');

// A raw TCP exchange: connect, write `pieces` (strings/Buffers, `gapMs` apart), then collect
// whatever comes back until the proxy closes the connection (or timeoutMs). Resolves with
// { text, buffer, closed, closedBy: 'peer'|'timeout'|'error', openedAt, closedAt, error }.
export function rawExchange(port, pieces, { timeoutMs = 10000, gapMs = 0, host = '127.0.0.1', endAfterWrite = false } = {}) {
  return new Promise((resolve) => {
    const chunks = [];
    const openedAt = Date.now();
    let done = false;
    const sock = net.connect({ host, port });
    const finish = (closedBy, error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const buffer = Buffer.concat(chunks);
      sock.destroy();
      resolve({ text: buffer.toString('latin1'), buffer, closed: closedBy !== 'timeout', closedBy, openedAt, closedAt: Date.now(), error });
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    sock.on('data', (d) => chunks.push(d));
    sock.on('end', () => finish('peer'));
    sock.on('close', () => finish('peer'));
    sock.on('error', (e) => finish('error', e));
    sock.on('connect', async () => {
      for (const p of [].concat(pieces)) {
        if (done) return;
        if (sock.writable) sock.write(p);
        if (gapMs) await sleep(gapMs);
      }
      if (endAfterWrite && !done) sock.end();
    });
  });
}

// The status code of the first HTTP response in a raw text, or null.
export function firstStatus(text) {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
  return m ? Number(m[1]) : null;
}

// Every HTTP/1.1 response (status line + headers + body by content-length or chunked) in a raw
// byte stream, in order; stops at the first incomplete one.
export function parseResponses(buffer) {
  const out = [];
  let off = 0;
  const text = buffer.toString('latin1');
  while (off < text.length) {
    const end = text.indexOf('\r\n\r\n', off);
    if (end < 0) break;
    const head = text.slice(off, end).split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(head[0]);
    if (!m) break;
    const headers = {};
    for (const h of head.slice(1)) {
      const i = h.indexOf(':');
      if (i > 0) headers[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim();
    }
    let p = end + 4;
    let body = '';
    if (headers['transfer-encoding'] && /chunked/i.test(headers['transfer-encoding'])) {
      let complete = false;
      for (;;) {
        const le = text.indexOf('\r\n', p);
        if (le < 0) break;
        const size = parseInt(text.slice(p, le), 16);
        if (Number.isNaN(size)) break;
        if (size === 0) {
          const te = text.indexOf('\r\n\r\n', le);
          if (te < 0) break;
          p = te + 4;
          complete = true;
          break;
        }
        if (le + 2 + size + 2 > text.length) break;
        body += text.slice(le + 2, le + 2 + size);
        p = le + 2 + size + 2;
      }
      if (!complete) { out.push({ status: Number(m[1]), headers, body, complete: false }); break; }
    } else {
      const n = Number(headers['content-length'] ?? 0);
      if (p + n > text.length) { out.push({ status: Number(m[1]), headers, body: text.slice(p), complete: false }); break; }
      body = text.slice(p, p + n);
      p += n;
    }
    out.push({ status: Number(m[1]), headers, body: Buffer.from(body, 'latin1').toString('utf8'), complete: true });
    off = p;
  }
  return out;
}

// Try to connect; resolves 'refused', 'connected' or 'timeout'.
export function tryConnect(port, host = '127.0.0.1', timeoutMs = 2000) {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const t = setTimeout(() => { s.destroy(); resolve('timeout'); }, timeoutMs);
    s.on('connect', () => { clearTimeout(t); s.destroy(); resolve('connected'); });
    s.on('error', (e) => { clearTimeout(t); resolve(e.code === 'ECONNREFUSED' ? 'refused' : `error:${e.code}`); });
  });
}

// `sqlite3 FILE 'PRAGMA integrity_check'`: { available, ok, output }.
export function sqliteIntegrity(file) {
  const which = spawnSync('sh', ['-c', 'command -v sqlite3'], { encoding: 'utf8' });
  if (which.status !== 0) return { available: false };
  const r = spawnSync('sqlite3', [file, 'PRAGMA integrity_check;'], { encoding: 'utf8', timeout: 10000 });
  return { available: true, ok: r.status === 0 && r.stdout.trim() === 'ok', output: `${r.stdout}${r.stderr}`.trim(), status: r.status };
}

// Every regular file under a directory (recursively).
export function filesUnder(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

// Throws when any key occurs in the bytes (as UTF-8, or as UTF-16LE, in case a store keeps text
// that way).
export function assertNoKeyBytes(buf, keys, what) {
  for (const k of keys) {
    if (buf.includes(Buffer.from(k, 'utf8')) || buf.includes(Buffer.from(k, 'utf16le'))) {
      throw new Error(`real key ${k} found in ${what}`);
    }
  }
}

// HH:MM:SS of an instant in UTC (wraps at midnight, as wall-clock times do).
export function utcHms(ms) {
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, '0');
  return `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`;
}

// Today's date in the local time zone of this machine, YYYY-MM-DD (as the Python proxy wrote it).
export function localDate(ms = Date.now()) {
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

// Wait until fn() is truthy, at most timeoutMs; returns its last value.
export async function waitFor(fn, { timeoutMs = 5000, intervalMs = 25 } = {}) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v || Date.now() > end) return v;
    await sleep(intervalMs);
  }
}

// Spawn the binary with exactly `args` (no harness defaults), keeping stdout and stderr apart,
// and wait until GET /healthz on `port` answers 200. For tests that must tell stdout from stderr.
export async function spawnProxy(args, { port, cwd, env = {}, startTimeoutMs = 10000 } = {}) {
  const childEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GKM_')) childEnv[k] = v;
  Object.assign(childEnv, env);
  const proc = spawn(BIN, args, { cwd, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d) => { stdout += d; });
  proc.stderr.on('data', (d) => { stderr += d; });
  let exit = null;
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => { exit = { code, signal }; resolve(exit); }));
  const kill = () => { try { proc.kill('SIGKILL'); } catch { /* gone */ } };
  process.once('exit', kill);
  const h = {
    proc,
    stdout: () => stdout,
    stderr: () => stderr,
    exited: () => exit,
    async stop(signal = 'SIGTERM', graceMs = 15000) {
      if (!exit) {
        proc.kill(signal);
        let timer;
        const r = await Promise.race([exited, new Promise((res) => { timer = setTimeout(() => res('timeout'), graceMs); })]);
        clearTimeout(timer);
        if (r === 'timeout') { kill(); await exited; throw new Error(`no exit within ${graceMs} ms of ${signal}`); }
      }
      process.removeListener('exit', kill);
      return exit.code ?? exit.signal;
    },
  };
  const deadline = Date.now() + startTimeoutMs;
  for (;;) {
    if (exit) throw new Error(`exited during startup (${JSON.stringify(exit)})\nstdout: ${stdout}\nstderr: ${stderr}`);
    const ok = await new Promise((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/healthz', agent: false, timeout: 500 }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200));
      });
      req.on('timeout', () => { req.destroy(); resolve(false); });
      req.on('error', () => resolve(false));
    });
    if (ok) return h;
    if (Date.now() > deadline) { kill(); await exited; throw new Error(`no /healthz 200 within ${startTimeoutMs} ms\nstderr: ${stderr}`); }
    await sleep(50);
  }
}

// A promise that rejects when `p` has not settled within ms.
export function within(p, ms, what) {
  let timer;
  const t = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms); });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

// Connect a raw socket; rejects on error or after ms.
export function connectRaw(port, host = '127.0.0.1', ms = 3000) {
  return within(new Promise((resolve, reject) => {
    const s = net.connect({ host, port });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  }), ms, `connect to ${host}:${port}`);
}

// Wait for a harness proxy to exit by itself (after a signal already sent), without signalling
// it again; resolves with its exit code (or signal name), or throws after ms.
export async function waitExit(p, ms = 15000) {
  const end = Date.now() + ms;
  while (!p.exited()) {
    if (Date.now() > end) throw new Error(`the proxy did not exit within ${ms} ms\n${p.output().slice(-2000)}`);
    await sleep(25);
  }
  const e = p.exited();
  return e.code ?? e.signal;
}
