#!/usr/bin/env bash
# Installs everything the project needs to build, run and test, from Debian's archive
# and the npm registry. Idempotent: a second run installs nothing and is quick.
# This is the only place in the repository that installs dependencies; make, CI and
# the Dockerfile all call it.
#
#   scripts/install-deps.sh            build + runtime packages
#   scripts/install-deps.sh --test     also the test tools (redis, curl, chromium, npm SDKs)
#   scripts/install-deps.sh --bench    also the benchmark tools (nginx, wrk)
#   scripts/install-deps.sh --runtime  only what the built binary needs to run
#   scripts/install-deps.sh --docker   also the container tools of make docker-test and
#                                      make compose-test (podman, podman-compose, buildah,
#                                      runc, debootstrap)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

runtime_pkgs=(ca-certificates tzdata libssl3 libsqlite3-0 libspdlog1.10 libfmt9 libdate-tz3 libhiredis0.14
  libtcmalloc-minimal4 zlib1g)
build_pkgs=(g++ cmake make pkg-config git
  libboost1.81-dev libssl-dev libsqlite3-dev zlib1g-dev libspdlog-dev libfmt-dev libcli11-dev
  libtomlplusplus-dev libhowardhinnant-date-dev libhiredis-dev libgoogle-perftools-dev
  libgtest-dev libgmock-dev googletest)
# chromium (large) drives the dashboard's test (tests/e2e/dashboard.test.mjs) through
# playwright-core; only --test installs it.
test_pkgs=(redis-server curl openssl python3 sqlite3 procps clang libclang-rt-14-dev
  chromium fonts-dejavu-core)
bench_pkgs=(nginx-light wrk hyperfine libbenchmark-dev valgrind)
# runc, not crun: crun refuses hybrid cgroup hierarchies (cgroup v1 with a v2 mount).
# podman-compose runs deploy/compose.yaml; the dnsname CNI plugin lets its containers find
# each other by service name (podman 4.3 with CNI has no name service without it).
docker_pkgs=(podman podman-compose golang-github-containernetworking-plugin-dnsname buildah runc
  debootstrap containernetworking-plugins curl sqlite3 python3)

want=()
mode_test=0
mode_runtime=0
for arg in "$@"; do
  case "$arg" in
    --test) mode_test=1 ;;
    --bench) want+=("${bench_pkgs[@]}") ;;
    --runtime) mode_runtime=1 ;;
    --docker) want+=("${docker_pkgs[@]}") ;;
    *) echo "install-deps: unknown option $arg" >&2; exit 2 ;;
  esac
done
if [[ $mode_runtime == 1 ]]; then
  want+=("${runtime_pkgs[@]}")
else
  want+=("${runtime_pkgs[@]}" "${build_pkgs[@]}")
fi
[[ $mode_test == 1 ]] && want+=("${test_pkgs[@]}")

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  sudo=""
  if [[ $(id -u) != 0 ]]; then sudo="sudo"; fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The redis-server package starts a system service on port 6379; the tests start their
# own servers on their own ports and never use it.

if [[ $mode_test == 1 ]]; then
  if ! command -v node >/dev/null; then
    echo "install-deps: Node.js 20 is required for the SDK tests (see README)" >&2
    exit 1
  fi
  # npm records what it installed in node_modules/.package-lock.json. A node_modules that
  # is a symlink is an install shared with another checkout: npm ci would empty the
  # directory it points to, so it is only checked for, never reinstalled.
  modules="$root/tests/sdk/node_modules"
  if [[ -L "$modules" ]]; then
    if [[ ! -d "$modules/@google/genai" ]]; then
      echo "install-deps: tests/sdk/node_modules links to an incomplete install" >&2
      exit 1
    fi
  elif [[ ! -d "$modules/@google/genai" || ! -d "$modules/playwright-core" || \
        "$root/tests/sdk/package-lock.json" -nt "$modules/.package-lock.json" ]]; then
    echo "install-deps: installing the npm test clients"
    (cd "$root/tests/sdk" && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi
