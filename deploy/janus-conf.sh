#!/usr/bin/env bash
# Writes a private Janus config tree that loads the Ooblex plugin, so Ooblex
# can run beside (not inside) a system Janus. Used by run-webrtc-demo.sh and
# the end-to-end tests.
#
#   deploy/janus-conf.sh DIR PLUGIN_SO [options]
#     --http-port N     Janus HTTP API (default 8088)
#     --ws-port N       Janus WebSocket API (default 8188)
#     --admin-port N    Admin API over HTTP (default 7088)
#     --bind IP         address the HTTP and WebSocket APIs listen on (default 127.0.0.1)
#     --admin-bind IP   address the Admin API listens on (default 127.0.0.1,
#                       whatever --bind says: it can do anything to Janus)
#     --rtp-range A-B   media ports (default 20000-40000)
#     --ice-enforce X   interface or IP for ICE candidates (default: Janus decides)
#     --nat-1-1 IP      the public address to advertise (behind NAT, in Docker)
#     --admin-secret S  the Admin API secret (default: a random one, made here)
#     --admin-secret-file F  read it from F instead
#                       Either way it is written to DIR/admin_secret (mode 0600).
#     --redis-url URL   redis://[[user]:pw@]host:port[/db] (default redis://127.0.0.1:6379)
#     --frame-skip N    (default 3)
#     --debug-level N   Janus log level 0-7 (default 4)
#     --events-backend URL  enable Janus' sample event handler, posting plugin
#                       and session events as JSON to URL (default: no events)
#     --metrics-dir DIR the plugin's Prometheus textfile folder (default: none)
#     --echotest        also load Janus' echotest plugin (a reference path)
#     --plugin-conf F   the plugin config to start from (default: conf/ of this
#                       source tree, else the installed /etc/janus/...jcfg.sample)
#     --tls-cert PEM --tls-key PEM  also serve wss:// on 8989 and https:// on
#                       8089 (pages served over HTTPS can only use these)
# Layout: DIR/conf/*.jcfg, DIR/plugins (the plugin only), DIR/transports (HTTP
# and WebSockets only). Start Janus with:
#   janus -C DIR/conf/janus.jcfg -F DIR/conf -P DIR/plugins
set -euo pipefail
DIR=${1:?usage: janus-conf.sh DIR PLUGIN_SO [options]}
PLUGIN=${2:?usage: janus-conf.sh DIR PLUGIN_SO [options]}
shift 2
HTTP_PORT=8088 WS_PORT=8188 ADMIN_PORT=7088 BIND=127.0.0.1 ADMIN_BIND=127.0.0.1 RTP_RANGE=20000-40000 ICE_ENFORCE= NAT_1_1=
ADMIN_SECRET= REDIS_URL_ARG=redis://127.0.0.1:6379 FRAME_SKIP=3 DEBUG_LEVEL=4 EVENTS_BACKEND= METRICS_DIR= TLS_CERT= TLS_KEY= PLUGIN_CONF= ECHOTEST=0
while (($#)); do
  case "$1" in
    --http-port) HTTP_PORT=$2; shift 2 ;;
    --ws-port) WS_PORT=$2; shift 2 ;;
    --admin-port) ADMIN_PORT=$2; shift 2 ;;
    --bind) BIND=$2; shift 2 ;;
    --rtp-range) RTP_RANGE=$2; shift 2 ;;
    --ice-enforce) ICE_ENFORCE=$2; shift 2 ;;
    --nat-1-1) NAT_1_1=$2; shift 2 ;;
    --admin-bind) ADMIN_BIND=$2; shift 2 ;;
    --admin-secret) ADMIN_SECRET=$2; shift 2 ;;
    --admin-secret-file) ADMIN_SECRET=$(cat "$2") || exit 1; shift 2 ;;
    --redis-url) REDIS_URL_ARG=$2; shift 2 ;;
    --frame-skip) FRAME_SKIP=$2; shift 2 ;;
    --debug-level) DEBUG_LEVEL=$2; shift 2 ;;
    --events-backend) EVENTS_BACKEND=$2; shift 2 ;;
    --metrics-dir) METRICS_DIR=$2; shift 2 ;;
    --tls-cert) TLS_CERT=$2; shift 2 ;;
    --plugin-conf) PLUGIN_CONF=$2; shift 2 ;;
    --echotest) ECHOTEST=1; shift ;;
    --tls-key) TLS_KEY=$2; shift 2 ;;
    *) echo "janus-conf.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -f "$PLUGIN" ] || { echo "janus-conf.sh: no plugin at $PLUGIN (build first)" >&2; exit 1; }
SYSLIB=$(dirname "$(dpkg -L janus 2>/dev/null | grep '/janus/transports/libjanus_http.so$' | head -1)")
[ -d "$SYSLIB" ] || SYSLIB=/usr/lib/$(gcc -print-multiarch 2>/dev/null)/janus/transports
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
PLUGIN=$(cd "$(dirname "$PLUGIN")" && pwd)/$(basename "$PLUGIN")
rm -rf "$DIR/conf" "$DIR/plugins" "$DIR/transports" "$DIR/events" "$DIR/loggers"
mkdir -p "$DIR/conf" "$DIR/plugins" "$DIR/transports" "$DIR/events" "$DIR/loggers"
# The configs hold the Admin secret and the Redis URL (with any password).
chmod 700 "$DIR/conf"
# No fixed default: a published secret is no secret. 18 random bytes, URL-safe.
if [ -z "$ADMIN_SECRET" ]; then
  ADMIN_SECRET=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
