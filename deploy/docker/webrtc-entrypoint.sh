#!/usr/bin/env bash
# The webrtc container: Janus with the Ooblex plugin (config from the
# environment, through the same janus-conf.sh the native demo uses), and the
# demo page on :8080. Janus runs in the foreground; the page server goes with it.
#   REDIS_URL, FRAME_SKIP, OOBLEX_METRICS_DIR,
#   JANUS_ADMIN_SECRET (empty: a random one per start, in
#   /var/lib/ooblex/janus/admin_secret), JANUS_ADMIN_BIND (default 127.0.0.1:
#   the Admin API stays inside the container or pod; compose sets 0.0.0.0 and
#   publishes it on the host's 127.0.0.1 only),
#   JANUS_RTP_RANGE (publish the same UDP range), JANUS_PUBLIC_IP (the
#   address browsers reach this host at, for ICE behind Docker's NAT)
# OOBLEX_ROOT (default /) is where the image's files are: tests/ops runs this
# very script on a `make install DESTDIR=...` tree, without Docker.
set -euo pipefail
ROOT=${OOBLEX_ROOT:-}
PLUGIN=$(ls "$ROOT"/usr/lib/*/janus/plugins/libjanus_ooblex.so | head -1)
"$ROOT"/usr/share/ooblex/janus-conf.sh "$ROOT"/var/lib/ooblex/janus "$PLUGIN" --bind 0.0.0.0 \
  --admin-bind "${JANUS_ADMIN_BIND:-127.0.0.1}" ${JANUS_ADMIN_SECRET:+--admin-secret "$JANUS_ADMIN_SECRET"} \
  --redis-url "$REDIS_URL" --frame-skip "$FRAME_SKIP" \
  --rtp-range "$JANUS_RTP_RANGE" --metrics-dir "$OOBLEX_METRICS_DIR" \
  --plugin-conf "$ROOT/etc/janus/janus.plugin.ooblex.jcfg.sample" \
  ${JANUS_PUBLIC_IP:+--nat-1-1 "$JANUS_PUBLIC_IP"} >/dev/null
echo "[ooblex] Admin API on ${JANUS_ADMIN_BIND:-127.0.0.1}:7088; its secret is in /var/lib/ooblex/janus/admin_secret" \
  "(docker exec ooblex_webrtc_1 cat /var/lib/ooblex/janus/admin_secret)"
python3 -m http.server 8080 --directory "$ROOT"/usr/share/ooblex/html &
J=$ROOT/var/lib/ooblex/janus
exec janus -C "$J/conf/janus.jcfg" -F "$J/conf" -P "$J/plugins" -o
