#!/usr/bin/env bash
# make docker-test: builds the Docker image with podman and runs it the way the README says,
# then checks what an operator relies on:
#   - the image has a HEALTHCHECK, and it passes; /healthz answers 200 from the host;
#   - the proxy runs as the image's fixed non-root user (uid 10001);
#   - a host directory chowned to that uid, mounted on /data, holds the state and the logs;
#   - podman stop (SIGTERM, 10 s before SIGKILL) with two requests in flight: the short one
#     is served, the one longer than the stop timeout is given up at the image's shutdown
#     grace (8 s), the process exits 0 in time, and the state is flushed to /data.
#
# Everything comes from Debian's packages: scripts/install-deps.sh --docker installs podman,
# buildah, runc and debootstrap. When no debian:bookworm-slim image is in podman's storage
# and none can be pulled, one is made with debootstrap from the Debian mirror this machine's
# apt uses, and imported as localhost/debian:bookworm-slim (scripts/podman-common.sh, shared
# with make compose-test, as are podman's own settings: runc, lower default ulimits, in a
# containers.conf under the build dir). Needs root. Prints the time each step took.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/podman-common.sh
source scripts/podman-common.sh
image="${GKM_DOCKER_IMAGE:-localhost/gemini-key-manager:test}"
name="gkm-docker-test-$$"
uid=10001

on_fail() {
  if [[ -n "${container_started:-}" ]]; then
    echo "--- container log (tail)" >&2
    podman logs "$name" 2>&1 | tail -n 30 >&2 || true
  fi
}

podman_setup docker-test "$root/${BUILD_DIR:-build}/docker-test"
step "dependencies"

podman_base_image
step "base image $base_ref"

# --- The image, from that base (the Dockerfile's BASE argument).
podman_build_proxy "$image"
size="$(podman image inspect "$image" --format '{{.Size}}')"
step "image $image built, $((size / 1000000)) MB"

health="$(podman image inspect "$image" --format '{{json .Config.Healthcheck}}')"
[[ "$health" == *gkm-healthcheck* ]] || fail "the image has no HEALTHCHECK: $health"
user="$(podman image inspect "$image" --format '{{.Config.User}}')"
[[ "$user" == "$uid:$uid" ]] || fail "the image's user is '$user', not $uid:$uid"
file_out="$(podman run --rm --network none --entrypoint /bin/sh "$image" -c 'id -u; id -g; test -w /data && echo writable')"
[[ "$file_out" == "$uid"$'\n'"$uid"$'\n'"writable" ]] || fail "user/group in the image: $file_out"
# The binary is stripped: no .symtab section.
if podman run --rm --network none --entrypoint /bin/sh "$image" -c \
  'grep -qF .symtab /usr/local/bin/gemini-key-manager' 2>/dev/null; then
  fail "the binary in the image is not stripped"
fi
step "image metadata: HEALTHCHECK, user $uid, stripped binary"

# --- Run it as the README says: a host directory owned by uid 10001 on /data.
data="$(mktemp -d /tmp/gkm-docker-data.XXXXXX)"
mock_pid=""
cleanup() {
  podman rm -f -t 0 "$name" >/dev/null 2>&1 || true
  [[ -n "$mock_pid" ]] && kill "$mock_pid" 2>/dev/null || true
  rm -rf "$data"
}
trap cleanup EXIT
# Made-up keys (the mock accepts any key); never a real one.
printf 'docker-test-key-%s\n' one two >"$data/key.txt"
chown -R "$uid:$uid" "$data"
chmod 700 "$data"

# The mock Google on the host, for a request that is in flight when the container stops;
# the container reaches it as host.containers.internal.
start_mock

# As the README says: the image's port 5000 published on the host, the data directory on
# /data, the token in the environment, flags after the image name.
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
token="docker-test-token"
podman run -d --name "$name" -p "127.0.0.1:$port:5000" -v "$data:/data" -e GKM_TOKENS="$token" \
  "$image" --upstream "http://host.containers.internal:$mock_port" >"$work/run.log" 2>&1 ||
  { cat "$work/run.log" >&2; fail "podman run"; }
container_started=1

ok=""
for _ in $(seq 100); do
  if [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/healthz")" == 200 ]]; then
    ok=1
    break
  fi
  sleep 0.1
done
[[ -n "$ok" ]] || fail "/healthz did not answer 200 within 10 s"
step "container up, /healthz 200 from the host"

