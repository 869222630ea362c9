# Multi-stage build on Debian 12, using the same install script as make and CI.
FROM debian:bookworm-slim AS build
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends make sudo && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY scripts/ scripts/
RUN scripts/install-deps.sh
COPY . .
RUN make build BUILD_DIR=/build BUILD_TYPE=Release

FROM debian:bookworm-slim
COPY scripts/install-deps.sh /usr/local/lib/gkm/install-deps.sh
RUN /usr/local/lib/gkm/install-deps.sh --runtime && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /data --shell /usr/sbin/nologin gkm \
 && mkdir -p /data && chown gkm /data
COPY --from=build /build/gemini-key-manager /usr/local/bin/gemini-key-manager
USER gkm
VOLUME /data
WORKDIR /data
ENV GKM_LISTEN=0.0.0.0:5000 GKM_KEYS=/data/key.txt GKM_STATE_DIR=/data GKM_LOG_DIR=/data
EXPOSE 5000
HEALTHCHECK CMD ["/bin/bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/5000 && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q 200 <&3"]
ENTRYPOINT ["/usr/local/bin/gemini-key-manager"]
