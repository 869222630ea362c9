#!/usr/bin/env python3
"""Records and reports for the benchmarks (called by bench/run.sh).

  report.py wrk FILE key=value...      parse a `wrk --latency` output, append one record
  report.py add [--json J] key=value... append one record (J: a JSON object to merge)
  report.py cursor JSON [LOCAL_NS]      redis_cursor_bench's JSON -> one redis-cursor record (stdout)
  report.py render --md F --json F      medians, targets and findings -> BENCHMARKS.md, results.json

Records are JSON lines in $BENCH_RECORDS. A value of key=value is a number when it reads as
one. `render` exits with 3 when a measured case failed (non-2xx answers, socket errors, a
server that died, streams that never started), after writing both files.
"""
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys

RECORDS = os.environ.get("BENCH_RECORDS", "bench/out/records.jsonl")


def value(v):
    for conv in (int, float):
        try:
            return conv(v)
        except ValueError:
            pass
    return v


def kv(args):
    out = {}
    for a in args:
        k, _, v = a.partition("=")
        out[k] = value(v)
    return out


def append(rec):
    with open(RECORDS, "a") as f:
        f.write(json.dumps(rec, sort_keys=True) + "\n")


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}


def duration_ms(text):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m|h)", text)
    if not m:
        return None
    return float(m.group(1)) * UNITS[m.group(2)]