podman healthcheck run "$name" >/dev/null || fail "the HEALTHCHECK fails on a healthy proxy"
[[ "$(podman inspect "$name" --format '{{.State.Healthcheck.Status}}')" == healthy ]] ||
  fail "podman does not report the container healthy"
pid="$(podman inspect "$name" --format '{{.State.Pid}}')"
proc_uid="$(awk '/^Uid:/{print $2}' "/proc/$pid/status")"
[[ "$proc_uid" == "$uid" ]] || fail "the proxy runs as uid $proc_uid, not $uid"
db="$(find "$data" -maxdepth 1 -name '*.db' | head -n1)"
[[ -n "$db" ]] || fail "no state database in /data: $(ls "$data")"
[[ "$(stat -c %u "$db")" == "$uid" ]] || fail "$db is not owned by $uid"
[[ -s "$data/gemini-key-manager.log" ]] || fail "no log file in /data"
step "healthy, uid $proc_uid, state $(basename "$db") and the log in /data"

# Two requests in flight while the container stops: one that takes 3 s upstream (it must be
# served) and one that takes 20 s, longer than the engine's 10 s stop timeout (the proxy
# must give up on it at its grace, 8 s, and still exit 0 with the state flushed, rather
# than wait to be killed).
slow() { # model ms
  curl -s -X POST "http://127.0.0.1:$mock_port/__mock/behaviour" -H 'content-type: application/json' \
    -d "{\"key\":\"*\",\"model\":\"$1\",\"behaviour\":{\"type\":\"delay\",\"ms\":$2}}" >/dev/null
  curl -s -o /dev/null -w '%{http_code}' -X POST \
    "http://127.0.0.1:$port/v1beta/models/$1:generateContent" \
    -H "x-goog-api-key: $token" -H 'content-type: application/json' \
    -d '{"contents":[{"parts":[{"text":"hi"}]}]}' >"$work/$1.code" &
}
slow docker-slow 3000
slow_pid=$!
slow docker-slower 20000
slower_pid=$!
for _ in $(seq 50); do
  inflight="$(curl -s "http://127.0.0.1:$mock_port/__mock/stats" | sed -E 's/.*"inFlight":([0-9]+).*/\1/')"
  [[ "$inflight" == 2 ]] && break
  sleep 0.1
done
[[ "$inflight" == 2 ]] || fail "the slow requests did not reach the mock ($inflight in flight)"
stop_start=$SECONDS
# The engine's default: SIGTERM, SIGKILL 10 s later.
podman stop "$name" >"$work/stop.log" 2>&1 || { cat "$work/stop.log" >&2; fail "podman stop"; }
stop_secs=$((SECONDS - stop_start))
wait "$slow_pid" "$slower_pid" || true
code="$(podman inspect "$name" --format '{{.State.ExitCode}}')"
[[ "$code" == 0 ]] ||
  fail "exit code $code after podman stop (137: killed at the stop timeout; is the grace below it?)"
# Exit code 0 says the proxy was not killed at the 10 s timeout; podman's own work around
# the stop adds a second or so to the wall time.
((stop_secs < 15)) || fail "the stop took $stop_secs s"
[[ "$(cat "$work/docker-slow.code")" == 200 ]] ||
  fail "the 3 s request got $(cat "$work/docker-slow.code") instead of 200"
logs="$(podman logs "$name" 2>&1)"
grep -q 'draining (2 connections open, grace 8 s)' <<<"$logs" || fail "no drain of 2 connections with an 8 s grace in the log"
grep -q '1 connections still open after the grace time' <<<"$logs" ||
  fail "the 20 s request was not given up at the grace"
grep -q 'stopped (state flushed' <<<"$logs" || fail "no 'stopped (state flushed' in the log"
grep -q 'stopped (state flushed' "$data/gemini-key-manager.log" || fail "the log file in /data misses the stop"
count="$(sqlite3 "$db" "SELECT COALESCE(SUM(requests),0) FROM usage WHERE model='docker-slow'")"
[[ "$count" == 1 ]] || fail "the state in /data counts $count requests for the served one, not 1"
grep -E 'draining|still open|stopped' <<<"$logs" | sed 's/^/  /'
step "podman stop, 2 requests in flight: the 3 s one served, the 20 s one given up at the grace, exit 0 in ${stop_secs} s, state flushed"

echo "docker-test: passed ($((SECONDS - t0)) s in all; image $((size / 1000000)) MB)"
