// SPEC 3.2: https upstreams. The certificate chain and host name are verified (--upstream-ca adds
// a CA); upstream connections are kept alive and reused; a refused certificate is a transient
// failure that never marks a key invalid and never sends a key.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startMock } from '../mock/mock-gemini.mjs';
import { startProxy, keyEntry, modelEntry, parseSse, assertNoKeys, responseText, REPO } from './harness.mjs';
import { randomKeys } from './lib-lifecycle.mjs';

// Every test is bounded: a hang fails the test instead of the run.
const T = { timeout: 60000 };

let certDir;
let ca;
let tlsOpts;

before(() => {
  certDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gkm-tls-'));
  execFileSync('bash', [path.join(REPO, 'tests', 'mock', 'make-test-ca.sh'), certDir], { stdio: 'pipe' });
  ca = path.join(certDir, 'ca.pem');
  tlsOpts = { cert: path.join(certDir, 'server.pem'), key: path.join(certDir, 'server-key.pem') };
});
after(() => { if (certDir) fs.rmSync(certDir, { recursive: true, force: true }); });

// A TLS mock that counts the TLS sessions it accepted and the handshakes that failed.
async function tlsMock(host = '127.0.0.1') {
  const mock = await startMock({ tls: tlsOpts, host });
  const counts = { secure: 0, tcp: 0, handshakeErrors: 0 };
  mock.server.on('secureConnection', () => { counts.secure++; });
  mock.server.on('connection', () => { counts.tcp++; });
  mock.server.on('tlsClientError', () => { counts.handshakeErrors++; });
  return { mock, counts };
}

test('with --upstream-ca: requests and streams succeed over TLS, and one connection is reused', T, async () => {
  const { mock, counts } = await tlsMock();
  const K = randomKeys(2);
  let p;
  try {
    p = await startProxy({ keys: K, upstream: `https://127.0.0.1:${mock.port}`, args: ['--upstream-ca', ca, '--threads', '1'] });
    for (let i = 0; i < 3; i++) {
      const r = await p.generate('tls-gen');
      assert.equal(r.status, 200, r.body);
      assert.equal(r.json.candidates[0].content.parts[0].text, 'ok from mock');
      assertNoKeys(responseText(r), K);
    }
    for (let i = 0; i < 2; i++) {
      const s = await p.generate('tls-stream', { method: 'streamGenerateContent', query: '?alt=sse' });
      assert.equal(s.status, 200);
      assert.ok(!s.aborted);
      assert.equal(parseSse(s.body).map((e) => e.candidates[0].content.parts[0].text).join(''), 'ok from mock');
    }
    const arr = await p.generate('tls-stream', { method: 'streamGenerateContent' });
    assert.equal(arr.status, 200);
    assert.equal(JSON.parse(arr.body).length, 3);
    const models = await p.call('GET', '/v1beta/models');
    assert.equal(models.status, 200);
    assert.ok(Array.isArray(models.json.models));

    assert.equal(mock.requests.length, 7);
    for (const r of mock.requests) {
      assert.ok(K.includes(r.headers['x-goog-api-key']), 'the real key went in x-goog-api-key over TLS');
      assert.equal(r.query.key, undefined, 'no key in the query');
    }
    assert.equal(counts.handshakeErrors, 0);
    assert.ok(counts.secure >= 1);
    assert.equal(counts.secure, 1, `7 sequential requests on one I/O thread used ${counts.secure} TLS connections (TCP ${counts.tcp}); expected one kept-alive connection`);
  } finally {
    await p?.cleanup();
    await mock.close();
  }
});

test('without --upstream-ca the certificate is refused: 503, no key invalid, no request (no key) reached the server', T, async () => {
  const { mock, counts } = await tlsMock();
  const K = randomKeys(3);
  let p;
  try {
    p = await startProxy({ keys: K, upstream: `https://127.0.0.1:${mock.port}`, args: ['--upstream-timeout', '5'] });
    for (let i = 0; i < 2; i++) {
      const r = await p.generate('tls-refused');
      assert.equal(r.status, 503, `status ${r.status}: ${r.body}`);
      assertNoKeys(responseText(r), K);
      assert.ok(r.json?.error, `a Gemini-shaped error: ${r.body}`);
    }
    assert.equal(mock.requests.length, 0, 'no HTTP request reached the server, so no key was sent');
    assert.equal(counts.secure, 0, 'no TLS session was established');
    assert.ok(counts.handshakeErrors >= 1, `the proxy did try a TLS handshake (handshake errors ${counts.handshakeErrors}, TCP ${counts.tcp})`);
    const admin = await p.adminKeys();
    for (const k of K) {
      const e = keyEntry(admin, k);
      assert.equal(e.status, 'active', `a refused certificate never marks a key invalid: ${JSON.stringify(e)}`);
      assert.notEqual(modelEntry(admin, k, 'tls-refused').state, 'exhausted', JSON.stringify(e));
      assert.equal(e.requests_today, 0);
    }
    for (const k of K) assert.ok(!p.output().includes(k), 'no real key in the log');
  } finally {
    await p?.cleanup();
    await mock.close();
  }
});

test('with --upstream-ca but a host name the certificate does not name (127.0.0.2): refused, no key sent', T, async () => {
  const { mock, counts } = await tlsMock('127.0.0.2');
  const K = randomKeys(2);
  let p;
  try {
    p = await startProxy({ keys: K, upstream: `https://127.0.0.2:${mock.port}`, args: ['--upstream-ca', ca, '--upstream-timeout', '5'] });
    const r = await p.generate('tls-wrong-host');
    assert.equal(r.status, 503, `status ${r.status}: ${r.body}`);
    assert.equal(mock.requests.length, 0, 'no request (and no key) reached a server whose name does not match');
    assert.equal(counts.secure, 0);
    assert.ok(counts.handshakeErrors >= 1, `the proxy did try a TLS handshake (handshake errors ${counts.handshakeErrors}, TCP ${counts.tcp})`);
    const admin = await p.adminKeys();
    for (const k of K) assert.equal(keyEntry(admin, k).status, 'active');
  } finally {
    await p?.cleanup();
    await mock.close();
  }
});
