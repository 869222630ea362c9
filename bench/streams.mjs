// Memory per open stream: holds N concurrent streaming requests open through the proxy and
// reads the proxy's resident set size.
//
//   node bench/streams.mjs --port P --token T --count N --pid PID
//        [--window 256] [--timeout-s 90] [--settle-ms 1500]
//        [--path /v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse]
//
// Reads VmRSS of PID first (the caller has warmed the proxy up and let it idle), then opens N
// native SSE streams (at most --window of them waiting for their first event at a time, so
// that the listen backlog never overflows), waits until every one has received its first
// event (the upstream must hold them open: a slow-streaming mock), lets the proxy settle,
// reads VmRSS again, closes every stream and prints one JSON object:
//   {"streams":N,"first_event":n,"failed":f,"open_at_sample":o,"idle_rss_kib":a,
//    "rss_kib":b,"kib_per_stream":(b-a)/N,"proxy_fds":k,"open_ms":t, ...}
// Exit code 1 when not every stream got its first event in time.
import fs from 'node:fs';
import http from 'node:http';

function parse(argv) {
  const o = {
    window: 256, timeoutS: 90, settleMs: 1500,
    path: '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse',
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[++i];
    switch (a) {
      case '--port': o.port = Number(v); break;
      case '--token': o.token = v; break;
      case '--count': o.count = Number(v); break;
      case '--pid': o.pid = Number(v); break;
      case '--window': o.window = Number(v); break;
      case '--timeout-s': o.timeoutS = Number(v); break;
      case '--settle-ms': o.settleMs = Number(v); break;
      case '--path': o.path = v; break;
      default: throw new Error(`unknown argument ${a}`);
    }
  }
  if (!o.port || !o.token || !o.count || !o.pid) throw new Error('--port, --token, --count and --pid are required');
  return o;
}

function procStatus(pid) {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (name) => Number((new RegExp(`${name}:\\s+(\\d+) kB`).exec(s) ?? [0, NaN])[1]);
  return { rss: kib('VmRSS'), hwm: kib('VmHWM') };
}

function fdCount(pid) {
  try { return fs.readdirSync(`/proc/${pid}/fd`).length; } catch { return null; }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const o = parse(process.argv.slice(2));
  const body = JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'Hello' }] }] });
  const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
  const idle = procStatus(o.pid);
  const idleFds = fdCount(o.pid);

  let started = 0; let waiting = 0; let first = 0; let failed = 0; let ended = 0;
  const errors = new Map();
  const reqs = [];
  let wake = null;
  const notify = () => { if (wake) { const w = wake; wake = null; w(); } };
  const fail = (why) => { failed++; errors.set(why, (errors.get(why) ?? 0) + 1); };

  function open() {
    started++;
    waiting++;
    let settled = false;
    const settle = (ok, why) => {
      if (settled) return;
      settled = true;
      waiting--;
      if (ok) first++; else fail(why);
      notify();
    };
    const req = http.request({
      host: '127.0.0.1', port: o.port, path: o.path, method: 'POST', agent,
      headers: { 'content-type': 'application/json', 'x-goog-api-key': o.token, 'content-length': Buffer.byteLength(body) },
    }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        settle(false, `status ${res.statusCode}`);
        return;
      }
      res.on('data', () => settle(true));
      res.on('end', () => { ended++; settle(false, 'ended before the first event'); });
      res.on('error', (e) => settle(false, e.code ?? e.message));
    });
    req.on('error', (e) => settle(false, e.code ?? e.message));
    req.end(body);
    reqs.push(req);
  }

  const t0 = Date.now();
  const deadline = t0 + o.timeoutS * 1000;
  while (Date.now() < deadline && first + failed < o.count) {
    while (started < o.count && waiting < o.window) open();
    await new Promise((r) => { wake = r; setTimeout(r, 200); });
  }
  const openMs = Date.now() - t0;
  await sleep(o.settleMs);
  const loaded = procStatus(o.pid);
  const fds = fdCount(o.pid);
  const openAtSample = first - ended;
  for (const r of reqs) r.destroy();

  const result = {
    streams: o.count,
    first_event: first,
    failed,
    errors: Object.fromEntries(errors),
    open_at_sample: openAtSample,
    open_ms: openMs,
    idle_rss_kib: idle.rss,
    rss_kib: loaded.rss,
    hwm_kib: loaded.hwm,
    kib_per_stream: Math.round(((loaded.rss - idle.rss) / o.count) * 100) / 100,
    idle_fds: idleFds,
    proxy_fds: fds,
  };
  process.stdout.write(JSON.stringify(result) + '\n');
  await sleep(100);
  process.exit(first === o.count ? 0 : 1);
}

main().catch((e) => {
  process.stdout.write(JSON.stringify({ error: String(e.message ?? e) }) + '\n');
  process.exit(1);
});
