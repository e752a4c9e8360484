#!/usr/bin/env bash
# Makes a private CA and the certificates for Redis over TLS: the server's
# (Redis' own TLS port) and a client certificate for the workers' stunnel.
# For testing and small fleets; use your own PKI where you have one.
#   deploy/tls/make-certs.sh DIR [NAME...]
# NAMEs go into the server certificate's subjectAltName as well as the
# defaults (localhost, 127.0.0.1, ::1, redis, redis.ooblex.svc.cluster.local):
# give the name or address workers connect to. Writes DIR/ca.crt, ca.key,
# redis.crt, redis.key, client.crt, client.key (keys mode 0600). Keeps an
# existing CA, so that issuing again does not invalidate other machines'.
set -euo pipefail
DIR=${1:?usage: make-certs.sh DIR [NAME...]}
shift
mkdir -p "$DIR"
cd "$DIR"
umask 077
SAN="DNS:localhost,IP:127.0.0.1,IP:::1,DNS:redis,DNS:redis.ooblex.svc.cluster.local"
for n in "$@"; do
  if [[ "$n" =~ ^[0-9.]+$|: ]]; then SAN="$SAN,IP:$n"; else SAN="$SAN,DNS:$n"; fi
done
q() { "$@" >>make-certs.log 2>&1 || { cat make-certs.log >&2; echo "make-certs.sh: $1 failed" >&2; exit 1; }; }
if [ ! -s ca.key ] || [ ! -s ca.crt ]; then
  q openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=Ooblex Redis CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout ca.key -out ca.crt
fi
# leaf NAME CN EXTENDED-KEY-USAGE [SAN]
leaf() {
  local ext="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=$3"
  [ -n "${4:-}" ] && ext="$ext
subjectAltName=$4"
  printf '%s\n' "$ext" >"$1.ext"
  q openssl req -newkey rsa:2048 -nodes -subj "/CN=$2" -keyout "$1.key" -out "$1.csr"
  q openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 -extfile "$1.ext" -out "$1.crt"
  rm -f "$1.csr" "$1.ext"
}
leaf redis "Ooblex Redis" serverAuth "$SAN"
leaf client "Ooblex worker" clientAuth
chmod 644 ca.crt redis.crt client.crt
chmod 600 ca.key redis.key client.key
echo "$DIR: ca.crt redis.crt redis.key client.crt client.key (server names: $SAN)"
