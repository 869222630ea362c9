#!/usr/bin/env bash
# make compose-test: brings deploy/compose.yaml up for real with podman-compose (Redis, two
# proxies, nginx in front) and checks, through nginx's port, what the file promises:
#   - requests through nginx succeed, and both instances served some of them (each one's
#     /metrics, asked at its own address);
#   - a key the mock answers with a per-day 429 through one instance is shown exhausted on
#     the other instance's /admin/keys (shared through Redis; that instance sent nothing);
#   - today's totals on /admin/usage are the requests sent and the 429s the mock gave, on
#     each instance and through nginx;
#   - Redis holds the shared state, every key under the gkm: prefix, and today's totals
#     outlive a Redis restart (its append-only file);
#   - the health checks of Redis (compose's) and of the proxies (the image's) pass;
# then podman-compose down -v, and nothing of the project is left (a trap does it on failure
# too, after printing each container's log).
#
# The file is used as it is, from deploy/; only what it reads from the environment is set:
# the tokens and the Redis password, GKM_UPSTREAM (the mock Google, tests/mock/mock-gemini.mjs,
# on this machine, reached from the containers as host.containers.internal), KEY_FILE (made-up
# keys under the build dir), LB_PORT (a free port) and the three images. No registry is
# needed: the proxy image is the one make docker-test built (GKM_DOCKER_IMAGE, built here only
# when it is missing), and Redis and nginx are stand-ins for the official images made from
# Debian's redis-server and nginx-light on the same local Debian base
# (tests/compose/*.Containerfile; seconds to build, cached after). Needs root; podman's
# settings are make docker-test's (scripts/podman-common.sh). Prints the time each step took.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/podman-common.sh
source scripts/podman-common.sh
image="${GKM_DOCKER_IMAGE:-localhost/gemini-key-manager:test}"
project="gkm-compose-test-$$"
compose=(podman-compose --no-ansi -p "$project" -f deploy/compose.yaml)
model="gemini-2.5-flash"

podman_setup compose-test "$root/${BUILD_DIR:-build}/compose-test"
step "dependencies"

# --- Images.
podman_base_image
if podman image exists "$image"; then
  step "base image $base_ref; proxy image $image as make docker-test left it ($(podman image inspect "$image" --format '{{.Created}}' | cut -d. -f1))"
else
  podman_build_proxy "$image"
  step "base image $base_ref; proxy image $image built"
fi
for svc in redis nginx; do
  podman build --format docker --pull=never --build-arg "BASE=$base_ref" --network host \
    -t "localhost/gkm-compose-$svc:test" -f "tests/compose/$svc.Containerfile" tests/compose \
    >"$work/build-$svc.log" 2>&1 || { tail -n 30 "$work/build-$svc.log" >&2; fail "podman build $svc"; }
done
step "stand-in images localhost/gkm-compose-redis:test and localhost/gkm-compose-nginx:test"

