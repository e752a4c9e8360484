#!/usr/bin/env bash
# Ooblex demo, one command: installs what is missing (Debian 12, root), builds,
# starts Redis (unless REDIS_URL is given), Janus with the Ooblex plugin, the
# workers and the demo page, prints the URL, and stops everything it started
# on Ctrl-C.
#
#   ./run-webrtc-demo.sh [--workers N] [--page-port N] [--host NAME] [--admin-bind ADDR]
#   REDIS_URL=redis://user:pw@host:6379 ./run-webrtc-demo.sh     # use your Redis
#   ./run-webrtc-demo.sh --host 192.168.1.20   # for browsers on other machines:
#       HTTPS with a generated self-signed certificate (cameras need a secure
#       context anywhere but localhost); Janus also on wss :8989 / https :8089
#   --admin-bind ADDR: the Admin API on ADDR (default 127.0.0.1, even with --host)
#
# Ports: page 8080, Janus HTTP 8088, WebSocket 8188, Admin 7088, Redis 6379,
# media 20000-40000/udp. The Admin secret is new every run (.run/admin-secret,
# printed with the stats command). The demo's own Redis is restarted if it
# dies. Logs and state: .run/. Scale the workers while it runs with
# deploy/scale-workers.sh N (OOBLEX_WORKER_ARGS adds worker flags).
set -euo pipefail
TOP=$(cd "$(dirname "$0")" && pwd)
cd "$TOP"
WORKERS=3
PAGE_PORT=8080
HOST=
ADMIN_BIND=127.0.0.1
while (($#)); do
  case "$1" in
    --workers) WORKERS=${2:?}; shift 2 ;;
    --page-port) PAGE_PORT=${2:?}; shift 2 ;;
    --host) HOST=${2:?}; shift 2 ;;
    --admin-bind) ADMIN_BIND=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run-webrtc-demo.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done
[[ "$WORKERS" =~ ^[0-9]+$ ]] && ((WORKERS >= 1)) || { echo "--workers needs a number >= 1" >&2; exit 2; }
case "$HOST" in ""|localhost|127.0.0.1|::1) HOST= ;; esac

say() { echo "[ooblex] $*"; }
# A Redis URL fit to print: the password (after the user's ':' up to the
# last '@') becomes ***.
redact_url() { sed -E 's#^([A-Za-z][A-Za-z0-9+.-]*://)(([^:@/]*):)?.*@#\1\3:***@#' <<<"$1"; }
RUN=$TOP/.run
mkdir -p "$RUN/logs"

say "checking Debian packages"
deploy/install-deps.sh

say "building"
[ -x configure ] || ./autogen.sh >"$RUN/logs/autoreconf.log" 2>&1
mkdir -p build
(cd build && { [ -f Makefile ] || ../configure >"$RUN/logs/configure.log" 2>&1; } && make -j"$(nproc)" >"$RUN/logs/make.log" 2>&1) ||
  { tail -20 "$RUN/logs/make.log" "$RUN/logs/configure.log" 2>/dev/null; echo "build failed" >&2; exit 1; }

