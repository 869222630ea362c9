// The deploy kit (deploy/): the Grafana dashboard parses and queries only series the proxy's
// /metrics exports, with labels those series carry; the systemd unit passes
// systemd-analyze verify and has the hardening the README promises; the Dockerfile's stop
// settings fit the engines' 10 s stop timeout. (make docker-test builds and runs the image.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { startMock } from '../mock/mock-gemini.mjs';
import { startProxy, REPO, BIN } from './harness.mjs';
import { randomKeys } from './lib-lifecycle.mjs';

const T = { timeout: 60000 };
const DEPLOY = path.join(REPO, 'deploy');

let mock;
before(async () => { mock = await startMock(); });
after(async () => { await mock?.close(); });

// The series of a Prometheus text exposition: name -> set of label names.
function series(text) {
  const out = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? /.exec(line);
    assert.ok(m, `a /metrics line that is not a sample: ${line}`);
    const labels = out.get(m[1]) ?? new Set();
    for (const l of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) labels.add(l[1]);
    out.set(m[1], labels);
  }
  return out;
}

// Every query of a dashboard, with the panel it is in (rows' nested panels too).
function queries(dash) {
  const out = [];
  const walk = (panels) => {
    for (const p of panels ?? []) {
      for (const t of p.targets ?? []) out.push({ panel: p.title, expr: t.expr });
      walk(p.panels);
    }
  };
  walk(dash.panels);
  return out;
}

test('the Grafana dashboard parses and queries only series /metrics has, by labels they carry', T, async () => {
  const dash = JSON.parse(fs.readFileSync(path.join(DEPLOY, 'grafana-dashboard.json'), 'utf8'));
  assert.equal(dash.uid, 'gemini-key-manager');
  const qs = queries(dash);
  assert.ok(qs.length >= 15, `queries: ${qs.length}`);
  const ids = new Set();
  const walk = (panels) => {
    for (const p of panels ?? []) {
      assert.ok(!ids.has(p.id), `panel id ${p.id} twice`);
      ids.add(p.id);
      assert.ok(p.gridPos && p.gridPos.w > 0 && p.gridPos.h > 0, `grid position of ${p.title}`);
      walk(p.panels);
    }
  };
  walk(dash.panels);

  // A proxy with a named client and some traffic (ok, retried, failed, a client error), so
  // that every series that appears with use has appeared.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gkm-deploy-'));
  const config = path.join(dir, 'gkm.toml');
  fs.writeFileSync(config, '[[client]]\nname = "team"\ntoken = "team-token"\nrpm = 1000\n');
  const p = await startProxy({ keys: randomKeys(2), upstream: mock.url, token: null, args: ['--config', config, '--max-queue-wait', '2'] });
  let metrics;
  try {
    const call = (model) => p.request('POST', `/v1beta/models/${model}:generateContent`, {
      headers: { 'x-goog-api-key': 'team-token' }, body: { contents: [{ parts: [{ text: 'hi' }] }] },
    });
    assert.equal((await call('deploy-ok')).status, 200);
    mock.queue('*', 'deploy-retry', 'overloaded');
    assert.equal((await call('deploy-retry')).status, 200);
    mock.queue('*', 'deploy-bad', 'badrequest');
    assert.equal((await call('deploy-bad')).status, 400);
    const r = await p.request('GET', '/metrics');
    assert.equal(r.status, 200);
    metrics = series(r.body);
  } finally {
    await p.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  }

  // Labels made by the query itself (label_replace) or by Prometheus (le on histograms,
  // instance and job on every scraped series).
  const synthetic = new Set(['class', 'le', 'instance', 'job']);
  for (const { panel, expr } of qs) {
    assert.equal(typeof expr, 'string', `${panel}: a query`);
    const names = [...expr.matchAll(/\bgkm_[a-z_]+/g)].map((m) => m[0]);
    assert.ok(names.length > 0, `${panel}: no gkm_ series in ${expr}`);
    for (const n of names) assert.ok(metrics.has(n), `${panel}: ${n} is not in /metrics (${expr})`);
    const known = new Set(names.flatMap((n) => [...metrics.get(n)]));
    const used = [
      ...[...expr.matchAll(/\bby \(([^)]*)\)/g)].flatMap((m) => m[1].split(',').map((s) => s.trim())),
      ...[...expr.matchAll(/[{,]\s*([a-z_]+)\s*(=~|!~|!=|=)/g)].map((m) => m[1]),
    ];
    for (const l of used) assert.ok(known.has(l) || synthetic.has(l), `${panel}: label ${l} is not on ${names.join(', ')}`);
  }
  // The list: requests, errors by class, keys by state, requests today per model,
  // latency histograms.
  const all = qs.map((q) => q.expr).join('\n');
  for (const n of ['gkm_requests_total', 'gkm_upstream_attempts_total', 'gkm_keys', 'gkm_key_models',
    'gkm_requests_today_total', 'gkm_request_duration_seconds_bucket', 'gkm_upstream_duration_seconds_bucket']) {
    assert.ok(all.includes(n), `the dashboard charts ${n}`);
  }
});

