#!/usr/bin/env bash
# make-test-ca.sh DIR — create a throw-away test CA and a server certificate for 127.0.0.1,
# ::1 and localhost signed by it, for running the mock (and the proxy's upstream) over TLS:
#   DIR/ca.pem           the CA certificate (give it to clients: --upstream-ca, https `ca`)
#   DIR/ca-key.pem       the CA's private key
#   DIR/server.pem       the server certificate (SAN IP:127.0.0.1, IP:::1, DNS:localhost)
#   DIR/server-key.pem   the server's private key
# Idempotent: when the files exist and the server certificate verifies against the CA and is
# valid for at least one more day, nothing is done.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
dir=$1
mkdir -p "$dir"
cd "$dir"

if [ -s ca.pem ] && [ -s ca-key.pem ] && [ -s server.pem ] && [ -s server-key.pem ] \
   && openssl verify -CAfile ca.pem server.pem >/dev/null 2>&1 \
   && openssl x509 -in server.pem -noout -checkend 86400 >/dev/null 2>&1; then
  exit 0
fi

umask 077
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

openssl ecparam -name prime256v1 -genkey -noout -out "$tmp/ca-key.pem"
openssl req -x509 -new -key "$tmp/ca-key.pem" -sha256 -days 3650 \
  -subj "/CN=gkm test CA" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -addext "subjectKeyIdentifier=hash" \
  -out "$tmp/ca.pem" 2>/dev/null

openssl ecparam -name prime256v1 -genkey -noout -out "$tmp/server-key.pem"
openssl req -new -key "$tmp/server-key.pem" -subj "/CN=localhost" -out "$tmp/server.csr" 2>/dev/null
cat > "$tmp/ext.cnf" <<'EXT'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EXT
openssl x509 -req -in "$tmp/server.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca-key.pem" \
  -CAcreateserial -CAserial "$tmp/ca.srl" -days 825 -sha256 -extfile "$tmp/ext.cnf" \
  -out "$tmp/server.pem" 2>/dev/null

openssl verify -CAfile "$tmp/ca.pem" "$tmp/server.pem" >/dev/null
chmod 644 "$tmp/ca.pem" "$tmp/server.pem"
chmod 600 "$tmp/ca-key.pem" "$tmp/server-key.pem"
mv -f "$tmp/ca-key.pem" "$tmp/ca.pem" "$tmp/server-key.pem" "$tmp/server.pem" .
