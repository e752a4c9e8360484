#!/usr/bin/env bash
# Tests the README's demo command as a new user runs it: ./run-webrtc-demo.sh
# starts Redis, Janus, 3 workers and the page on their documented ports; a real
# Chromium then uses that page end to end; Ctrl-C (SIGINT) stops everything.
# The Admin API's secret is new every run and the printed stats command works
# as printed; with --host the Admin API still listens on localhost only. The
# demo's Redis killed mid-session comes back and the same page session gets
# processed frames again.
# Runs in a private network namespace (the demo's fixed ports must be free,
# and Janus needs a non-loopback interface for ICE).
#   tests/demo/run.sh        (prints TAP lines; needs root)
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
. "$TOP/tests/lib/common.sh"
enter_netns "$0" "$@"

OUT=$TOP/tests/out/demo
rm -rf "$OUT"; mkdir -p "$OUT"
VIDEO=${E2E_VIDEO:-/tmp/ooblex-e2e-640x480.y4m}
[ -s "$VIDEO" ] || "$TOP/tests/e2e/gen-video.sh" "$VIDEO" 12

# Job control: the demo gets its own process group, as in a terminal, so that
# Ctrl-C can be sent the way a terminal sends it. (Without it, bash starts a
# background job with SIGINT ignored, and the demo could not trap Ctrl-C.)
# And SIGINT back to its default, as a terminal's shell has it: when this
# script itself was started in the background by a non-interactive shell,
# it inherited SIGINT ignored, job control does not undo that, and a signal
# ignored on entry cannot be trapped: the demo then missed Ctrl-C while its
# Redis (which sets its own handler) exited, and restarted it.
as_in_a_terminal() { perl -e '$SIG{INT} = "DEFAULT"; $SIG{QUIT} = "DEFAULT"; exec { $ARGV[0] } @ARGV or die "exec $ARGV[0]: $!\n"' -- "$@"; }
set -m
as_in_a_terminal "$TOP/run-webrtc-demo.sh" >"$OUT/demo.log" 2>&1 &
DEMO=$!
set +m
trap 'kill -KILL -- -$DEMO 2>/dev/null' EXIT
if ! wait_for 300 grep -q "Ooblex is running" "$OUT/demo.log"; then
  tap_fail "run-webrtc-demo.sh starts everything" "$(tail -20 "$OUT/demo.log")"; exit 1
fi
tap_ok "run-webrtc-demo.sh starts everything"
tap_check "it prints the page URL" grep -q "http://localhost:8080/" "$OUT/demo.log"
tap_check "the page is served" bash -c "curl -sf http://127.0.0.1:8080/ | grep -q '<title>Ooblex'"
tap_check "janus.js is served beside it" curl -sf -o /dev/null http://127.0.0.1:8080/javascript/janus-gateway/janus.js
tap_check "Janus runs the plugin and the WebSocket transport" bash -c \
  "curl -sf http://127.0.0.1:8088/janus/info | grep -q janus.plugin.ooblex && curl -sf http://127.0.0.1:8088/janus/info | grep -q janus.transport.websockets"
tap_check "3 workers are connected to Redis" bash -c \
  "sleep 1; [ \$(grep -l 'connected to Redis' '$TOP'/.run/workers/ml-worker_*.log | wc -l) -eq 3 ]"
tap_check "it prints the command that scales the workers" grep -q "deploy/scale-workers.sh 5" "$OUT/demo.log"

# The Admin secret: random, this run's, private, and in the printed command.
SECRET=$(cat "$TOP/.run/admin-secret" 2>/dev/null)
STATS_CMD=$(sed -n 's/^ *Stats *//p' "$OUT/demo.log")
OLD_SECRET_STATS='{"janus":"message_plugin","transaction":"t","admin_secret":"ooblexadmin","plugin":"janus.plugin.ooblex","request":{"request":"stats"}}'
tap_check "the Admin secret is a random one of this run, not a published one" bash -c \
  "[ \${#1} -ge 20 ] && [ \"\$1\" != ooblexadmin ] && grep -qF \"admin_secret = \\\"\$1\\\"\" '$TOP/.run/janus/conf/janus.jcfg'" _ "$SECRET"
tap_check ".run/admin-secret is readable by its owner only" bash -c "[ \$(stat -c %a '$TOP/.run/admin-secret') = 600 ]"
tap_check "the printed stats command works as printed" bash -c "$STATS_CMD | grep -q '\"live_workers\":3'"
tap_check "the Admin API refuses the old published secret" bash -c \
  "curl -s -d '$OLD_SECRET_STATS' http://127.0.0.1:7088/admin | grep -q '\"code\":403'"

node "$TOP/tests/e2e/e2e.js" --out "$OUT" --video "$VIDEO" --page http://127.0.0.1:8080/ \
  --janus-ws ws://127.0.0.1:8188/ --janus-http http://127.0.0.1:8088/janus \
  --admin http://127.0.0.1:7088/admin --admin-secret "$SECRET" --redis-port 6379 | sed 's/^\(not \)\{0,1\}ok - /&demo: /'