test('the systemd unit is hardened as documented, and stops after the grace, not before', T, () => {
  const unit = fs.readFileSync(path.join(DEPLOY, 'gemini-key-manager.service'), 'utf8');
  const settings = new Map();
  for (const line of unit.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) settings.set(m[1], [...(settings.get(m[1]) ?? []), m[2]]);
  }
  const one = (k) => settings.get(k)?.at(-1);
  assert.equal(one('DynamicUser'), 'yes');
  assert.equal(one('StateDirectory'), 'gemini-key-manager');
  assert.equal(one('LogsDirectory'), 'gemini-key-manager');
  assert.equal(one('ProtectSystem'), 'strict');
  assert.equal(one('NoNewPrivileges'), 'yes');
  assert.equal(one('Restart'), 'on-failure');
  assert.ok(Number(one('LimitNOFILE')) >= 10000, 'LimitNOFILE covers --max-connections');
  const env = Object.fromEntries((settings.get('Environment') ?? []).map((e) => e.split('=')));
  assert.equal(env.GKM_STATE_DIR, '%S/gemini-key-manager', 'state in the StateDirectory');
  assert.equal(env.GKM_LOG_DIR, '%L/gemini-key-manager', 'logs in the LogsDirectory');
  const grace = Number(env.GKM_SHUTDOWN_GRACE);
  assert.ok(Number.isInteger(grace), 'the unit sets the shutdown grace');
  assert.ok(Number.parseInt(one('TimeoutStopSec'), 10) > grace, 'systemd waits longer than the grace before SIGKILL');
});

test('systemd-analyze verify accepts the unit', T, (t) => {
  const which = spawnSync('sh', ['-c', 'command -v systemd-analyze']);
  if (which.status !== 0) {
    t.skip('systemd-analyze is not installed: the unit was NOT verified');
    return;
  }
  // The unit as installed, with ExecStart on the binary built here (verify checks it).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gkm-unit-'));
  try {
    const unit = fs.readFileSync(path.join(DEPLOY, 'gemini-key-manager.service'), 'utf8')
      .replace('ExecStart=/usr/local/bin/gemini-key-manager', `ExecStart=${BIN}`);
    assert.ok(unit.includes(`ExecStart=${BIN}`));
    const file = path.join(dir, 'gemini-key-manager.service');
    fs.writeFileSync(file, unit);
    const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
    // Only what it says about this unit: on a machine without systemd running it also
    // complains about the host's own units.
    const about = (r.stdout + r.stderr).split('\n').filter((l) => l.includes('gemini-key-manager'));
    assert.deepEqual(about, [], `systemd-analyze verify:\n${r.stdout}${r.stderr}`);
    assert.equal(r.status, 0, `systemd-analyze verify exited ${r.status}:\n${r.stdout}${r.stderr}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the Dockerfile: a fixed non-root uid, a HEALTHCHECK, a shutdown grace below the 10 s stop timeout', T, () => {
  const df = fs.readFileSync(path.join(REPO, 'Dockerfile'), 'utf8');
  assert.match(df, /^USER 10001:10001$/m);
  assert.match(df, /useradd --uid 10001 --gid 10001/);
  assert.match(df, /^HEALTHCHECK .*\n?.*gkm-healthcheck/m);
  const grace = /GKM_SHUTDOWN_GRACE=(\d+)/.exec(df);
  assert.ok(grace && Number(grace[1]) < 10, 'GKM_SHUTDOWN_GRACE below docker/podman stop\'s 10 s');
  assert.match(df, /-DGKM_TESTS=OFF/, 'the image build compiles the binary only');
  assert.match(df, /strip /, 'the binary is stripped');
});

test('the image\'s healthcheck: healthy on 200 from GKM_LISTEN\'s port only', T, async () => {
  const script = path.join(REPO, 'scripts', 'docker-healthcheck.sh');
  const check = (listen) => spawnSync(script, [], { env: { PATH: process.env.PATH, GKM_LISTEN: listen }, encoding: 'utf8', timeout: 10000 }).status;
  const p = await startProxy({ keys: randomKeys(1), upstream: mock.url });
  try {
    assert.equal(check(`127.0.0.1:${p.port}`), 0);
    assert.equal(check(`0.0.0.0:${p.port}`), 0, '0.0.0.0 is asked on loopback');
    // Not 200 (the mock answers /healthz with something else), or nobody listening.
    const m = await fetch(`${mock.url}/healthz`);
    assert.notEqual(m.status, 200);
    assert.equal(check(`127.0.0.1:${new URL(mock.url).port}`), 1);
  } finally {
    await p.cleanup();
  }
  assert.equal(check(`127.0.0.1:${p.port}`), 1, 'a stopped proxy is unhealthy');
});
