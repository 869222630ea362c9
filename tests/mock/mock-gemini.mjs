// A mock of the Google Gemini API (generativelanguage.googleapis.com), faithful to
// /work/shared/WIRE.md part A: same paths, same auth rules, same error bodies (pretty-printed,
// `application/json; charset=UTF-8`), SSE and JSON-array streaming, resumable uploads whose
// `x-goog-upload-url` carries the real key, and per-key ownership of files and caches.
//
// As a module:
//   import { startMock } from '../mock/mock-gemini.mjs';
//   const mock = await startMock({ tls: { cert, key } | undefined, port: 0 });
//   mock.setKey('test-key-0001', 'gemini-2.5-flash', 'day');     // sticky behaviour
//   mock.queue('test-key-0002', '*', 'overloaded', 'ok');          // one-shot behaviours, FIFO
//   mock.requests                                                 // log of every request
//   await mock.close();
//
// As a program (benchmarks, manual use):
//   node tests/mock/mock-gemini.mjs --port N [--host H] [--tls-cert F --tls-key F]
//        [--stream-events N --stream-interval-ms M] [--log-requests] [--force-gzip]
//        [--informational 103,100]
// prints {"port":N} on stdout once listening. Behaviours can then be set over HTTP:
//   POST /__mock/behaviour {"key":K,"model":M|"*","behaviour":B,"queue":false}
//   POST /__mock/reset     GET /__mock/requests     GET /__mock/stats ({inFlight, maxInFlight})
//
// Behaviours (per key and model; `*` matches any key or any model; a queued one is used once
// and takes precedence over the sticky one set by setKey):
//   'ok' (default)      200 with text "ok from mock"
//   'day'               429 per-day quota (GenerateRequestsPerDayPerProjectPerModel-FreeTier, retryDelay "36s")
//   'minute'            429 per-minute quota (retryDelay "26s" unless {type:'minute', retryDelay:'2.5s'})
//   'zero'              429 with quotaValue "0" ("limit: 0"), quotaId a per-minute one by default
//   'bare429'           429 RESOURCE_EXHAUSTED without details
//   'retryinfo'         429 with only a RetryInfo (retryDelay "2s" by default)
//   'invalid'           400 API_KEY_INVALID exactly as WIRE A1 ({message} may change the text)
//   'suspended'         403 PERMISSION_DENIED consumer suspended (reason CONSUMER_SUSPENDED)
//   'denied'            403 PERMISSION_DENIED project denied access
//   'overloaded'        503 UNAVAILABLE "The model is overloaded. Please try again later."
//   '500'               500 INTERNAL
//   'reset'             the connection is destroyed (RST) without an answer
//   'hang'              never answers (until close())
//   'badrequest'        400 INVALID_ARGUMENT "Invalid JSON payload received. ..." (no API_KEY_INVALID)
//   'location'          400 FAILED_PRECONDITION "User location is not supported for the API use."
//   'notfound'          404 NOT_FOUND model not found
//   'filedenied'        403 PERMISSION_DENIED about a File (not about the key)
//   {type:'imagefiltered', count, reason}         Google's safety filter withholds images (mock-images.mjs:
//                       Imagen's raiFilteredReason predictions, a Gemini image model's IMAGE_SAFETY)
//   {type:'slowstream', events:N, intervalMs:M, firstDelayMs:F}   stream N events M ms apart, the
//                       first F ms (default 0) after the head, as a thinking model stays silent
//                       before its first chunk (non-stream: answer after F + N*M ms)
//   {type:'cutstream', events:N, intervalMs:M}    stream N events, then destroy the connection mid-body
//   {type:'delay', ms:M}                          answer ok after M ms
//   {type:'error', status, statusText, message, details}  any Gemini-shaped error
//   {type:'raw', status, headers, body}           any answer at all
//   {type:'toolcall', calls:[{name, args}], text, thought}   a model turn that calls tools (parallel
//                       when several), optionally after a thought summary and some text, with
//                       thought signatures placed as Gemini 3 places them: on the first functionCall
//                       only (none on the others), or on the last part when there is no call. Streamed
//                       as thought, text, then the calls with finishReason STOP.
// Thought signatures (WIRE-AGENTS D4): every signature the mock issues is remembered. For models
// whose name starts with `gemini-3` (startMock({ signatureModels: /regex/ }) changes which), a
// request whose current turn (the contents after the last user text) holds a model content whose
// first functionCall lacks a signature gets Google's 400 "... is missing a `thought_signature`";
// a signature the mock never issued gets 400 "Corrupted thought signature."; the documented
// bypass value `skip_thought_signature_validator` passes. entry.signatures records what was
// checked ('ok', 'bypass', or null when nothing needed checking).
// The 429 behaviours accept {retryDelay, quotaId, quotaValue, violations, reverse:true}.
// Any behaviour takes `delayMs` to answer that much later (e.g. {type:'invalid', delayMs:300}).
// Models list (`GET /v1beta/models?pageSize=N`, how a proxy probes a key): behaviours set for
// model '*' apply; an invalid key gets 400 API_KEY_INVALID, a suspended one the 403 naming
// it, compressed as any answer. mock.probes(key) lists those requests; mock.inFlight and
// mock.maxInFlight count the requests being answered at once.
// Quotas as Google counts them (WIRE A4, SPEC 4.5): mock.setProjects({key: project}) names each
// key's Google Cloud project (a key not named is a project of its own), and
// mock.setQuota(model, {rpm, rpd}, project?) gives every project (or one) a per-minute and a
// per-day request budget for a model. generateContent / streamGenerateContent calls answered
// 'ok' count against their project's budget for the model; one over it gets the 429 Google
// sends: QuotaFailure GenerateRequestsPerMinutePerProjectPerModel-FreeTier (or ...PerDay...)
// with quotaValue the limit, and a fractional RetryInfo (the time to the next window of
// Google's, whose minute windows start at second :00 and whose days at midnight Pacific; a
// per-day 429's retryDelay is a few seconds, as Google's is, and says nothing of the day).
// A 429 is not counted. A limit of 0 answers 429 "limit: 0" at once. mock.quotaStats() gives
// {`${project}|${model}`: {served, rejected_minute, rejected_day}}; mock.resetQuotas() starts
// new windows (as if the day turned).
// Image generation (Imagen's :predict, image output of *-image* models): see mock-images.mjs.
// Keys starting with `bad-` are 'invalid' and keys starting with `suspended-` are 'suspended'
// unless a behaviour is set for them.
//
// Where Google is harsher than a kind mock would be, so is this one:
// - Compression. Like Google's front end, every non-empty answer (success and error, buffered
//   and streamed) goes out with `Content-Encoding: gzip` when the request's Accept-Encoding
//   accepts gzip (`gzip`, `x-gzip`, or `*`, with a q-value above 0: `gzip;q=0` refuses it);
//   `deflate` (zlib format) when gzip is refused but deflate is accepted; plain for `identity`
//   or no Accept-Encoding. Content-Length is that of the compressed bytes; streams are
//   compressed too, flushed with Z_SYNC_FLUSH after each event so events still arrive as they
//   are sent. startMock({forceGzip: true}) compresses even when the client did not ask (an
//   upstream that misbehaves), and any behaviour takes `encoding: 'gzip'|'deflate'|'identity'`
//   (or `gzip: true`) to force its own answer's coding. 'raw' answers are sent as given unless
//   they carry `encoding`. The log entry records the coding used (entry.encoding: 'gzip',
//   'deflate' or 'identity'); entry.responseBody is always the plain text.
// - A suspended key's 403 names the key, as Google's does: "Permission denied: Consumer
//   'api_key:<the key>' has been suspended." (also in the LocalizedMessage detail and as the
//   ErrorInfo `consumer` metadata). {type:'suspended', consumer:'projects/604713412345'}
//   gives the older project form.
// - Percent-decoding. Query parameter names and values are decoded (`?k%65y=junk` is a `key`
//   parameter, `?%61lt=sse` is alt=sse) and so are path segments before routing
//   (`models/gemini%2D2.5-flash:generateContent` is model gemini-2.5-flash). entry.path is the
//   path as it came on the wire, entry.decodedPath the one that was routed; entry.query holds
//   decoded names and values.
// - Every credential is checked. Google validates each key a request presents; the mock does
//   not know Google's keys, so it is stricter: all API keys a request carries (the
//   x-goog-api-key header, every decoded `key` query value, the Bearer token on the OpenAI
//   layer) must be the same string, and an `access_token` or `oauth_token` parameter (never a
//   valid API key) may not be there at all; otherwise the answer is 400 API_KEY_INVALID
//   (exactly 'invalid''s body), whatever the behaviours say. entry.keys lists every key seen.
// - Informational answers. A behaviour with `informational: [103, 100]` (any 1xx but 101)
//   sends those interim answers first (103 Early Hints with a Link field, 100 Continue unasked,
//   102 Processing), then, after `informationalDelayMs` if given, the behaviour's answer;
//   startMock({informational: [103]}) does so for every answer (informationalDelayMs too).
//   entry.informational lists the codes sent.

import http from 'node:http';
import https from 'node:https';
import fs from 'node:fs';
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { isImagen, isImageModel, checkPredict, predictAnswer, checkImageGeneration, imageGenerateAnswer } from './mock-images.mjs';

const JSON_CT = 'application/json; charset=UTF-8';

