// Shared helpers of the openai*.test.mjs files: the official `openai` npm SDK (pinned in
// tests/sdk/package.json) talking to the proxy with the client token as its apiKey.
import http from 'node:http';
import assert from 'node:assert/strict';

// scripts/install-deps.sh --test installs the SDK; its absence is a failure, not a skip.
const sdk = await import('../sdk/openai.mjs');
export const OpenAI = sdk.default;
export const {
  APIError, AuthenticationError, BadRequestError, InternalServerError, NotFoundError,
} = sdk;

// A client of the proxy. `counter` (optional) counts the HTTP requests the SDK made, so that
// tests can tell whether it retried.
export function client(proxy, { maxRetries = 0, prefix = '/v1', apiKey, counter, timeout = 20000 } = {}) {
  const fetchImpl = counter
    ? async (url, init) => {
      counter.calls.push({ url: String(url), at: Date.now() });
      return fetch(url, init);
    }
    : undefined;
  return new OpenAI({
    apiKey: apiKey ?? proxy.token,
    baseURL: proxy.url + prefix,
    maxRetries,
    timeout,
    ...(fetchImpl ? { fetch: fetchImpl } : {}),
  });
}

// The JSON bodies of the mock's requests whose path matches.
export function bodiesOf(mock, re) {
  return mock.requests.filter((e) => re.test(e.path)).map((e) => JSON.parse(e.body));
}

// A `raw` mock behaviour answering a generateContent with this Gemini JSON object.
export function rawJson(obj, status = 200) {
  return { type: 'raw', status, headers: { 'content-type': 'application/json; charset=UTF-8' }, body: JSON.stringify(obj, null, 2) + '\n' };
}

// A `raw` mock behaviour answering a streamGenerateContent?alt=sse with these events.
export function rawSse(events) {
  return {
    type: 'raw',
    status: 200,
    headers: { 'content-type': 'text/event-stream', 'content-disposition': 'attachment' },
    body: events.map((e) => `data: ${JSON.stringify(e)}\r\n\r\n`).join(''),
  };
}

// Every upstream request carried a real key and nothing of the client token.
export function assertUpstreamClean(mock, keys, token) {
  for (const e of mock.requests) {
    assert.ok(keys.includes(e.key), `${e.path}: key ${e.key}`);
    assert.ok(!JSON.stringify(e.headers).includes(token), `${e.path}: client token in upstream headers`);
    assert.ok(!e.url.includes(token), `${e.path}: client token in the upstream URL`);
  }
}

// Runs `fn` and fails when it has not settled within ms (so that a hang is a failure, not a
// stuck test run).
export async function within(ms, what, fn) {
  let timer;
  const t = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: still pending after ${ms} ms`)), ms); });
  try {
    return await Promise.race([fn(), t]);
  } finally {
    clearTimeout(timer);
  }
}

// A tiny loopback http server: routes is { path: { status, type, body } }.
export async function startFileServer(routes) {
  const hits = [];
  const server = http.createServer((req, res) => {
    hits.push(req.url);
    const r = routes[req.url];
    if (!r) { res.writeHead(404, { 'content-type': 'text/plain' }); res.end('not found'); return; }
    res.writeHead(r.status ?? 200, { 'content-type': r.type, 'content-length': String(r.body.length) });
    res.end(r.body);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    hits,
    close: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(() => resolve()); }),
  };
}

// A tiny valid PNG (1x1, red).
export const PNG_1x1 = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==', 'base64');
