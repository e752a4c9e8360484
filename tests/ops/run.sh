#!/usr/bin/env bash
# The operations files, checked without a Docker engine:
#  - deploy/docker-compose.webrtc.yml through Debian's docker-compose (config);
#  - the Dockerfile's steps run natively: install-deps.sh --runtime, the same
#    configure/make install into a staging root, then the webrtc image's own
#    entrypoint and the worker image's command on that tree, with Redis, in a
#    private network namespace: Janus loads the plugin, the page is served,
#    the worker registers, both write metrics;
#  - the systemd units (systemd-analyze verify), the Prometheus config
#    (promtool), the Grafana provisioning and dashboard, the k8s manifests;
#  - remote workers over TLS, for real (tests/ops/tls.sh): a TLS-only Redis,
#    the stunnel sidecar, a worker through it, no plaintext on the wire.
#   tests/ops/run.sh        (prints TAP lines; needs root)
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
. "$TOP/tests/lib/common.sh"
enter_netns "$0" "$@"
OUT=$TOP/tests/out/ops
rm -rf "$OUT"; mkdir -p "$OUT"
PIDS=()
# The webrtc entrypoint execs Janus after starting the page server in the
# background (in a container both end with it); here that server is found by
# the staged tree it serves.
cleanup() {
  for ((i=${#PIDS[@]}-1; i>=0; i--)); do stop_pid "${PIDS[$i]}" 5; done
  [ -n "${STAGE:-}" ] && pkill -f -- "http.server 8080 --directory $STAGE/" 2>/dev/null
  return 0
}
trap cleanup EXIT

# --- compose
cd "$TOP/deploy"
tap_check "docker-compose accepts deploy/docker-compose.webrtc.yml" \
  bash -c "docker-compose -f docker-compose.webrtc.yml config >'$OUT/compose.yml' 2>'$OUT/compose.err'"
tap_check "it has the services of the docs" bash -c \
  "[ \"\$(docker-compose -f docker-compose.webrtc.yml config --services | sort | tr '\n' ' ')\" = 'grafana ml-worker node-exporter prometheus redis redis-tunnel remote-worker webrtc ' ]"
tap_check "remote workers (profile remote-worker) share their TLS sidecar's loopback, and Redis serves TLS" bash -c \
  "docker-compose -f docker-compose.webrtc.yml config | python3 -c \"
import sys, yaml
s = yaml.safe_load(sys.stdin)['services']
t, w, r = s['redis-tunnel'], s['remote-worker'], s['redis']
assert t['profiles'] == w['profiles'] == ['remote-worker'] and 'profiles' not in s['ml-worker']
assert t['entrypoint'] == ['/usr/share/ooblex/tls/redis-tunnel.sh'] and w['network_mode'] == 'service:redis-tunnel'
assert w['environment']['REDIS_URL'] == 'redis://' + t['environment']['OOBLEX_TUNNEL_ACCEPT']
assert t['environment']['OOBLEX_TUNNEL_ACCEPT'].startswith('127.0.0.1:')
cmd = ' '.join(r['command'])
assert '--tls-port 6380' in cmd and '--tls-auth-clients yes' in cmd and any((p.get('target') if isinstance(p, dict) else int(str(p).split(':')[-1].split('/')[0])) == 6380 for p in r['ports'])
\""
tap_check "the project is 'ooblex' and the containers are named as in the docs" bash -c \
  "grep -qx 'COMPOSE_PROJECT_NAME=ooblex' .env && grep -q 'container_name: ooblex_webrtc_1' '$OUT/compose.yml' && grep -q 'container_name: ooblex_redis_1' '$OUT/compose.yml'"
tap_check "ml-worker starts 3 and can be scaled (no fixed name)" bash -c \
  "docker-compose -f docker-compose.webrtc.yml config | python3 -c \"import sys, yaml; s = yaml.safe_load(sys.stdin)['services']['ml-worker']; assert s.get('scale') == 3 and 'container_name' not in s\""
tap_check "Grafana gets admin/admin and the provisioned dashboard" bash -c \
  "grep -q 'GF_SECURITY_ADMIN_PASSWORD: admin' '$OUT/compose.yml' && grep -q 'grafana/dashboards:/var/lib/grafana/dashboards' '$OUT/compose.yml'"
tap_check "every file the compose file and the Dockerfile use exists" bash -c \
  "test -f prometheus/prometheus.yml -a -d grafana/provisioning -a -d grafana/dashboards -a -f Dockerfile &&
   for f in \$(sed -n 's/^COPY \\(--from=[a-z]* \\)\\{0,1\\}//p' Dockerfile | tr ' ' '\n' | grep -v '^/' | grep -v '^\\.\$'); do test -e '$TOP'/\$f || { echo missing \$f; exit 1; }; done"
tap_check "the images are built with the native install script" bash -c \
  "grep -q 'RUN /src/deploy/install-deps.sh &&' Dockerfile && grep -q 'install-deps.sh --runtime' Dockerfile"
cd "$TOP"

# --- the Dockerfile's steps, natively
tap_check "install-deps.sh --runtime (the images' step) runs" deploy/install-deps.sh --runtime
STAGE=$OUT/stage
mkdir -p "$OUT/build"
if (cd "$OUT/build" && "$TOP/configure" --prefix=/usr --sysconfdir=/etc >configure.log 2>&1 &&
    make -j"$(nproc)" >make.log 2>&1 && make install DESTDIR="$STAGE" >install.log 2>&1); then
  tap_ok "the image's configure/make install runs (prefix /usr)"
else
  tap_fail "the image's configure/make install runs (prefix /usr)" "$(tail -5 "$OUT"/build/*.log)"; exit 1
fi
mkdir -p "$STAGE/usr/share/ooblex" "$STAGE/var/lib/ooblex/metrics"
cp deploy/docker/webrtc-entrypoint.sh deploy/janus-conf.sh "$STAGE/usr/share/ooblex/"
tap_check "the image has what its entrypoints name" bash -c \
  "ls '$STAGE'/usr/lib/*/janus/plugins/libjanus_ooblex.so && test -x '$STAGE/usr/bin/ooblex-worker' -a -f '$STAGE/usr/share/ooblex/html/index.html' -a -x '$STAGE/usr/bin/ooblex-scale-workers' -a -f '$STAGE/usr/include/ooblex/ooblex_effect.h' -a -f '$STAGE/usr/lib/ooblex/effects/threshold.so'"

start_redis 6379 "$OUT/redis.log" || tap_fail "redis starts"
PIDS+=($REDIS_PID)	# stopped with the rest (it used to outlive the test)
env OOBLEX_ROOT="$STAGE" REDIS_URL=redis://127.0.0.1:6379 FRAME_SKIP=3 OOBLEX_METRICS_DIR="$STAGE/var/lib/ooblex/metrics" \
  JANUS_ADMIN_SECRET= JANUS_RTP_RANGE=20000-20200 JANUS_PUBLIC_IP=203.0.113.7 \
  "$STAGE/usr/share/ooblex/webrtc-entrypoint.sh" >"$OUT/webrtc.log" 2>&1 &
PIDS+=($!)
env REDIS_URL=redis://127.0.0.1:6379 OOBLEX_METRICS_DIR="$STAGE/var/lib/ooblex/metrics" OOBLEX_WORKER_ID=ml-worker_1 \
  "$STAGE/usr/bin/ooblex-worker" >"$OUT/worker.log" 2>&1 &
PIDS+=($!)
wait_for 20 curl -sf -o /dev/null http://127.0.0.1:8088/janus/info
tap_check "the webrtc entrypoint runs Janus with the plugin" bash -c "curl -sf http://127.0.0.1:8088/janus/info | grep -q janus.plugin.ooblex"
wait_for 10 curl -sf -o /dev/null http://127.0.0.1:8080/
tap_check "and the page, with janus.js" bash -c \
  "curl -sf http://127.0.0.1:8080/ | grep -q '<title>Ooblex' && curl -sf -o /dev/null http://127.0.0.1:8080/javascript/janus-gateway/janus.js"
tap_check "JANUS_PUBLIC_IP becomes Janus' 1:1 NAT address" grep -q 'nat_1_1_mapping = "203.0.113.7"' "$STAGE/var/lib/ooblex/janus/conf/janus.jcfg"
# No JANUS_ADMIN_SECRET: the entrypoint makes a random one, in a file only root reads.
SECRET_FILE=$STAGE/var/lib/ooblex/janus/admin_secret
tap_check "the image makes a random Admin secret (mode 0600), not a published one" bash -c \
  "[ \$(stat -c %a '$SECRET_FILE') = 600 ] && [ \$(wc -c <'$SECRET_FILE') -ge 20 ] && ! grep -qx ooblexadmin '$SECRET_FILE'"
tap_check "and its Admin API listens on localhost only (JANUS_ADMIN_BIND)" bash -c \
  "grep -q 'admin_ip = \"127.0.0.1\"' '$STAGE/var/lib/ooblex/janus/conf/janus.transport.http.jcfg' && grep -q 'JANUS_ADMIN_BIND: 0.0.0.0' '$OUT/compose.yml'"
stats() {
  curl -sf -d "{\"janus\":\"message_plugin\",\"transaction\":\"t\",\"admin_secret\":\"$(cat "$SECRET_FILE")\",\"plugin\":\"janus.plugin.ooblex\",\"request\":{\"request\":\"stats\"}}" \
    http://127.0.0.1:7088/admin
}
wait_for 10 bash -c "SECRET_FILE='$SECRET_FILE'; $(declare -f stats); stats | grep -q '\"live_workers\":1'"
tap_check "the worker image's command joins the fleet the plugin sees" bash -c "SECRET_FILE='$SECRET_FILE'; $(declare -f stats); stats | grep -q '\"live_workers\":1'"
wait_for 5 bash -c "ls '$STAGE'/var/lib/ooblex/metrics/ooblex_plugin_*.prom"
tap_check "both write Prometheus metrics into the shared volume" bash -c \
  "ls '$STAGE'/var/lib/ooblex/metrics/ooblex_plugin_*.prom && ls '$STAGE'/var/lib/ooblex/metrics/ooblex_worker_ml-worker_1.prom"
cleanup; PIDS=()

# --- systemd, Prometheus, Grafana, Kubernetes
UNIT=$OUT/unit/ooblex-worker@.service
mkdir -p "$OUT/unit"
sed "s|^ExecStart=/usr/bin/ooblex-worker|ExecStart=$STAGE/usr/bin/ooblex-worker|" "$STAGE/usr/lib/systemd/system/ooblex-worker@.service" >"$UNIT"
tap_check "the installed systemd unit runs /usr/bin/ooblex-worker" grep -qx 'ExecStart=/usr/bin/ooblex-worker' "$STAGE/usr/lib/systemd/system/ooblex-worker@.service"
tap_check "systemd-analyze verify accepts ooblex-worker@.service" systemd-analyze verify "$UNIT"
TUNNEL_UNIT=$OUT/unit/ooblex-redis-tunnel.service
sed "s|^ExecStart=/usr/share/ooblex|ExecStart=$STAGE/usr/share/ooblex|" "$STAGE/usr/lib/systemd/system/ooblex-redis-tunnel.service" >"$TUNNEL_UNIT"
tap_check "the installed TLS tunnel unit runs the installed redis-tunnel.sh" bash -c \
  "grep -qx 'ExecStart=/usr/share/ooblex/tls/redis-tunnel.sh' '$STAGE/usr/lib/systemd/system/ooblex-redis-tunnel.service' &&
   test -x '$STAGE/usr/share/ooblex/tls/redis-tunnel.sh' -a -f '$STAGE/usr/share/ooblex/tls/redis-tunnel.conf.in' -a -x '$STAGE/usr/share/ooblex/tls/make-certs.sh'"
tap_check "systemd-analyze verify accepts ooblex-redis-tunnel.service" systemd-analyze verify "$TUNNEL_UNIT"
tap_check "promtool accepts deploy/prometheus/prometheus.yml" promtool check config deploy/prometheus/prometheus.yml
/usr/bin/python3 "$HERE/check_manifests.py" "$TOP/deploy" || rc=1
"$HERE/tls.sh" "$OUT/build" || rc=1
exit "${rc:-0}"
