// The dashboard of gemini-key-manager (GET /admin/). No library, no build step: the
// binary embeds this file as it is. Every figure comes from the admin JSON endpoints,
// called with the admin token as a Bearer token; the token lives in this tab's session
// storage. Text from the server is only ever set as textContent, never parsed as HTML.
'use strict';

(() => {
  const TOKEN_KEY = 'gkm-admin-token';
  const REFRESH_MS = 30000;
  const SERIES_MAX = 8; // the chart's largest series; the rest add up as "other"
  const COLORS = ['#2f6fde', '#e07b24', '#2aa876', '#c0392b', '#8e5cc4', '#b8860b', '#17a2b8',
    '#d63384', '#7f8c8d'];

  const $ = (id) => document.getElementById(id);
  const state = {
    keys: [], day: '', nextReset: '',
    sort: { by: 'id', dir: 1 }, page: 0, pageSize: 50, filter: '', status: '',
    timer: null,
  };

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c);
    return e;
  }

  function svg(tag, attrs) {
    const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    return e;
  }

  // ---- the admin API -------------------------------------------------------------------

  class Unauthorized extends Error {}

  async function api(path, options = {}) {
    const token = sessionStorage.getItem(TOKEN_KEY) || '';
    const res = await fetch(path, {
      method: options.method || 'GET',
      headers: { Authorization: 'Bearer ' + token },
      cache: 'no-store',
      credentials: 'omit',
    });
    if (res.status === 401) throw new Unauthorized('the admin token was refused');
    const text = await res.text();
    if (options.text) {
      if (!res.ok) throw new Error(path + ': HTTP ' + res.status);
      return text;
    }
    let body = null;
    try { body = JSON.parse(text); } catch { /* not JSON */ }
    if (!res.ok) {
      const msg = body && body.error && (body.error.message || body.error);
      throw new Error(typeof msg === 'string' ? msg : path + ': HTTP ' + res.status);
    }
    return body;
  }

  // ---- login ---------------------------------------------------------------------------

  function showLogin(message) {
    stopRefresh();
    $('app').hidden = true;
    $('login').hidden = false;
    $('login-error').textContent = message || '';
    $('token').value = '';
    $('token').focus();
  }

  async function login(event) {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $('token').value);
    $('login-error').textContent = '';
    await start();
  }

  async function start() {
    try {
      await api('/admin/capacity'); // proves the token before anything is shown
    } catch (e) {
      sessionStorage.removeItem(TOKEN_KEY);
      showLogin(e instanceof Unauthorized ? 'Wrong admin token.' : 'Cannot reach the proxy: ' + e.message);
      return;
    }
    $('login').hidden = true;
    $('app').hidden = false;
    await refresh();
    startRefresh();
  }

  function logout() {
    sessionStorage.removeItem(TOKEN_KEY);
    state.keys = [];
    $('pool').tBodies[0].replaceChildren();
    showLogin('');
  }

  function startRefresh() {
    stopRefresh();
    state.timer = setInterval(() => { if (!document.hidden) refresh(); }, REFRESH_MS);
  }
  function stopRefresh() {
    if (state.timer) clearInterval(state.timer);
    state.timer = null;
  }

  // ---- loading -------------------------------------------------------------------------

  async function refresh() {
    try {
      await Promise.all([loadKeys(), loadCapacity(), loadUsage(), loadErrors()]);
    } catch (e) {
      if (e instanceof Unauthorized) { logout(); showLogin('The admin token was refused.'); return; }
      say('Refresh failed: ' + e.message, true);
    }
  }

  async function loadKeys() {
    const doc = await api('/admin/keys');
    state.day = doc.day;
    state.nextReset = doc.next_reset;
    state.keys = doc.keys.map(toRow);
    $('day').textContent = 'Quota day ' + doc.day + ' · resets ' + when(doc.next_reset);
    renderSummary();
    renderPool();
  }

  // A key's overall state: invalid, else its worst model state.
  function toRow(k) {
    const models = Object.entries(k.models || {}).map(([name, m]) => ({ name, ...m }));
    let st = 'ok';
    if (k.status === 'invalid') st = 'invalid';
    else if (models.some((m) => m.state === 'exhausted')) st = 'exhausted';
    else if (models.some((m) => m.state === 'cooling')) st = 'cooling';
    const text = [k.id, k.key, k.project || '', st, k.reason || '',
      ...models.map((m) => m.name + ' ' + m.state + ' ' + (m.reason || ''))].join(' ').toLowerCase();
    return { id: k.id, key: k.key, project: k.project || '', status: k.status, reason: k.reason || '',
      state: st, today: k.requests_today || 0, models, text };
  }

  async function loadCapacity() {
    const doc = await api('/admin/capacity');
    const body = $('capacity').tBodies[0];
    body.replaceChildren();
    for (const m of doc.models) {
      body.append(el('tr', {},
        el('td', { text: m.model }),
        el('td', { class: 'num', text: fmt(m.used_today) }),
        el('td', { class: 'num', text: m.limit_today == null ? 'unknown' : fmt(m.limit_today) }),
        el('td', { class: 'num', text: m.left_today == null ? 'unknown' : fmt(m.left_today) }),
        el('td', { class: 'num', text: fmt(m.rate_per_hour) }),
        el('td', { text: m.runs_out_at ? when(m.runs_out_at) : '—' })));
    }
    if (!doc.models.length) body.append(el('tr', {}, el('td', { colspan: 6, class: 'muted', text: 'No model used yet today.' })));
  }

  async function loadErrors() {
    const text = await api('/metrics', { text: true });
    const counts = new Map();
    for (const line of text.split('\n')) {
      const m = /^gkm_upstream_attempts_total\{outcome="([^"]*)"\}\s+([0-9.eE+]+)/.exec(line);
      if (m) counts.set(m[1], (counts.get(m[1]) || 0) + Number(m[2]));
    }
    const body = $('errors').tBodies[0];
    body.replaceChildren();
    const rows = [...counts].sort((a, b) => b[1] - a[1]);
    for (const [outcome, n] of rows) {
      body.append(el('tr', { 'data-outcome': outcome, class: outcome === 'success' ? '' : (n > 0 ? 'bad' : '') },
        el('td', { text: outcome }), el('td', { class: 'num', text: fmt(n) })));
    }
  }

  // ---- usage chart ---------------------------------------------------------------------

  async function loadUsage() {
    const by = $('usage-by').value;
    const metric = by === 'client' ? 'requests' : $('usage-metric').value;
    $('usage-metric').disabled = by === 'client';
    const doc = await api('/admin/usage?group_by=day,' + by + '&format=json');
    const dimCol = by === 'key' ? 'key_id' : by;
    const days = daysBetween(doc.from, doc.to);
    // Series by total, largest first; past SERIES_MAX the rest add up as "other".
    const totals = new Map();
    for (const r of doc.rows) totals.set(r[dimCol], (totals.get(r[dimCol]) || 0) + (r[metric] || 0));
    const ranked = [...totals].filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    const named = ranked.slice(0, SERIES_MAX).map(([s]) => s);
    const series = ranked.length > SERIES_MAX ? [...named, 'other'] : named;
    const value = new Map(); // day|series -> n
    for (const r of doc.rows) {
      const s = named.includes(r[dimCol]) ? r[dimCol] : 'other';
      const k = r.day + '|' + s;
      value.set(k, (value.get(k) || 0) + (r[metric] || 0));
    }
    drawChart(days, series, value, metric);
  }

  function daysBetween(from, to) {
    const out = [];
    const d = new Date(from + 'T00:00:00Z');
    const end = new Date(to + 'T00:00:00Z');
    while (d <= end && out.length < 400) {
      out.push(d.toISOString().slice(0, 10));
      d.setUTCDate(d.getUTCDate() + 1);
    }
    return out;
  }

  function drawChart(days, series, value, metric) {
    // Drawn at the box's own size, so that text is not stretched.
    const box = $('chart');
    const W = Math.max(300, Math.round(box.clientWidth || 700));
    const H = Math.max(160, Math.round(box.clientHeight || 240));
    const left = 48, bottom = 28, top = 16;
    const dayTotal = days.map((d) => series.reduce((s, x) => s + (value.get(d + '|' + x) || 0), 0));
    const max = Math.max(1, ...dayTotal);
    const scale = (H - bottom - top) / max;
    const slot = (W - left) / days.length;
    const barW = Math.max(4, slot * 0.6);
    const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'bars', 'data-metric': metric });
    // Axis: 0 and the maximum.
    for (const v of [0, max]) {
      const y = H - bottom - v * scale;
      root.append(svg('line', { x1: left, x2: W, y1: y, y2: y, class: 'grid' }));
      const t = svg('text', { x: left - 6, y: y + 4, 'text-anchor': 'end', class: 'axis' });
      t.textContent = fmt(v);
      root.append(t);
    }
    days.forEach((d, i) => {
      const x = left + i * slot + (slot - barW) / 2;
      let y = H - bottom;
      series.forEach((s, j) => {
        const n = value.get(d + '|' + s) || 0;
        if (!n) return;
        const h = n * scale;
        y -= h;
        const r = svg('rect', { x, y, width: barW, height: h, fill: COLORS[j % COLORS.length], class: 'bar',
          'data-day': d, 'data-series': s, 'data-value': n });
        const title = svg('title');
        title.textContent = `${d} · ${s}: ${fmt(n)} ${metric}`;
        r.append(title);
        root.append(r);
      });
      const label = svg('text', { x: left + i * slot + slot / 2, y: H - 8, 'text-anchor': 'middle', class: 'axis' });
      label.textContent = d.slice(5);
      root.append(label);
      const total = svg('text', { x: left + i * slot + slot / 2, y: y - 3, 'text-anchor': 'middle', class: 'total', 'data-day': d });
      total.textContent = dayTotal[i] ? fmt(dayTotal[i]) : '';
      root.append(total);
    });
    box.replaceChildren(root);
    $('chart').setAttribute('aria-label', `${metric} per day, ${days[0]} to ${days[days.length - 1]}`);
    const legend = $('legend');
    legend.replaceChildren();
    series.forEach((s, j) => {
      const sw = el('span', { class: 'swatch c' + (j % COLORS.length) });
      legend.append(el('li', { 'data-series': s }, sw, el('span', { text: s })));
    });
    if (!series.length) legend.append(el('li', { class: 'muted', text: 'No usage in these days.' }));
  }

  // ---- the pool table ------------------------------------------------------------------

  function renderSummary() {
    const counts = { keys: state.keys.length, ok: 0, cooling: 0, exhausted: 0, invalid: 0 };
    let today = 0;
    for (const k of state.keys) { counts[k.state]++; today += k.today; }
    const box = $('summary');
    box.replaceChildren();
    for (const [label, n] of [['keys', counts.keys], ['ok', counts.ok], ['cooling', counts.cooling],
      ['exhausted', counts.exhausted], ['invalid', counts.invalid], ['requests today', today]]) {
      box.append(el('div', { class: 'stat s-' + label.replace(' ', '-'), 'data-stat': label },
        el('strong', { text: fmt(n) }), el('span', { text: label })));
    }
  }

  function visibleKeys() {
    const f = state.filter.trim().toLowerCase();
    let rows = state.keys;
    if (state.status) rows = rows.filter((k) => k.state === state.status);
    if (f) rows = rows.filter((k) => k.text.includes(f));
    const { by, dir } = state.sort;
    const order = { invalid: 0, exhausted: 1, cooling: 2, ok: 3 };
    const key = by === 'state' ? (k) => order[k.state] : (k) => k[by];
    return [...rows].sort((a, b) => {
      const x = key(a), y = key(b);
      if (x < y) return -dir;
      if (x > y) return dir;
      return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
    });
  }

  function renderPool() {
    const rows = visibleKeys();
    const pages = Math.max(1, Math.ceil(rows.length / state.pageSize));
    state.page = Math.min(state.page, pages - 1);
    const start = state.page * state.pageSize;
    const shown = rows.slice(start, start + state.pageSize);
    const body = $('pool').tBodies[0];
    body.replaceChildren(...shown.map(poolRow));
    if (!shown.length) body.append(el('tr', {}, el('td', { colspan: 7, class: 'muted', text: 'No key matches.' })));
    $('page-info').textContent = rows.length
      ? `${fmt(start + 1)}–${fmt(start + shown.length)} of ${fmt(rows.length)}` + (rows.length < state.keys.length ? ` (filtered from ${fmt(state.keys.length)})` : '')
      : `0 of ${fmt(state.keys.length)}`;
    $('prev').disabled = state.page === 0;
    $('next').disabled = state.page >= pages - 1;
    for (const b of document.querySelectorAll('#pool th button')) {
      const on = b.dataset.sort === state.sort.by;
      b.parentElement.setAttribute('aria-sort', on ? (state.sort.dir > 0 ? 'ascending' : 'descending') : 'none');
    }
  }

  function poolRow(k) {
    const models = el('ul', { class: 'models' });
    for (const m of k.models) {
      const li = el('li', { class: 'm-' + m.state, 'data-model': m.name, 'data-state': m.state },
        el('span', { class: 'model', text: m.name }), ' ', el('span', { class: 'badge b-' + m.state, text: m.state }));
      if (m.until) {
        li.append(' until ', el('time', { datetime: m.until, title: m.until, text: when(m.until) }));
      }
      if (m.reason) li.append(el('span', { class: 'reason', text: ' ' + m.reason }));
      li.append(el('span', { class: 'muted', text: ' · ' + fmt(m.requests) + ' today' }));
      models.append(li);
    }
    const status = el('td', { 'data-label': 'Status' }, el('span', { class: 'badge b-' + k.state, text: k.state }));
    if (k.reason) status.append(el('div', { class: 'reason', text: k.reason }));
    const actions = el('td', { class: 'row-actions', 'data-label': 'Actions' },
      el('button', { type: 'button', 'data-action': 'reset', 'data-id': k.id, text: 'Reset' }),
      el('button', { type: 'button', 'data-action': 'check', 'data-id': k.id, text: 'Check' }));
    return el('tr', { 'data-id': k.id, 'data-state': k.state },
      el('td', { class: 'id', 'data-label': 'Id', text: k.id }),
      el('td', { class: 'key', 'data-label': 'Key', text: k.key }),
      el('td', { 'data-label': 'Project', text: k.project || '—' }),
      status,
      el('td', { 'data-label': 'Models' }, models),
      el('td', { class: 'num', 'data-label': 'Today', text: fmt(k.today) }),
      actions);
  }

  // ---- actions -------------------------------------------------------------------------

  function say(text, bad) {
    const r = $('result');
    r.textContent = text;
    r.className = 'result ' + (bad ? 'bad' : 'good');
  }

  async function act(label, fn) {
    say(label + '…');
    try {
      say(await fn());
      await refresh();
    } catch (e) {
      if (e instanceof Unauthorized) { logout(); showLogin('The admin token was refused.'); return; }
      say(label + ' failed: ' + e.message, true);
    }
  }

  function reloadKeys() {
    return act('Reload', async () => {
      const r = await api('/admin/reload', { method: 'POST' });
      return 'Reload: ' + r.status;
    });
  }

  function resetKey(id) {
    return act('Reset of ' + id, async () => {
      const r = await api('/admin/keys/' + encodeURIComponent(id) + '/reset', { method: 'POST' });
      return `Reset of ${id}: ${r.status}`;
    });
  }

  function checkKey(id) {
    return act('Check of ' + id, async () => {
      const r = await api('/admin/keys/' + encodeURIComponent(id) + '/check', { method: 'POST' });
      return `Check of ${r.id} (${r.key}): ${r.verdict}, HTTP ${r.http_status}, ${r.latency_ms} ms` +
        (r.reason ? ` (${r.reason})` : '') + ` — now ${r.status}`;
    });
  }

  // ---- formatting ----------------------------------------------------------------------

  const numberFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });
  function fmt(n) { return numberFormat.format(Number(n) || 0); }

  // A time in the viewer's zone: the time of day when it is within a day, else date and time.
  function when(iso) {
    const t = new Date(iso);
    if (Number.isNaN(t.getTime())) return String(iso);
    const sameDay = Math.abs(t - Date.now()) < 86400000;
    return sameDay
      ? t.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' })
      : t.toLocaleString([], { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' });
  }

  // ---- wiring --------------------------------------------------------------------------

  document.addEventListener('DOMContentLoaded', () => {
    $('login-form').addEventListener('submit', login);
    $('logout').addEventListener('click', logout);
    $('refresh').addEventListener('click', () => refresh());
    $('reload').addEventListener('click', () => reloadKeys());
    $('usage-by').addEventListener('change', () => loadUsage().catch((e) => say(e.message, true)));
    $('usage-metric').addEventListener('change', () => loadUsage().catch((e) => say(e.message, true)));
    $('filter').addEventListener('input', (e) => { state.filter = e.target.value; state.page = 0; renderPool(); });
    $('status-filter').addEventListener('change', (e) => { state.status = e.target.value; state.page = 0; renderPool(); });
    $('page-size').addEventListener('change', (e) => { state.pageSize = Number(e.target.value); state.page = 0; renderPool(); });
    $('prev').addEventListener('click', () => { state.page--; renderPool(); });
    $('next').addEventListener('click', () => { state.page++; renderPool(); });
    for (const b of document.querySelectorAll('#pool th button')) {
      b.addEventListener('click', () => {
        const by = b.dataset.sort;
        state.sort = { by, dir: state.sort.by === by ? -state.sort.dir : 1 };
        renderPool();
      });
    }
    $('pool').addEventListener('click', (e) => {
      const b = e.target.closest('button[data-action]');
      if (!b) return;
      if (b.dataset.action === 'reset') resetKey(b.dataset.id);
      else if (b.dataset.action === 'check') checkKey(b.dataset.id);
    });
    if (sessionStorage.getItem(TOKEN_KEY)) start();
    else showLogin('');
  });
})();
