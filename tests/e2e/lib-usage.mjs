// Helpers for tests of usage history (GET /admin/usage, the `usage` subcommand, the
// dashboard's chart): key ids, quota-day arithmetic, and seeding the state database with
// the sqlite3 shell (installed by scripts/install-deps.sh --test).
import crypto from 'node:crypto';
import path from 'node:path';
import { spawnSync } from 'node:child_process';

export const DB = 'gemini-key-manager.db';

// The id the proxy gives a key: "k" + the first 12 hex digits of its SHA-256.
export function keyIdOf(key) {
  return 'k' + crypto.createHash('sha256').update(key).digest('hex').slice(0, 12);
}

// The quota day `n` days after `day` (YYYY-MM-DD; n may be negative).
export function shiftDay(day, n) {
  const d = new Date(day + 'T00:00:00Z');
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

const quote = (v) => (typeof v === 'number' ? String(v) : `'${String(v).replaceAll("'", "''")}'`);

// Writes usage rows into <dir>/gemini-key-manager.db (made by a proxy run before: the schema
// is the proxy's). usage: [{key_id, model, day, requests, rate_limited, errors,
// prompt_tokens, candidate_tokens, thought_tokens}], clients: [{client, model, day, requests}].
export function seedUsage(dir, usage = [], clients = []) {
  const sql = ['BEGIN;'];
  for (const u of usage) {
    sql.push('INSERT INTO usage(key_id, model, day, requests, rate_limited, errors, prompt_tokens, ' +
      'candidate_tokens, thought_tokens) VALUES(' +
      [u.key_id, u.model, u.day, u.requests ?? 0, u.rate_limited ?? 0, u.errors ?? 0, u.prompt_tokens ?? 0,
        u.candidate_tokens ?? 0, u.thought_tokens ?? 0].map(quote).join(', ') + ');');
  }
  for (const c of clients) {
    sql.push(`INSERT INTO client_usage(client, model, day, requests) VALUES(${[c.client, c.model, c.day, c.requests].map(quote).join(', ')});`);
  }
  sql.push('COMMIT;');
  const r = spawnSync('sqlite3', [path.join(dir, DB)], { input: sql.join('\n'), encoding: 'utf8', timeout: 10000 });
  if (r.error || r.status !== 0) {
    throw new Error(`sqlite3 (installed by scripts/install-deps.sh --test) failed: ${r.error?.message ?? r.stderr}`);
  }
}

// The rows a group_by of `dims` gives over `usage`, as GET /admin/usage shows them: only
// the grouped columns, the metrics summed, sorted by the dimensions in order.
const COLUMN = { key: 'key_id', model: 'model', day: 'day', client: 'client' };
const METRICS = ['requests', 'rate_limited', 'errors', 'prompt_tokens', 'candidate_tokens', 'thought_tokens'];
export function expectedRows(usage, dims, from, to, clientRows = false) {
  const metrics = clientRows ? ['requests'] : METRICS;
  const groups = new Map();
  for (const u of usage) {
    if (u.day < from || u.day > to) continue;
    const k = JSON.stringify(dims.map((d) => u[COLUMN[d]]));
    let g = groups.get(k);
    if (!g) {
      g = {};
      for (const d of dims) g[COLUMN[d]] = u[COLUMN[d]];
      for (const m of metrics) g[m] = 0;
      groups.set(k, g);
    }
    for (const m of metrics) g[m] += u[m] ?? 0;
  }
  const cmp = (a, b) => {
    for (const d of dims) {
      const x = a[COLUMN[d]], y = b[COLUMN[d]];
      if (x !== y) return Buffer.compare(Buffer.from(x), Buffer.from(y));
    }
    return 0;
  };
  return [...groups.values()].sort(cmp);
}
