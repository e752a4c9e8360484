#!/usr/bin/env bash
# The workers' TLS sidecar: renders redis-tunnel.conf.in from the environment
# and runs stunnel in the foreground. Used by the systemd unit
# ooblex-redis-tunnel.service, the compose file's redis-tunnel service, the
# k8s ml-worker pods and tests/ops/tls.sh.
#   OOBLEX_TUNNEL_CONNECT  host:port of Redis' TLS port (required)
#   OOBLEX_TUNNEL_ACCEPT   the local plain port for workers (default 127.0.0.1:6390)
#   OOBLEX_TUNNEL_CERT, OOBLEX_TUNNEL_KEY, OOBLEX_TUNNEL_CA
#                          client certificate, its key, the CA that signed the
#                          server's (default /etc/ooblex/tls/client.crt, client.key, ca.crt)
#   OOBLEX_TUNNEL_VERIFY   the name (or IP address) the server's certificate
#                          must carry (default: the host of OOBLEX_TUNNEL_CONNECT)
#   OOBLEX_TUNNEL_CONF     where the rendered config goes (default
#                          $RUNTIME_DIRECTORY or /tmp, redis-tunnel.conf)
# Then point the workers at it: REDIS_URL=redis://127.0.0.1:6390
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CONNECT=${OOBLEX_TUNNEL_CONNECT:?redis-tunnel.sh: set OOBLEX_TUNNEL_CONNECT to host:port of Redis TLS port}
ACCEPT=${OOBLEX_TUNNEL_ACCEPT:-127.0.0.1:6390}
CERT=${OOBLEX_TUNNEL_CERT:-/etc/ooblex/tls/client.crt}
KEY=${OOBLEX_TUNNEL_KEY:-/etc/ooblex/tls/client.key}
CA=${OOBLEX_TUNNEL_CA:-/etc/ooblex/tls/ca.crt}
VERIFY=${OOBLEX_TUNNEL_VERIFY:-${CONNECT%:*}}
VERIFY=${VERIFY#[}; VERIFY=${VERIFY%]}
CONF=${OOBLEX_TUNNEL_CONF:-${RUNTIME_DIRECTORY:-/tmp}/redis-tunnel.conf}
for f in "$CERT" "$KEY" "$CA"; do
  [ -r "$f" ] || { echo "redis-tunnel.sh: cannot read $f (deploy/tls/make-certs.sh makes them)" >&2; exit 1; }
done
if [[ "$VERIFY" =~ ^[0-9.]+$|: ]]; then CHECK="checkIP = $VERIFY"; else CHECK="checkHost = $VERIFY"; fi
TEMPLATE=$HERE/redis-tunnel.conf.in
esc() { printf '%s' "$1" | sed 's/[|&\\]/\\&/g'; }
(umask 077; sed -e "s|@ACCEPT@|$(esc "$ACCEPT")|" -e "s|@CONNECT@|$(esc "$CONNECT")|" \
  -e "s|@CERT@|$(esc "$CERT")|" -e "s|@KEY@|$(esc "$KEY")|" -e "s|@CA@|$(esc "$CA")|" \
  -e "s|@CHECK@|$(esc "$CHECK")|" "$TEMPLATE" >"$CONF")
echo "[redis-tunnel] $ACCEPT (plain, local) -> $CONNECT (TLS, server verified as $VERIFY)"
STUNNEL=$(command -v stunnel4 || command -v stunnel) || { echo "redis-tunnel.sh: stunnel4 is not installed" >&2; exit 1; }
exec "$STUNNEL" "$CONF"