// The content coding of an answer to a request with this Accept-Encoding (RFC 9110 12.5.3):
// 'gzip' whenever gzip is acceptable (Google prefers it whatever the q-values say), else
// 'deflate' if that is, else 'identity'. A coding is acceptable if listed with q > 0, or not
// listed while `*` is, with q > 0.
export function chooseEncoding(acceptEncoding) {
  if (acceptEncoding === undefined || acceptEncoding === null) return 'identity';
  const listed = new Map();
  let star;
  for (const item of String(acceptEncoding).split(',')) {
    const [name, ...params] = item.split(';').map((x) => x.trim());
    if (!name) continue;
    let q = 1;
    for (const param of params) {
      const m = /^q\s*=\s*(.*)$/i.exec(param);
      if (m) q = /^(0(\.\d{0,3})?|1(\.0{0,3})?)$/.test(m[1]) ? Number(m[1]) : 0;  // a bad qvalue refuses
    }
    const coding = name.toLowerCase() === 'x-gzip' ? 'gzip' : name.toLowerCase();
    if (coding === '*') star = q;
    else listed.set(coding, q);
  }
  const accepts = (c) => (listed.has(c) ? listed.get(c) > 0 : star !== undefined && star > 0);
  if (accepts('gzip')) return 'gzip';
  if (accepts('deflate')) return 'deflate';
  return 'identity';
}

function compress(encoding, buf) {
  if (encoding === 'gzip') return zlib.gzipSync(buf);
  if (encoding === 'deflate') return zlib.deflateSync(buf);
  return buf;
}

const ENCODINGS = new Set(['gzip', 'deflate', 'identity']);

// Headers Google puts on every answer (captures), plus a hop-by-hop header named in
// `Connection` so that tests can check that a proxy drops it.
function googleHeaders(hop) {
  const h = {
    vary: 'Origin, X-Origin, Referer',
    server: 'scaffolding on HTTPServer2',
    'x-xss-protection': '0',
    'x-frame-options': 'SAMEORIGIN',
    'x-content-type-options': 'nosniff',
    'server-timing': `gfet4t7; dur=${1 + Math.floor(Math.random() * 500)}`,
    'alt-svc': 'h3=":443"; ma=2592000,h3-29=":443"; ma=2592000',
  };
  if (hop) {
    h.connection = 'keep-alive, X-Mock-Hop';
    h['x-mock-hop'] = 'must-not-pass-a-proxy';
  }
  return h;
}

export const MODELS = [
  {
    name: 'models/gemini-2.5-flash', version: '001', displayName: 'Gemini 2.5 Flash',
    description: 'Stable version of Gemini 2.5 Flash, our mid-size multimodal model that supports up to 1 million tokens, released in June of 2025.',
    inputTokenLimit: 1048576, outputTokenLimit: 65536,
    supportedGenerationMethods: ['generateContent', 'countTokens', 'createCachedContent', 'batchGenerateContent'],
    temperature: 1, topP: 0.95, topK: 64, maxTemperature: 2, thinking: true,
  },
  {
    name: 'models/gemini-2.5-pro', version: '2.5', displayName: 'Gemini 2.5 Pro',
    description: 'Stable release (June 17th, 2025) of Gemini 2.5 Pro',
    inputTokenLimit: 1048576, outputTokenLimit: 65536,
    supportedGenerationMethods: ['generateContent', 'countTokens', 'createCachedContent', 'batchGenerateContent'],
    temperature: 1, topP: 0.95, topK: 64, maxTemperature: 2, thinking: true,
  },
  {
    name: 'models/gemini-2.5-flash-lite', version: '001', displayName: 'Gemini 2.5 Flash-Lite',
    description: 'Stable version of Gemini 2.5 Flash-Lite, released in July of 2025',
    inputTokenLimit: 1048576, outputTokenLimit: 65536,
    supportedGenerationMethods: ['generateContent', 'countTokens', 'createCachedContent', 'batchGenerateContent'],
    temperature: 1, topP: 0.95, topK: 64, maxTemperature: 2, thinking: true,
  },
  {
    name: 'models/gemini-2.0-flash', version: '2.0', displayName: 'Gemini 2.0 Flash',
    description: 'Gemini 2.0 Flash',
    inputTokenLimit: 1048576, outputTokenLimit: 8192,
    supportedGenerationMethods: ['generateContent', 'countTokens', 'createCachedContent', 'batchGenerateContent'],
    temperature: 1, topP: 0.95, topK: 40, maxTemperature: 2,
  },
  {
    name: 'models/gemini-embedding-001', version: '001', displayName: 'Gemini Embedding 001',
    description: 'Obtain a distributed representation of a text.',
    inputTokenLimit: 2048, outputTokenLimit: 1,
    supportedGenerationMethods: ['embedContent', 'countTextTokens', 'countTokens', 'asyncBatchEmbedContent'],
  },
];

// Other vendors' model names, which Google answers with 404 NOT_FOUND.
const FOREIGN_MODEL = /^(claude|gpt-|chatgpt-|o\d|text-embedding-3|text-embedding-ada)/i;

const GENERATE_FIELDS = new Set([
  'contents', 'systemInstruction', 'system_instruction', 'tools', 'toolConfig', 'tool_config',
  'safetySettings', 'safety_settings', 'cachedContent', 'cached_content', 'generationConfig',
  'generation_config', 'labels', 'model',
]);

// ---------------------------------------------------------------------------------------------
// Error bodies (WIRE.md A1, A4). Pretty-printed like Google's.

function errorBody(code, status, message, details) {
  const error = { code, message, status };
  if (details && details.length) error.details = details;
  return { error };
}

const HELP = {
  '@type': 'type.googleapis.com/google.rpc.Help',
  links: [{ description: 'Learn more about Gemini API quotas', url: 'https://ai.google.dev/gemini-api/docs/rate-limits' }],
};

function quota429(b, model, defaults) {
  const m = model || 'gemini-2.5-flash';
  const quotaId = b.quotaId ?? defaults.quotaId;
  const quotaValue = b.quotaValue ?? defaults.quotaValue;
  const metric = b.quotaMetric ?? defaults.quotaMetric;
  const violations = b.violations ?? [{
    quotaMetric: metric, quotaId,
    quotaDimensions: { location: 'global', model: m },
    ...(quotaValue === null ? {} : { quotaValue }),
  }];
  const retryDelay = b.retryDelay ?? defaults.retryDelay;
  const limitText = violations.map((v) => `* Quota exceeded for metric: ${v.quotaMetric}, limit: ${v.quotaValue ?? 0}, model: ${m}`).join('\n');
  const message = b.message ?? ('You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits. To monitor your current usage, head to: https://ai.dev/usage?tab=rate-limit. \n'
    + limitText + (retryDelay ? `\nPlease retry in ${retryDelay}.` : ''));
  let details = [
    { '@type': 'type.googleapis.com/google.rpc.QuotaFailure', violations },
    HELP,
  ];
  if (retryDelay !== null) details.push({ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay });
  if (b.reverse) details = details.reverse();
  return { status: 429, body: errorBody(429, 'RESOURCE_EXHAUSTED', message, details) };
}

const INVALID_KEY_MESSAGE = 'API key not valid. Please pass a valid API key.';

// The answer (status + JSON body) an error behaviour produces for `key`; null for non-error
// behaviours.
function errorFor(b, model, key) {
  switch (b.type) {
    case 'day':
      return quota429(b, model, {
        quotaId: 'GenerateRequestsPerDayPerProjectPerModel-FreeTier', quotaValue: '250',
        quotaMetric: 'generativelanguage.googleapis.com/generate_content_free_tier_requests', retryDelay: '36s',
      });
    case 'minute':
      return quota429(b, model, {
        quotaId: 'GenerateRequestsPerMinutePerProjectPerModel-FreeTier', quotaValue: '10',
        quotaMetric: 'generativelanguage.googleapis.com/generate_content_free_tier_requests', retryDelay: '26s',
      });
    case 'zero':
      return quota429(b, model, {
        quotaId: 'GenerateContentInputTokensPerModelPerMinute-FreeTier', quotaValue: '0',
        quotaMetric: 'generativelanguage.googleapis.com/generate_content_free_tier_input_token_count', retryDelay: '17s',
      });
    case 'bare429':
      return { status: 429, body: errorBody(429, 'RESOURCE_EXHAUSTED', b.message ?? 'Resource has been exhausted (e.g. check quota).') };
    case 'retryinfo':
      return {
        status: 429,
        body: errorBody(429, 'RESOURCE_EXHAUSTED', b.message ?? 'Resource has been exhausted (e.g. check quota).',
          [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: b.retryDelay ?? '2s' }]),
      };
    case 'invalid': {
      const message = b.message ?? INVALID_KEY_MESSAGE;
      return {
        status: 400,
        body: errorBody(400, 'INVALID_ARGUMENT', message, [
          { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID', domain: 'googleapis.com',
            metadata: { service: 'generativelanguage.googleapis.com' } },
          { '@type': 'type.googleapis.com/google.rpc.LocalizedMessage', locale: 'en-US', message },
        ]),
      };
    }
    case 'suspended': {
      // Google names the key itself (captures); `consumer` gives the older project form.
      const consumer = b.consumer ?? `api_key:${key ?? ''}`;
      const message = `Permission denied: Consumer '${consumer}' has been suspended.`;
      return {
        status: 403,
        body: errorBody(403, 'PERMISSION_DENIED', message, [
          { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'CONSUMER_SUSPENDED', domain: 'googleapis.com',
            metadata: { consumer, service: 'generativelanguage.googleapis.com' } },
          { '@type': 'type.googleapis.com/google.rpc.LocalizedMessage', locale: 'en-US', message },
        ]),
      };
    }
    case 'denied':
      return {
        status: 403,
        body: errorBody(403, 'PERMISSION_DENIED', 'Your project has been denied access. Please contact support.'),
      };
    case 'overloaded':
      return { status: 503, body: errorBody(503, 'UNAVAILABLE', 'The model is overloaded. Please try again later.') };
    case '500':
      return {
        status: 500,
        body: errorBody(500, 'INTERNAL', 'An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting'),
      };
    case 'badrequest': {
      const message = b.message ?? 'Invalid JSON payload received. Unknown name "foo": Cannot find field.';
      return {
        status: 400,
        body: errorBody(400, 'INVALID_ARGUMENT', message, [
          { '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [{ description: message }] },
        ]),
      };
    }
    case 'location':
      return { status: 400, body: errorBody(400, 'FAILED_PRECONDITION', 'User location is not supported for the API use.') };
    case 'notfound':
      return {
        status: 404,
        body: errorBody(404, 'NOT_FOUND', `models/${model ?? 'unknown'} is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods.`),
      };
    case 'filedenied':
      return { status: 403, body: errorBody(403, 'PERMISSION_DENIED', 'You do not have permission to access the File abcdef123456 or it may not exist.') };
    case 'error':
      return { status: b.status ?? 500, body: errorBody(b.status ?? 500, b.statusText ?? 'INTERNAL', b.message ?? 'error', b.details) };
    default:
      return null;
  }
}

