#!/usr/bin/env bash
# `make install` puts the plugin, its config and the page where Janus and a web
# server find them, and a Janus pointed at the installed files loads the plugin.
#   tests/install/run.sh BUILD_DIR      (prints TAP lines)
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
. "$TOP/tests/lib/common.sh"
BUILD=$(cd "${1:?usage: run.sh BUILD_DIR}" && pwd)
DEST=$(mktemp -d /tmp/ooblex-install.XXXXXX)
JPID=
trap 'stop_pid "$JPID" 5; rm -rf "$DEST"' EXIT

make -C "$BUILD" install DESTDIR="$DEST" >"$DEST.log" 2>&1
tap_check "make install succeeds" test $? -eq 0
PLUGDIR=$(sed -n 's/^janusplugindir = //p' "$BUILD/Makefile")
CONFDIR=$(sed -n 's/^janusconfdir = //p' "$BUILD/Makefile")
PREFIX=$(sed -n 's/^prefix = //p' "$BUILD/Makefile")
tap_check "the plugin goes where the installed Janus loads plugins" \
  test -f "$DEST$PLUGDIR/libjanus_ooblex.so" -a "$PLUGDIR" = "$(dirname "$(dpkg -L janus | grep '/plugins/libjanus_echotest.so$')")"
tap_check "no libtool archive beside it" test ! -e "$DEST$PLUGDIR/libjanus_ooblex.la"
tap_check "the config goes where Janus reads configs" test -f "$DEST$CONFDIR/janus.plugin.ooblex.jcfg" -a "$CONFDIR" = /etc/janus
tap_check "the worker is installed" test -x "$DEST$PREFIX/bin/ooblex-worker"
tap_check "the page is installed with janus.js reachable beside it" \
  test -f "$DEST$PREFIX/share/ooblex/html/index.html" -a -f "$DEST$PREFIX/share/ooblex/html/js/ooblex.js" \
  -a -f "$DEST$PREFIX/share/ooblex/html/javascript/janus-gateway/janus.js"
echo "# edited by the operator" >>"$DEST$CONFDIR/janus.plugin.ooblex.jcfg"
make -C "$BUILD" install DESTDIR="$DEST" >>"$DEST.log" 2>&1
tap_check "reinstalling keeps an edited config (and refreshes the .sample)" \
  bash -c "tail -1 '$DEST$CONFDIR/janus.plugin.ooblex.jcfg' | grep -q operator && test -f '$DEST$CONFDIR/janus.plugin.ooblex.jcfg.sample'"

# Janus loads the installed plugin, reads the installed config, and lists it.
HTTP=$(free_port); ADMIN=$(free_port); WS=$(free_port)
"$TOP/deploy/janus-conf.sh" "$DEST/run" "$DEST$PLUGDIR/libjanus_ooblex.so" --http-port "$HTTP" \
  --ws-port "$WS" --admin-port "$ADMIN" --redis-url redis://127.0.0.1:1 >/dev/null
cp "$DEST$CONFDIR/janus.plugin.ooblex.jcfg" "$DEST/run/conf/"
janus -C "$DEST/run/conf/janus.jcfg" -F "$DEST/run/conf" -P "$DEST/run/plugins" -o >"$DEST/janus.log" 2>&1 &
JPID=$!
wait_for 15 bash -c "exec 3<>/dev/tcp/127.0.0.1/$HTTP"
tap_check "Janus loads the installed plugin (Redis away: it still starts)" \
  bash -c "curl -sf http://127.0.0.1:$HTTP/janus/info | grep -q '\"janus.plugin.ooblex\"'"
tap_check "and says once that Redis is unavailable" bash -c "sleep 0.5; grep -c 'Redis unavailable' '$DEST/janus.log' | grep -qx 2"
stop_pid "$JPID" 5; JPID=

# Bad settings: each is a clear log line, the default is kept, Janus runs.
cat >"$DEST/run/conf/janus.plugin.ooblex.jcfg" <<'JCFG'
general: {
	frame_skip = 0
	jpeg_quality = "best"
	max_in_flight = 1000
	frame_format = "webp"
	video_codecs = "vp8,av1"
	max_width = -5
}
redis: {
	url = "http://nope"
	port = 99999
}
JCFG
janus -C "$DEST/run/conf/janus.jcfg" -F "$DEST/run/conf" -P "$DEST/run/plugins" -o >"$DEST/janus-bad.log" 2>&1 &
JPID=$!
wait_for 15 bash -c "exec 3<>/dev/tcp/127.0.0.1/$HTTP"
tap_check "bad config values are refused one by one, with a log line each" bash -c \
  "[ \$(grep -c 'Ooblex config: ' '$DEST/janus-bad.log') -eq 8 ]"
tap_check "and Janus runs the plugin with the defaults" bash -c \
  "curl -sf http://127.0.0.1:$HTTP/janus/info | grep -q '\"janus.plugin.ooblex\"' && grep -q 'frame_skip 3, effect invert, frames as i420 up to 1280x720, max 6 in flight' '$DEST/janus-bad.log'"
grep 'Ooblex config: ' "$DEST/janus-bad.log" | sed 's/^/# /'
rm -f "$DEST.log"