# --- The mock Google on this machine, the settings, and the stack.
mock_pid=""
up_started=""
containers() { podman ps -a --format '{{.Names}}' --filter "label=io.podman.compose.project=$project"; }
on_fail() {
  [[ -n "$up_started" ]] || return 0
  local c
  for c in $(containers); do
    echo "--- $c ($(podman inspect "$c" --format '{{.State.Status}} exit {{.State.ExitCode}}' 2>/dev/null)), log tail:" >&2
    # Without the polls of this script (health, metrics, admin), which would hide the rest.
    podman logs "$c" 2>&1 | grep -vE ' route=(healthz|metrics|admin) |"GET /(healthz|metrics|admin)' |
      tail -n 25 | sed 's/^/  /' >&2 || true
  done
  echo "--- podman-compose up (tail):" >&2
  tail -n 15 "$work/up.log" | sed 's/^/  /' >&2 || true
}
cleanup() {
  local rc=$?
  if [[ -n "$up_started" ]]; then
    "${compose[@]}" down -v >"$work/down.log" 2>&1 || cat "$work/down.log" >&2
    # podman-compose 1.0.3 leaves its network, and containers it failed to start.
    local left
    left="$(containers)"
    # shellcheck disable=SC2086 # one name per word
    [[ -z "$left" ]] || podman rm -f -t 0 $left >/dev/null 2>&1 || true
    podman network rm -f "${project}_default" >/dev/null 2>&1 || true
    podman volume rm -f "${project}_redis-data" "${project}_gkm-1-data" "${project}_gkm-2-data" \
      >/dev/null 2>&1 || true
  fi
  [[ -z "$mock_pid" ]] || kill "$mock_pid" 2>/dev/null || true
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# As harsh as Google: every answer gzipped, asked or not, with a 103 Early Hints first.
start_mock --log-requests --force-gzip --informational 103
mock="http://127.0.0.1:$mock_port"

# Made-up keys (the mock takes any key; never a real one), given to the image's user as the
# compose file's header says.
keys=(compose-test-key-one compose-test-key-two compose-test-key-three)
printf '%s\n' "${keys[@]}" >"$work/key.txt"
chown 10001 "$work/key.txt"
chmod 600 "$work/key.txt"
key_id() { printf 'k%s' "$(printf '%s' "$1" | sha256sum | cut -c1-12)"; }
lb_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
export GKM_TOKEN=compose-test-token GKM_ADMIN_TOKEN=compose-test-admin \
  REDIS_PASSWORD=compose-test-redis-password \
  GKM_UPSTREAM="http://host.containers.internal:$mock_port" KEY_FILE="$work/key.txt" \
  LB_PORT="$lb_port" GKM_IMAGE="$image" REDIS_IMAGE=localhost/gkm-compose-redis:test \
  NGINX_IMAGE=localhost/gkm-compose-nginx:test
lb="http://127.0.0.1:$lb_port"

up_started=1
"${compose[@]}" up -d --no-build >"$work/up.log" 2>&1 || fail "podman-compose up -d"
for svc in redis gkm-1 gkm-2 lb; do
  state="$(podman inspect "${project}_${svc}_1" --format '{{.State.Status}}' 2>/dev/null || true)"
  [[ "$state" == running ]] || fail "service $svc is '${state:-not created}', not running"
done
step "podman-compose up -d: redis, gkm-1, gkm-2, lb running"

# Each instance at its own address on the project's network (reachable from this host).
addr() { podman inspect "${project}_$1_1" --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}'; }
gkm1="http://$(addr gkm-1):5000"
gkm2="http://$(addr gkm-2):5000"
wait_200() { # url seconds
  for _ in $(seq $(($2 * 10))); do
    [[ "$(curl -s -o /dev/null -w '%{http_code}' "$1")" == 200 ]] && return 0
    sleep 0.1
  done
  return 1
}
wait_200 "$lb/healthz" 60 || fail "$lb/healthz (nginx) did not answer 200 within 60 s"
for u in "$gkm1" "$gkm2"; do
  health="$(curl -s "$u/healthz")"
  # Started before Redis answered, an instance joins it within seconds (GKM_REDIS_OPTIONAL).
  for _ in $(seq 100); do
    [[ "$health" == *'"status":"ok"'* && "$health" != *'"redis":"down"'* ]] && break
    sleep 0.1
    health="$(curl -s "$u/healthz")"
  done
  [[ "$health" == *'"status":"ok"'* && "$health" != *'"redis":"down"'* ]] ||
    fail "$u/healthz: $health (not ok with Redis up)"
done
# The health checks compose and the image declare, run as the engine runs them.
for svc in redis gkm-1 gkm-2; do
  podman healthcheck run "${project}_${svc}_1" >/dev/null 2>&1 || fail "the health check of $svc fails"
done
step "nginx answers on 127.0.0.1:$lb_port; gkm-1 and gkm-2 joined to Redis; redis, gkm-1, gkm-2 pass their health checks"

# --- Requests through nginx.
generate() { # base-url; prints the status code
  curl -s -o /dev/null -w '%{http_code}' -X POST "$1/v1beta/models/$model:generateContent" \
    -H "x-goog-api-key: $GKM_TOKEN" -H 'content-type: application/json' \
    -d '{"contents":[{"parts":[{"text":"hi"}]}]}'
}
served() { # base-url: generateContent requests this instance answered 200
  curl -s "$1/metrics" | awk '/^gkm_requests_total\{/ && /code="200"/ && /generate/ {n += $NF} END {print n + 0}'
}
sent=0
lb_requests=20
for _ in $(seq "$lb_requests"); do
  code="$(generate "$lb")"
  [[ "$code" == 200 ]] || fail "a request through nginx got $code"
  sent=$((sent + 1))
done
s1="$(served "$gkm1")"
s2="$(served "$gkm2")"
((s1 + s2 == lb_requests)) || fail "the instances served $s1 + $s2 requests, not $lb_requests"
((s1 > 0 && s2 > 0)) || fail "one instance served nothing (gkm-1 $s1, gkm-2 $s2): nginx does not balance"
step "$lb_requests requests through nginx: 200 each, gkm-1 served $s1, gkm-2 served $s2"

# --- A per-day 429 met by gkm-1 is seen by gkm-2.
victim="${keys[0]}"
victim_id="$(key_id "$victim")"
curl -sf -X POST "$mock/__mock/behaviour" -H 'content-type: application/json' \
  -d "{\"key\":\"$victim\",\"model\":\"$model\",\"behaviour\":\"day\"}" >/dev/null ||
  fail "the mock's control API"
key_state() { # base-url: the victim's state for the model on that instance's /admin/keys
  curl -s -H "authorization: Bearer $GKM_ADMIN_TOKEN" "$1/admin/keys" | python3 -c '
import json, sys
keys = {k["id"]: k for k in json.load(sys.stdin)["keys"]}
k = keys.get(sys.argv[1])
print(k["models"].get(sys.argv[2], {}).get("state", "none") if k else "missing")' "$victim_id" "$model"
}
[[ "$(key_state "$gkm2")" != exhausted ]] || fail "gkm-2 shows $victim_id exhausted before any 429"
before2="$(served "$gkm2")"
direct=0
# Round robin over three keys: the victim comes up within three requests.
for _ in $(seq 6); do
  code="$(generate "$gkm1")"
  [[ "$code" == 200 ]] || fail "a request to gkm-1 got $code (a 429 on one key must move to another)"
  sent=$((sent + 1))
  direct=$((direct + 1))
  [[ "$(key_state "$gkm1")" == exhausted ]] && break
done
[[ "$(key_state "$gkm1")" == exhausted ]] || fail "gkm-1 did not mark $victim_id exhausted after $direct requests"
seen=""
for _ in $(seq 50); do
  if [[ "$(key_state "$gkm2")" == exhausted ]]; then seen=1; break; fi
  sleep 0.1
done
[[ -n "$seen" ]] || fail "gkm-2's /admin/keys does not show $victim_id exhausted for $model within 5 s (state: $(key_state "$gkm2"))"
[[ "$(served "$gkm2")" == "$before2" ]] || fail "gkm-2 served requests meanwhile: it may have met the 429 itself"
step "a per-day 429 on $victim_id met by gkm-1 ($direct requests, each 200) is shown exhausted on gkm-2"

# --- Today's totals, pool-wide, on every instance.
# What the mock answered: the 200s are the requests sent, the 429s the victim's.
read -r mock_ok mock_429 < <(curl -s "$mock/__mock/requests" | python3 -c '
import json, sys
rs = [r for r in json.load(sys.stdin) if r.get("decodedPath", "").endswith(":generateContent")]
print(sum(r.get("status") == 200 for r in rs), sum(r.get("status") == 429 for r in rs))')
((mock_ok == sent)) || fail "the mock answered $mock_ok requests with 200, not the $sent sent"
((mock_429 >= 1)) || fail "the mock gave no 429"
day="$(curl -s -H "authorization: Bearer $GKM_ADMIN_TOKEN" "$gkm1/admin/keys" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["day"])')"
usage() { # base-url: today's requests and rate_limited
  curl -s -H "authorization: Bearer $GKM_ADMIN_TOKEN" "$1/admin/usage?from=$day&to=$day" |
    python3 -c '
import json, sys
rows = [r for r in json.load(sys.stdin)["rows"] if r["day"] == sys.argv[1]]
print(sum(r["requests"] for r in rows), sum(r["rate_limited"] for r in rows))' "$day"
}
# Polls `where`'s /admin/usage every 0.1 s, at most `tries` times, until today's counts are the
# mock's; leaves the last answer in $got.
wait_usage() {  # where tries
  got=""
  for _ in $(seq "$2"); do
    got="$(usage "$1")"
    [[ "$got" == "$sent $mock_429" ]] && return 0
    sleep 0.1
  done
  return 1
}
for where in "$gkm1" "$gkm2" "$lb"; do
  # Counts reach Redis a second or so after the request.
  wait_usage "$where" 50 ||
    fail "$where/admin/usage today: requests and rate_limited '$got', not '$sent $mock_429'"
done
step "/admin/usage for $day on gkm-1, gkm-2 and through nginx: $sent requests, $mock_429 rate limited (as the mock counted)"

# --- What Redis holds.
redis_keys="$(podman exec "${project}_redis_1" redis-cli -a "$REDIS_PASSWORD" --no-auth-warning --scan)" ||
  fail "redis-cli --scan"
total="$(grep -c . <<<"$redis_keys" || true)"
prefixed="$(grep -c '^gkm:' <<<"$redis_keys" || true)"
((total > 0)) || fail "Redis holds no keys"
((prefixed == total)) || fail "Redis holds keys outside the gkm: prefix: $(grep -v '^gkm:' <<<"$redis_keys" | head -n 5 | tr '\n' ' ')"
# The victim's verdict: "<until ms>|exhausted|<reason>" under gkm:km:<key id>|<model>.
verdict="$(podman exec "${project}_redis_1" redis-cli -a "$REDIS_PASSWORD" --no-auth-warning \
  GET "gkm:km:$victim_id|$model")"
[[ "$verdict" == *"|exhausted|"* ]] || fail "Redis's gkm:km:$victim_id|$model is '$verdict', not an exhaustion"
step "Redis holds $total keys, all under gkm: ($(sort <<<"$redis_keys" | tr '\n' ' ')), the exhaustion among them"

# --- Today's totals outlive a Redis restart (its append-only file, in its volume).
podman restart -t 10 "${project}_redis_1" >"$work/restart.log" 2>&1 || { cat "$work/restart.log" >&2; fail "podman restart redis"; }
ok=""
for _ in $(seq 100); do
  if podman healthcheck run "${project}_redis_1" >/dev/null 2>&1 &&
    [[ "$(curl -s "$gkm1/healthz")" != *'"redis":"down"'* ]] &&
    [[ "$(curl -s "$gkm2/healthz")" != *'"redis":"down"'* ]]; then
    ok=1
    break
  fi
  sleep 0.1
done
[[ -n "$ok" ]] || fail "Redis or the instances did not come back within 10 s of a Redis restart"
for where in "$gkm1" "$gkm2"; do
  # An instance answers from its own rows until it has read Redis again.
  wait_usage "$where" 100 ||
    fail "after a Redis restart, today's requests and rate_limited on $where are '$got', not '$sent $mock_429' (Redis: $(podman exec "${project}_redis_1" redis-cli -a "$REDIS_PASSWORD" --no-auth-warning --scan | tr '\n' ' '))"
done
step "Redis restarted: today's $sent requests and $mock_429 rate limited kept"

# --- Down, and nothing left.
"${compose[@]}" down -v >"$work/down.log" 2>&1 || { cat "$work/down.log" >&2; fail "podman-compose down -v"; }
podman network rm -f "${project}_default" >/dev/null 2>&1 || true
left="$(containers)"
[[ -z "$left" ]] || fail "containers left after down: $left"
vols="$(podman volume ls -q --filter "label=io.podman.compose.project=$project")"
[[ -z "$vols" ]] || fail "volumes left after down -v: $vols"
up_started=""
step "podman-compose down -v: no container or volume left"

echo "compose-test: passed ($((SECONDS - t0)) s in all)"
