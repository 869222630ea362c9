#!/usr/bin/env bash
# The benchmarks of gemini-key-manager against nginx and the direct path (`make bench`).
#
#   bench/run.sh BINARY
#
# Starts every server on loopback high ports in a temp dir, measures, stops everything (also
# on failure or Ctrl-C), and writes BENCHMARKS.md and bench/results.json at the repository
# root; raw wrk outputs and logs stay in bench/out/ (ignored by git). Sections:
#   throughput  wrk against the stand-in directly, through nginx proxy_pass, through the proxy
#               with --threads 1 and with the default, for eight cases (native generateContent,
#               native SSE stream, OpenAI chat, OpenAI chat stream, Anthropic Messages and
#               OpenAI Responses, each non-stream and stream)
#   memory      RSS per open stream with 1,000 and 10,000 streams held open (slow mock)
#   keys        p50 and pick cost with 10, 10,000 and 100,000 keys, 99 % exhausted; time to
#               healthy with 100,000 keys
#   durability  req/s with the default 1 s flush against a 60 s flush (≈ off)
#   redis       req/s with --redis (a local redis-server) against local mode, Redis round trips
#               per request, and a pick as a shared cursor in Redis (bench/redis_cursor_bench.cc:
#               one EVALSHA per pick, one at a time and 4 / 16 in flight) against the local pick
#   instructions  user-space instructions per request (callgrind), native, OpenAI, OpenAI stream
# Tunables (environment): BENCH_ROUNDS (5), BENCH_DURATION (8 s), BENCH_WARMUP (2 s),
# BENCH_CONNECTIONS (32), BENCH_STREAMS ("1000 10000"), BENCH_KEY_COUNTS ("10 10000 100000"),
# BENCH_SECTIONS ("throughput durability keys memory instructions"), BENCH_PORT_BASE (random),
# BENCH_INS_LOW / BENCH_INS_HIGH (500 / 2500 requests per callgrind run), BENCH_INS_SHAPES
# ("native openai openai-stream anthropic responses"; also anthropic-stream, responses-stream),
# BENCH_KEEP_TMP=1 keeps the temp dir.
#
# CPU pinning (taskset), so that the server under test has a core of its own: on 2 cores the
# server under test (nginx proxy, proxy --threads 1) runs on core 0, wrk and the stand-in on
# core 1; the direct case runs wrk on core 0 and the stand-in on core 1; the proxy with
# default threads is not pinned. With 3+ cores: server 0, wrk n-2, stand-in n-1. One core:
# nothing is pinned.
# Exit code: 0, or 1 when a case failed (non-2xx answers or socket errors in wrk, a server
# that died, streams that never started); the reports are written either way.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

