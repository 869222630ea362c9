// A real redis-server for the SPEC 6 tests: on a free loopback port, with a password, its
// append-only file in a temp dir (a restart keeps the data, as a production Redis would), no
// RDB snapshots. cli() runs redis-cli against the test db.
//
// startRedisServer(db, { tls: true }): TLS only (--port 0), with a CA and a server certificate
// made at test time by openssl (makeTestCa) for `names` (default localhost and 127.0.0.1);
// r.ca is the CA's PEM file, url() a rediss:// URL on `host` (default localhost), and cli()
// speaks TLS.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { BIN, freePort, sleep } from './harness.mjs';

export const PW = 'redis-test-pw';

// A CA (ca.pem) and a server certificate it signed (server.pem, server.key) for `names`
// ("DNS:localhost", "IP:127.0.0.1") in `dir`, made with the openssl command.
export function makeTestCa(dir, names = ['DNS:localhost', 'IP:127.0.0.1']) {
  const f = (n) => path.join(dir, n);
  const ssl = (...args) => execFileSync('openssl', args, { stdio: 'pipe', timeout: 20000 });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl('req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2', '-subj', '/CN=gkm test CA');
  ssl('req', ...ec, '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=gkm test redis');
  fs.writeFileSync(f('server.ext'), `basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=${names.join(',')}\n`);
  ssl('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial',
    '-out', f('server.pem'), '-days', '2', '-extfile', f('server.ext'));
  return { ca: f('ca.pem'), cert: f('server.pem'), key: f('server.key') };
}

export async function startRedisServer(db = 3, { tls = false, names, host = tls ? 'localhost' : '127.0.0.1' } = {}) {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gkm-redis-data-'));
  const pki = tls ? makeTestCa(dir, names) : null;
  const tlsCli = tls ? ['--tls', '--cacert', pki.ca, '-h', '127.0.0.1', '--sni', 'localhost'] : [];
  const listen = tls
    ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', pki.cert, '--tls-key-file', pki.key,
      '--tls-ca-cert-file', pki.ca, '--tls-auth-clients', 'no']
    : ['--port', String(port)];
  const r = {
    port,
    dir,
    ca: pki?.ca,
    proc: null,
    cli: (...args) => execFileSync('redis-cli', [...tlsCli, '-p', String(port), '-a', PW, '--no-auth-warning', '-n', String(db), ...args],
      { encoding: 'utf8', timeout: 5000 }),
    url: (d = db, pw = PW, p = port) => `${tls ? 'rediss' : 'redis'}://:${pw}@${host}:${p}/${d}`,
    async start() {
      r.proc = spawn('redis-server', [...listen, '--bind', '127.0.0.1', '--requirepass', PW,
        '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir, '--daemonize', 'no'],
      { stdio: 'ignore' });
      const end = Date.now() + 10000;
      for (;;) {
        try {
          if (r.cli('PING').trim() === 'PONG') return;
        } catch { /* not yet */ }
        if (Date.now() > end) throw new Error('redis-server did not start');
        await sleep(50);
      }
    },
    async stop() {
      if (!r.proc) return;
      const p = r.proc;
      r.proc = null;
      const gone = new Promise((res) => p.once('exit', res));
      p.kill('SIGTERM');
      await gone;
    },
    async close() {
      await r.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  await r.start();
  return r;
}

// Requests to every proxy in `proxies`, one at a time each with a 5 ms pause, until stop()
// resolves with how many were sent and the failures ("port: status body").
export function steadyLoad(proxies, model) {
  let stopped = false;
  const failures = [];
  let sent = 0;
  const loops = proxies.map(async (p) => {
    while (!stopped) {
      const r = await p.generate(model);
      sent++;
      if (r.status !== 200) failures.push(`${p.port}: ${r.status} ${r.body}`);
      await sleep(5);
    }
  });
  return {
    async stop() {
      stopped = true;
      await Promise.all(loops);
      return { sent, failures };
    },
  };
}

// Runs the binary with these flags (and a key file of `keys`) and expects it to refuse to
// start: returns spawnSync's result (status, stderr).
export function refusedStart(args, keys = ['test-key-refused-0001']) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gkm-redis-refused-'));
  fs.writeFileSync(path.join(dir, 'key.txt'), keys.join('\n') + '\n');
  const r = spawnSync(BIN, ['--keys', path.join(dir, 'key.txt'), '--listen', '127.0.0.1:0', '--token', 't',
    '--state-dir', dir, '--log-dir', dir, ...args], { encoding: 'utf8', timeout: 20000 });
  fs.rmSync(dir, { recursive: true, force: true });
  return r;
}
