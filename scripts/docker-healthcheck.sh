#!/bin/bash
# The container's HEALTHCHECK: GET /healthz on the address of GKM_LISTEN (the image sets it;
# 0.0.0.0 and [::] are asked on loopback) and succeeds only on a "HTTP/1.x 200" status line.
# Plain bash (/dev/tcp): the runtime image has no curl.
set -u
listen="${GKM_LISTEN:-0.0.0.0:5000}"
port="${listen##*:}"
host="${listen%:*}"
host="${host#[}"
host="${host%]}"
case "$host" in
  "" | 0.0.0.0) host=127.0.0.1 ;;
  ::) host=::1 ;;
esac
exec 3<>"/dev/tcp/$host/$port" || exit 1
printf 'GET /healthz HTTP/1.0\r\nHost: %s\r\n\r\n' "$host" >&3
IFS= read -r -t 4 status <&3 || exit 1
[[ "$status" =~ ^HTTP/1\.[01]\ 200\  ]]
