// Time from process start to the first 200 from /healthz.
//
//   node bench/healthy.mjs --port P [--timeout-s 30] -- BINARY ARGS...
//
// Spawns BINARY ARGS (which must listen on 127.0.0.1:P), polls GET /healthz every 2 ms from
// the moment of the spawn, prints {"healthy_ms":N,"rss_kib":N} on stdout, then stops the
// process with SIGTERM (SIGKILL after 10 s) and waits for it. Exit code 1 when it never
// became healthy (the JSON then carries "error").
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';

function parse(argv) {
  const o = { timeoutS: 30 };
  const sep = argv.indexOf('--');
  if (sep < 0) throw new Error('usage: healthy.mjs --port P [--timeout-s S] -- BINARY ARGS...');
  const own = argv.slice(0, sep);
  o.cmd = argv.slice(sep + 1);
  for (let i = 0; i < own.length; i++) {
    if (own[i] === '--port') o.port = Number(own[++i]);
    else if (own[i] === '--timeout-s') o.timeoutS = Number(own[++i]);
    else throw new Error(`unknown argument ${own[i]}`);
  }
  if (!o.port || !o.cmd.length) throw new Error('--port and a command are required');
  return o;
}

function probe(port) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/healthz', agent: false, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

function rssKib(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const o = parse(process.argv.slice(2));
  const out = fs.openSync(process.env.BENCH_CHILD_LOG ?? '/dev/null', 'a');
  const t0 = process.hrtime.bigint();
  const child = spawn(o.cmd[0], o.cmd.slice(1), { stdio: ['ignore', out, out] });
  let exited = null;
  const exitP = new Promise((r) => child.on('exit', (code, sig) => { exited = { code, sig }; r(); }));
  const deadline = Date.now() + o.timeoutS * 1000;
  let healthyMs = null;
  while (Date.now() < deadline && !exited) {
    if (await probe(o.port)) {
      healthyMs = Number(process.hrtime.bigint() - t0) / 1e6;
      break;
    }
    await sleep(2);
  }
  const result = healthyMs === null
    ? { error: exited ? `exited (${exited.code ?? exited.sig}) before it was healthy` : `not healthy within ${o.timeoutS} s` }
    : { healthy_ms: Math.round(healthyMs * 10) / 10, rss_kib: rssKib(child.pid) };
  if (!exited) {
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 10000);
    await exitP;
    clearTimeout(killer);
  }
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exit(healthyMs === null ? 1 : 0);
}

main().catch((e) => {
  process.stdout.write(JSON.stringify({ error: String(e.message ?? e) }) + '\n');
  process.exit(1);
});