die() { echo "bench: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }

[[ $# -ge 1 ]] || die "usage: bench/run.sh BINARY"
bin="$(realpath "$1")"
[[ -x $bin ]] || die "$1 is not an executable"
for tool in nginx wrk node python3 curl taskset; do
  command -v "$tool" >/dev/null || die "$tool is missing: run scripts/install-deps.sh --bench --test"
done

ROUNDS=${BENCH_ROUNDS:-5}
DURATION=${BENCH_DURATION:-8}
WARMUP=${BENCH_WARMUP:-2}
CONNS=${BENCH_CONNECTIONS:-32}
STREAM_COUNTS=${BENCH_STREAMS:-"1000 10000"}
KEY_COUNTS=${BENCH_KEY_COUNTS:-"10 10000 100000"}
SECTIONS=${BENCH_SECTIONS:-"throughput durability redis keys memory instructions"}
TOKEN=bench-token
MODEL=gemini-2.5-flash
GEN_PATH="/v1beta/models/$MODEL:generateContent"
SSE_PATH="/v1beta/models/$MODEL:streamGenerateContent?alt=sse"
CHAT_PATH="/v1/chat/completions"
MESSAGES_PATH="/v1/messages"
RESPONSES_PATH="/v1/responses"
MEM_EVENTS=13          # slow mock: first event at once, then one every MEM_INTERVAL_MS ...
MEM_INTERVAL_MS=5000   # ... so a stream stays open 60 s unless the client closes it

out="$root/bench/out"
rm -rf "$out"
mkdir -p "$out"
export BENCH_RECORDS="$out/records.jsonl"
report() { python3 "$here/report.py" "$@"; }
has_section() { [[ " $SECTIONS " == *" $1 "* ]]; }

tmp="$(mktemp -d "${TMPDIR:-/tmp}/gkm-bench.XXXXXX")"
chmod 755 "$tmp"   # nginx workers (user root below when we are root, else ourselves)
mkdir -p "$tmp/tmp"

# ---- processes -------------------------------------------------------------------------------

started=()        # every pid we started, stopped by the trap
declare -A pid_of # name -> pid
last_pid=

alive() {  # a child that has not exited (zombies count as gone)
  local st
  st="$(sed -e 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" || return 1
  [[ -n $st && $st != Z ]]
}

stop_pid() {  # pid [grace seconds]
  local pid=$1 grace=${2:-10} i
  if alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
      alive "$pid" || break
      sleep 0.1
    done
    if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local pid
  trap - EXIT INT TERM
  for pid in "${started[@]}"; do stop_pid "$pid" 5; done
  if [[ ${BENCH_KEEP_TMP:-0} == 1 ]]; then log "temp dir kept: $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'log interrupted; exit 130' INT TERM

# pinned CPU (may be empty) then the command; stdout and stderr go to $logfile
start_bg() {  # name logfile cpu cmd...
  local name=$1 logfile=$2 cpu=$3
  shift 3
  if [[ -n $cpu ]]; then
    taskset -c "$cpu" "$@" >"$logfile" 2>&1 &
  else
    "$@" >"$logfile" 2>&1 &
  fi
  last_pid=$!
  started+=("$last_pid")
  pid_of[$name]=$last_pid
}

stop_name() {  # name [grace]
  local pid=${pid_of[$1]:-}
  [[ -n $pid ]] || return 0
  stop_pid "$pid" "${2:-10}"
  unset "pid_of[$1]"
}

wait_http() {  # url seconds: until anything answers (any HTTP status)
  local url=$1 secs=$2 i code
  for ((i = 0; i < secs * 20; i++)); do
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url" || true)"
    [[ $code != 000 ]] && return 0
    sleep 0.05
  done
  return 1
}

wait_healthy() {  # port seconds
  local i
  for ((i = 0; i < $2 * 20; i++)); do
    [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$1/healthz" || true)" == 200 ]] && return 0
    sleep 0.05
  done
  return 1
}

# ---- machine, limits, ports, pinning ---------------------------------------------------------

if ! ulimit -n 65536 2>/dev/null; then
  hard="$(ulimit -Hn)"
  [[ $hard == unlimited ]] && hard=1048576
  ulimit -n "$hard"
fi
fd_limit="$(ulimit -n)"

ncpu="$(nproc)"
if ((ncpu >= 3)); then
  SRV_CPU=0 WRK_CPU=$((ncpu - 2)) UP_CPU=$((ncpu - 1))
  pinning="server under test on core 0, wrk on core $WRK_CPU, stand-in upstream on core $UP_CPU; direct case: wrk on core $WRK_CPU; proxy with default threads not pinned"
elif ((ncpu == 2)); then
  SRV_CPU=0 WRK_CPU=1 UP_CPU=1
  pinning="server under test (nginx, proxy --threads 1) on core 0, wrk and the stand-in upstream on core 1; direct case: wrk on core 0, stand-in on core 1; proxy with default threads not pinned"
else
  SRV_CPU="" WRK_CPU="" UP_CPU=""
  pinning="none (one core)"
fi

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
base=${BENCH_PORT_BASE:-}
if [[ -z $base ]]; then
  for _ in $(seq 1 50); do
    base=$((15000 + (RANDOM % 170) * 100))   # 15000..31900, below the ephemeral range
    ok=1
    for off in $(seq 0 60); do port_free $((base + off)) || { ok=0; break; }; done
    ((ok)) && break
  done
fi
P_UP=$((base + 1)) P_UPX=$((base + 2)) P_NGX=$((base + 3))
P_GKM1=$((base + 10)) P_GKMD=$((base + 11)) P_GKMP=$((base + 12))
P_DUR_ON=$((base + 20)) P_DUR_OFF=$((base + 21))
P_RED_ON=$((base + 22)) P_RED_OFF=$((base + 23)) P_REDIS=$((base + 24))
P_KEYS=$((base + 30))   # + index
P_MOCK=$((base + 50)) P_MEM=$((base + 51)) P_INS=$((base + 55))
log "temp dir $tmp, ports $base..$((base + 60)), open-file limit $fd_limit, $ncpu cores"

default_threads="$ncpu"
report add section=meta "binary=${bin#"$root"/}" "version=$("$bin" --version 2>&1 | head -1)" \
  "rounds=$ROUNDS" "duration=$DURATION" "warmup=$WARMUP" "connections=$CONNS" \
  "pinning=$pinning" "fd_limit=$fd_limit" "default_threads=$default_threads" \
  "wrk=$(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)" "nginx=$(nginx -v 2>&1 | sed 's/.*: //')" \
  "node=$(node --version)" "mem_events=$MEM_EVENTS" "mem_interval_ms=$MEM_INTERVAL_MS" \
  "built=$(date -u -r "$bin" '+%Y-%m-%d %H:%M:%S UTC')" \
  "commit=$(git -C "$root" rev-parse HEAD 2>/dev/null || true)" \
  "commit_subject=$(git -C "$root" log -1 --format=%s 2>/dev/null || true)" \
  "dirty=$(git -C "$root" --no-optional-locks status --porcelain --untracked-files=no 2>/dev/null | wc -l)"

# The pick-cost microbenchmark is built now, next to the binary's libraries, so that it sees
# the same headers the binary was built from (unless they changed since: then it is skipped).
pick_bench=""
pick_note=""
lib="$(dirname "$bin")"
if [[ ! -f $lib/libgkm_keypool.a || ! -f /usr/include/benchmark/benchmark.h ]]; then
  pick_note="Pick cost: no Release libraries next to the binary or no Google Benchmark; the p50 difference stands in for it, and the unit test KeyPool.PickIsConstantTimeWhenMostKeysAreUnusable counts pick steps."
elif [[ -n "$(find "$root/src/keypool" "$root/src/common" "$root/src/verdict" "$root/src/quotaday" -name '*.h' -newer "$lib/libgkm_keypool.a" 2>/dev/null)" ]]; then
  pick_note="Pick cost: skipped, headers under src/ changed after the Release build (rebuild and rerun)."
elif g++ -std=c++20 -O2 -DNDEBUG -I "$root/src" "$here/pick_bench.cc" \
  "$lib/libgkm_keypool.a" "$lib/libgkm_verdict.a" "$lib/libgkm_quotaday.a" "$lib/libgkm_common.a" \
  -ldate-tz -lspdlog -lfmt -lcrypto -lbenchmark -lpthread -o "$tmp/pick_bench" 2>"$out/pick_bench-build.log"; then
  pick_bench="$tmp/pick_bench"
else
  pick_note="Pick cost: bench/pick_bench.cc did not build (see bench/out/pick_bench-build.log); the unit test KeyPool.PickIsConstantTimeWhenMostKeysAreUnusable counts pick steps."
fi

# The shared-cursor benchmark (the redis section): hiredis and Google Benchmark only.
cursor_bench=""
if [[ -f /usr/include/hiredis/hiredis.h && -f /usr/include/benchmark/benchmark.h ]] &&
  g++ -std=c++20 -O2 -DNDEBUG "$here/redis_cursor_bench.cc" -lhiredis -lbenchmark -lpthread \
    -o "$tmp/redis_cursor_bench" 2>"$out/redis_cursor_bench-build.log"; then
  cursor_bench="$tmp/redis_cursor_bench"
fi

# ---- key files -------------------------------------------------------------------------------

# bench-key-NNNNNN-<16 hex>: made up, nothing like a Google key. Numbers ending in 00 are the
# ones the stand-in's exhausting server lets through.
make_keys() {  # n file
  python3 -c '
import secrets, sys
n = int(sys.argv[1])
with open(sys.argv[2], "w") as f:
    for i in range(n):
        f.write("bench-key-%06d-%s\n" % (i, secrets.token_hex(8)))
' "$1" "$2"
}
make_keys 10 "$tmp/keys-10.txt"
first_key="$(head -1 "$tmp/keys-10.txt")"

# ---- nginx -----------------------------------------------------------------------------------

user_line=""
[[ $(id -u) == 0 ]] && user_line="user root;"
render_conf() {  # template out sed-expressions...
  local in=$1 o=$2
  shift 2
  sed -e "s|@DIR@|$tmp|g" -e "s|@USER_LINE@|$user_line|" "$@" "$in" >"$o"
}

start_nginx() {  # name conf cpu
  nginx -t -q -p "$tmp" -c "$2" -g 'daemon off;' 2>"$out/$1-test.log" || die "nginx config $2: $(cat "$out/$1-test.log")"
  start_bg "$1" "$out/$1.log" "$3" nginx -p "$tmp" -c "$2" -g 'daemon off;'
}

render_conf "$here/nginx/upstream.conf.in" "$tmp/upstream.conf" -e "s|@PORT@|$P_UP|" -e "s|@PORT_EXHAUSTED@|$P_UPX|"
start_nginx upstream "$tmp/upstream.conf" "$UP_CPU"
wait_http "http://127.0.0.1:$P_UP/" 10 || die "the stand-in upstream did not start (see $out/upstream.log)"

# ---- the proxy -------------------------------------------------------------------------------

start_gkm() {  # name port upstream-port threads cpu keys-file [extra flags...]
  local name=$1 port=$2 up=$3 threads=$4 cpu=$5 keys=$6
  shift 6
  local d="$tmp/$name"
  mkdir -p "$d/state" "$d/log"
  # NO_TOKEN=1: the token comes from a --config file's named client instead.
  local tok=(--token "$TOKEN")
  [[ -n ${NO_TOKEN:-} ]] && tok=()
  start_bg "$name" "$d/stderr.log" "$cpu" "$bin" --keys "$keys" --listen "127.0.0.1:$port" \
    --upstream "http://127.0.0.1:$up" "${tok[@]}" --state-dir "$d/state" --log-dir "$d/log" \
    --threads "$threads" --shutdown-grace 2 "$@"
  wait_healthy "$port" 60 || die "$name did not become healthy: $(tail -5 "$d/stderr.log")"
}

check_alive() {  # name...: record the death of a server we still need
  local n
  for n in "$@"; do
    if [[ -n ${pid_of[$n]:-} ]] && ! alive "${pid_of[$n]}"; then
      local st=0
      wait "${pid_of[$n]}" 2>/dev/null || st=$?
      report add section=died "name=$n" "status=$st"
      log "$n died (exit $st); its last lines:"
      tail -5 "$tmp/$n/stderr.log" "$out/$n.log" 2>/dev/null >&2 || true
      unset "pid_of[$n]"
    fi
  done
}

# Counts warning/error lines and non-2xx request lines in a proxy's stderr log.
scan_log() {  # name
  local f="$tmp/$1/stderr.log" warn err non2xx sample non2xx_sample
  [[ -f $f ]] || return 0
  tail -c 2000000 "$f" >"$out/$1.stderr.tail.log" || true
  warn="$(grep -c -E '^[^ ]+ warning ' "$f" || true)"
  err="$(grep -c -E '^[^ ]+ (error|critical) ' "$f" || true)"
  non2xx="$(grep -c -E ' status=([013-9][0-9][0-9]|0) ' "$f" || true)"
  sample="$(grep -m1 -E '^[^ ]+ (warning|error|critical) ' "$f" | cut -c1-300 || true)"
  non2xx_sample="$(grep -m1 -E ' status=([013-9][0-9][0-9]|0) ' "$f" | cut -c1-300 || true)"
  report add section=proxylog "name=$1" "warnings=$warn" "errors=$err" "non2xx_lines=$non2xx" \
    "sample=$sample" "non2xx_sample=$non2xx_sample"
}

# ---- wrk -------------------------------------------------------------------------------------

# The CPU time (user and system clock ticks, all threads) a process has used so far.
cpu_ticks() {  # pid
  awk '{ print $14, $15 }' "/proc/$1/stat" 2>/dev/null || echo "- -"
}
# The process that does a server's work: nginx's single worker, else the process itself.
worker_of() {  # pid
  local child
  child="$(pgrep -P "$1" -x nginx | head -1 || true)"
  echo "${child:-$1}"
}

run=0
# One measured wrk run (after a warm-up) against url; the record gets the extra key=values.
# MEASURE_PID, when set, is the server whose CPU time over the measured run is recorded.
measure() {  # cpu shape url key=value...
  local cpu=$1 shape=$2 url=$3 before after
  shift 3
  run=$((run + 1))
  local f="$out/wrk-$(printf %03d $run).txt"
  local pin=()
  [[ -n $cpu ]] && pin=(taskset -c "$cpu")
  BENCH_SHAPE=$shape BENCH_TOKEN=$TOKEN "${pin[@]}" timeout $((WARMUP + 30)) wrk -t1 -c"$CONNS" -d"${WARMUP}s" \
    -s "$here/wrk/request.lua" "$url" >/dev/null 2>&1 || true
  [[ -n ${MEASURE_PID:-} ]] && before="$(cpu_ticks "$MEASURE_PID")"
  { echo "# $* $url"; BENCH_SHAPE=$shape BENCH_TOKEN=$TOKEN "${pin[@]}" timeout $((DURATION + 30)) \
      wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -s "$here/wrk/request.lua" "$url" 2>&1 || true; } >"$f"
  if [[ -n ${MEASURE_PID:-} ]]; then
    after="$(cpu_ticks "$MEASURE_PID")"
    echo "# server cpu ticks: before $before after $after hz $(getconf CLK_TCK)" >>"$f"
  fi
  report wrk "$f" "$@"
}

# ---- 1. throughput ---------------------------------------------------------------------------

if has_section throughput; then
  log "throughput: starting nginx proxy_pass and the proxy (--threads 1, default)"
  render_conf "$here/nginx/proxy.conf.in" "$tmp/proxy.conf" -e "s|@PORT@|$P_NGX|" \
    -e "s|@UPSTREAM_PORT@|$P_UP|" -e "s|@KEY@|$first_key|"
  start_nginx nginx "$tmp/proxy.conf" "$SRV_CPU"
  wait_http "http://127.0.0.1:$P_NGX/" 10 || die "nginx proxy did not start"
  start_gkm gkm-1 "$P_GKM1" "$P_UP" 1 "$SRV_CPU" "$tmp/keys-10.txt"
  start_gkm gkm-default "$P_GKMD" "$P_UP" 0 "" "$tmp/keys-10.txt"
  # Pacing and client checks on (issue "Quota intelligence"): a --limit for the model, keys
  # in projects, and the token of a named client with rpm, rpd and a model glob, all far
  # above what a run sends, so that every check runs and none refuses.
  awk '{ print $0 " project=bench-" int((NR - 1) / 2) }' "$tmp/keys-10.txt" >"$tmp/keys-10-projects.txt"
  printf '[[client]]\nname = "bench"\ntoken = "%s"\nrpm = 100000000\nrpd = 1000000000\nmodels = ["gemini-*"]\n' \
    "$TOKEN" >"$tmp/clients.toml"
  NO_TOKEN=1 start_gkm gkm-paced "$P_GKMP" "$P_UP" 1 "$SRV_CPU" "$tmp/keys-10-projects.txt" \
    --config "$tmp/clients.toml" --limit 'gemini-*=100000000/1000000000'

  declare -A port_of=([direct]=$P_UP [nginx]=$P_NGX [gkm-1]=$P_GKM1 [gkm-default]=$P_GKMD [gkm-paced]=$P_GKMP)
  declare -A server_proc=([direct]=upstream [nginx]=nginx [gkm-1]=gkm-1 [gkm-default]=gkm-default [gkm-paced]=gkm-paced)
  cases=(
    "native-generate native $GEN_PATH direct,nginx,gkm-1,gkm-default,gkm-paced"
    "native-stream native $SSE_PATH direct,nginx,gkm-1,gkm-default"
    "openai-chat openai $CHAT_PATH gkm-1,gkm-default"
    "openai-chat-stream openai-stream $CHAT_PATH gkm-1,gkm-default"
    "anthropic-messages anthropic $MESSAGES_PATH gkm-1,gkm-default"
    "anthropic-messages-stream anthropic-stream $MESSAGES_PATH gkm-1,gkm-default"
    "responses responses $RESPONSES_PATH gkm-1,gkm-default"
    "responses-stream responses-stream $RESPONSES_PATH gkm-1,gkm-default"
  )
  for ((r = 1; r <= ROUNDS; r++)); do
    log "throughput: round $r of $ROUNDS"
    for c in "${cases[@]}"; do
      read -r name shape path servers <<<"$c"
      IFS=, read -r -a list <<<"$servers"
      n=${#list[@]}
      for ((i = 0; i < n; i++)); do
        s=${list[$(((i + r - 1) % n))]}   # rotate the order each round
        cpu=$WRK_CPU
        [[ $s == direct && $WRK_CPU == "$UP_CPU" ]] && cpu=$SRV_CPU
        MEASURE_PID="$(worker_of "${pid_of[${server_proc[$s]}]}")" \
          measure "$cpu" "$shape" "http://127.0.0.1:${port_of[$s]}$path" \
          section=throughput "case=$name" "server=$s" "round=$r"
        check_alive nginx gkm-1 gkm-default gkm-paced upstream
      done
    done
  done
  stop_name nginx
  stop_name gkm-1
  stop_name gkm-default
  stop_name gkm-paced
  scan_log gkm-paced
  scan_log gkm-1
  scan_log gkm-default
  rm -f "$tmp/gkm-1/stderr.log" "$tmp/gkm-default/stderr.log"
fi

# ---- 4. durability ---------------------------------------------------------------------------

if has_section durability; then
  log "durability: --flush-interval-ms 1000 (default) against 60000 (≈ off)"
  start_gkm dur-on "$P_DUR_ON" "$P_UP" 1 "$SRV_CPU" "$tmp/keys-10.txt"
  start_gkm dur-off "$P_DUR_OFF" "$P_UP" 1 "$SRV_CPU" "$tmp/keys-10.txt" --flush-interval-ms 60000
  for ((r = 1; r <= ROUNDS; r++)); do
    order=("flush-1000 $P_DUR_ON" "flush-60000 $P_DUR_OFF")
    ((r % 2 == 0)) && order=("${order[1]}" "${order[0]}")
    for o in "${order[@]}"; do
      read -r s port <<<"$o"
      measure "$WRK_CPU" native "http://127.0.0.1:$port$GEN_PATH" section=durability "server=$s" "round=$r"
      check_alive dur-on dur-off
    done
  done
  stop_name dur-on
  stop_name dur-off
  scan_log dur-on
  scan_log dur-off
  rm -f "$tmp/dur-on/stderr.log" "$tmp/dur-off/stderr.log"
fi

# ---- 5. Redis mode ---------------------------------------------------------------------------

# One proxy sharing its state through a local redis-server against one on local state alone,
# same stand-in, same keys; then the Redis commands per request (INFO commandstats around a
# short wrk run).
if has_section redis; then
  command -v redis-server >/dev/null || die "redis-server is missing: run scripts/install-deps.sh --test"
  log "redis: --redis (local redis-server) against local mode"
  RPW=bench-redis-pw
  rcli() { redis-cli -p "$P_REDIS" -a "$RPW" --no-auth-warning "$@"; }
  start_bg redis "$tmp/redis.log" "$UP_CPU" redis-server --port "$P_REDIS" --bind 127.0.0.1 \
    --requirepass "$RPW" --save '' --appendonly no --dir "$tmp"
  for _ in $(seq 1 100); do rcli ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
  start_gkm redis-on "$P_RED_ON" "$P_UP" 1 "$SRV_CPU" "$tmp/keys-10.txt" \
    --redis "redis://:$RPW@127.0.0.1:$P_REDIS/1"
  start_gkm redis-off "$P_RED_OFF" "$P_UP" 1 "$SRV_CPU" "$tmp/keys-10.txt"
  for ((r = 1; r <= ROUNDS; r++)); do
    order=("redis $P_RED_ON" "local $P_RED_OFF")
    ((r % 2 == 0)) && order=("${order[1]}" "${order[0]}")
    for o in "${order[@]}"; do
      read -r s port <<<"$o"
      measure "$WRK_CPU" native "http://127.0.0.1:$port$GEN_PATH" section=redis "server=$s" "round=$r"
      check_alive redis-on redis-off redis
    done
  done
  # The writer's own round trips: the batch scripts and the counter reads (the commands the
  # script runs inside Redis are not round trips).
  calls() { rcli INFO commandstats | awk -F'[:=,]' '/^cmdstat_(evalsha|hgetall|scan):/ { n += $3 } END { print n + 0 }'; }
  c0=$(calls)
  wrk_out=$(BENCH_SHAPE=native BENCH_TOKEN=$TOKEN timeout 30 wrk -t1 -c"$CONNS" -d3s \
    -s "$here/wrk/request.lua" "http://127.0.0.1:$P_RED_ON$GEN_PATH" 2>&1 || true)
  sleep 1.5   # the last flush reaches Redis
  c1=$(calls)
  n=$(awk '/requests in/ { print $1 }' <<<"$wrk_out")
  report add section=redis-trips "requests=${n:-0}" "commands=$((c1 - c0))"
  # A pick as a shared cursor in Redis (one EVALSHA per pick) against the local pick.
  if [[ -n $cursor_bench ]]; then
    log "redis: shared-cursor pick (EVALSHA per pick) against the local pick"
    pin=()
    [[ -n $SRV_CPU ]] && pin=(taskset -c "$SRV_CPU")
    cur_st=0
    REDIS_PORT=$P_REDIS REDIS_PASSWORD=$RPW REDIS_DB=2 "${pin[@]}" "$cursor_bench" \
      --benchmark_format=json --benchmark_min_time=0.5 --benchmark_repetitions=3 \
      --benchmark_report_aggregates_only=true >"$out/redis_cursor_bench.json" \
      2>"$out/redis_cursor_bench.log" || cur_st=$?
    local_ns=""
    if [[ -n $pick_bench ]]; then
      local_ns=$("${pin[@]}" "$pick_bench" --benchmark_filter='BM_Pick/10$' --benchmark_format=json \
        --benchmark_min_time=0.5 2>/dev/null | python3 -c '
import json, sys
b = json.load(sys.stdin)["benchmarks"][0]
print(b["real_time"] * {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[b.get("time_unit", "ns")])' || true)
    fi
    if ((cur_st == 0)); then
      line=$(python3 "$here/report.py" cursor "$out/redis_cursor_bench.json" "$local_ns")
      report add --json "$line" section=redis-cursor
    else
      report add section=note "text=Shared-cursor pick: bench/redis_cursor_bench.cc exited with $cur_st (see bench/out/redis_cursor_bench.log)."
    fi
  else
    report add section=note "text=Shared-cursor pick: bench/redis_cursor_bench.cc did not build (hiredis or Google Benchmark headers missing; see bench/out/redis_cursor_bench-build.log)."
  fi
  stop_name redis-on
  stop_name redis-off
  stop_name redis
  scan_log redis-on
  scan_log redis-off
  rm -f "$tmp/redis-on/stderr.log" "$tmp/redis-off/stderr.log"
fi

# ---- 3. key count ----------------------------------------------------------------------------

metric() {  # port name-with-labels
  curl -s --max-time 5 "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m { print $2 }'
}

if has_section keys; then
  read -r -a key_counts <<<"$KEY_COUNTS"
  big=0
  for n in "${key_counts[@]}"; do
    [[ -f $tmp/keys-$n.txt ]] || make_keys "$n" "$tmp/keys-$n.txt"
    ((n > big)) && big=$n
  done

  # Time to healthy on a first start (empty state dir) with the biggest key file.
  d="$tmp/keys-$big"
  mkdir -p "$d/state" "$d/log"
  gkm_flags=(--keys "$tmp/keys-$big.txt" --listen "127.0.0.1:$P_KEYS" --upstream "http://127.0.0.1:$P_UPX"
    --token "$TOKEN" --state-dir "$d/state" --log-dir "$d/log" --threads 1 --shutdown-grace 2)
  log "keys: time to healthy with $big keys (first start)"
  h="$(BENCH_CHILD_LOG="$out/healthy-fresh.log" node "$here/healthy.mjs" --port "$P_KEYS" --timeout-s 60 -- "$bin" "${gkm_flags[@]}" || true)"
  [[ -n $h ]] || h='{"error":"no output from bench/healthy.mjs"}'
  report add --json "$h" section=keys-healthy state=fresh "keys=$big"

  i=0
  for n in "${key_counts[@]}"; do
    start_gkm "keys-$n" $((P_KEYS + 1 + i)) "$P_UPX" 1 "$SRV_CPU" "$tmp/keys-$n.txt"
    i=$((i + 1))
  done
  # Exhaust: each exhausted key costs one 429 from the stand-in, then leaves the ring.
  i=0
  for n in "${key_counts[@]}"; do
    port=$((P_KEYS + 1 + i))
    i=$((i + 1))
    usable=$(((n + 99) / 100))
    expected=$((n - usable))
    t0=$(date +%s.%N)
    got=0
    for ((k = 0; k < 60; k++)); do
      got="$(metric "$port" 'gkm_key_models{state="exhausted"}')"
      [[ ${got:-0} -ge $expected ]] && break
      taskset -c "${WRK_CPU:-0}" env BENCH_SHAPE=native BENCH_TOKEN=$TOKEN timeout 30 wrk -t1 -c"$CONNS" -d2s \
        -s "$here/wrk/request.lua" "http://127.0.0.1:$port$GEN_PATH" >>"$out/exhaust-$n.txt" 2>&1 || true
    done
    secs="$(python3 -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 1))" "$t0" "$(date +%s.%N)")"
    ok=1
    [[ ${got:-0} -ge $expected ]] || ok=0
    log "keys: $n keys, ${got:-0} of $expected exhausted after $secs s"
    report add section=keys-exhaust "keys=$n" "exhausted=${got:-0}" "expected=$expected" "usable=$usable" \
      "seconds=$secs" "ok=$ok"
  done
  for ((r = 1; r <= ROUNDS; r++)); do
    log "keys: round $r of $ROUNDS"
    nk=${#key_counts[@]}
    for ((j = 0; j < nk; j++)); do
      idx=$(((j + r - 1) % nk))
      n=${key_counts[$idx]}
      measure "$WRK_CPU" native "http://127.0.0.1:$((P_KEYS + 1 + idx))$GEN_PATH" section=keys "keys=$n" "round=$r"
      check_alive "keys-$n"
    done
  done
  for n in "${key_counts[@]}"; do
    stop_name "keys-$n" 15   # a graceful stop flushes the exhausted states to SQLite
    scan_log "keys-$n"
    rm -f "$tmp/keys-$n/stderr.log"
  done

  # Time to healthy on a restart that loads the exhausted states.
  log "keys: time to healthy with $big keys (restart)"
  h="$(BENCH_CHILD_LOG="$out/healthy-restart.log" node "$here/healthy.mjs" --port "$P_KEYS" --timeout-s 60 -- "$bin" "${gkm_flags[@]}" || true)"
  [[ -n $h ]] || h='{"error":"no output from bench/healthy.mjs"}'
  report add --json "$h" section=keys-healthy state=restart "keys=$big"

  # Pick cost: a Google Benchmark of KeyPool::Pick against the Release libraries.
  if [[ -n $pick_bench ]]; then
    log "keys: pick cost (Google Benchmark)"
    pin=()
    [[ -n $SRV_CPU ]] && pin=(taskset -c "$SRV_CPU")
    pick_st=0
    # The figures compared are a few nanoseconds apart, and this machine's speed drifts by
    # more than that between one run and the next: 30 short runs of each, in random order
    # (Google Benchmark's interleaving), and the median of each.
    "${pin[@]}" "$pick_bench" --benchmark_format=json --benchmark_min_time=0.05 \
      --benchmark_repetitions=30 --benchmark_enable_random_interleaving=true \
      >"$out/pick_bench.json" 2>"$out/pick_bench.log" || pick_st=$?
    if ((pick_st == 0)); then
      python3 - "$out/pick_bench.json" <<'EOF' | while read -r line; do report add --json "$line" section=keys-pick; done
import json, statistics, sys
runs = {}
for b in json.load(open(sys.argv[1])).get("benchmarks", []):
    if b.get("run_type", "iteration") != "iteration":
        continue
    unit = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[b.get("time_unit", "ns")]
    runs.setdefault(b["run_name"], []).append((b, b["real_time"] * unit))
for name, rs in runs.items():
    b = rs[0][0]
    times = sorted(t for _, t in rs)
    print(json.dumps({"keys": int(b["keys"]), "projects": int(b.get("projects", 0)),
                      "ns_per_pick": statistics.median(times),
                      "ns_q1": times[len(times) // 4], "ns_q3": times[(3 * len(times)) // 4],
                      "runs": len(times), "steps_per_pick": b["steps_per_pick"],
                      "iterations": sum(r["iterations"] for r, _ in rs)}))
EOF
    else
      report add section=note "text=Pick cost: bench/pick_bench.cc exited with $pick_st (see bench/out/pick_bench.log)."
    fi
  else
    report add section=note "text=$pick_note"
  fi
fi

# ---- 2. memory -------------------------------------------------------------------------------

fd_count() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }

# Waits (30 s at most) until pid holds no more than base+8 descriptors; prints the ms it took,
# or -1. The proxy notices a client that has gone only when a write to it fails: with an
# event every MEM_INTERVAL_MS that is up to two intervals after the close.
wait_released() {  # pid base-fds
  local t0 k
  t0=$(date +%s%N)
  for ((k = 0; k < 300; k++)); do
    if (($(fd_count "$1") <= $2 + 8)); then
      echo $((($(date +%s%N) - t0) / 1000000))
      return 0
    fi
    sleep 0.1
  done
  echo -1
}

if has_section memory; then
  # The proxy needs two descriptors per stream (client and upstream) plus a few of its own.
  max_streams=$(((fd_limit - 128) / 2))
  fd_note=""
  start_bg mock "$out/mock.log" "" node "$root/tests/mock/mock-gemini.mjs" --port "$P_MOCK" \
    --stream-events "$MEM_EVENTS" --stream-interval-ms "$MEM_INTERVAL_MS"
  wait_http "http://127.0.0.1:$P_MOCK/" 15 || die "the slow mock did not start (see $out/mock.log)"
  for n in $STREAM_COUNTS; do
    count=$n
    if ((count > max_streams)); then
      count=$max_streams
      fd_note="The open-file limit here is $fd_limit and cannot be raised (no CAP_SYS_RESOURCE): the proxy needs two descriptors per stream, so at most $max_streams streams were held instead of $n. KiB per stream is computed over the streams actually held."
      report add section=note "text=Memory: only $count of $n streams could be held: open-file limit $fd_limit (hard), two descriptors per stream in the proxy. Raise the hard limit (e.g. LimitNOFILE / --ulimit nofile=65536) to measure at $n."
    fi
    log "memory: $count streams"
    name="mem-$n"
    start_gkm "$name" "$P_MEM" "$P_MOCK" 0 "" "$tmp/keys-10.txt"
    pid=${pid_of[$name]}
    # Warm-up: some plain requests and a few streams, then let the closed streams drain (the
    # proxy notices a gone client at the next upstream event).
    BENCH_SHAPE=native BENCH_TOKEN=$TOKEN timeout 30 wrk -t1 -c"$CONNS" -d2s -s "$here/wrk/request.lua" \
      "http://127.0.0.1:$P_MEM$GEN_PATH" >"$out/mem-warmup-$n.txt" 2>&1 || true
    base_fds="$(fd_count "$pid")"
    node "$here/streams.mjs" --port "$P_MEM" --token "$TOKEN" --count 100 --pid "$pid" --settle-ms 200 \
      >"$out/mem-warmup-streams-$n.json" 2>&1 || true
    wait_released "$pid" "$base_fds" >/dev/null
    res="$(node "$here/streams.mjs" --port "$P_MEM" --token "$TOKEN" --count "$count" --pid "$pid" \
      --timeout-s 120 || true)"
    echo "$res" >"$out/mem-$n.json"
    [[ -n $res ]] || res='{"error":"no output from bench/streams.mjs"}'
    # The client has closed every stream: how long until the proxy has let go of them?
    release_ms="$(wait_released "$pid" "$base_fds")"
    report add --json "$res" section=memory "streams_requested=$n" "release_ms=$release_ms" \
      "fds_after_release=$(fd_count "$pid")"
    check_alive "$name"
    stop_name "$name" 5
    scan_log "$name"
  done
  stop_name mock 5
  [[ -n $fd_note ]] && report add section=meta "fd_note=$fd_note"
fi

# ---- 5. instructions per request -------------------------------------------------------------

# Total instructions of one proxy run (--threads 1) under callgrind that answers N requests of
# a shape; the difference of two counts divided by the difference of N is the cost of one
# request, without start-up and shutdown. Deterministic to a fraction of a percent, unlike
# req/s: the measure for a change that claims to save work.
count_instructions() {  # shape n -> prints the instruction total, or nothing on failure
  local shape=$1 n=$2 d="$tmp/ins-$1-$2"
  mkdir -p "$d/state" "$d/log"
  start_bg "ins" "$d/stderr.log" "" valgrind --tool=callgrind --callgrind-out-file="$d/callgrind.out.%p" \
    "$bin" --keys "$tmp/keys-10.txt" --listen "127.0.0.1:$P_INS" --upstream "http://127.0.0.1:$P_UP" \
    --token "$TOKEN" --state-dir "$d/state" --log-dir "$d/log" --threads 1 --shutdown-grace 2
  if ! wait_healthy "$P_INS" 120; then
    stop_name ins 30
    log "instructions: the proxy under callgrind did not become healthy: $(tail -3 "$d/stderr.log")"
    return 0
  fi
  if ! node "$here/requests.mjs" --port "$P_INS" --token "$TOKEN" --shape "$shape" --count "$n" \
    2>>"$out/instructions.log"; then
    stop_name ins 30
    log "instructions: requests failed (see bench/out/instructions.log)"
    return 0
  fi
  stop_name ins 60
  cp "$d/stderr.log" "$out/instructions-$shape-$n.log" 2>/dev/null || true
  cat "$d"/callgrind.out.* 2>/dev/null | awk '/^summary:/ { s += $2 } END { if (s) print s }'
}

if has_section instructions; then
  if ! command -v valgrind >/dev/null; then
    report add section=note "text=Instructions per request: valgrind is missing (scripts/install-deps.sh --bench installs it)."
  else
    lo=${BENCH_INS_LOW:-500} hi=${BENCH_INS_HIGH:-2500}
    read -r -a ins_shapes <<<"${BENCH_INS_SHAPES:-native openai openai-stream anthropic responses}"
    for shape in "${ins_shapes[@]}"; do
      log "instructions: $shape, $lo and $hi requests under callgrind"
      a="$(count_instructions "$shape" "$lo")"
      b="$(count_instructions "$shape" "$hi")"
      if [[ -n $a && -n $b ]]; then
        report add section=instructions "shape=$shape" "low=$lo" "high=$hi" "ir_low=$a" "ir_high=$b"
      else
        report add section=note "text=Instructions per request ($shape): a callgrind run failed (see bench/out/instructions*.log)."
      fi
    done
  fi
fi

check_alive upstream
stop_name upstream

# ---- report ----------------------------------------------------------------------------------

st=0
(cd "$root" && report render --md "$root/BENCHMARKS.md" --json "$root/bench/results.json") || st=$?
log "wrote BENCHMARKS.md and bench/results.json (raw outputs in bench/out/)"
if ((st == 3)); then
  log "some cases failed (see the top of BENCHMARKS.md)"
  exit 1
fi
exit "$st"