# The README's embed example, exactly as written, against the demo.
node "$TOP/tests/e2e/embed.js" --video "$VIDEO" --page http://127.0.0.1:8080/ --www "$TOP/.run/www" | sed 's/^\(not \)\{0,1\}ok - /&demo: /'

# The demo's own Redis dies mid-session: the demo restarts it and keeps running.
node "$TOP/tests/e2e/redis-restart.js" --video "$VIDEO" --page http://127.0.0.1:8080/ --redis-port 6379 |
  sed 's/^\(not \)\{0,1\}ok - /&demo: /'
tap_check "the demo logged the restart, and is still running" bash -c \
  "grep -q 'redis exited (status 137); restarting it in 1s' '$OUT/demo.log' && grep -q 'redis is back' '$OUT/demo.log' && kill -0 $DEMO"
# The page's frames only prove that one worker is back: the others may still
# be in their reconnect backoff (up to 2 s), and the plugin reads the
# registry once a second. So: all three within a bounded wait.
tap_check "the workers rode it out (reconnected, still 3)" wait_for 15 bash -c \
  "[ \$(grep -l 'back after an outage' '$TOP'/.run/workers/ml-worker_*.log | wc -l) -eq 3 ] && $STATS_CMD | grep -q '\"live_workers\":3'"

tap_check "the mission's 'Processing frame N...' lines are in the worker logs" \
  grep -q "Processing frame [0-9]*\.\.\." "$TOP/.run/workers/ml-worker_1.log"
kill -INT -- -"$DEMO"
wait_for 20 bash -c "! kill -0 $DEMO"
tap_check "Ctrl-C stops the demo" bash -c "! kill -0 $DEMO 2>/dev/null"
tap_check "and everything it started" bash -c \
  "! pgrep -f '[o]oblex-worker --id ml-worker' && ! pgrep -f '[.]run/janus/conf' && ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null && ! (exec 3<>/dev/tcp/127.0.0.1/8080) 2>/dev/null"
tap_check "the demo said what it stopped" bash -c "grep 'stopped:' '$OUT/demo.log' | grep -q 'redis janus page ml-worker_1 ml-worker_2 ml-worker_3'"
tap_check "Ctrl-C stops its Redis for good (no restart on the way out)" bash -c \
  "[ \$(grep -c 'redis exited' '$OUT/demo.log') -eq 1 ] && ! grep -q 'janus exited' '$OUT/demo.log'"

# Again, as a user on another machine would run it: HTTPS with a self-signed
# certificate, one slow worker, then scaled up and down while a session runs.
export OOBLEX_WORKER_ARGS="--delay-ms 100"
set -m
as_in_a_terminal "$TOP/run-webrtc-demo.sh" --workers 1 --host 127.0.0.2 >"$OUT/demo-https.log" 2>&1 &
DEMO=$!
set +m
if ! wait_for 120 grep -q "Ooblex is running" "$OUT/demo-https.log"; then
  tap_fail "the demo runs again, with --host" "$(tail -20 "$OUT/demo-https.log")"; exit 1
fi
tap_ok "the demo runs again, with --host"
tap_check "it prints the https URL" grep -q "https://127.0.0.2:8080/" "$OUT/demo-https.log"
tap_check "with --host, the Admin API still listens on localhost only" bash -c \
  "! (exec 3<>/dev/tcp/127.0.0.2/7088) 2>/dev/null && (exec 3<>/dev/tcp/127.0.0.1/7088) && ! ss -ltn | grep -q '0.0.0.0:7088'"
tap_check "a new run has a new Admin secret, and its stats command works" bash -c \
  "[ \"\$(cat '$TOP/.run/admin-secret')\" != \"\$1\" ] && eval \"\$(sed -n 's/^ *Stats *//p' '$OUT/demo-https.log')\" | grep -q '\"sessions\"'" _ "$SECRET"
tap_check "the page is served over HTTPS with a certificate for that host" bash -c \
  "curl -sf --cacert '$TOP/.run/tls/cert.pem' https://127.0.0.2:8080/ | grep -q '<title>Ooblex'"
tap_check "Janus answers on https :8089 too" bash -c "curl -sf --cacert '$TOP/.run/tls/cert.pem' https://127.0.0.2:8089/janus/info | grep -q janus.plugin.ooblex"
node "$TOP/tests/e2e/scaling.js" --video "$VIDEO" --page https://127.0.0.2:8080/ --ignore-cert
tap_check "deploy/scale-workers.sh status tells what runs" bash -c "'$TOP/deploy/scale-workers.sh' status | tail -1 | grep -q '^1 worker'"
kill -INT -- -"$DEMO"
wait_for 20 bash -c "! kill -0 $DEMO"
tap_check "Ctrl-C stops it, with the workers" bash -c "! kill -0 $DEMO 2>/dev/null && ! pgrep -f '[o]oblex-worker --id ml-worker'"
tap_check "and its Redis is not restarted on the way out" bash -c "! grep -q 'redis exited' '$OUT/demo-https.log'"