fi
case "$ADMIN_SECRET" in *[\\\"]*) echo "janus-conf.sh: the admin secret may not hold '\"' or '\\'" >&2; exit 2 ;; esac
(umask 077; printf '%s\n' "$ADMIN_SECRET" >"$DIR/admin_secret")
ln -s "$PLUGIN" "$DIR/plugins/libjanus_ooblex.so"
if [ "$ECHOTEST" = 1 ]; then
  ln -s "$(dirname "$SYSLIB")/plugins/libjanus_echotest.so" "$DIR/plugins/"
  printf 'general: {\n}\n' >"$DIR/conf/janus.plugin.echotest.jcfg"
fi
ln -s "$SYSLIB/libjanus_http.so" "$DIR/transports/"
ln -s "$SYSLIB/libjanus_websockets.so" "$DIR/transports/"
ENFORCE=""
[ -n "$ICE_ENFORCE" ] && ENFORCE="ice_enforce_list = \"$ICE_ENFORCE\""
[ -n "$NAT_1_1" ] && ENFORCE="$ENFORCE
	nat_1_1_mapping = \"$NAT_1_1\""
BROADCAST=false
if [ -n "$EVENTS_BACKEND" ]; then
  BROADCAST=true
  ln -s "$(dirname "$SYSLIB")/events/libjanus_sampleevh.so" "$DIR/events/"
  cat >"$DIR/conf/janus.eventhandler.sampleevh.jcfg" <<JCFG
general: {
	enabled = true
	events = "plugins,handles"
	grouping = false
	json = "compact"
	backend = "$EVENTS_BACKEND"
}
JCFG
fi

cat >"$DIR/conf/janus.jcfg" <<JCFG
general: {
	configs_folder = "$DIR/conf"
	plugins_folder = "$DIR/plugins"
	transports_folder = "$DIR/transports"
	events_folder = "$DIR/events"
	loggers_folder = "$DIR/loggers"
	debug_level = $DEBUG_LEVEL
	admin_secret = "$ADMIN_SECRET"
	server_name = "ooblex"
	session_timeout = 60
}
certificates: {
	# No certificate: Janus makes a throw-away DTLS certificate at start.
}
media: {
	rtp_port_range = "$RTP_RANGE"
}
nat: {
	$ENFORCE
	ignore_mdns = true
}
plugins: {
}
transports: {
}
events: {
	broadcast = $BROADCAST
}
loggers: {
}
JCFG
cat >"$DIR/conf/janus.transport.http.jcfg" <<JCFG
general: {
	json = "compact"
	base_path = "/janus"
	http = true
	ip = "$BIND"
	port = $HTTP_PORT
	https = $([ -n "$TLS_CERT" ] && echo true || echo false)
	secure_ip = "$BIND"
	secure_port = 8089
}
certificates: {
	$([ -n "$TLS_CERT" ] && printf 'cert_pem = "%s"
	cert_key = "%s"' "$TLS_CERT" "$TLS_KEY")
}
admin: {
	admin_base_path = "/admin"
	admin_http = true
	admin_ip = "$ADMIN_BIND"
	admin_port = $ADMIN_PORT
	admin_https = false
}
cors: {
}
JCFG
cat >"$DIR/conf/janus.transport.websockets.jcfg" <<JCFG
general: {
	json = "compact"
	ws = true
	ws_ip = "$BIND"
	ws_port = $WS_PORT
	wss = $([ -n "$TLS_CERT" ] && echo true || echo false)
	wss_ip = "$BIND"
	wss_port = 8989
}
certificates: {
	$([ -n "$TLS_CERT" ] && printf 'cert_pem = "%s"
	cert_key = "%s"' "$TLS_CERT" "$TLS_KEY")
}
admin: {
	admin_ws = false
	admin_wss = false
}
cors: {
}
JCFG
# The plugin's own settings: the shipped defaults with this Redis.
HERE=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "$PLUGIN_CONF" ]; then
  PLUGIN_CONF=$HERE/conf/janus.plugin.ooblex.jcfg
  [ -f "$PLUGIN_CONF" ] || PLUGIN_CONF=/etc/janus/janus.plugin.ooblex.jcfg.sample
fi
[ -f "$PLUGIN_CONF" ] || { echo "janus-conf.sh: no plugin config at $PLUGIN_CONF" >&2; exit 1; }
sed -e "s|^\s*#\?url = .*|	url = \"$REDIS_URL_ARG\"|" \
    -e '/^\s*host = /d' -e '/^\s*port = /d' -e '/^\s*db = /d' \
    -e "s|^\(\s*frame_skip = \).*|\1$FRAME_SKIP|" \
    -e "s|^\(\s*textfile_dir = \).*|\1\"$METRICS_DIR\"|" \
    "$PLUGIN_CONF" >"$DIR/conf/janus.plugin.ooblex.jcfg"
echo "$DIR/conf/janus.jcfg"