def parse_wrk(text):
    rec = {"rps": None, "p50_ms": None, "p90_ms": None, "p99_ms": None, "requests": None,
           "non2xx": 0, "socket_errors": 0}
    m = re.search(r"Requests/sec:\s+([0-9.]+)", text)
    if m:
        rec["rps"] = float(m.group(1))
    for pct, key in (("50", "p50_ms"), ("90", "p90_ms"), ("99", "p99_ms")):
        m = re.search(r"^\s+%s%%\s+(\S+)" % pct, text, re.M)
        if m:
            rec[key] = duration_ms(m.group(1))
    m = re.search(r"(\d+) requests in ([0-9.]+\w+)", text)
    if m:
        rec["requests"] = int(m.group(1))
        rec["seconds"] = (duration_ms(m.group(2)) or 0) / 1000
    m = re.search(r"^# server cpu ticks: before (\d+) (\d+) after (\d+) (\d+) hz (\d+)", text, re.M)
    if m and rec["requests"]:
        u0, s0, u1, s1, hz = map(int, m.groups())
        rec["user_us"] = (u1 - u0) / hz * 1e6 / rec["requests"]
        rec["sys_us"] = (s1 - s0) / hz * 1e6 / rec["requests"]
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    if m:
        rec["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        c, r, w, t = map(int, m.groups())
        rec["socket_errors"] = c + r + w + t
        rec["socket_detail"] = {"connect": c, "read": r, "write": w, "timeout": t}
    problems = []
    if rec["rps"] is None or rec["p50_ms"] is None:
        problems.append("wrk output not understood")
    if rec["non2xx"]:
        problems.append("%d non-2xx answers" % rec["non2xx"])
    if rec["socket_errors"]:
        problems.append("socket errors %s" % rec.get("socket_detail"))
    rec["ok"] = not problems
    if problems:
        rec["problems"] = problems
    return rec


# ---------------------------------------------------------------------------------------------
# render


def load():
    recs = []
    if os.path.exists(RECORDS):
        with open(RECORDS) as f:
            for line in f:
                line = line.strip()
                if line:
                    recs.append(json.loads(line))
    return recs


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def sh(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        return ""


def machine():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    mem = "%.1f GiB" % (int(line.split()[1]) / 1048576)
    except OSError:
        pass
    commit = sh(["git", "rev-parse", "HEAD"])
    dirty = sh(["git", "--no-optional-locks", "status", "--porcelain", "--untracked-files=no"])
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu or platform.processor(),
        "kernel": "%s %s" % (platform.system(), platform.release()),
        "memory": mem,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "commit": commit,
        "commit_subject": sh(["git", "log", "-1", "--format=%s"]),
        "dirty": bool(dirty),
    }


def fmt(x, digits=0):
    if x is None:
        return "—"
    if isinstance(x, float) and digits == 0 and abs(x) >= 100:
        return "{:,.0f}".format(x)
    return "{:,.{d}f}".format(x, d=digits)


def ms(x):
    if x is None:
        return "—"
    if x >= 1000:
        return "%.2f s" % (x / 1000)
    return "%.3f ms" % x if x < 10 else "%.1f ms" % x


def ratio(a, b):
    if a is None or b in (None, 0):
        return None
    return a / b


def rfmt(x):
    return "—" if x is None else "%.2f×" % x


def group(recs, section, keys):
    """{tuple(keys): [records]} for one section, in first-seen order."""
    out = {}
    for r in recs:
        if r.get("section") != section:
            continue
        out.setdefault(tuple(r.get(k) for k in keys), []).append(r)
    return out


def summarize(rs):
    return {
        "rounds": len(rs),
        "rps": median([r.get("rps") for r in rs]),
        "p50_ms": median([r.get("p50_ms") for r in rs]),
        "p99_ms": median([r.get("p99_ms") for r in rs]),
        "rps_rounds": [r.get("rps") for r in rs],
        "user_us": median([r.get("user_us") for r in rs if r.get("user_us") is not None]),
        "sys_us": median([r.get("sys_us") for r in rs if r.get("sys_us") is not None]),
        "p50_rounds": [r.get("p50_ms") for r in rs],
        "non2xx": sum(r.get("non2xx") or 0 for r in rs),
        "socket_errors": sum(r.get("socket_errors") or 0 for r in rs),
        "ok": all(r.get("ok") for r in rs),
        "problems": sorted({p for r in rs for p in r.get("problems", [])}),
    }


CASES = [
    ("native-generate", "native generateContent", "native-generate"),
    ("native-stream", "native streamGenerateContent ?alt=sse", "native-stream"),
    ("openai-chat", "OpenAI chat, non-stream (translated)", "native-generate"),
    ("openai-chat-stream", "OpenAI chat, stream (translated)", "native-stream"),
    ("anthropic-messages", "Anthropic Messages, non-stream (translated)", "native-generate"),
    ("anthropic-messages-stream", "Anthropic Messages, stream (translated)", "native-stream"),
    ("responses", "OpenAI Responses, non-stream (translated, store false)", "native-generate"),
    ("responses-stream", "OpenAI Responses, stream (translated, store false)", "native-stream"),
]
INSTRUCTION_SHAPES = {
    "native": "native generateContent", "openai": "OpenAI chat, non-stream",
    "openai-stream": "OpenAI chat, stream", "anthropic": "Anthropic Messages, non-stream",
    "anthropic-stream": "Anthropic Messages, stream", "responses": "OpenAI Responses, non-stream",
    "responses-stream": "OpenAI Responses, stream",
}
# The agent surfaces' targets (issue 9): req/s with 1 I/O thread >= 0.7 x nginx's native
# req/s of the same shape (non-stream against generateContent, stream against the SSE stream).
AGENT_TARGETS = [
    ("anthropic-messages", "Anthropic Messages non-stream", "native-generate"),
    ("anthropic-messages-stream", "Anthropic Messages stream", "native-stream"),
    ("responses", "OpenAI Responses non-stream", "native-generate"),
    ("responses-stream", "OpenAI Responses stream", "native-stream"),
]
SERVERS = [
    ("direct", "upstream directly"),
    ("nginx", "nginx proxy_pass (1 worker)"),
    ("gkm-1", "gemini-key-manager --threads 1"),
    ("gkm-default", "gemini-key-manager (default threads)"),
    ("gkm-paced", "gemini-key-manager --threads 1, pacing (--limit, projects) and a named client's limits on"),
]


def render(args):
    opts = kv([a for a in args if "=" in a and not a.startswith("--")])
    md_path = json_path = None
    it = iter(args)
    for a in it:
        if a == "--md":
            md_path = next(it)
        elif a == "--json":
            json_path = next(it)
    recs = load()
    meta = {}
    for r in recs:
        if r.get("section") == "meta":
            meta.update({k: v for k, v in r.items() if k != "section"})
    mach = machine()
    # The commit of the run's start (the build), not of the moment of rendering.
    if meta.get("commit"):
        mach["commit"] = meta["commit"]
        mach["commit_subject"] = meta.get("commit_subject", "")
        mach["dirty"] = bool(meta.get("dirty"))
    failures = []
    findings = []
    targets = []

    # ---- throughput -----------------------------------------------------------------------
    tp = {k: summarize(v) for k, v in group(recs, "throughput", ["case", "server"]).items()}
    throughput_rows = []
    for case, label, nginx_case in CASES:
        ng = tp.get((nginx_case, "nginx"))
        for server, slabel in SERVERS:
            s = tp.get((case, server))
            if not s:
                continue
            row = {"case": case, "server": server, **s,
                   "rps_vs_nginx": ratio(s["rps"], ng and ng["rps"]),
                   "p50_vs_nginx": ratio(s["p50_ms"], ng and ng["p50_ms"]),
                   "nginx_reference": nginx_case}
            throughput_rows.append(row)
            if not s["ok"]:
                failures.append("throughput %s / %s: %s" % (case, server, "; ".join(s["problems"])))

    def tp_get(case, server, field):
        s = tp.get((case, server))
        return s and s[field]

    ng_rps = tp_get("native-generate", "nginx", "rps")
    ng_p50 = tp_get("native-generate", "nginx", "p50_ms")
    g1_rps = tp_get("native-generate", "gkm-1", "rps")
    g1_p50 = tp_get("native-generate", "gkm-1", "p50_ms")
    oa_rps = tp_get("openai-chat", "gkm-1", "rps")
    targets.append({
        "target": "native generateContent, 1 I/O thread: req/s ≥ 0.9 × nginx",
        "measured": "%s vs nginx %s req/s" % (fmt(g1_rps), fmt(ng_rps)),
        "ratio": ratio(g1_rps, ng_rps), "limit": 0.9, "cmp": ">="})
    targets.append({
        "target": "native generateContent, 1 I/O thread: p50 ≤ 1.2 × nginx",
        "measured": "%s vs nginx %s" % (ms(g1_p50), ms(ng_p50)),
        "ratio": ratio(g1_p50, ng_p50), "limit": 1.2, "cmp": "<="})
    targets.append({
        "target": "OpenAI chat non-stream (translated), 1 I/O thread: req/s ≥ 0.6 × nginx native",
        "measured": "%s vs nginx native %s req/s" % (fmt(oa_rps), fmt(ng_rps)),
        "ratio": ratio(oa_rps, ng_rps), "limit": 0.6, "cmp": ">="})
    gp_rps = tp_get("native-generate", "gkm-paced", "rps")
    if gp_rps is not None:
        targets.append({
            "target": "native generateContent with pacing and client checks on, 1 I/O thread: req/s ≥ 0.95 × nginx",
            "measured": "%s vs nginx %s req/s" % (fmt(gp_rps), fmt(ng_rps)),
            "ratio": ratio(gp_rps, ng_rps), "limit": 0.95, "cmp": ">="})
    for case, label, nginx_case in AGENT_TARGETS:
        c_rps = tp_get(case, "gkm-1", "rps")
        n_rps = tp_get(nginx_case, "nginx", "rps")
        if c_rps is None:
            continue
        targets.append({
            "target": "%s (translated), 1 I/O thread: req/s ≥ 0.7 × nginx native%s" % (
                label, " stream" if nginx_case == "native-stream" else ""),
            "measured": "%s vs nginx %s req/s" % (fmt(c_rps), fmt(n_rps)),
            "ratio": ratio(c_rps, n_rps), "limit": 0.7, "cmp": ">="})

    # ---- memory ---------------------------------------------------------------------------
    mem_rows = [r for r in recs if r.get("section") == "memory"]
    for r in mem_rows:
        bad = r.get("error") or r.get("first_event") != r.get("streams_opened", r.get("streams"))
        if bad:
            failures.append("memory %s streams: %s" % (
                r.get("streams_requested"), r.get("error") or "%s of %s streams got their first event (%s)" % (
                    r.get("first_event"), r.get("streams"), r.get("errors"))))
    big = max(mem_rows, key=lambda r: r.get("streams_requested") or 0) if mem_rows else None
    if big:
        note = ""
        if big.get("streams") != big.get("streams_requested"):
            note = " (%s streams: the file-descriptor limit allows no more, see Memory)" % fmt(big.get("streams"))
        targets.append({
            "target": "≤ 32 KiB per open stream at 10,000 streams",
            "measured": "%.1f KiB per stream at %s streams%s" % (
                big.get("kib_per_stream") or float("nan"), fmt(big.get("streams")), note),
            "ratio": ratio(big.get("kib_per_stream"), 32.0), "limit": 1.0, "cmp": "<=",
            "ratio_note": "of 32 KiB"})

    # ---- keys -----------------------------------------------------------------------------
    kt = {k[0]: summarize(v) for k, v in group(recs, "keys", ["keys"]).items()}
    picks = {r["keys"]: r for r in recs
             if r.get("section") == "keys-pick" and r.get("keys") and not r.get("projects")}
    project_picks = {r["keys"]: r for r in recs
                     if r.get("section") == "keys-pick" and r.get("keys") and r.get("projects")}
    if project_picks.get(10) and project_picks.get(100000):
        small, big = project_picks[10], project_picks[100000]
        targets.append({
            "target": "pick cost with pacing, 100,000 keys in 10,000 projects (99 % exhausted) within 10 % of 10 keys",
            "measured": "%.1f ns vs %.1f ns per pick (%.2f vs %.2f steps%s)" % (
                big["ns_per_pick"], small["ns_per_pick"], big["steps_per_pick"], small["steps_per_pick"],
                "; medians of %d interleaved runs each" % big["runs"] if big.get("runs") else ""),
            "ratio": ratio(big["ns_per_pick"], small["ns_per_pick"]), "limit": 1.10, "cmp": "<="})
    exhaust = {r["keys"]: r for r in recs if r.get("section") == "keys-exhaust"}
    healthy = [r for r in recs if r.get("section") == "keys-healthy"]
    key_rows = []
    base = kt.get(10)
    for n in sorted(set(kt) | set(picks)):
        s = kt.get(n) or {}
        p = picks.get(n) or {}
        e = exhaust.get(n) or {}
        key_rows.append({"keys": n, **s, "exhausted": e.get("exhausted"), "usable": e.get("usable"),
                         "exhaust_seconds": e.get("seconds"),
                         "p50_vs_10": ratio(s.get("p50_ms"), base and base["p50_ms"]),
                         "rps_vs_10": ratio(s.get("rps"), base and base["rps"]),
                         "pick_ns": p.get("ns_per_pick"), "pick_steps": p.get("steps_per_pick")})
        if s and not s["ok"]:
            failures.append("keys %s: %s" % (n, "; ".join(s["problems"])))
        if e and not e.get("ok", True):
            failures.append("keys %s: only %s of %s keys became exhausted during the warm-up" % (
                n, e.get("exhausted"), e.get("expected")))
    top_n = max(kt) if kt else 100000
    top = kt.get(top_n) if top_n != 10 else None
    targets.append({
        "target": "p50 at %s keys (99 %% exhausted) within 10 %% of 10 keys" % fmt(top_n),
        "measured": "%s vs %s" % (ms(top and top["p50_ms"]), ms(base and base["p50_ms"])),
        "ratio": ratio(top and top["p50_ms"], base and base["p50_ms"]), "limit": 1.10, "cmp": "<="})
    for h in healthy:
        if h.get("error"):
            failures.append("healthy (%s): %s" % (h.get("state"), h["error"]))
        hn = h.get("keys") or 0
        label = {"fresh": "first start, empty state",
                 "restart": "restart, %s exhausted states in SQLite" % fmt(hn - (hn + 99) // 100)
                 }.get(h.get("state"), h.get("state"))
        targets.append({
            "target": "healthy within 1 s with %s keys (%s)" % (fmt(hn), label),
            "measured": "%s" % ms(h.get("healthy_ms")),
            "ratio": ratio(h.get("healthy_ms"), 1000.0), "limit": 1.0, "cmp": "<=",
            "ratio_note": "of 1 s"})

    # ---- durability -----------------------------------------------------------------------
    du = {k[0]: summarize(v) for k, v in group(recs, "durability", ["server"]).items()}
    on, off = du.get("flush-1000"), du.get("flush-60000")
    for name, s in du.items():
        if not s["ok"]:
            failures.append("durability %s: %s" % (name, "; ".join(s["problems"])))

    # ---- Redis mode -----------------------------------------------------------------------
    rd = {k[0]: summarize(v) for k, v in group(recs, "redis", ["server"]).items()}
    for name, s in rd.items():
        if not s["ok"]:
            failures.append("redis %s: %s" % (name, "; ".join(s["problems"])))
    if rd.get("redis") and rd.get("local"):
        targets.append({
            "target": "Redis mode (one instance, local redis-server), 1 I/O thread: req/s ≥ 0.8 × local mode",
            "measured": "%s vs local %s req/s" % (fmt(rd["redis"]["rps"]), fmt(rd["local"]["rps"])),
            "ratio": ratio(rd["redis"]["rps"], rd["local"]["rps"]), "limit": 0.8, "cmp": ">="})
    for r in recs:
        if r.get("section") == "redis-trips" and int(r.get("requests") or 0) > 0:
            n, c = int(r["requests"]), int(r.get("commands") or 0)
            findings.append("Redis round trips per request: %d (batch scripts and counter reads) for %d "
                            "requests = %.4f; none on the request path." % (c, n, c / n))

    for r in recs:
        if r.get("section") == "redis-cursor" and r.get("per_pick_us_1_0"):
            local = r.get("local_pick_ns")
            findings.append(
                "Shared cursor in Redis (one EVALSHA per pick: INCR mod 10, skip cooling keys): "
                "%.1f µs per pick one at a time (the round trip each request would wait; %.1f µs "
                "with 9 of 10 keys cooling); with 4 / 16 in flight %.1f / %.1f µs per pick, each "
                "waiting %.0f / %.0f µs. Local pick (BM_Pick/10): %s ns. Kept: the local view." % (
                    r["per_pick_us_1_0"], r.get("per_pick_us_1_9") or 0,
                    r.get("per_pick_us_4_0") or 0, r.get("per_pick_us_16_0") or 0,
                    r.get("wait_us_4_0") or 0, r.get("wait_us_16_0") or 0,
                    fmt(local) if local else "n/a"))

    # ---- proxy logs -----------------------------------------------------------------------
    logs = [r for r in recs if r.get("section") == "proxylog"]
    for r in recs:
        if r.get("section") == "died":
            failures.append("%s died during the run (exit %s)" % (r.get("name"), r.get("status")))

    for t in targets:
        x = t["ratio"]
        t["met"] = None if x is None else (x >= t["limit"] if t["cmp"] == ">=" else x <= t["limit"])

    # ---- findings -------------------------------------------------------------------------
    if g1_rps and ng_rps:
        findings.append(
            "Native generateContent: one I/O thread serves %s req/s, %.0f %% of nginx's %s req/s "
            "(direct: %s req/s); p50 %s against nginx's %s." % (
                fmt(g1_rps), 100 * g1_rps / ng_rps, fmt(ng_rps),
                fmt(tp_get("native-generate", "direct", "rps")), ms(g1_p50), ms(ng_p50)))
    g1_u, g1_s = tp_get("native-generate", "gkm-1", "user_us"), tp_get("native-generate", "gkm-1", "sys_us")
    ng_u, ng_s = tp_get("native-generate", "nginx", "user_us"), tp_get("native-generate", "nginx", "sys_us")
    if None not in (g1_u, g1_s, ng_u, ng_s):
        findings.append(
            "CPU per native generateContent request (process time, user + system): the proxy %.1f µs "
            "(%.1f + %.1f), nginx %.1f µs (%.1f + %.1f); the system part is the TCP work on two "
            "connections, nearly the same for both." % (g1_u + g1_s, g1_u, g1_s, ng_u + ng_s, ng_u, ng_s))
    gd = tp_get("native-generate", "gkm-default", "rps")
    if gd and g1_rps:
        findings.append(
            "Default threads (%s on this machine) against one: %s vs %s req/s (%.2f×); with %s cores the "
            "proxy threads share the cores with wrk and the stand-in." % (
                meta.get("default_threads", "?"), fmt(gd), fmt(g1_rps), gd / g1_rps, mach["nproc"]))
    if oa_rps and g1_rps:
        findings.append(
            "OpenAI translation: chat non-stream %s req/s is %.0f %% of native generateContent through the "
            "same proxy (%s)." % (fmt(oa_rps), 100 * oa_rps / g1_rps, fmt(g1_rps)))
    s1 = tp_get("native-stream", "gkm-1", "rps")
    os1 = tp_get("openai-chat-stream", "gkm-1", "rps")
    if s1 and os1:
        findings.append("Streams, one thread: native SSE %s req/s, OpenAI chat stream %s req/s (%.0f %%)." % (
            fmt(s1), fmt(os1), 100 * os1 / s1))
    for r in sorted(mem_rows, key=lambda r: r.get("streams") or 0):
        findings.append(
            "%s open streams: RSS %s MiB against %s MiB idle, %.1f KiB per stream; the proxy held %s file "
            "descriptors (2 per stream: client and upstream)." % (
                fmt(r.get("streams")), fmt((r.get("rss_kib") or 0) / 1024, 1),
                fmt((r.get("idle_rss_kib") or 0) / 1024, 1), r.get("kib_per_stream") or float("nan"),
                fmt(r.get("proxy_fds"))))
    if top and base:
        findings.append(
            "Key count: p50 %s with 10 keys, %s with %s (99 %% exhausted); req/s %s vs %s." % (
                ms(base["p50_ms"]), ms(top["p50_ms"]), fmt(top_n), fmt(base["rps"]), fmt(top["rps"])))
    if top and base and picks and top.get("p50_ms") and base.get("p50_ms"):
        pt, pb = picks.get(top_n, {}).get("ns_per_pick"), picks.get(10, {}).get("ns_per_pick")
        extra_us = (top["p50_ms"] - base["p50_ms"]) * 1000
        if pt and pb and extra_us > 0.1 * base["p50_ms"] * 1000:
            findings.append(
                "The p50 grows by %.0f µs from 10 to %s keys while a pick costs %.0f ns against %.0f ns: "
                "the per-request cost that grows with the key count is outside KeyPool::Pick." % (
                    extra_us, fmt(top_n), pt, pb))
    if picks:
        findings.append("Pick cost (Google Benchmark on KeyPool::Pick, Release): " + ", ".join(
            "%s keys %.1f ns, %s step(s)" % (fmt(n), p.get("ns_per_pick") or float("nan"),
                                            fmt(p.get("steps_per_pick"), 1))
            for n, p in sorted(picks.items())) + ".")
    if on and off:
        findings.append(
            "Durability: %s req/s with the default 1 s flush, %s req/s with a 60 s flush (%.1f %% "
            "difference)." % (fmt(on["rps"]), fmt(off["rps"]), 100 * (off["rps"] - on["rps"]) / off["rps"]))
    for r in logs:
        if r.get("warnings") or r.get("errors"):
            findings.append("Proxy log of %s: %s warning and %s error lines%s." % (
                r.get("name"), r.get("warnings"), r.get("errors"),
                (", e.g. `%s`" % r["sample"].replace("`", "'")) if r.get("sample") else ""))
        if r.get("non2xx_lines"):
            findings.append("Proxy log of %s: %s request lines with a status other than 2xx%s." % (
                r.get("name"), r.get("non2xx_lines"),
                (", e.g. `%s`" % r["non2xx_sample"].replace("`", "'")) if r.get("non2xx_sample") else ""))
    # ---- instructions per request ---------------------------------------------------------
    ins_rows = []
    for r in recs:
        if r.get("section") != "instructions":
            continue
        lo, hi, a, b = (r.get(k) for k in ("low", "high", "ir_low", "ir_high"))
        if None in (lo, hi, a, b) or hi <= lo:
            continue
        ins_rows.append({"shape": r.get("shape"), "per_request": (b - a) / (hi - lo),
                         "requests": [lo, hi], "instructions": [a, b]})
    ins = {r["shape"]: r["per_request"] for r in ins_rows}
    if ins.get("native"):
        findings.append("Instructions per request (callgrind, user space): %s." % ", ".join(
            "%s %s" % (label, fmt(ins[shape])) for shape, label in INSTRUCTION_SHAPES.items()
            if ins.get(shape)))

    for r in recs:
        if r.get("section") == "note":
            findings.append(r.get("text", ""))

    # ---- write ----------------------------------------------------------------------------
    result = {
        "machine": mach, "parameters": meta, "targets": targets, "throughput": throughput_rows,
        "memory": mem_rows, "keys": key_rows, "healthy": healthy,
        "durability": {k: v for k, v in du.items()}, "proxy_logs": logs, "instructions": ins_rows,
        "failures": failures, "findings": findings,
    }
    if json_path:
        with open(json_path, "w") as f:
            json.dump(result, f, indent=2, sort_keys=True)
            f.write("\n")
    if md_path:
        with open(md_path, "w") as f:
            f.write(markdown(result, tp, du, on, off))
    for fl in failures:
        print("bench: FAILED: " + fl, file=sys.stderr)
    return 3 if failures else 0


def markdown(res, tp, du, on, off):
    m = res["machine"]
    p = res["parameters"]
    L = []
    w = L.append
    w("# Benchmarks")
    w("")
    w("Written by `make bench` (`bench/run.sh`); regenerate it rather than editing it. Absolute numbers")
    w("drift between runs and machines: compare only inside one run.")
    w("")
    w("| | |")
    w("|---|---|")
    w("| date | %s |" % m["date"])
    w("| commit | `%s` %s%s |" % (m["commit"][:12], m["commit_subject"].replace("|", "\\|"),
                                 " (+ uncommitted changes)" if m["dirty"] else ""))
    w("| binary | `%s` (%s), Release, built %s |" % (p.get("binary", "?"), p.get("version", "?"),
                                                      p.get("built", "?")))
    w("| machine | %s cores, %s, %s, %s memory |" % (m["nproc"], m["cpu"], m["kernel"], m["memory"]))
    w("| tools | %s; %s; node %s |" % (p.get("wrk", "wrk"), p.get("nginx", "nginx"), p.get("node", "?")))
    w("| method | wrk 1 thread, %s connections, %s s warm-up + %s s measured per run, %s alternating rounds "
      "(order rotated each round), medians |" % (p.get("connections"), p.get("warmup"), p.get("duration"), p.get("rounds")))
    w("| pinning | %s |" % p.get("pinning", "none"))
    w("| open-file limit | %s |" % p.get("fd_limit", "?"))
    w("")
    if res["failures"]:
        w("**Failed cases** (the run exits non-zero):")
        w("")
        for fl in res["failures"]:
            w("- %s" % fl)
        w("")

    w("## Targets")
    w("")
    w("Read from this one run; they are goals for the proxy, not timed tests.")
    w("")
    w("| target | measured | ratio | limit | result |")
    w("|---|---|---|---|---|")
    for t in res["targets"]:
        lim = ("≥ " if t["cmp"] == ">=" else "≤ ") + "%.2f×" % t["limit"]
        if t.get("ratio_note"):
            lim += " " + t["ratio_note"]
        result = "—" if t["met"] is None else ("met" if t["met"] else "**missed**")
        w("| %s | %s | %s | %s | %s |" % (t["target"], t["measured"], rfmt(t["ratio"]), lim, result))
    w("")

    w("## 1. Throughput and latency")
    w("")
    w("An instant upstream (nginx `return 200` with a fixed generateContent body, or a fixed 3-event SSE")
    w("body); wrk POSTs a small JSON body with the client token. nginx forwards with one worker, kept-alive")
    w("upstream connections and the real-key header set. The proxy does all its real work: auth, key")
    w("selection, accounting, a log line per request at info (stderr and the rotating file), state")
    w("flushes every second. OpenAI rows are compared with nginx on the native call they translate to")
    w("(chat → generateContent, chat stream → streamGenerateContent `?alt=sse`).")
    w("")
    w("| case | server | req/s | p50 | p99 | req/s vs nginx | p50 vs nginx | CPU per request (user + system) | req/s per round | errors |")
    w("|---|---|---|---|---|---|---|---|---|---|")
    labels = dict(SERVERS)
    case_labels = {c: l for c, l, _ in CASES}

    def cpu(r):
        if r.get("user_us") is None or r.get("sys_us") is None:
            return "—"
        return "%.1f µs (%.1f + %.1f)" % (r["user_us"] + r["sys_us"], r["user_us"], r["sys_us"])
    for r in res["throughput"]:
        errs = "none" if r["ok"] else "; ".join(r["problems"])
        w("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            case_labels[r["case"]], labels[r["server"]], fmt(r["rps"]), ms(r["p50_ms"]), ms(r["p99_ms"]),
            rfmt(r["rps_vs_nginx"]), rfmt(r["p50_vs_nginx"]), cpu(r),
            " / ".join(fmt(x) for x in r["rps_rounds"]), errs))
    w("")
    w("CPU per request: the server process's user and system time over each measured run (from")
    w("`/proc/<pid>/stat`, all threads; nginx's worker; for the direct case the stand-in), divided by")
    w("the requests wrk completed, median of the rounds. Time the kernel spends in interrupts and")
    w("softirqs (much of loopback TCP) is not in it.")
    w("")

    w("## 2. Memory per open stream")
    w("")
    w("The proxy (default threads) in front of the mock in program mode (`tests/mock/mock-gemini.mjs")
    w("--stream-events %s --stream-interval-ms %s`: the first SSE event at once, the next ones %s ms apart)."
      % (p.get("mem_events", "?"), p.get("mem_interval_ms", "?"), p.get("mem_interval_ms", "?")))
    w("A fresh proxy per count is warmed up (wrk on generateContent, 100 streams), left to settle, then")
    w("`bench/streams.mjs` opens the streams, waits until every one has its first event, and reads VmRSS")
    w("from `/proc/<pid>/status`. KiB per stream = (RSS loaded − RSS idle) / streams. \"Released after")
    w("close\": from the client closing every stream until the proxy's descriptors are back to idle (it can")
    w("notice a gone client only when the next upstream event fails to go out).")
    w("")
    w("| streams | got first event | still open at sample | idle RSS | loaded RSS | KiB per stream | proxy fds | time to open | released after close |")
    w("|---|---|---|---|---|---|---|---|---|")
    for r in sorted(res["memory"], key=lambda r: r.get("streams_requested") or 0):
        n = fmt(r.get("streams"))
        if r.get("streams") != r.get("streams_requested"):
            n += " (of %s asked)" % fmt(r.get("streams_requested"))
        rel = r.get("release_ms")
        rel = "—" if rel is None else ("not within 30 s (%s fds left)" % fmt(r.get("fds_after_release"))
                                       if rel < 0 else ms(rel))
        w("| %s | %s | %s | %s MiB | %s MiB | %s | %s | %s | %s |" % (
            n, fmt(r.get("first_event")), fmt(r.get("open_at_sample")),
            fmt((r.get("idle_rss_kib") or 0) / 1024, 1), fmt((r.get("rss_kib") or 0) / 1024, 1),
            fmt(r.get("kib_per_stream"), 1), fmt(r.get("proxy_fds")), ms(r.get("open_ms")), rel))
    if p.get("fd_note"):
        w("")
        w(p["fd_note"])
    w("")

    w("## 3. Key count")
    w("")
    w("Key files of made-up keys `bench-key-NNNNNN-<random hex>`; the stand-in answers the WIRE.md per-day")
    w("429 for gemini-2.5-flash to every key whose number does not end in 00, so 99 % are exhausted")
    w("(9 of the 10-key file). Each proxy (`--threads 1`) is first driven with wrk until its")
    w("`gkm_key_models{state=\"exhausted\"}` gauge shows them all (each exhausted key costs one 429), then")
    w("measured on native generateContent in alternating rounds. Pick cost: Google Benchmark on")
    w("`KeyPool::Pick` with the same shares (`bench/pick_bench.cc`, linked against the Release")
    w("libraries); `steps` is the pool's own count of ring probes and heap pops, which the unit test")
    w("`KeyPool.PickIsConstantTimeWhenMostKeysAreUnusable` bounds.")
    w("")
    w("| keys | exhausted | warm-up | req/s | p50 | p99 | p50 vs 10 keys | req/s vs 10 keys | pick | steps per pick | errors |")
    w("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in res["keys"]:
        errs = "none" if r.get("ok", True) else "; ".join(r.get("problems", []))
        w("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            fmt(r["keys"]), fmt(r.get("exhausted")),
            "%.1f s" % r["exhaust_seconds"] if r.get("exhaust_seconds") is not None else "—",
            fmt(r.get("rps")), ms(r.get("p50_ms")), ms(r.get("p99_ms")),
            rfmt(r.get("p50_vs_10")), rfmt(r.get("rps_vs_10")),
            "%.1f ns" % r["pick_ns"] if r.get("pick_ns") is not None else "—",
            fmt(r.get("pick_steps"), 1) if r.get("pick_steps") is not None else "—", errs))
    w("")
    w("| start | keys | time to healthy | RSS when healthy |")
    w("|---|---|---|---|")
    for h in res["healthy"]:
        hn = h.get("keys") or 0
        w("| %s | %s | %s | %s |" % (
            {"fresh": "first start (empty state dir)",
             "restart": "restart (%s exhausted states in SQLite)" % fmt(hn - (hn + 99) // 100)
             }.get(h.get("state"), h.get("state")), fmt(hn),
            ms(h.get("healthy_ms")) if not h.get("error") else h["error"],
            ("%s MiB" % fmt((h.get("rss_kib") or 0) / 1024, 1)) if h.get("rss_kib") else "—"))
    w("")
    w("Time to healthy is measured by `bench/healthy.mjs`: from the spawn of the process to the first")
    w("200 from `/healthz`, polled every 2 ms.")
    w("")

    w("## 4. Cost of durability")
    w("")
    w("`--threads 1`, native generateContent, the SQLite store in a directory on the same disk as the")
    w("repository. \"Flushing off\" is approximated by `--flush-interval-ms 60000`, the largest interval")
    w("the flag accepts (no flush happens within a %s s run); state changes would still be written at once," % p.get("duration"))
    w("but this load has none.")
    w("")
    w("| flush interval | req/s | p50 | p99 | req/s per round | errors |")
    w("|---|---|---|---|---|---|")
    for name, label in (("flush-1000", "1000 ms (default)"), ("flush-60000", "60000 ms (≈ off)")):
        s = du.get(name)
        if s:
            w("| %s | %s | %s | %s | %s | %s |" % (label, fmt(s["rps"]), ms(s["p50_ms"]), ms(s["p99_ms"]),
                                                  " / ".join(fmt(x) for x in s["rps_rounds"]),
                                                  "none" if s["ok"] else "; ".join(s["problems"])))
    if on and off and off["rps"]:
        w("")
        w("Durability costs %.1f %% of req/s (flush on / off = %.3f)." % (
            100 * (off["rps"] - on["rps"]) / off["rps"], on["rps"] / off["rps"]))
    w("")

    if res.get("instructions"):
        w("## 5. Instructions per request")
        w("")
        w("The proxy (`--threads 1`) under `valgrind --tool=callgrind` in front of the instant stand-in;")
        w("`bench/requests.mjs` sends a fixed number of requests (4 kept-alive connections) and checks")
        w("each answer. Two runs per shape; instructions per request = (total of the larger run − total of")
        w("the smaller) / (difference of requests), so start-up and shutdown cancel out. User-space")
        w("instructions of every thread (the kernel's are not counted); repeatable to a fraction of a")
        w("percent, so it is the measure for a change that claims to save work.")
        w("")
        w("| request | instructions per request | runs (requests: total instructions) |")
        w("|---|---|---|")
        names = INSTRUCTION_SHAPES
        for r in res["instructions"]:
            w("| %s | %s | %s |" % (names.get(r["shape"], r["shape"]), fmt(r["per_request"]),
                                   "; ".join("%s: %s" % (fmt(n), fmt(i))
                                             for n, i in zip(r["requests"], r["instructions"]))))
        w("")

    w("## Findings")
    w("")
    for fnd in res["findings"]:
        w("- %s" % fnd)
    w("")
    w("Raw wrk outputs and logs of the last run: `bench/out/` (not committed); all numbers: `bench/results.json`.")
    w("")
    # What profiling found and what each change gained: kept by hand in bench/profile.md.
    notes = os.path.join(os.path.dirname(os.path.abspath(__file__)), "profile.md")
    if os.path.exists(notes):
        with open(notes) as f:
            w(f.read().rstrip())
        w("")
    return "\n".join(L)


def cursor_record(path, local_ns):
    """The redis-cursor record from redis_cursor_bench's JSON (medians of the repetitions):
    wait_us_<inflight>_<cooling> (one round trip, what each request in flight waits) and
    per_pick_us_<inflight>_<cooling> (the connection's time per pick), with the local pick's ns."""
    rec = {"local_pick_ns": float(local_ns) if local_ns else None}
    with open(path) as f:
        benchmarks = json.load(f).get("benchmarks", [])
    for b in benchmarks:
        if b.get("aggregate_name", "median") != "median":
            continue
        unit = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[b.get("time_unit", "ns")]
        tag = "%d_%d" % (b["inflight"], b["cooling"])
        rec["wait_us_" + tag] = b["real_time"] * unit / 1e3
        rec["per_pick_us_" + tag] = b["ns_per_pick"] * 1e6  # an inverted rate: seconds per pick
    return rec


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd = argv[1]
    if cmd == "wrk":
        with open(argv[2]) as f:
            text = f.read()
        rec = {**kv(argv[3:]), **parse_wrk(text), "raw": os.path.basename(argv[2])}
        append(rec)
        extra = "" if rec["ok"] else "  FAILED: " + "; ".join(rec["problems"])
        print("    %-22s %-12s round %-2s %10s req/s  p50 %-10s p99 %-10s%s" % (
            rec.get("case", rec.get("keys", "")), rec.get("server", ""), rec.get("round", ""),
            fmt(rec["rps"]), ms(rec["p50_ms"]), ms(rec["p99_ms"]), extra))
        return 0
    if cmd == "add":
        rec = {}
        rest = argv[2:]
        if rest[:1] == ["--json"]:
            try:
                rec.update(json.loads(rest[1]))
            except (ValueError, IndexError) as e:
                rec["error"] = "unreadable JSON from a helper: %s" % e
            rest = rest[2:]
        rec.update(kv(rest))
        append(rec)
        return 0
    if cmd == "cursor":
        print(json.dumps(cursor_record(argv[2], argv[3] if len(argv) > 3 else "")))
        return 0
    if cmd == "render":
        return render(argv[2:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
