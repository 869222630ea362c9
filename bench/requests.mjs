// Sends a fixed number of requests to the proxy and checks every answer.
//
//   node bench/requests.mjs --port P --token T --shape SHAPE --count N
//
// SHAPE: native, native-stream, openai, openai-stream, anthropic, anthropic-stream, responses, responses-stream.
//
// Four kept-alive connections, one request in flight on each; the bodies are the ones
// bench/wrk/request.lua sends. Exit code 1 (with the reason on stderr) when an answer is not
// a 200 or a connection fails. Used to count instructions per request under callgrind, where
// a fixed count matters and speed does not.
import http from 'node:http';

function parse(argv) {
  const o = { concurrency: 4 };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    if (argv[i] === '--port') o.port = Number(v);
    else if (argv[i] === '--token') o.token = v;
    else if (argv[i] === '--shape') o.shape = v;
    else if (argv[i] === '--count') o.count = Number(v);
    else throw new Error(`unknown argument ${argv[i]}`);
    i++;
  }
  if (!o.port || !o.token || !o.shape || !(o.count > 0)) {
    throw new Error('usage: requests.mjs --port P --token T --shape SHAPE --count N');
  }
  return o;
}

const shapes = {
  native: {
    path: '/v1beta/models/gemini-2.5-flash:generateContent',
    auth: (t) => ({ 'x-goog-api-key': t }),
    body: '{"contents":[{"role":"user","parts":[{"text":"Hello"}]}]}',
  },
  'native-stream': {
    path: '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse',
    auth: (t) => ({ 'x-goog-api-key': t }),
    body: '{"contents":[{"role":"user","parts":[{"text":"Hello"}]}]}',
  },
  openai: {
    path: '/v1/chat/completions',
    auth: (t) => ({ authorization: `Bearer ${t}` }),
    body: '{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"Hello"}]}',
  },
  'openai-stream': {
    path: '/v1/chat/completions',
    auth: (t) => ({ authorization: `Bearer ${t}` }),
    body: '{"model":"gemini-2.5-flash","stream":true,"messages":[{"role":"user","content":"Hello"}]}',
  },
};
const anthropicBody = (stream) =>
  `{"model":"gemini-2.5-flash","max_tokens":1024,${stream ? '"stream":true,' : ''}` +
  '"system":[{"type":"text","text":"You are terse."}],"messages":[{"role":"user","content":"Hello"}]}';
const responsesBody = (stream) =>
  `{"model":"gemini-2.5-flash","store":false,${stream ? '"stream":true,' : ''}` +
  '"instructions":"You are terse.",' +
  '"input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"Hello"}]}]}';
for (const stream of [false, true]) {
  const tail = stream ? '-stream' : '';
  shapes[`anthropic${tail}`] = {
    path: '/v1/messages',
    auth: (t) => ({ 'x-api-key': t, 'anthropic-version': '2023-06-01' }),
    body: anthropicBody(stream),
  };
  shapes[`responses${tail}`] = {
    path: '/v1/responses',
    auth: (t) => ({ authorization: `Bearer ${t}` }),
    body: responsesBody(stream),
  };
}

const o = parse(process.argv.slice(2));
const shape = shapes[o.shape];
if (!shape) throw new Error(`unknown shape ${o.shape}`);
const agent = new http.Agent({ keepAlive: true, maxSockets: o.concurrency });
let started = 0;

function one() {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1', port: o.port, path: shape.path, method: 'POST', agent,
        headers: { 'content-type': 'application/json', ...shape.auth(o.token) },
      },
      (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
      },
    );
    req.on('error', reject);
    req.end(shape.body);
  });
}

async function worker() {
  while (started < o.count) {
    started++;
    await one();
  }
}

try {
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  agent.destroy();
} catch (e) {
  console.error(`requests.mjs: ${e.message}`);
  process.exit(1);
}
