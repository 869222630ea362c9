// SPEC 2.1 --upstream-proxy, HTTPS_PROXY / NO_PROXY; SPEC 2.2 proxy=: egress through HTTP
// CONNECT and SOCKS5 proxies started here. The TLS mock is named `gemini.test`, a name only
// the test proxies resolve, so a request that reaches it went through a proxy; the mock logs
// each request's remote port, which is the port the carrying proxy connected from.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { startMock } from '../mock/mock-gemini.mjs';
import { startProxy, restartProxy, keyEntry, freePort, assertNoKeys, responseText, eventually, REPO, BIN } from './harness.mjs';
import { randomKeys } from './lib-lifecycle.mjs';
import { startConnectProxy, startSocksProxy, carrierOf } from './lib-egress.mjs';

const T = { timeout: 90000 };
const NAME = 'gemini.test';
const UPSTREAM = `https://${NAME}:8443`;

let certDir;
let ca;
let tlsOpts;

before(() => {
  certDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gkm-egress-'));
  execFileSync('bash', [path.join(REPO, 'tests', 'mock', 'make-test-ca.sh'), certDir], { stdio: 'pipe' });
  ca = path.join(certDir, 'ca.pem');
  // A certificate for gemini.test (and localhost), signed by the test CA.
  const run = (args) => execFileSync('openssl', args, { cwd: certDir, stdio: 'pipe' });
  run(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'named-key.pem']);
  run(['req', '-new', '-key', 'named-key.pem', '-subj', `/CN=${NAME}`, '-out', 'named.csr']);
  fs.writeFileSync(path.join(certDir, 'named.cnf'),
    'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n' +
    `extendedKeyUsage=serverAuth\nsubjectAltName=DNS:${NAME},DNS:localhost\n`);
  run(['x509', '-req', '-in', 'named.csr', '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial',
    '-days', '2', '-sha256', '-extfile', 'named.cnf', '-out', 'named.pem']);
  tlsOpts = { cert: path.join(certDir, 'named.pem'), key: path.join(certDir, 'named-key.pem') };
});
after(() => { if (certDir) fs.rmSync(certDir, { recursive: true, force: true }); });

async function namedMock() {
  return startMock({ tls: tlsOpts });
}

// Waits (log lines are flushed within a second) until the proxy's logs match `re`.
async function logsMatch(p, re) {
  await eventually(() => assert.match(allLogs(p), re), { timeoutMs: 3000 }).catch(() => {});
  assert.match(allLogs(p), re);
}

// Every text the proxy wrote: its output and its log files.
function allLogs(p) {
  let text = p.output();
  for (const f of fs.readdirSync(p.dir)) {
    if (f.endsWith('.log') || f.includes('.log.')) text += fs.readFileSync(path.join(p.dir, f), 'utf8');
  }
  return text;
}

async function closeAll(...things) {
  for (const t of things) await t?.close?.();
}

test('CONNECT with basic auth: per-key proxy= pins; a wrong password (407) is transient and another key through another proxy serves; no password logged', T, async () => {
  const mock = await namedMock();
  const hosts = { [NAME]: mock.port };
  const a = await startConnectProxy({ hosts, auth: 'alice:pw-Alpha-93x', name: 'A' });
  const b = await startConnectProxy({ hosts, auth: 'bob:pw-Bravo-41q', name: 'B' });
  const [bad, good] = randomKeys(2);
  let p;
  try {
    p = await startProxy({
      keys: [`${bad} proxy=${a.url('alice:pw-WRONG-77z')}`, `${good} proxy=${b.url()}`],
      upstream: UPSTREAM,
      args: ['--upstream-ca', ca, '--threads', '1'],
    });
    for (let i = 0; i < 4; i++) {
      const r = await p.generate('egress-auth');
      assert.equal(r.status, 200, r.body);
      assertNoKeys(responseText(r), [bad, good]);
    }
    assert.ok(a.stats.refused.some((x) => x.code === 407), `proxy A refused with 407: ${JSON.stringify(a.stats)}`);
    assert.equal(a.stats.tunnels.length, 0);
    assert.ok(b.stats.tunnels.length >= 1);
    assert.equal(mock.requests.length, 4);
    for (const r of mock.requests) {
      assert.equal(r.key, good, 'only the key whose proxy let it through reached the upstream');
      assert.equal(carrierOf(r, [a, b]), 'B', `request ${r.id} came through B`);
    }
    const admin = await p.adminKeys();
    assert.equal(keyEntry(admin, bad).status, 'active', 'a refusing proxy never marks its key invalid');
    await logsMatch(p, /egress proxy http:\/\/alice:\*\*\*@127\.0\.0\.1:\d+ answered CONNECT with 407/);
    const logs = allLogs(p);
    for (const secret of ['pw-WRONG-77z', 'pw-Bravo-41q', 'pw-Alpha-93x']) {
      assert.ok(!logs.includes(secret), `the proxy password ${secret} is not in the logs`);
    }
  } finally {
    await p?.cleanup();
    await closeAll(a, b, mock);
  }
});