function normalize(b) {
  if (b === undefined || b === null) return { type: 'ok' };
  if (typeof b === 'string' || typeof b === 'number') return { type: String(b) };
  if (typeof b === 'object' && b.type) {
    const n = { ...b, type: String(b.type) };
    if (n.gzip === true && n.encoding === undefined) n.encoding = 'gzip';
    if (n.encoding !== undefined && !ENCODINGS.has(n.encoding)) throw new Error(`mock: bad encoding ${n.encoding}`);
    if (n.informational !== undefined) checkInformational(n.informational);
    return n;
  }
  throw new Error(`mock: bad behaviour ${JSON.stringify(b)}`);
}

// 1xx codes the mock can send before an answer: any but 101, which would switch protocols.
function checkInformational(list) {
  if (!Array.isArray(list) || !list.every((c) => Number.isInteger(c) && c >= 100 && c <= 199 && c !== 101)) {
    throw new Error(`mock: bad informational list ${JSON.stringify(list)}`);
  }
  return list;
}

const KNOWN_TYPES = new Set(['ok', 'day', 'minute', 'zero', 'bare429', 'retryinfo', 'invalid', 'suspended', 'denied',
  'overloaded', '500', 'reset', 'hang', 'badrequest', 'location', 'notfound', 'filedenied', 'slowstream',
  'cutstream', 'delay', 'error', 'raw', 'toolcall', 'imagefiltered']);

export const SKIP_SIGNATURE = 'skip_thought_signature_validator';

// The parts of a 'toolcall' answer, signatures in Gemini 3's places (WIRE-AGENTS D4).
function toolCallParts(b, issue) {
  const parts = [];
  if (b.thought) parts.push({ text: String(b.thought), thought: true });
  if (b.text) parts.push({ text: String(b.text) });
  const calls = b.calls ?? [];
  calls.forEach((c, i) => {
    const part = { functionCall: { name: String(c.name), args: c.args ?? {} } };
    if (i === 0) part.thoughtSignature = issue();
    parts.push(part);
  });
  if (!calls.length && parts.length) parts[parts.length - 1].thoughtSignature = issue();
  return parts;
}

// Google's check of the signatures in a request's current turn: null when it passes, else the
// 400 message. Sets entry.signatures.
function checkSignatures(o, issued, entry) {
  const contents = Array.isArray(o.contents) ? o.contents : [];
  let start = 0;
  contents.forEach((c, i) => {
    const parts = Array.isArray(c?.parts) ? c.parts : [];
    if ((c?.role ?? 'user') === 'user' && parts.some((p) => typeof p?.text === 'string')) start = i + 1;
  });
  let checked = null;
  for (let i = start; i < contents.length; i++) {
    const c = contents[i];
    if (c?.role !== 'model') continue;
    const parts = Array.isArray(c.parts) ? c.parts : [];
    const first = parts.find((p) => p && p.functionCall);
    if (!first) continue;
    const sig = first.thoughtSignature ?? first.thought_signature;
    if (sig === undefined) {
      entry.signatures = 'missing';
      return `Unable to submit request because function call \`${first.functionCall.name}\` in the ${i + 1}. content block is missing a \`thought_signature\`. Learn more: https://docs.cloud.google.com/vertex-ai/generative-ai/docs/thought-signatures`;
    }
    if (sig === SKIP_SIGNATURE) { checked = checked ?? 'bypass'; continue; }
    if (!issued.has(sig)) { entry.signatures = 'corrupted'; return 'Corrupted thought signature.'; }
    checked = 'ok';
  }
  entry.signatures = checked;
  return null;
}


function newId(n = 12) {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = crypto.randomBytes(n);
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[bytes[i] % alphabet.length];
  return s;
}

function responseId() {
  return crypto.randomBytes(15).toString('base64url').slice(0, 20);
}

// Deterministic pseudo-embedding of a text.
function embedding(text, dims) {
  const h = crypto.createHash('sha256').update(String(text)).digest();
  const v = [];
  for (let i = 0; i < dims; i++) v.push(Math.round(((h[i % 32] / 255) * 2 - 1 + i * 1e-4) * 1e6) / 1e6);
  return v;
}

function textOf(content) {
  if (!content) return '';
  if (typeof content === 'string') return content;
  return (content.parts ?? []).map((p) => p.text ?? '').join('');
}

// Text pieces of a stream of n events: with the default 3 events they read "ok from mock".
function streamPieces(n) {
  if (n <= 1) return ['ok from mock'];
  const pieces = ['ok'];
  for (let i = 1; i < n - 1; i++) pieces.push(i === 1 ? ' from' : ` ${i}`);
  pieces.push(n === 2 ? ' from mock' : ' mock');
  return pieces;
}

function streamChunk(model, pieces, i) {
  const last = i === pieces.length - 1;
  const cand_ = Math.max(1, Math.round((2 * (i + 1)) / pieces.length));
  const cand = { content: { parts: [{ text: pieces[i] }], role: 'model' }, index: 0 };
  if (last) cand.finishReason = 'STOP';
  return {
    candidates: [cand],
    // Cumulative; the last event's usage equals generateContent's (3 + 2 + 5 thoughts = 10).
    usageMetadata: { promptTokenCount: 3, candidatesTokenCount: cand_, totalTokenCount: 3 + 5 + cand_, thoughtsTokenCount: 5 },
    modelVersion: model,
    responseId: 'mockstream' + String(i),
  };
}

function okGenerate(model) {
  return {
    candidates: [{ content: { parts: [{ text: 'ok from mock' }], role: 'model' }, finishReason: 'STOP', index: 0 }],
    usageMetadata: {
      promptTokenCount: 3, candidatesTokenCount: 2, totalTokenCount: 10,
      promptTokensDetails: [{ modality: 'TEXT', tokenCount: 3 }], thoughtsTokenCount: 5,
    },
    modelVersion: model,
    responseId: responseId(),
  };
}

// Timers are unref'd: a pending stream interval never keeps a closed mock's process alive.
const sleep = (ms) => new Promise((r) => setTimeout(r, ms).unref());

function readFileOrValue(v) {
  if (v === undefined || v === null) return v;
  if (Buffer.isBuffer(v)) return v;
  if (typeof v === 'string' && !v.includes('-----BEGIN')) return fs.readFileSync(v);
  return v;
}

