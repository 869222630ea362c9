// A real redis-server for the SPEC 6 tests: on a free loopback port, with a password, its
// append-only file in a temp dir (a restart keeps the data, as a production Redis would), no
// RDB snapshots. cli() runs redis-cli against the test db.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, execFileSync } from 'node:child_process';
import { freePort, sleep } from './harness.mjs';

export const PW = 'redis-test-pw';

export async function startRedisServer(db = 3) {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gkm-redis-data-'));
  const r = {
    port,
    dir,
    proc: null,
    cli: (...args) => execFileSync('redis-cli', ['-p', String(port), '-a', PW, '--no-auth-warning', '-n', String(db), ...args],
      { encoding: 'utf8', timeout: 5000 }),
    url: (d = db, pw = PW, p = port) => `redis://:${pw}@127.0.0.1:${p}/${d}`,
    async start() {
      r.proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--requirepass', PW,
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