test('SOCKS5: socks5h passes the name, socks5 passes an address it resolved, with and without authentication', T, async () => {
  const mock = await namedMock();
  const hosts = { [NAME]: mock.port };
  const open = await startSocksProxy({ hosts, name: 'open' });
  const authed = await startSocksProxy({ hosts, auth: 'carol:pw-Charlie-55k', name: 'authed' });
  const K = randomKeys(2);
  let p;
  let q;
  try {
    // socks5h, no authentication: the name goes to the proxy (the binary cannot resolve it).
    p = await startProxy({ keys: K, upstream: UPSTREAM, args: ['--upstream-ca', ca, '--upstream-proxy', open.url('socks5h')] });
    for (let i = 0; i < 3; i++) {
      const r = await p.generate('egress-socks');
      assert.equal(r.status, 200, r.body);
    }
    assert.ok(open.stats.tunnels.length >= 1);
    for (const t of open.stats.tunnels) {
      assert.equal(t.atyp, 3, 'socks5h sends a domain name');
      assert.equal(t.target, `${NAME}:8443`);
    }
    for (const r of mock.requests) assert.equal(carrierOf(r, [open, authed]), 'open');
    await p.cleanup();
    p = null;

    // socks5 with username/password: the binary resolves localhost and sends the address.
    const before = mock.requests.length;
    q = await startProxy({
      keys: K,
      upstream: `https://localhost:${mock.port}`,
      args: ['--upstream-ca', ca, '--upstream-proxy', authed.url('socks5')],
    });
    for (let i = 0; i < 3; i++) {
      const r = await q.generate('egress-socks');
      assert.equal(r.status, 200, r.body);
    }
    assert.equal(authed.stats.authFailures, 0);
    assert.ok(authed.stats.tunnels.length >= 1);
    for (const t of authed.stats.tunnels) {
      assert.ok(t.atyp === 1 || t.atyp === 4, `socks5 sends an address, not a name: ${JSON.stringify(t)}`);
    }
    for (const r of mock.requests.slice(before)) assert.equal(carrierOf(r, [open, authed]), 'authed');
    assert.ok(!allLogs(q).includes('pw-Charlie-55k'));
    await q.cleanup();
    q = null;

    // A wrong SOCKS5 password: transient (503 when every key is refused), no key invalid.
    const count = mock.requests.length;
    q = await startProxy({
      keys: K,
      upstream: UPSTREAM,
      args: ['--upstream-ca', ca, '--upstream-proxy', authed.url('socks5h', 'carol:pw-Nope-00'), '--upstream-timeout', '5'],
    });
    const r = await q.generate('egress-socks');
    assert.equal(r.status, 503, r.body);
    assert.match(r.body, /refused the user name and password/);
    assert.ok(authed.stats.authFailures >= 1);
    assert.equal(mock.requests.length, count);
    const admin = await q.adminKeys();
    for (const k of K) assert.equal(keyEntry(admin, k).status, 'active');
    assert.ok(!allLogs(q).includes('pw-Nope-00'));
  } finally {
    await p?.cleanup();
    await q?.cleanup();
    await closeAll(open, authed, mock);
  }
});