PIDS=()
NAMES=()
WORKERS_STARTED=0
export OOBLEX_RUN_DIR=$RUN/workers
stop_all() {
  trap - INT TERM EXIT
  say "stopping"
  if [ "$WORKERS_STARTED" = 1 ]; then
    # However many there are now (scaled up or down meanwhile), they drain and stop.
    n=$(deploy/scale-workers.sh status | tail -1 | cut -d' ' -f1)
    OOBLEX_SYSTEMD=no deploy/scale-workers.sh stop >/dev/null
    for i in $(seq 1 "$n"); do NAMES+=("ml-worker_$i"); done
  fi
  for ((i=${#PIDS[@]}-1; i>=0; i--)); do
    kill -TERM "${PIDS[$i]}" 2>/dev/null || true
  done
  for ((i=${#PIDS[@]}-1; i>=0; i--)); do
    for _ in $(seq 1 50); do kill -0 "${PIDS[$i]}" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "${PIDS[$i]}" 2>/dev/null || true
    wait "${PIDS[$i]}" 2>/dev/null || true
  done
  say "stopped: ${NAMES[*]:-nothing}"
}
# After Ctrl-C or a TERM the script ends: returning from the handler would
# resume the wait loop below, which would take everything stopped for dead.
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM
trap stop_all EXIT
started() { PIDS+=("$1"); NAMES+=("$2"); }
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The demo's own Redis: restarted when it dies (the plugin and the workers
# reconnect by themselves), with a backoff of 1, 2, 4, then 8 s between tries,
# giving up after 10 starts in a row that never answer.
REDIS_ARGS=(--port 6379 --bind 127.0.0.1 --save "" --appendonly no --logfile "$RUN/logs/redis.log")
redis_answers() { [ "$(redis-cli -p 6379 ping 2>/dev/null)" = PONG ]; }
restart_redis() {  # restart_redis INDEX-IN-PIDS
  local i=$1 status=0 delay=1 attempt
  wait "${PIDS[$i]}" 2>/dev/null || status=$?
  for attempt in $(seq 1 10); do
    say "redis exited (status $status); restarting it in ${delay}s (attempt $attempt of 10)"
    sleep "$delay" & wait $! || true
    # Redis went down with the rest (a signal to the whole group): the demo
    # is stopping, not Redis crashing.
    for j in "${!PIDS[@]}"; do
      [ "$j" = "$i" ] || kill -0 "${PIDS[$j]}" 2>/dev/null || { say "${NAMES[$j]} exited too: not restarting redis"; return 1; }
    done
    redis-server "${REDIS_ARGS[@]}" &
    PIDS[$i]=$!
    for _ in $(seq 1 50); do redis_answers && break; kill -0 "${PIDS[$i]}" 2>/dev/null || break; sleep 0.1; done
    if redis_answers; then
      REDIS_RESTARTS=$((REDIS_RESTARTS + 1))
      say "redis is back (pid ${PIDS[$i]}, restart $REDIS_RESTARTS); Janus and the workers reconnect by themselves"
      return 0
    fi
    kill -TERM "${PIDS[$i]}" 2>/dev/null || true
    wait "${PIDS[$i]}" 2>/dev/null || status=$?
    delay=$((delay < 8 ? delay * 2 : 8))
  done
  say "redis does not come back after 10 tries; see .run/logs/redis.log"
  return 1
}
REDIS_RESTARTS=0

if [ -n "${REDIS_URL:-}" ]; then
  say "using Redis at $(redact_url "$REDIS_URL")"
elif port_busy 6379; then
  if [ "$(redis-cli -p 6379 ping 2>/dev/null)" = PONG ]; then
    say "using the Redis already running on port 6379"
    REDIS_URL=redis://127.0.0.1:6379
  else
    echo "port 6379 is taken by something that is not a Redis we can use; set REDIS_URL" >&2; exit 1
  fi
else
  redis-server "${REDIS_ARGS[@]}" &
  started $! redis
  REDIS_URL=redis://127.0.0.1:6379
  for _ in $(seq 1 50); do [ "$(redis-cli -p 6379 ping 2>/dev/null)" = PONG ] && break; sleep 0.1; done
fi

PORTS=(8088 8188 7088 "$PAGE_PORT")
[ -n "$HOST" ] && PORTS+=(8089 8989)
for p in "${PORTS[@]}"; do
  if port_busy "$p"; then echo "port $p is in use (another Janus or demo?); stop it first" >&2; exit 1; fi
done

JANUS_TLS=()
SCHEME=http
PAGE_HOST=localhost
BIND=127.0.0.1
if [ -n "$HOST" ]; then
  # A certificate for this name, made once and reused (browsers remember the
  # exception you grant it).
  mkdir -p "$RUN/tls"
  if [ ! -s "$RUN/tls/cert.pem" ] || [ "$(cat "$RUN/tls/host" 2>/dev/null)" != "$HOST" ]; then
    if [[ "$HOST" =~ ^[0-9.]+$|: ]]; then SAN="IP:$HOST"; else SAN="DNS:$HOST"; fi
    openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=$HOST" -addext "subjectAltName=$SAN" \
      -keyout "$RUN/tls/key.pem" -out "$RUN/tls/cert.pem" >"$RUN/logs/openssl.log" 2>&1 ||
      { cat "$RUN/logs/openssl.log"; echo "could not make a certificate" >&2; exit 1; }
    echo "$HOST" >"$RUN/tls/host"
  fi
  JANUS_TLS=(--tls-cert "$RUN/tls/cert.pem" --tls-key "$RUN/tls/key.pem")
  SCHEME=https
  PAGE_HOST=$HOST
  BIND=0.0.0.0
fi

# A new Admin secret every run, readable by this user only.
(umask 077; head -c 18 /dev/urandom | base64 | tr '+/' '-_' >"$RUN/admin-secret")
ADMIN_SECRET=$(cat "$RUN/admin-secret")
deploy/janus-conf.sh "$RUN/janus" build/.libs/libjanus_ooblex.so --redis-url "$REDIS_URL" --bind "$BIND" \
  --admin-bind "$ADMIN_BIND" --admin-secret-file "$RUN/admin-secret" ${JANUS_TLS[@]+"${JANUS_TLS[@]}"} >/dev/null
janus -C "$RUN/janus/conf/janus.jcfg" -F "$RUN/janus/conf" -P "$RUN/janus/plugins" -o >"$RUN/logs/janus.log" 2>&1 &
started $! janus
for _ in $(seq 1 100); do port_busy 8088 && break; sleep 0.1; done
port_busy 8088 || { tail -20 "$RUN/logs/janus.log"; echo "Janus did not start" >&2; exit 1; }

# Workers through the same command that scales them later; anything a run
# that was killed left behind goes first.
export REDIS_URL
OOBLEX_SYSTEMD=no deploy/scale-workers.sh stop >/dev/null
rm -f "$RUN"/workers/*.log
WORKERS_STARTED=1
OOBLEX_SYSTEMD=no deploy/scale-workers.sh "$WORKERS" >/dev/null
ln -sfn ../workers "$RUN/logs/workers"

# The page, with Debian's janus.js and adapter.js beside it (as `make install` lays it out).
rm -rf "$RUN/www"; mkdir -p "$RUN/www"
for f in index.html js css; do ln -s "$TOP/html/$f" "$RUN/www/$f"; done
ln -s /usr/share/javascript "$RUN/www/javascript"
if [ -n "$HOST" ]; then
  python3 - "$PAGE_PORT" "$RUN/www" "$RUN/tls/cert.pem" "$RUN/tls/key.pem" >"$RUN/logs/page.log" 2>&1 <<'PY' &
import functools, http.server, ssl, sys
port, root, cert, key = sys.argv[1:]
server = http.server.ThreadingHTTPServer(("0.0.0.0", int(port)),
    functools.partial(http.server.SimpleHTTPRequestHandler, directory=root))
tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
tls.load_cert_chain(cert, key)
server.socket = tls.wrap_socket(server.socket, server_side=True)
server.serve_forever()
PY
else
  python3 -m http.server "$PAGE_PORT" --bind 127.0.0.1 --directory "$RUN/www" >"$RUN/logs/page.log" 2>&1 &
fi
started $! page
for _ in $(seq 1 50); do port_busy "$PAGE_PORT" && break; sleep 0.1; done

if [ -n "$HOST" ]; then
  JANUS_URLS="wss://$HOST:8989/  https://$HOST:8089/janus  (and ws :8188, http :8088)"
  NOTE="self-signed certificate: accept it once for https://$HOST:$PAGE_PORT/ and https://$HOST:8989/"
else
  JANUS_URLS="ws://localhost:8188/  http://localhost:8088/janus"
  NOTE="camera access needs localhost or https (--host NAME for other machines)"
fi
case "$ADMIN_BIND" in
  127.0.0.1|0.0.0.0|::|::1) ADMIN_HOST=localhost ;;
  *:*) ADMIN_HOST="[$ADMIN_BIND]" ;;
  *) ADMIN_HOST=$ADMIN_BIND ;;
esac
ADMIN_URL=http://$ADMIN_HOST:7088/admin
cat <<MSG

  Ooblex is running.
    Open     $SCHEME://$PAGE_HOST:$PAGE_PORT/   ($NOTE)
    Janus    $JANUS_URLS  admin $ADMIN_URL
    Redis    $(redact_url "$REDIS_URL")
    Workers  $WORKERS  (logs: tail -f .run/workers/ml-worker_*.log)
    Scale    deploy/scale-workers.sh 5     (or 1; deploy/scale-workers.sh status)
    Queue    redis-cli LLEN frames_to_process
    Stats    curl -s -d '{"janus":"message_plugin","transaction":"t","admin_secret":"$ADMIN_SECRET","plugin":"janus.plugin.ooblex","request":{"request":"stats"}}' $ADMIN_URL

  Ctrl-C stops everything this script started.
MSG
# Wait until Ctrl-C, or until something we started dies.
while :; do
  for i in "${!PIDS[@]}"; do
    if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
      if [ "${NAMES[$i]}" = redis ] && restart_redis "$i"; then
        continue
      fi
      say "${NAMES[$i]} exited; see .run/logs/"
      exit 1
    fi
  done
  # In the background: Ctrl-C then runs the trap at once, before the loop
  # could take the Redis that got the same SIGINT for a crash.
  sleep 1 & wait $! || true
done
