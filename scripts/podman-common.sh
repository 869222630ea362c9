# shellcheck shell=bash disable=SC2034 # t0, mock_pid, mock_port: for the sourcing script
# Sourced by scripts/docker-test.sh and scripts/compose-test.sh: what both need before they
# run a container with podman.
#   podman_setup TAG WORKDIR   needs root; installs the --docker tools through
#                              scripts/install-deps.sh; writes podman's own containers.conf
#                              under WORKDIR and exports CONTAINERS_CONF; starts the clock
#   step TEXT                  prints "TAG: TEXT (N s)", N the seconds since the last step
#   fail TEXT                  prints "TAG: FAIL: TEXT", calls on_fail if the script has one,
#                              exits 1
#   podman_base_image          sets base_ref to a debian:bookworm-slim image, made with
#                              debootstrap when none is in storage and none can be pulled
#   podman_build_proxy IMAGE   builds the repository's Dockerfile on base_ref as IMAGE
#   start_mock [ARGS]          starts tests/mock/mock-gemini.mjs on this host, on every
#                              address (containers reach it as host.containers.internal);
#                              sets mock_pid and mock_port
# Podman's settings (runc as the runtime: crun refuses hybrid cgroup hierarchies; default
# ulimits nofile 20000 / nproc 32768: podman's defaults ask for more than some hosts allow)
# go to that file; the machine's /etc/containers is left alone.

podman_setup() {
  tag="$1"
  work="$2"
  if [[ $(id -u) != 0 ]]; then
    echo "$tag: needs root (podman, debootstrap)" >&2
    exit 2
  fi
  t0=$SECONDS
  step_start=$SECONDS
  scripts/install-deps.sh --docker
  mkdir -p "$work"
  export CONTAINERS_CONF="$work/containers.conf"
  cat >"$CONTAINERS_CONF" <<CONF
# Written by scripts/podman-common.sh for the podman calls of $tag.
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
CONF
}

step() {
  echo "$tag: $* ($((SECONDS - step_start)) s)"
  step_start=$SECONDS
}

fail() {
  echo "$tag: FAIL: $*" >&2
  if declare -F on_fail >/dev/null; then on_fail || true; fi
  exit 1
}

podman_base_image() {
  local base="debian:bookworm-slim" ref mirror rootfs
  base_ref=""
  for ref in "localhost/$base" "docker.io/library/$base"; do
    if podman image exists "$ref"; then base_ref="$ref"; fi
  done
  if [[ -z "$base_ref" ]] && timeout 60 podman pull -q "docker.io/library/$base" >/dev/null 2>&1; then
    base_ref="docker.io/library/$base"
  fi
  [[ -z "$base_ref" ]] || return 0
  # The first Debian mirror apt is configured with (deb822 or one-line sources).
  mirror="$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' |
    grep -v -- '-security' | head -n1 || true)"
  [[ -n "$mirror" ]] || mirror="$(grep -hsE '^deb ' /etc/apt/sources.list |
    awk '{print $2}' | grep -v -- '-security' | head -n1 || true)"
  mirror="${mirror:-http://deb.debian.org/debian}"
  rootfs="$work/rootfs"
  rm -rf "$rootfs"
  echo "$tag: no $base image; making one with debootstrap from $mirror"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -n 20 "$work/debootstrap.log" >&2; fail "debootstrap"; }
  # As the official slim image: apt sources in deb822 form with updates and security (the
  # host's, so the same mirror), no docs, man pages or locales installed later, no caches.
  rm -f "$rootfs/etc/apt/sources.list"
  if compgen -G "/etc/apt/sources.list.d/debian.sources" >/dev/null; then
    cp /etc/apt/sources.list.d/debian.sources "$rootfs/etc/apt/sources.list.d/"
  else
    printf 'deb %s bookworm main\n' "$mirror" >"$rootfs/etc/apt/sources.list"
  fi
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
DPKG
  cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/usr/share/doc/* \
    "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
  tar -C "$rootfs" --numeric-owner -c . |
    podman import --quiet --change 'CMD ["bash"]' - "localhost/$base" >/dev/null
  rm -rf "$rootfs"
  base_ref="localhost/$base"
}

# Host networking for the image's apt-get: no bridge or iptables needed for a build.
podman_build_proxy() {
  podman build --format docker --pull=never --build-arg "BASE=$base_ref" --network host -t "$1" \
    -f Dockerfile . >"$work/build.log" 2>&1 || { tail -n 40 "$work/build.log" >&2; fail "podman build"; }
}

start_mock() {
  local port_file="$work/mock.port"
  rm -f "$port_file"  # not a previous run's port, read before this one truncates the file
  node tests/mock/mock-gemini.mjs --port 0 --host 0.0.0.0 "$@" >"$port_file" &
  mock_pid=$!
  for _ in $(seq 50); do [[ -s "$port_file" ]] && break; sleep 0.1; done
  mock_port="$(sed -E 's/.*"port":([0-9]+).*/\1/' "$port_file")"
  [[ "$mock_port" =~ ^[0-9]+$ ]] || fail "the mock did not start"
}