test('rendezvous over three proxies: each key always leaves through the same one; removing one moves only its keys', T, async () => {
  const mock = await namedMock();
  const hosts = { [NAME]: mock.port };
  const px = [];
  for (const name of ['P1', 'P2', 'P3']) px.push(await startConnectProxy({ hosts, name }));
  const K = randomKeys(12);
  let p;
  // key -> the one proxy that carried all of its requests since `from`.
  const carriers = (from) => {
    const byKey = new Map();
    for (const r of mock.requests.slice(from)) {
      const c = carrierOf(r, px);
      assert.ok(c, `request ${r.id} was traced to one proxy`);
      if (!byKey.has(r.key)) byKey.set(r.key, new Set());
      byKey.get(r.key).add(c);
    }
    for (const [k, set] of byKey) assert.equal(set.size, 1, `key ...${k.slice(-4)} left through ${[...set]}`);
    return new Map([...byKey].map(([k, set]) => [k, [...set][0]]));
  };
  try {
    p = await startProxy({
      keys: K,
      upstream: UPSTREAM,
      args: ['--upstream-ca', ca, '--threads', '2', ...px.flatMap((x) => ['--upstream-proxy', x.url()])],
    });
    for (let round = 0; round < 4; round++) {
      const rs = await Promise.all(K.map((_, i) => p.generate(`egress-rdv-${i % 3}`)));
      for (const r of rs) assert.equal(r.status, 200, r.body);
    }
    const first = carriers(0);
    assert.ok(first.size >= 10, `most keys served (${first.size})`);
    assert.ok(new Set(first.values()).size >= 2, 'the keys spread over the proxies');

    // Without P3: the keys of P1 and P2 stay where they were; P3's move to one of them.
    const from = mock.requests.length;
    await p.stop();
    p = await restartProxy(p, {
      args: ['--upstream-ca', ca, '--threads', '2', '--upstream-proxy', px[0].url(), '--upstream-proxy', px[1].url()],
    });
    for (let round = 0; round < 4; round++) {
      const rs = await Promise.all(K.map((_, i) => p.generate(`egress-rdv-${i % 3}`)));
      for (const r of rs) assert.equal(r.status, 200, r.body);
    }
    const second = carriers(from);
    let compared = 0;
    for (const [k, c] of second) {
      assert.notEqual(c, 'P3');
      if (first.has(k) && first.get(k) !== 'P3') {
        assert.equal(c, first.get(k), `key ...${k.slice(-4)} stayed on ${first.get(k)}`);
        compared++;
      }
    }
    assert.ok(compared >= 3, `keys compared across the restart: ${compared}`);
  } finally {
    await p?.cleanup();
    await closeAll(...px, mock);
  }
});

test('a dead proxy is a transient failure: the key stays active and another key through another proxy serves', T, async () => {
  const mock = await namedMock();
  const live = await startConnectProxy({ hosts: { [NAME]: mock.port }, name: 'live' });
  const deadPort = await freePort();
  const [onDead, onLive] = randomKeys(2);
  let p;
  try {
    p = await startProxy({
      keys: [`${onDead} proxy=http://127.0.0.1:${deadPort}`, `${onLive} proxy=${live.url()}`],
      upstream: UPSTREAM,
      args: ['--upstream-ca', ca],
    });
    for (let i = 0; i < 4; i++) {
      const r = await p.generate('egress-dead');
      assert.equal(r.status, 200, r.body);
    }
    for (const r of mock.requests) assert.equal(r.key, onLive);
    const admin = await p.adminKeys();
    const e = keyEntry(admin, onDead);
    assert.equal(e.status, 'active', JSON.stringify(e));
    await logsMatch(p, new RegExp(`egress proxy http://127\\.0\\.0\\.1:${deadPort} refused the connection`));
  } finally {
    await p?.cleanup();
    await closeAll(live, mock);
  }
});

test('HTTPS_PROXY is honoured without --upstream-proxy, NO_PROXY exempts the upstream, and the flag wins over both', T, async () => {
  const mock = await namedMock();
  const cp = await startConnectProxy({ hosts: { [NAME]: mock.port }, name: 'env' });
  const K = randomKeys(2);
  const dead = `http://127.0.0.1:${await freePort()}`;
  let p;
  try {
    // HTTPS_PROXY alone: through it (the upstream's name resolves only there).
    p = await startProxy({ keys: K, upstream: UPSTREAM, args: ['--upstream-ca', ca], env: { HTTPS_PROXY: cp.url(), NO_PROXY: 'example.com,10.0.0.0/8' } });
    assert.equal((await p.generate('egress-env')).status, 200);
    assert.ok(cp.stats.tunnels.length >= 1);
    await p.cleanup();

    // NO_PROXY naming the upstream: direct (the proxy is dead: a request through it would fail).
    const tunnels = cp.stats.tunnels.length;
    p = await startProxy({ keys: K, upstream: `https://localhost:${mock.port}`, args: ['--upstream-ca', ca], env: { https_proxy: dead, no_proxy: '.example.org, localhost' } });
    assert.equal((await p.generate('egress-env')).status, 200);
    assert.equal(cp.stats.tunnels.length, tunnels);
    await p.cleanup();

    // --upstream-proxy wins over a dead HTTPS_PROXY.
    p = await startProxy({ keys: K, upstream: UPSTREAM, args: ['--upstream-ca', ca, '--upstream-proxy', cp.url()], env: { HTTPS_PROXY: dead } });
    assert.equal((await p.generate('egress-env')).status, 200);
    assert.ok(cp.stats.tunnels.length > tunnels);
  } finally {
    await p?.cleanup();
    await closeAll(cp, mock);
  }
});

test('TLS is verified end to end through the tunnel: an untrusted certificate is transient, no key sent, no key invalid', T, async () => {
  const mock = await namedMock();
  const hosts = { [NAME]: mock.port, 'other.test': mock.port };
  const cp = await startConnectProxy({ hosts, name: 'tls' });
  const socks = await startSocksProxy({ hosts, name: 'tls-socks' });
  const K = randomKeys(2);
  let p;
  try {
    for (const [upstream, args] of [
      [UPSTREAM, ['--upstream-proxy', cp.url()]],                                    // no --upstream-ca: untrusted
      [UPSTREAM, ['--upstream-proxy', socks.url('socks5h')]],                        // same through SOCKS5
      ['https://other.test:8443', ['--upstream-ca', ca, '--upstream-proxy', cp.url()]], // trusted, wrong name
    ]) {
      p = await startProxy({ keys: K, upstream, args: [...args, '--upstream-timeout', '5'] });
      const r = await p.generate('egress-tls');
      assert.equal(r.status, 503, `${upstream} ${args}: ${r.body}`);
      assert.match(r.body, /TLS failure.*through egress proxy/);
      const admin = await p.adminKeys();
      for (const k of K) assert.equal(keyEntry(admin, k).status, 'active');
      await p.cleanup();
      p = null;
    }
    assert.ok(cp.stats.tunnels.length >= 2 && socks.stats.tunnels.length >= 1, 'the tunnels were opened');
    assert.equal(mock.requests.length, 0, 'no request, so no key, reached the server');
  } finally {
    await p?.cleanup();
    await closeAll(cp, socks, mock);
  }
});

test('bad proxy URLs are one-line configuration errors (exit 2) that never echo a password', T, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gkm-egress-cfg-'));
  try {
    fs.writeFileSync(path.join(dir, 'key.txt'), randomKeys(1)[0] + '\n');
    const run = (args, env = {}) => spawnSync(BIN, ['--keys', path.join(dir, 'key.txt'), '--state-dir', dir, '--log-dir', dir, ...args], {
      env: { PATH: process.env.PATH, ...env }, encoding: 'utf8', timeout: 10000,
    });
    const cases = [
      [['--upstream-proxy', 'https://u:pw-Secret-1@proxy.example:443'], {}, /--upstream-proxy.*https:\/\/ proxies .*not supported/],
      [['--upstream-proxy', 'ftp://proxy.example:21'], {}, /--upstream-proxy.*must start with http:\/\/, socks5:\/\/ or socks5h:\/\//],
      [['--upstream-proxy', 'http://u:pw-Secret-1@proxy.example'], {}, /--upstream-proxy.*needs a port/],
      [['--upstream-proxy', 'socks5://proxy.example:99999'], {}, /--upstream-proxy.*no valid port/],
      [[], { HTTPS_PROXY: 'https://u:pw-Secret-1@proxy.example:8443' }, /HTTPS_PROXY: .*not supported/],
    ];
    for (const [args, env, re] of cases) {
      const r = run(args, env);
      assert.equal(r.status, 2, `${args} ${JSON.stringify(env)}: exit ${r.status}\n${r.stderr}`);
      assert.match(r.stderr, re);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.ok(!r.stderr.includes('pw-Secret-1'), r.stderr);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
