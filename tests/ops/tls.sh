#!/usr/bin/env bash
# Remote workers over TLS, for real: a Redis that speaks TLS only (plain port
# 0, tls-port N, client certificates required), the workers' stunnel sidecar
# (deploy/tls/redis-tunnel.sh with the shipped template, client mode) giving
# a local plain port, a real ooblex-worker through it processing frames that
# this test pushes through the same tunnel. Between stunnel and Redis sits a
# recording TCP relay (our own capture, no tcpdump): the frames' marker
# string is in the plain leg's bytes and never in the TLS leg's. Also: the
# plain port is not open, plain Redis on the TLS port gets nowhere, nor does
# TLS without a client certificate, nor a tunnel that does not trust the
# server's CA.
#   tests/ops/tls.sh BUILD_DIR     (prints TAP lines; called by tests/ops/run.sh)
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
. "$TOP/tests/lib/common.sh"
BUILD=$(cd "${1:?usage: tls.sh BUILD_DIR}" && pwd)
OUT=$TOP/tests/out/ops-tls
rm -rf "$OUT"; mkdir -p "$OUT"
PIDS=()
cleanup() { for ((i=${#PIDS[@]}-1; i>=0; i--)); do stop_pid "${PIDS[$i]}" 5; done; }
trap cleanup EXIT

tap_check "deploy/tls/make-certs.sh makes a CA, a server and a client certificate" bash -c \
  "'$TOP/deploy/tls/make-certs.sh' '$OUT/certs' >'$OUT/certs.log' 2>&1 &&
   openssl verify -CAfile '$OUT/certs/ca.crt' '$OUT/certs/redis.crt' '$OUT/certs/client.crt' >/dev/null &&
   [ \$(stat -c %a '$OUT/certs/client.key') = 600 ] && [ \$(stat -c %a '$OUT/certs/redis.key') = 600 ]"
C=$OUT/certs

# Redis with TLS only: --port 0 closes the plain port.
TLS_PORT=$(free_port)
redis-server --port 0 --tls-port "$TLS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
  --tls-cert-file "$C/redis.crt" --tls-key-file "$C/redis.key" --tls-ca-cert-file "$C/ca.crt" \
  --tls-auth-clients yes --logfile "$OUT/redis.log" --daemonize no >/dev/null 2>&1 &
REDIS=$!; PIDS+=($REDIS)
rcli_tls() { redis-cli --tls --cacert "$C/ca.crt" --cert "$C/client.crt" --key "$C/client.key" -p "$TLS_PORT" "$@"; }
if ! wait_for 10 rcli_tls ping; then
  tap_fail "Debian's redis-server 7 serves --tls-port" "$(tail -5 "$OUT/redis.log")"; exit 1
fi
tap_ok "Debian's redis-server 7 serves --tls-port"
tap_check "its plain port is closed (port 0; it listens on the TLS port only)" bash -c \
  "[ \"\$(redis-cli --tls --cacert '$C/ca.crt' --cert '$C/client.crt' --key '$C/client.key' -p $TLS_PORT --raw CONFIG GET port | tail -1)\" = 0 ] &&
   [ \"\$(ss -ltnpH | grep 'pid=$REDIS,' | awk '{print \$4}' | sort -u | tr '\n' ' ')\" = '127.0.0.1:$TLS_PORT ' ] &&
   ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null"
tap_check "plain Redis on the TLS port gets nowhere" bash -c \
  "[ \"\$(timeout 5 redis-cli -p $TLS_PORT ping 2>&1)\" != PONG ]"
tap_check "TLS without a client certificate is refused (tls-auth-clients yes)" bash -c \
  "[ \"\$(timeout 5 redis-cli --tls --cacert '$C/ca.crt' -p $TLS_PORT ping 2>&1)\" != PONG ]"

# The recording relay: stunnel -> relay -> Redis' TLS port; every byte of
# both directions appended to a file.
RELAY_PORT=$(free_port)
python3 - "$RELAY_PORT" "$TLS_PORT" "$OUT/tls-leg.bin" >"$OUT/relay.log" 2>&1 <<'PY' &
import socket, sys, threading
listen, target, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
lock = threading.Lock()
out = open(path, "ab")
def pump(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            with lock:
                out.write(d); out.flush()
            b.sendall(d)
    except OSError:
        pass
    for s in (a, b):
        try: s.shutdown(socket.SHUT_RDWR)
        except OSError: pass
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", listen)); srv.listen(64)
while True:
    c, _ = srv.accept()
    u = socket.create_connection(("127.0.0.1", target))
    threading.Thread(target=pump, args=(c, u), daemon=True).start()
    threading.Thread(target=pump, args=(u, c), daemon=True).start()
PY
PIDS+=($!)
wait_for 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$RELAY_PORT"

# The sidecar, as shipped: redis-tunnel.sh renders redis-tunnel.conf.in.
TUNNEL_PORT=$(free_port)
tunnel() {  # tunnel ACCEPT-PORT CA LOG
  OOBLEX_TUNNEL_CONNECT=127.0.0.1:$RELAY_PORT OOBLEX_TUNNEL_ACCEPT=127.0.0.1:$1 OOBLEX_TUNNEL_VERIFY=127.0.0.1 \
  OOBLEX_TUNNEL_CERT=$C/client.crt OOBLEX_TUNNEL_KEY=$C/client.key OOBLEX_TUNNEL_CA=$2 \
  OOBLEX_TUNNEL_CONF=$OUT/tunnel-$1.conf "$TOP/deploy/tls/redis-tunnel.sh" >"$3" 2>&1 &
  PIDS+=($!)
}
tunnel "$TUNNEL_PORT" "$C/ca.crt" "$OUT/tunnel.log"
wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$TUNNEL_PORT"
tap_check "through the stunnel sidecar a plain client reaches the TLS-only Redis" bash -c \
  "[ \"\$(redis-cli -p $TUNNEL_PORT ping)\" = PONG ]"
tap_check "the rendered stunnel config verifies the server (verifyChain, checkIP, CAfile)" bash -c \
  "grep -qx 'client = yes' '$OUT/tunnel-$TUNNEL_PORT.conf' && grep -qx 'verifyChain = yes' '$OUT/tunnel-$TUNNEL_PORT.conf' &&
   grep -qx 'checkIP = 127.0.0.1' '$OUT/tunnel-$TUNNEL_PORT.conf' && grep -qx 'CAfile = $C/ca.crt' '$OUT/tunnel-$TUNNEL_PORT.conf'"

# A worker on the tunnel's plain port, and frames for it pushed by this test
# through the tunnel too. The client id bytes spell the marker.
"$BUILD/ooblex-worker" --redis-url "redis://127.0.0.1:$TUNNEL_PORT" --id tls-worker >"$OUT/worker.log" 2>&1 &
WORKER=$!; PIDS+=($WORKER)
wait_for 10 grep -q "connected to Redis" "$OUT/worker.log"
MARKER=OOBLEXTLSMARKER1
N=12
mkdir -p "$OUT/frames"
make -C "$BUILD" tests/ops/tls_frames >"$OUT/make-frames.log" 2>&1 || tap_fail "tests/ops/tls_frames builds" "$(tail -5 "$OUT/make-frames.log")"
"$BUILD/tests/ops/tls_frames" "$MARKER" "$N" "$OUT/frames" >"$OUT/frames.log" 2>&1
for f in "$OUT"/frames/frame_*.bin; do
  redis-cli -p "$TUNNEL_PORT" -x LPUSH frames_to_process <"$f" >/dev/null
done
RESULT_KEY=$(cat "$OUT/frames/result_key")
wait_for 20 bash -c "[ \"\$(redis-cli -p $TUNNEL_PORT LLEN '$RESULT_KEY')\" -ge $N ]"
tap_check "a real ooblex-worker through the tunnel processes every frame" bash -c \
  "[ \"\$(redis-cli -p $TUNNEL_PORT LLEN '$RESULT_KEY')\" -eq $N ] && [ \$(grep -c 'Processing frame' '$OUT/worker.log') -eq $N ]"
# The plain leg: what the frames look like where the worker and this test
# speak to the tunnel (redis-cli's payload is the frame file itself).
tap_check "the marker is plainly in the frames sent into the tunnel" grep -q "$MARKER" "$OUT/frames/frame_1.bin"
tap_check "the relay saw the TLS leg's traffic" bash -c "[ \$(stat -c %s '$OUT/tls-leg.bin') -gt \$(($N * 1000)) ]"
tap_check "and the marker never crosses it in clear: the TLS leg is not plaintext" bash -c \
  "! grep -aq '$MARKER' '$OUT/tls-leg.bin' && ! grep -aq 'frames_to_process' '$OUT/tls-leg.bin' && ! grep -aq 'LPUSH' '$OUT/tls-leg.bin'"
tap_check "the TLS leg is TLS 1.2 or later (handshake records)" bash -c \
  "head -c 3 '$OUT/tls-leg.bin' | od -An -tx1 | tr -d ' \n' | grep -Eq '^1603(01|03)'"

# A tunnel that does not trust the server's CA never carries anything.
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=Someone else" -keyout "$OUT/other-ca.key" \
  -out "$OUT/other-ca.crt" >/dev/null 2>&1
BAD_PORT=$(free_port)
tunnel "$BAD_PORT" "$OUT/other-ca.crt" "$OUT/tunnel-bad.log"
wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$BAD_PORT"
tap_check "a tunnel that does not trust the server's certificate carries nothing" bash -c \
  "[ \"\$(timeout 5 redis-cli -p $BAD_PORT ping 2>&1)\" != PONG ] && grep -qi 'certificate verify failed\|verify' '$OUT/tunnel-bad.log'"
stop_pid "$WORKER" 5
tap_check "the worker stops cleanly" bash -c "grep -q 'stopping: $N processed' '$OUT/worker.log'"
