# Multi-stage build on Debian 12, from Debian's packages only, through the same
# scripts/install-deps.sh as make and CI. `make docker-test` builds and runs this image
# (scripts/docker-test.sh). Build with `--format docker` under podman/buildah: the OCI
# format has no HEALTHCHECK and drops it.
# BASE: another Debian 12 image, e.g. one made with debootstrap (scripts/docker-test.sh).
ARG BASE=debian:bookworm-slim
FROM ${BASE} AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/
RUN scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
# What the binary is built from, and nothing else: edits elsewhere keep the build cached.
COPY CMakeLists.txt ./
COPY cmake/ cmake/
COPY src/ src/
# The binary only (no unit tests), stripped.
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DGKM_TESTS=OFF >/dev/null \
 && cmake --build /build -j "$(nproc)" \
 && strip /build/gemini-key-manager

FROM ${BASE}
COPY scripts/install-deps.sh /usr/local/lib/gkm/install-deps.sh
# A fixed uid/gid (10001), so that a host directory mounted on /data can be given to it:
#   chown 10001:10001 ./data
RUN /usr/local/lib/gkm/install-deps.sh --runtime && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 gkm \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /data \
      --shell /usr/sbin/nologin gkm \
 && mkdir -p /data && chown 10001:10001 /data
COPY scripts/docker-healthcheck.sh /usr/local/bin/gkm-healthcheck
COPY --from=build /build/gemini-key-manager /usr/local/bin/gemini-key-manager
USER 10001:10001
VOLUME /data
WORKDIR /data
# The shutdown grace stays below the 10 s that docker stop / podman stop wait before
# SIGKILL, so that a stop drains in-flight requests and flushes the state. Raising it needs
# a longer stop timeout too: docker run --stop-timeout, compose stop_grace_period.
ENV GKM_LISTEN=0.0.0.0:5000 GKM_KEYS=/data/key.txt GKM_STATE_DIR=/data GKM_LOG_DIR=/data \
    GKM_SHUTDOWN_GRACE=8
EXPOSE 5000
STOPSIGNAL SIGTERM
# GET /healthz on the port of GKM_LISTEN; healthy on an HTTP 200 status line only.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/gkm-healthcheck"]
ENTRYPOINT ["/usr/local/bin/gemini-key-manager"]