// Find the ids of files (`files/<id>`) and caches referenced by a generateContent-like body.
function collectRefs(obj, out = { files: [], caches: [] }) {
  if (Array.isArray(obj)) { for (const x of obj) collectRefs(x, out); return out; }
  if (obj && typeof obj === 'object') {
    for (const [k, v] of Object.entries(obj)) {
      if ((k === 'fileUri' || k === 'file_uri') && typeof v === 'string') {
        const m = /files\/([A-Za-z0-9_-]+)/.exec(v);
        if (m) out.files.push(m[1]);
      } else if ((k === 'cachedContent' || k === 'cached_content') && typeof v === 'string') {
        const m = /cachedContents\/([A-Za-z0-9_-]+)/.exec(v);
        if (m) out.caches.push(m[1]);
      } else {
        collectRefs(v, out);
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Tool declarations and content parts, checked as Google checks them (WIRE.md C): a function's
// `parameters` is Gemini's OpenAPI-subset Schema, so any JSON Schema keyword outside it
// (additionalProperties, $schema, $ref, oneOf, const, ...) at any depth is a 400 naming the
// field and its proto path; `parametersJsonSchema` takes any JSON Schema; a content part
// with a field Gemini does not know (cache_control) is a 400 too. Returns the error answer
// ({status, body}) or null. A body that is not a JSON object is left to the caller.

const SCHEMA_KEYS = ['type', 'format', 'title', 'description', 'nullable', 'enum', 'items', 'properties',
  'required', 'minItems', 'maxItems', 'minProperties', 'maxProperties', 'minLength', 'maxLength', 'pattern',
  'example', 'anyOf', 'propertyOrdering', 'default', 'minimum', 'maximum'];
const SCHEMA_TYPES = new Set(['STRING', 'NUMBER', 'INTEGER', 'BOOLEAN', 'ARRAY', 'OBJECT']);
const TOOL_KINDS = ['functionDeclarations', 'googleSearchRetrieval', 'codeExecution', 'googleSearch', 'urlContext',
  'computerUse', 'fileSearch', 'googleMaps'];
const DECLARATION_KEYS = ['name', 'description', 'behavior', 'parameters', 'parametersJsonSchema', 'response',
  'responseJsonSchema'];
const PART_KEYS = ['text', 'inlineData', 'fileData', 'functionCall', 'functionResponse', 'executableCode',
  'codeExecutionResult', 'thought', 'thoughtSignature', 'videoMetadata', 'partMetadata', 'mediaResolution'];

function validateToolsAndParts(method, raw) {
  let body;
  try { body = JSON.parse(raw); } catch { return null; }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return null;
  // Proto JSON takes camelCase and snake_case names alike; error paths use snake_case.
  const snake = (k) => k.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase());
  const known = (names) => new Set(names.flatMap((k) => [k, snake(k)]));
  const schemaKeys = known(SCHEMA_KEYS);
  const toolKinds = known(TOOL_KINDS);
  const declKeys = known(DECLARATION_KEYS);
  const partKeys = known(PART_KEYS);
  const get = (o, k) => (o[k] !== undefined ? o[k] : o[snake(k)]);
  const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
  const violations = [];
  const unknownName = (name, at) => violations.push({
    field: at, description: `Invalid JSON payload received. Unknown name "${name}" at '${at}': Cannot find field.`,
  });
  const invalidValue = (at, v) => violations.push({
    field: at, description: `Invalid value at '${at}' (type.googleapis.com/google.ai.generativelanguage.v1beta.Type), ${JSON.stringify(v)}`,
  });
  const plain = (at, message) => violations.push({ field: at, description: message });

  function schema(s, at) {
    if (!isObj(s)) return plain(at, `Invalid JSON payload received. Expected an object at '${at}'.`);
    for (const k of Object.keys(s)) if (!schemaKeys.has(k)) unknownName(k, at);
    const type = get(s, 'type');
    if (type !== undefined && !(typeof type === 'string' && SCHEMA_TYPES.has(type.toUpperCase()))) invalidValue(`${at}.type`, type);
    const props = get(s, 'properties');
    if (props !== undefined) {
      if (!isObj(props)) plain(`${at}.properties`, `Invalid JSON payload received. Expected an object at '${at}.properties'.`);
      else Object.values(props).forEach((v, i) => schema(v, `${at}.properties[${i}].value`));
    }
    const items = get(s, 'items');
    if (items !== undefined) schema(items, `${at}.items`);
    const anyOf = get(s, 'anyOf');
    if (Array.isArray(anyOf)) anyOf.forEach((v, i) => schema(v, `${at}.any_of[${i}]`));
    return undefined;
  }

  function tools(list, prefix) {
    if (!Array.isArray(list)) return;
    list.forEach((t, i) => {
      const at = `${prefix}tools[${i}]`;
      if (!isObj(t)) return;
      for (const k of Object.keys(t)) if (!toolKinds.has(k)) unknownName(k, at);
      const decls = get(t, 'functionDeclarations');
      if (!Array.isArray(decls)) return;
      decls.forEach((d, j) => {
        const dat = `${at}.function_declarations[${j}]`;
        if (!isObj(d)) return;
        for (const k of Object.keys(d)) if (!declKeys.has(k)) unknownName(k, dat);
        const params = get(d, 'parameters');
        const pjs = get(d, 'parametersJsonSchema');
        if (params !== undefined && pjs !== undefined) {
          plain(dat, `* GenerateContentRequest.${dat}.parameters: parameters and parameters_json_schema cannot both be set.\n`);
        }
        if (params !== undefined) schema(params, `${dat}.parameters`);
        if (get(d, 'response') !== undefined) schema(get(d, 'response'), `${dat}.response`);
        if (pjs !== undefined && !isObj(pjs) && typeof pjs !== 'boolean') {
          plain(`${dat}.parameters_json_schema`, `* GenerateContentRequest.${dat}.parameters_json_schema: must be a JSON Schema object.\n`);
        }
      });
    });
  }

  function parts(content, at) {
    if (!isObj(content) || !Array.isArray(content.parts)) return;
    content.parts.forEach((p, j) => {
      if (isObj(p)) for (const k of Object.keys(p)) if (!partKeys.has(k)) unknownName(k, `${at}.parts[${j}]`);
    });
  }

  function request(o, prefix) {
    if (!isObj(o)) return;
    tools(get(o, 'tools'), prefix);
    const contents = get(o, 'contents');
    if (Array.isArray(contents)) contents.forEach((c, i) => parts(c, `${prefix}contents[${i}]`));
    const sys = get(o, 'systemInstruction');
    if (sys !== undefined) parts(sys, `${prefix}system_instruction`);
  }

  request(body, '');
  if (method === 'countTokens') request(get(body, 'generateContentRequest'), 'generate_content_request.');
  if (!violations.length) return null;
  const message = violations.map((v) => v.description).join('\n');
  return {
    status: 400,
    body: errorBody(400, 'INVALID_ARGUMENT', message,
      [{ '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: violations }]),
  };
}

// ---------------------------------------------------------------------------------------------

export async function startMock(opts = {}) {
  const {
    tls,
    port = 0,
    host = '127.0.0.1',
    streamEvents = 3,
    streamIntervalMs = 0,
    logRequests = true,
    hopHeaders = true,
    // Google rejects a native request carrying an Authorization header that is not an OAuth
    // token (WIRE A1): a proxy must never forward a client's.
    rejectAuthorizationOnNative = true,
    // Google answers the resumable start with x-goog-upload-control-url as well; it also
    // carries the key.
    uploadControlUrl = true,
    keepAliveTimeoutMs = 65000,
    // Compress every non-empty answer with gzip, asked for or not (a misbehaving upstream).
    forceGzip = false,
    // Models whose current turn's function calls must carry the signatures the mock issued.
    signatureModels = /^gemini-3/,
    // 1xx codes sent before every answer (and the pause after them), unless a behaviour
    // gives its own `informational`.
    informational = [],
    informationalDelayMs = 0,
  } = opts;
  checkInformational(informational);

  const sticky = new Map(); // `${key}\u0000${model}` -> behaviour
  const queues = new Map(); // same -> [behaviours]
  const requests = [];
  const issuedSignatures = new Set();
  const issueSignature = () => {
    const sig = crypto.randomBytes(24).toString('base64');
    issuedSignatures.add(sig);
    return sig;
  };
  const files = new Map(); // id -> { owner, file }
  const caches = new Map(); // id -> { owner, cache }
  const uploads = new Map(); // upload_id -> { owner, received: Buffer[], size, mimeType, displayName }
  const sockets = new Set();
  const hanging = new Set();
  let baseUrl = '';

  const slot = (key, model) => `${key}\u0000${model}`;
  // Quotas: key -> project, model -> {default: {rpm, rpd}, byProject: Map}, and the counts.
  const projectOf = new Map();
  const quotaLimits = new Map();
  const quotaCounts = new Map(); // `${project}|${model}` -> {minute, minuteCount, day, dayCount, served, rejected_minute, rejected_day}
  const pacificDay = new Intl.DateTimeFormat('en-CA', { timeZone: 'America/Los_Angeles', year: 'numeric', month: '2-digit', day: '2-digit' });
  function quotaAnswer(key, model) {
    const q = quotaLimits.get(model);
    if (!q) return null;
    const project = projectOf.get(key) ?? key;
    const limits = q.byProject.get(project) ?? q.default;
    if (!limits) return null;
    const id = `${project}|${model}`;
    const now = Date.now();
    const minute = Math.floor(now / 60000);
    const day = pacificDay.format(new Date(now));
    let c = quotaCounts.get(id);
    if (!c) quotaCounts.set(id, c = { minute, minuteCount: 0, day, dayCount: 0, served: 0, rejected_minute: 0, rejected_day: 0 });
    if (c.minute !== minute) { c.minute = minute; c.minuteCount = 0; }
    if (c.day !== day) { c.day = day; c.dayCount = 0; }
    const metric = 'generativelanguage.googleapis.com/generate_content_free_tier_requests';
    const fraction = () => `${((60000 - (now % 60000)) / 1000 + Math.random() / 1000).toFixed(9)}s`;
    if (limits.rpd !== undefined && c.dayCount >= limits.rpd) {
      c.rejected_day += 1;
      return quota429({}, model, {
        quotaId: 'GenerateRequestsPerDayPerProjectPerModel-FreeTier', quotaValue: String(limits.rpd),
        quotaMetric: metric, retryDelay: `${(Math.random() * 40).toFixed(6)}s`,
      });
    }
    if (limits.rpm !== undefined && c.minuteCount >= limits.rpm) {
      c.rejected_minute += 1;
      return quota429({}, model, {
        quotaId: 'GenerateRequestsPerMinutePerProjectPerModel-FreeTier', quotaValue: String(limits.rpm),
        quotaMetric: metric, retryDelay: fraction(),
      });
    }
    c.minuteCount += 1;
    c.dayCount += 1;
    c.served += 1;
    return null;
  }
  const stats = { inFlight: 0, maxInFlight: 0 };

  function pick(key, model) {
    const keys = key ? [key, '*'] : ['*'];
    const models = model ? [model, '*'] : ['*'];
    for (const k of keys) {
      for (const m of models) {
        const q = queues.get(slot(k, m));
        if (q && q.length) {
          const b = q.shift();
          if (!q.length) queues.delete(slot(k, m));
          return b;
        }
      }
    }
    for (const k of keys) {
      for (const m of models) {
        const b = sticky.get(slot(k, m));
        if (b) return b;
      }
    }
    if (key && key.startsWith('bad-')) return { type: 'invalid' };
    if (key && key.startsWith('suspended-')) return { type: 'suspended' };
    return { type: 'ok' };
  }

  function check(b) {
    const n = normalize(b);
    if (!KNOWN_TYPES.has(n.type)) throw new Error(`mock: unknown behaviour type ${n.type}`);
    return n;
  }

  const api = {
    url: '',
    port: 0,
    requests,
    setProjects(map) {
      for (const [k, p] of Object.entries(map)) projectOf.set(k, p);
    },
    setQuota(model, limits, project) {
      let q = quotaLimits.get(model);
      if (!q) quotaLimits.set(model, q = { default: null, byProject: new Map() });
      if (project === undefined) q.default = limits; else q.byProject.set(project, limits);
    },
    quotaStats() {
      const out = {};
      for (const [id, c] of quotaCounts) out[id] = { served: c.served, rejected_minute: c.rejected_minute, rejected_day: c.rejected_day };
      return out;
    },
    resetQuotas() { quotaCounts.clear(); },
    files,
    caches,
    uploads,
    setKey(key, model, behaviour) {
      sticky.set(slot(key, model ?? '*'), check(behaviour));
    },
    queue(key, model, ...behaviours) {
      const s = slot(key, model ?? '*');
      const q = queues.get(s) ?? [];
      for (const b of behaviours) q.push(check(b));
      queues.set(s, q);
    },
    clearKey(key, model) {
      sticky.delete(slot(key, model ?? '*'));
      queues.delete(slot(key, model ?? '*'));
    },
    // Forget behaviours, the request log, files, caches and upload sessions.
    reset() {
      sticky.clear();
      queues.clear();
      requests.length = 0;
      files.clear();
      caches.clear();
      uploads.clear();
      projectOf.clear();
      quotaLimits.clear();
      quotaCounts.clear();
      stats.maxInFlight = stats.inFlight;
    },
    clearRequests() { requests.length = 0; },
    // API requests being answered now, and the most answered at once since start or
    // resetMaxInFlight()/reset() (for tests of a client's concurrency bound).
    get inFlight() { return stats.inFlight; },
    get maxInFlight() { return stats.maxInFlight; },
    resetMaxInFlight() { stats.maxInFlight = stats.inFlight; },
    // The key probes that reached the mock: GET {version}/models?pageSize=1 (optionally only
    // those of one key).
    probes(key) {
      return requests.filter((r) => r.method === 'GET' && /^\/v1(beta|alpha)?\/models$/.test(r.decodedPath) &&
        r.query.pageSize === '1' && (key === undefined || r.key === key));
    },
    // The thought signatures the mock has issued (WIRE-AGENTS D4).
    signatures: issuedSignatures,
    // Keys that reached the mock, in order (optionally only for one model or path part).
    keysSeen(filter) {
      return requests.filter((r) => {
        if (!filter) return true;
        if (typeof filter === 'function') return filter(r);
        return r.model === filter;
      }).map((r) => r.key);
    },
    // Resolves once `n` requests are in the log (or rejects after timeoutMs).
    async waitForRequests(n, timeoutMs = 5000) {
      const end = Date.now() + timeoutMs;
      while (requests.length < n) {
        if (Date.now() > end) throw new Error(`mock: ${requests.length} requests after ${timeoutMs} ms, wanted ${n}`);
        await sleep(10);
      }
    },
    close,
  };

  // ---- response helpers -------------------------------------------------------------------

  // The content coding of the answer on `res`: the behaviour's `encoding` if it has one
  // (res.mockEncoding), else gzip if forced, else what the request accepts.
  function encodingOf(res) {
    if (res.mockEncoding) return res.mockEncoding;
    if (forceGzip) return 'gzip';
    return chooseEncoding(res.req?.headers['accept-encoding']);
  }

  // Sends the interim 1xx answers of `list` once per request, before anything else.
  function sendInformational(res, entry, list) {
    if (res.mockInformationalDone || res.headersSent || res.destroyed) return;
    res.mockInformationalDone = true;
    if (!list.length) return;
    for (const code of list) {
      if (code === 100) res.writeContinue();
      else if (code === 102) res.writeProcessing();
      else if (code === 103) res.writeEarlyHints({ link: '</static/mock-hint.css>; rel=preload; as=style' });
      else res.socket.write(`HTTP/1.1 ${code} Informational\r\n\r\n`);  // nothing else is written yet
    }
    if (entry) entry.informational = [...list];
  }

  function send(res, entry, status, headers, body) {
    if (res.destroyed || res.writableEnded) return;
    if (entry) sendInformational(res, entry, informational);
    const plain = Buffer.isBuffer(body) ? body : Buffer.from(body ?? '');
    // Empty bodies and bodies that already carry a coding go as they are.
    const encoding = plain.length && !headers['content-encoding'] ? encodingOf(res) : 'identity';
    const buf = compress(encoding, plain);
    const h = { ...googleHeaders(hopHeaders), ...headers, 'content-length': String(buf.length) };
    if (encoding !== 'identity') h['content-encoding'] = encoding;
    res.writeHead(status, h);
    res.end(buf);
    if (entry) {
      entry.status = status;
      entry.responseBody = plain.toString('utf8');
      entry.encoding = encoding;
      entry.finishedAt = Date.now();
    }
  }

  // Starts a streamed answer: writes the head (with Content-Encoding if the answer is
  // compressed) and returns write(text) and end(text) promises. A compressed stream is flushed
  // with Z_SYNC_FLUSH after every write, so that each event leaves as soon as it is written.
  function startStream(res, entry, status, headers) {
    sendInformational(res, entry, informational);
    const encoding = encodingOf(res);
    const h = { ...headers };
    if (encoding !== 'identity') h['content-encoding'] = encoding;
    res.writeHead(status, h);
    if (typeof res.flushHeaders === 'function') res.flushHeaders();
    entry.status = status;
    entry.encoding = encoding;
    if (encoding === 'identity') {
      return {
        write: async (text) => { if (!res.destroyed) res.write(text); },
        end: async (text) => { if (!res.destroyed) res.end(text); },
      };
    }
    const z = encoding === 'gzip' ? zlib.createGzip() : zlib.createDeflate();
    z.on('data', (c) => { if (!res.destroyed) res.write(c); });
    z.on('error', () => res.destroy());
    const settle = () => new Promise((r) => setImmediate(r));  // let 'data' reach res first
    return {
      write: (text) => new Promise((resolve) => {
        z.write(text);
        z.flush(zlib.constants.Z_SYNC_FLUSH, () => settle().then(resolve));
      }),
      end: (text) => new Promise((resolve) => {
        z.once('end', () => { if (!res.destroyed) res.end(); resolve(); });
        z.end(text ?? '');
      }),
    };
  }

  function sendJson(res, entry, status, obj, extraHeaders = {}) {
    send(res, entry, status, { 'content-type': JSON_CT, ...extraHeaders }, JSON.stringify(obj, null, 2) + '\n');
  }

  function sendError(res, entry, err, arrayForm) {
    const body = arrayForm ? [err.body] : err.body;
    sendJson(res, entry, err.status, body);
  }

  function sendHtml404(res, entry, path) {
    const html = `<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n  <title>Error 404 (Not Found)!!1</title>\n  <p><b>404.</b> <ins>That’s an error.</ins>\n  <p>The requested URL <code>${path.replace(/[<>&]/g, '')}</code> was not found on this server.  <ins>That’s all we know.</ins>\n`;
    send(res, entry, 404, { 'content-type': 'text/html; charset=UTF-8' }, html);
  }

  function resetSocket(req) {
    const s = req.socket;
    try {
      if (typeof s.resetAndDestroy === 'function' && s._handle) s.resetAndDestroy();
      else s.destroy();
    } catch {
      s.destroy();
    }
  }

  // Streams a generateContent answer as SSE (`sse`) or as a JSON array, event by event.
  async function stream(res, entry, model, sse, b) {
    const events = b.events ?? streamEvents;
    const intervalMs = b.intervalMs ?? streamIntervalMs;
    const cutAfter = b.type === 'cutstream' ? (b.events ?? 2) : null;
    const total = cutAfter !== null ? Math.max(cutAfter + 2, 3) : events;
    const pieces = streamPieces(total);
    const headers = { ...googleHeaders(hopHeaders) };
    if (sse) {
      headers['content-type'] = 'text/event-stream';
      headers['content-disposition'] = 'attachment';
    } else {
      headers['content-type'] = JSON_CT;
    }
    const out = startStream(res, entry, 200, headers);
    entry.events = [];
    let sent = '';
    const write = async (text) => {
      sent += text;
      await out.write(text);
    };
    const n = cutAfter !== null ? cutAfter : total;
    const firstDelayMs = b.firstDelayMs ?? 0;
    for (let i = 0; i < n; i++) {
      if (i === 0 && firstDelayMs > 0) await sleep(firstDelayMs);
      if (i > 0 && intervalMs > 0) await sleep(intervalMs);
      if (res.destroyed) { entry.responseBody = sent; entry.aborted = true; return; }
      const chunk = streamChunk(model, pieces, i);
      if (sse) await write(`data: ${JSON.stringify(chunk)}\r\n\r\n`);
      else await write((i === 0 ? '[' : '\r\n,\r\n') + JSON.stringify(chunk, null, 2));
      entry.events.push(Date.now());
    }
    entry.responseBody = sent;
    if (cutAfter !== null) {
      if (intervalMs > 0) await sleep(intervalMs);
      entry.cut = true;
      entry.finishedAt = Date.now();
      resetSocket(res.req ?? { socket: res.socket });
      return;
    }
    if (!sse) sent += '\r\n]';
    entry.responseBody = sent;
    await out.end(sse ? '' : '\r\n]');
    entry.finishedAt = Date.now();
  }

  // A 'toolcall' behaviour's answer, whole or streamed (thought, text, then the calls).
  async function toolCallAnswer(res, entry, model, sse, b, streamed, arrayForm) {
    const parts = toolCallParts(b, issueSignature);
    const usage = { promptTokenCount: 12, candidatesTokenCount: 8, thoughtsTokenCount: b.thought ? 4 : 0, totalTokenCount: 12 + 8 + (b.thought ? 4 : 0) };
    const answer = (ps, finish) => ({
      candidates: [{ content: { parts: ps, role: 'model' }, ...(finish ? { finishReason: 'STOP' } : {}), index: 0 }],
      usageMetadata: usage, modelVersion: model, responseId: responseId(),
    });
    if (!streamed) return sendJson(res, entry, 200, answer(parts, true));
    const calls = parts.filter((p) => p.functionCall);
    const rest = parts.filter((p) => !p.functionCall);
    // The calls come last, with STOP; without calls the last part carries STOP itself.
    const chunks = calls.length
      ? [...rest.map((p) => answer([p], false)), answer(calls, true)]
      : rest.map((p, i) => answer([p], i === rest.length - 1));
    const headers = { ...googleHeaders(hopHeaders), 'content-type': sse ? 'text/event-stream' : JSON_CT };
    const out = startStream(res, entry, 200, headers);
    let sent = '';
    for (let i = 0; i < chunks.length; i++) {
      const text = sse ? `data: ${JSON.stringify(chunks[i])}\r\n\r\n` : (i === 0 ? '[' : '\r\n,\r\n') + JSON.stringify(chunks[i]);
      sent += text;
      await out.write(text);
    }
    entry.responseBody = sent;
    await out.end(sse ? '' : '\r\n]');
    entry.finishedAt = Date.now();
    return undefined;
  }

  function ownerCheck(res, entry, key, refs) {
    for (const id of refs.files) {
      const f = files.get(id);
      if (!f || f.owner !== key) {
        sendJson(res, entry, 403, errorBody(403, 'PERMISSION_DENIED', `You do not have permission to access the File ${id} or it may not exist.`));
        return false;
      }
    }
    for (const id of refs.caches) {
      const c = caches.get(id);
      if (!c || c.owner !== key) {
        sendJson(res, entry, 403, errorBody(403, 'PERMISSION_DENIED', 'CachedContent not found (or permission denied)'));
        return false;
      }
    }
    return true;
  }

  function parseJson(res, entry, body, arrayForm) {
    if (body.length === 0) return {};
    try {
      const v = JSON.parse(body);
      if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
      return v;
    } catch {
      const message = 'Invalid JSON payload received. Unexpected token.\n' + body.slice(0, 20).replace(/\s+/g, ' ') + '\n^';
      sendError(res, entry, {
        status: 400,
        body: errorBody(400, 'INVALID_ARGUMENT', message,
          [{ '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [{ description: message }] }]),
      }, arrayForm);
      return null;
    }
  }

  // ---- the control API of program mode ----------------------------------------------------

  function control(req, res, url, body) {
    if (url.pathname === '/__mock/reset' && req.method === 'POST') {
      api.reset();
      return send(res, null, 200, { 'content-type': 'application/json' }, '{}');
    }
    if (url.pathname === '/__mock/behaviour' && req.method === 'POST') {
      try {
        const o = JSON.parse(body || '{}');
        if (o.queue) api.queue(o.key ?? '*', o.model ?? '*', ...(Array.isArray(o.behaviour) ? o.behaviour : [o.behaviour]));
        else api.setKey(o.key ?? '*', o.model ?? '*', o.behaviour);
        return send(res, null, 200, { 'content-type': 'application/json' }, '{}');
      } catch (e) {
        return send(res, null, 400, { 'content-type': 'application/json' }, JSON.stringify({ error: String(e.message) }));
      }
    }
    if (url.pathname === '/__mock/stats' && req.method === 'GET') {
      return send(res, null, 200, { 'content-type': 'application/json' }, JSON.stringify(stats));
    }
    if (url.pathname === '/__mock/requests' && req.method === 'GET') {
      return send(res, null, 200, { 'content-type': 'application/json' }, JSON.stringify(requests));
    }
    return sendHtml404(res, null, url.pathname);
  }

  // ---- the API ----------------------------------------------------------------------------

  async function handle(req, res, raw) {
    const url = new URL(req.url, 'http://mock.invalid');
    const body = raw.toString('utf8');
    if (url.pathname.startsWith('/__mock/')) {
      res.mockEncoding = 'identity';  // not Google: the control API stays plain
      return control(req, res, url, body);
    }
    // Requests being answered at once (the most ever seen is kept until reset()).
    stats.inFlight++;
    stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
    res.once('close', () => { stats.inFlight--; });

    // Google routes on decoded path segments (`gemini%2D2.5-flash` is gemini-2.5-flash);
    // URLSearchParams already decodes query names and values (`k%65y` is `key`).
    const wirePath = url.pathname;
    const path = wirePath.split('/').map((seg) => {
      try { return decodeURIComponent(seg); } catch { return seg; }
    }).join('/');
    const openai = /^\/v1(beta|alpha)?\/openai\//.test(path);
    const auth = req.headers.authorization;
    const headerKey = req.headers['x-goog-api-key'] !== undefined ? String(req.headers['x-goog-api-key']) : null;
    const queryKeys = url.searchParams.getAll('key');
    const bearer = openai && auth && /^Bearer\s+/i.test(auth) ? auth.replace(/^Bearer\s+/i, '').trim() : null;
    const keys = [headerKey, ...queryKeys, bearer].filter((k) => k !== null);
    const tokens = [...url.searchParams.getAll('access_token'), ...url.searchParams.getAll('oauth_token')];
    const key = keys.length ? keys[0] : null;

    let model = null;
    let method = null;
    const mm = /^\/(?:v1|v1beta|v1alpha)\/(?:models|tunedModels)\/([^/:]+)(?::([A-Za-z]+))?$/.exec(path);
    if (mm) { model = mm[1]; method = mm[2] ?? null; }
    if (openai && body) {
      try { const o = JSON.parse(body); if (typeof o.model === 'string') model = o.model.replace(/^models\//, ''); } catch { /* ignore */ }
    }

    const entry = {
      id: requests.length + 1,
      time: Date.now(),
      method: req.method,
      path: wirePath,
      decodedPath: path,
      query: Object.fromEntries(url.searchParams),
      url: req.url,
      headers: { ...req.headers },
      rawHeaders: [...req.rawHeaders],
      body,
      bodyBytes: raw.length,
      key,
      keys,
      model,
      // The client side's port of the connection: tests that put proxies in front of the
      // mock match it to the port each proxy connected from.
      remotePort: req.socket?.remotePort ?? null,
      status: null,
    };
    if (logRequests) requests.push(entry);

    const isStream = method === 'streamGenerateContent';
    const sse = isStream && url.searchParams.get('alt') === 'sse';
    // Errors of the JSON-array stream form and of Google's OpenAI layer come as [{"error":...}].
    const arrayForm = (isStream && !sse) || openai;

    // Authentication (WIRE A1).
    if (rejectAuthorizationOnNative && !openai && auth !== undefined) {
      return sendJson(res, entry, 401, errorBody(401, 'UNAUTHENTICATED',
        'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.',
        [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'ACCESS_TOKEN_TYPE_UNSUPPORTED',
          metadata: { service: 'generativelanguage.googleapis.com', method: 'google.ai.generativelanguage.v1beta.GenerativeService.' + (method ?? 'Unknown') } }]));
    }
    const knownPrefix = /^\/(v1|v1beta|v1alpha)\//.test(path) || /^\/upload\/(v1|v1beta|v1alpha)\//.test(path);
    if (!knownPrefix) return sendHtml404(res, entry, path);
    // Google checks every credential presented; the mock, not knowing which keys are valid,
    // refuses any second key that differs from the first and any OAuth token parameter.
    if (tokens.length || new Set(keys).size > 1) {
      entry.credentialsRefused = true;
      return sendError(res, entry, errorFor({ type: 'invalid' }, model, key), arrayForm);
    }
    if (!key) {
      return sendJson(res, entry, 403, errorBody(403, 'PERMISSION_DENIED',
        "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API."));
    }

    const b = pick(key, model);
    entry.behaviour = b.type;
    if (b.encoding) res.mockEncoding = b.encoding;
    else if (b.type === 'raw') res.mockEncoding = 'identity';  // a raw answer goes as given
    const early = b.informational ?? informational;
    sendInformational(res, entry, early);
    const earlyDelay = b.informationalDelayMs ?? informationalDelayMs;
    if (early.length && earlyDelay > 0) await sleep(earlyDelay);
    if (b.delayMs > 0) await sleep(b.delayMs);
    if (res.destroyed) return undefined;
    if (b.type === 'reset') { entry.reset = true; entry.finishedAt = Date.now(); return resetSocket(req); }
    if (b.type === 'hang') { hanging.add(res); entry.hung = true; return undefined; }
    // Google checks the payload whatever the answer would be: before raw and error behaviours.
    if (mm && ['generateContent', 'streamGenerateContent', 'countTokens'].includes(method)) {
      const invalid = validateToolsAndParts(method, body);
      if (invalid) return sendError(res, entry, invalid, arrayForm);
    }
    if (mm && ['generateContent', 'streamGenerateContent', 'predict'].includes(method)) {
      let o = null;
      try { o = JSON.parse(body); } catch { /* the method's own parse answers */ }
      if (o !== null && typeof o === 'object' && !Array.isArray(o)) {
        const p = method === 'predict' ? (isImagen(model) ? checkPredict(o) : null) : checkImageGeneration(o, model);
        if (p) return sendError(res, entry, { status: p.status, body: errorBody(p.status, p.statusText, p.message) }, arrayForm);
      }
    }
    if (b.type === 'raw') {
      return send(res, entry, b.status ?? 200, b.headers ?? {}, b.body ?? '');
    }
    const err = errorFor(b, model, key)
      ?? (b.type === 'ok' && mm && ['generateContent', 'streamGenerateContent'].includes(method) ? quotaAnswer(key, model) : null);
    if (err) return sendError(res, entry, err, arrayForm);
    if (b.type === 'delay') await sleep(b.ms ?? 100);
    if (res.destroyed) return undefined;

    // ---- Google's OpenAI-compatible layer ----
    if (openai) return handleOpenAI(req, res, entry, path, body, model);

    // ---- uploads (WIRE A5) ----
    const up = /^\/upload\/(v1|v1beta|v1alpha)\/files$/.exec(path);
    if (up) return handleUpload(req, res, entry, url, raw, key, up[1]);

    // ---- models ----
    const version = /^\/(v1|v1beta|v1alpha)\//.exec(path)[1];
    if (req.method === 'GET' && (path === `/${version}/models`)) return listModels(res, entry, url);
    if (mm && !method && req.method === 'GET') {
      const m = MODELS.find((x) => x.name === `models/${model}`);
      if (!m) {
        return sendJson(res, entry, 404, errorBody(404, 'NOT_FOUND', `models/${model} is not found for API version ${version}, or is not supported for getContent. Call ListModels to see the list of available models and their supported methods.`));
      }
      return sendJson(res, entry, 200, m);
    }
    if (mm && method) {
      if (req.method !== 'POST') return sendHtml404(res, entry, path);
      return handleModelMethod(req, res, entry, url, body, key, model, method, b, sse, arrayForm);
    }

    // ---- files ----
    if (path === `/${version}/files` && req.method === 'GET') {
      const own = [...files.values()].filter((f) => f.owner === key).map((f) => f.file);
      return sendJson(res, entry, 200, own.length ? { files: own } : {});
    }
    const fm = new RegExp(`^/${version}/files/([A-Za-z0-9_-]+)$`).exec(path);
    if (fm) {
      const f = files.get(fm[1]);
      if (!f || f.owner !== key) {
        return sendJson(res, entry, 403, errorBody(403, 'PERMISSION_DENIED', `You do not have permission to access the File ${fm[1]} or it may not exist.`));
      }
      if (req.method === 'GET') return sendJson(res, entry, 200, f.file);
      if (req.method === 'DELETE') { files.delete(fm[1]); return sendJson(res, entry, 200, {}); }
      return sendHtml404(res, entry, path);
    }

    // ---- cached contents ----
    if (path === `/${version}/cachedContents`) {
      if (req.method === 'GET') {
        const own = [...caches.values()].filter((c) => c.owner === key).map((c) => c.cache);
        return sendJson(res, entry, 200, own.length ? { cachedContents: own } : {});
      }
      if (req.method === 'POST') {
        const o = parseJson(res, entry, body, false);
        if (!o) return undefined;
        if (!ownerCheck(res, entry, key, collectRefs(o))) return undefined;
        if (typeof o.model !== 'string' || !o.model) {
          return sendJson(res, entry, 400, errorBody(400, 'INVALID_ARGUMENT', '* CreateCachedContentRequest.cached_content.model: model is required\n'));
        }
        const id = newId(12);
        const now = new Date();
        const ttl = Number.parseFloat(String(o.ttl ?? '3600s')) || 3600;
        const cache = {
          name: `cachedContents/${id}`,
          model: o.model.startsWith('models/') ? o.model : `models/${o.model}`,
          createTime: now.toISOString(),
          updateTime: now.toISOString(),
          expireTime: new Date(now.getTime() + ttl * 1000).toISOString(),
          displayName: o.displayName ?? o.display_name ?? '',
          usageMetadata: { totalTokenCount: 4242 },
        };
        caches.set(id, { owner: key, cache });
        return sendJson(res, entry, 200, cache);
      }
    }
    const cm = new RegExp(`^/${version}/cachedContents/([A-Za-z0-9_-]+)$`).exec(path);
    if (cm) {
      const c = caches.get(cm[1]);
      if (!c || c.owner !== key) {
        return sendJson(res, entry, 403, errorBody(403, 'PERMISSION_DENIED', 'CachedContent not found (or permission denied)'));
      }
      if (req.method === 'GET') return sendJson(res, entry, 200, c.cache);
      if (req.method === 'DELETE') { caches.delete(cm[1]); return sendJson(res, entry, 200, {}); }
      if (req.method === 'PATCH') {
        const o = parseJson(res, entry, body, false);
        if (!o) return undefined;
        if (o.ttl) c.cache.expireTime = new Date(Date.now() + (Number.parseFloat(o.ttl) || 0) * 1000).toISOString();
        c.cache.updateTime = new Date().toISOString();
        return sendJson(res, entry, 200, c.cache);
      }
    }
    return sendHtml404(res, entry, path);
  }

  function listModels(res, entry, url) {
    const pageSize = Math.min(Math.max(Number.parseInt(url.searchParams.get('pageSize') ?? '50', 10) || 50, 1), 1000);
    const token = url.searchParams.get('pageToken');
    let offset = 0;
    if (token) {
      const m = /^off:(\d+)$/.exec(Buffer.from(token, 'base64url').toString('utf8'));
      if (!m) return sendJson(res, entry, 400, errorBody(400, 'INVALID_ARGUMENT', 'Invalid page token.'));
      offset = Number(m[1]);
    }
    const page = MODELS.slice(offset, offset + pageSize);
    const out = { models: page };
    if (offset + pageSize < MODELS.length) out.nextPageToken = Buffer.from(`off:${offset + pageSize}`).toString('base64url');
    return sendJson(res, entry, 200, out);
  }

  async function handleModelMethod(req, res, entry, url, body, key, model, method, b, sse, arrayForm) {
    // Google serves no other vendor's model: a name the proxy should have mapped with
    // --model-alias is a 404 here as there.
    if (FOREIGN_MODEL.test(model)) {
      return sendError(res, entry, {
        status: 404,
        body: errorBody(404, 'NOT_FOUND', `models/${model} is not found for API version v1beta, or is not supported for ${method}. Call ListModels to see the list of available models and their supported methods.`),
      }, arrayForm);
    }
    switch (method) {
      case 'generateContent':
      case 'streamGenerateContent': {
        if (isImagen(model)) return sendError(res, entry, errorFor({ type: 'notfound' }, model, key), arrayForm);
        const o = parseJson(res, entry, body, arrayForm);
        if (!o) return undefined;
        const unknown = Object.keys(o).find((k) => !GENERATE_FIELDS.has(k));
        if (unknown) {
          const message = `Invalid JSON payload received. Unknown name "${unknown}": Cannot find field.`;
          return sendError(res, entry, {
            status: 400,
            body: errorBody(400, 'INVALID_ARGUMENT', message,
              [{ '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [{ description: message }] }]),
          }, arrayForm);
        }
        if (!Array.isArray(o.contents) || o.contents.length === 0) {
          return sendError(res, entry, {
            status: 400,
            body: errorBody(400, 'INVALID_ARGUMENT', '* GenerateContentRequest.contents: contents is not specified\n'),
          }, arrayForm);
        }
        if (!ownerCheck(res, entry, key, collectRefs(o))) return undefined;
        if (model && signatureModels && signatureModels.test(model)) {
          const problem = checkSignatures(o, issuedSignatures, entry);
          if (problem) {
            return sendError(res, entry, { status: 400, body: errorBody(400, 'INVALID_ARGUMENT', problem) }, arrayForm);
          }
        }
        if (b.type === 'toolcall') return toolCallAnswer(res, entry, model, sse, b, method === 'streamGenerateContent', arrayForm);
        if (method === 'streamGenerateContent') return stream(res, entry, model, sse, b);
        if (b.type === 'slowstream') await sleep((b.firstDelayMs ?? 0) + (b.events ?? streamEvents) * (b.intervalMs ?? streamIntervalMs));
        if (res.destroyed) return undefined;
        if (isImageModel(model)) return sendJson(res, entry, 200, imageGenerateAnswer(o, model, b, zlib.deflateSync, responseId()));
        return sendJson(res, entry, 200, okGenerate(model));
      }
      case 'predict': {
        if (!isImagen(model)) {
          return sendJson(res, entry, 404, errorBody(404, 'NOT_FOUND', `models/${model} is not found for API version v1beta, or is not supported for predict. Call ListModels to see the list of available models and their supported methods.`));
        }
        const o = parseJson(res, entry, body, false);
        if (!o) return undefined;
        return sendJson(res, entry, 200, predictAnswer(o, b, zlib.deflateSync));
      }
      case 'countTokens': {
        const o = parseJson(res, entry, body, false);
        if (!o) return undefined;
        if (!ownerCheck(res, entry, key, collectRefs(o))) return undefined;
        return sendJson(res, entry, 200, { totalTokens: 31, promptTokensDetails: [{ modality: 'TEXT', tokenCount: 31 }] });
      }
      case 'embedContent': {
        const o = parseJson(res, entry, body, false);
        if (!o) return undefined;
        const dims = Math.min(Number(o.outputDimensionality ?? o.output_dimensionality ?? 16) || 16, 3072);
        return sendJson(res, entry, 200, { embedding: { values: embedding(textOf(o.content), dims) } });
      }
      case 'batchEmbedContents': {
        const o = parseJson(res, entry, body, false);
        if (!o) return undefined;
        if (!Array.isArray(o.requests)) {
          return sendJson(res, entry, 400, errorBody(400, 'INVALID_ARGUMENT', '* BatchEmbedContentsRequest.requests: requests is not specified\n'));
        }
        const embeddings = o.requests.map((r) => {
          const dims = Math.min(Number(r.outputDimensionality ?? r.output_dimensionality ?? 16) || 16, 3072);
          return { values: embedding(textOf(r.content), dims) };
        });
        return sendJson(res, entry, 200, { embeddings });
      }
      default:
        return sendHtml404(res, entry, url.pathname);
    }
  }

  function handleUpload(req, res, entry, url, raw, key, version) {
    const protocol = String(req.headers['x-goog-upload-protocol'] ?? '');
    const command = String(req.headers['x-goog-upload-command'] ?? '').toLowerCase();
    const uploadId = url.searchParams.get('upload_id');
    if (!uploadId) {
      if (protocol !== 'resumable' || command !== 'start') {
        return sendJson(res, entry, 400, errorBody(400, 'INVALID_ARGUMENT', 'Upload protocol not supported by the mock: use X-Goog-Upload-Protocol: resumable with X-Goog-Upload-Command: start.'));
      }
      let meta = {};
      if (raw.length) {
        try { meta = JSON.parse(raw.toString('utf8')); } catch {
          return sendJson(res, entry, 400, errorBody(400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.'));
        }
      }
      const f = meta.file ?? {};
      const id = 'AMock' + crypto.randomBytes(24).toString('base64url');
      uploads.set(id, {
        owner: key,
        received: [],
        size: 0,
        declaredSize: Number(req.headers['x-goog-upload-header-content-length'] ?? NaN),
        mimeType: String(req.headers['x-goog-upload-header-content-type'] ?? f.mimeType ?? f.mime_type ?? 'application/octet-stream'),
        displayName: f.displayName ?? f.display_name ?? req.headers['x-goog-upload-file-name'] ?? undefined,
        name: f.name,
      });
      const uploadUrl = `${baseUrl}/upload/${version}/files?key=${encodeURIComponent(key)}&upload_id=${id}&upload_protocol=resumable`;
      const headers = {
        'x-goog-upload-url': uploadUrl,
        'x-goog-upload-status': 'active',
        'x-goog-upload-chunk-granularity': '8388608',
        'x-guploader-uploadid': id,
      };
      if (uploadControlUrl) headers['x-goog-upload-control-url'] = uploadUrl;
      entry.uploadId = id;
      return send(res, entry, 200, { 'content-type': 'text/plain; charset=utf-8', ...headers }, '');
    }
    entry.uploadId = uploadId;
    const session = uploads.get(uploadId);
    if (!session) {
      return sendJson(res, entry, 404, errorBody(404, 'NOT_FOUND', 'Upload session not found.'), { 'x-goog-upload-status': 'final' });
    }
    if (session.owner !== key) {
      return sendJson(res, entry, 403, errorBody(403, 'PERMISSION_DENIED', 'The caller does not have permission to use this upload session.'));
    }
    if (command.includes('query')) {
      return send(res, entry, 200, { 'x-goog-upload-status': 'active', 'x-goog-upload-size-received': String(session.size) }, '');
    }
    if (command.includes('cancel')) {
      uploads.delete(uploadId);
      return send(res, entry, 200, { 'x-goog-upload-status': 'cancelled' }, '');
    }
    if (!command.includes('upload') && !command.includes('finalize')) {
      return sendJson(res, entry, 400, errorBody(400, 'INVALID_ARGUMENT', `Unknown upload command "${command}".`));
    }
    if (command.includes('upload')) {
      const offset = Number(req.headers['x-goog-upload-offset'] ?? NaN);
      if (offset !== session.size) {
        return sendJson(res, entry, 400, errorBody(400, 'INVALID_ARGUMENT', `Invalid X-Goog-Upload-Offset ${req.headers['x-goog-upload-offset']}: expected ${session.size}.`),
          { 'x-goog-upload-status': 'active' });
      }
      session.received.push(raw);
      session.size += raw.length;
    }
    if (!command.includes('finalize')) {
      return send(res, entry, 200, { 'x-goog-upload-status': 'active', 'x-goog-upload-size-received': String(session.size) }, '');
    }
    uploads.delete(uploadId);
    const bytes = Buffer.concat(session.received);
    let id = session.name ? String(session.name).replace(/^files\//, '') : newId(12);
    if (files.has(id)) id = newId(12);
    const now = new Date();
    const file = {
      name: `files/${id}`,
      ...(session.displayName ? { displayName: String(session.displayName) } : {}),
      mimeType: session.mimeType,
      sizeBytes: String(bytes.length),
      createTime: now.toISOString(),
      updateTime: now.toISOString(),
      expirationTime: new Date(now.getTime() + 48 * 3600 * 1000).toISOString(),
      sha256Hash: Buffer.from(crypto.createHash('sha256').update(bytes).digest('hex')).toString('base64'),
      uri: `${baseUrl}/${version}/files/${id}`,
      state: 'ACTIVE',
      source: 'UPLOADED',
    };
    files.set(id, { owner: key, file, bytes });
    entry.fileId = id;
    return sendJson(res, entry, 200, { file }, { 'x-goog-upload-status': 'final' });
  }

  async function handleOpenAI(req, res, entry, path, body, model) {
    const p = path.replace(/^\/v1(beta|alpha)?\/openai/, '');
    const oaiError = (status, message) => sendJson(res, entry, status, [errorBody(status, 'INVALID_ARGUMENT', message)]);
    if (p === '/models' && req.method === 'GET') {
      return sendJson(res, entry, 200, {
        object: 'list',
        data: MODELS.map((m) => ({ id: m.name, object: 'model', created: 0, owned_by: 'google' })),
      });
    }
    const om = /^\/models\/(.+)$/.exec(p);
    if (om && req.method === 'GET') {
      const id = om[1].replace(/^models\//, '');  // the path is decoded already
      const m = MODELS.find((x) => x.name === `models/${id}`);
      if (!m) return oaiError(404, `Model models/${id} not found`);
      return sendJson(res, entry, 200, { id: m.name, object: 'model', created: 0, owned_by: 'google' });
    }
    let o;
    try { o = JSON.parse(body || '{}'); } catch { return oaiError(400, 'Invalid JSON payload received.'); }
    if (typeof o.model === 'string' && FOREIGN_MODEL.test(o.model.replace(/^models\//, ''))) {
      return sendJson(res, entry, 404, [errorBody(404, 'NOT_FOUND', `models/${o.model.replace(/^models\//, '')} is not found for API version v1main, or is not supported for generateContent.`)]);
    }
    if (p === '/chat/completions' && req.method === 'POST') {
      const created = Math.floor(Date.now() / 1000);
      const id = 'mock-' + responseId();
      const m = o.model ?? model ?? 'gemini-2.5-flash';
      if (o.stream) {
        const out = startStream(res, entry, 200, { ...googleHeaders(hopHeaders), 'content-type': 'text/event-stream' });
        let sent = '';
        const pieces = streamPieces(streamEvents);
        for (let i = 0; i < pieces.length; i++) {
          if (i > 0 && streamIntervalMs) await sleep(streamIntervalMs);
          const last = i === pieces.length - 1;
          const chunk = {
            choices: [{ delta: { content: pieces[i], role: 'assistant' }, index: 0, ...(last ? { finish_reason: 'stop' } : {}) }],
            created, id, model: m, object: 'chat.completion.chunk',
            ...(last && o.stream_options?.include_usage ? { usage: { completion_tokens: 7, prompt_tokens: 3, total_tokens: 10 } } : {}),
          };
          const s = `data: ${JSON.stringify(chunk)}\n\n`;
          sent += s;
          await out.write(s);
        }
        sent += 'data: [DONE]\n\n';
        await out.end('data: [DONE]\n\n');
        entry.responseBody = sent;
        entry.finishedAt = Date.now();
        return undefined;
      }
      return sendJson(res, entry, 200, {
        choices: [{ finish_reason: 'stop', index: 0, message: { content: 'ok from mock', role: 'assistant' } }],
        created, id, model: m, object: 'chat.completion',
        usage: { completion_tokens: 7, prompt_tokens: 3, total_tokens: 10, completion_tokens_details: { reasoning_tokens: 5 } },
      });
    }
    if (p === '/embeddings' && req.method === 'POST') {
      const inputs = Array.isArray(o.input) ? o.input : [o.input ?? ''];
      const dims = Number(o.dimensions ?? 16) || 16;
      return sendJson(res, entry, 200, {
        object: 'list',
        data: inputs.map((t, i) => ({ object: 'embedding', index: i, embedding: embedding(t, dims) })),
        model: o.model ?? model,
        usage: { prompt_tokens: inputs.length, total_tokens: inputs.length },
      });
    }
    return sendHtml404(res, entry, path);
  }

  // ---- server -----------------------------------------------------------------------------

  const onRequest = (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('error', () => {});
    req.on('end', () => {
      handle(req, res, Buffer.concat(chunks)).catch((e) => {
        if (!res.headersSent) {
          try { sendJson(res, null, 500, errorBody(500, 'INTERNAL', `mock failure: ${e.message}`)); } catch { /* gone */ }
        } else {
          res.destroy();
        }
      });
    });
  };

  const server = tls
    ? https.createServer({ cert: readFileOrValue(tls.cert), key: readFileOrValue(tls.key), ...(tls.ca ? { ca: readFileOrValue(tls.ca) } : {}) }, onRequest)
    : http.createServer(onRequest);
  server.keepAliveTimeout = keepAliveTimeoutMs;
  server.headersTimeout = keepAliveTimeoutMs + 1000;
  server.requestTimeout = 0;
  const trackSocket = (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  };
  server.on(tls ? 'secureConnection' : 'connection', trackSocket);
  if (tls) server.on('connection', trackSocket);
  server.on('clientError', (err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { server.off('error', reject); resolve(); });
  });
  api.port = server.address().port;
  const h = host.includes(':') ? `[${host}]` : host;
  baseUrl = `${tls ? 'https' : 'http'}://${h}:${api.port}`;
  api.url = baseUrl;
  api.server = server;

  let closed = false;
  async function close() {
    if (closed) return;
    closed = true;
    for (const r of hanging) { try { r.destroy(); } catch { /* gone */ } }
    hanging.clear();
    const done = new Promise((resolve) => server.close(() => resolve()));
    if (typeof server.closeAllConnections === 'function') server.closeAllConnections();
    for (const s of sockets) s.destroy();
    await done;
  }

  return api;
}

// ---------------------------------------------------------------------------------------------
// Program mode.

function parseArgs(argv) {
  const o = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`missing value for ${a}`);
      return argv[++i];
    };
    switch (a) {
      case '--port': o.port = Number(next()); break;
      case '--host': o.host = next(); break;
      case '--tls-cert': o.cert = next(); break;
      case '--tls-key': o.key = next(); break;
      case '--stream-events': o.streamEvents = Number(next()); break;
      case '--stream-interval-ms': o.streamIntervalMs = Number(next()); break;
      case '--log-requests': o.logRequests = true; break;
      case '--force-gzip': o.forceGzip = true; break;
      case '--informational': o.informational = next().split(',').map(Number); break;
      case '-h': case '--help':
        process.stdout.write('usage: node mock-gemini.mjs --port N [--host H] [--tls-cert F --tls-key F] [--stream-events N --stream-interval-ms M] [--log-requests] [--force-gzip] [--informational 103,100]\n');
        process.exit(0);
        break;
      default: throw new Error(`unknown argument ${a}`);
    }
  }
  if ((o.cert && !o.key) || (!o.cert && o.key)) throw new Error('--tls-cert and --tls-key go together');
  return o;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === fs.realpathSync(process.argv[1])) {
  let o;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`mock-gemini: ${e.message}\n`);
    process.exit(2);
  }
  const mock = await startMock({
    port: o.port ?? 0,
    host: o.host ?? '127.0.0.1',
    tls: o.cert ? { cert: o.cert, key: o.key } : undefined,
    streamEvents: o.streamEvents ?? 3,
    streamIntervalMs: o.streamIntervalMs ?? 0,
    logRequests: !!o.logRequests,
    forceGzip: !!o.forceGzip,
    informational: o.informational ?? [],
  });
  process.stdout.write(JSON.stringify({ port: mock.port }) + '\n');
  const stop = async () => { await mock.close(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
