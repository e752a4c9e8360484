#!/usr/bin/env bash
# Integration test: a real Redis on a private port, two real ooblex-worker
# processes, and the plugin's pipeline driven by tests/integration/test_pipeline.
#   tests/integration/run.sh BUILD_DIR      (prints TAP lines)
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/common.sh"
BUILD=$(cd "${1:?usage: run.sh BUILD_DIR}" && pwd)
OUT=$(mktemp -d /tmp/ooblex-integration.XXXXXX)
PORT=$(free_port)
W1= W2= NE= ACL_REDIS= FAR_REDIS=
cleanup() {
  stop_pid "$W1" 3; stop_pid "$W2" 3; stop_pid "$NE" 3; stop_pid "${REDIS_PID:-}" 3; stop_pid "$ACL_REDIS" 3
  stop_pid "$FAR_REDIS" 3
  [ -n "${KEEP_TEST_OUTPUT:-}" ] || rm -rf "$OUT"
}
trap cleanup EXIT

if ! start_redis "$PORT" "$OUT/redis.log"; then
  tap_fail "redis starts" "$(tail -5 "$OUT/redis.log")"; exit 1
fi
mkdir -p "$OUT/metrics"
"$BUILD/ooblex-worker" --port "$PORT" --id worker-a --metrics-dir "$OUT/metrics" >"$OUT/worker-a.log" 2>&1 & W1=$!
# The second worker finds Redis through the environment, as in a container,
# and takes frames in batches of up to 4 (the mission's BATCH_SIZE).
REDIS_URL="redis://127.0.0.1:$PORT" OOBLEX_WORKER_ID=worker-b BATCH_SIZE=4 "$BUILD/ooblex-worker" >"$OUT/worker-b.log" 2>&1 & W2=$!
wait_for 10 grep -q "connected to Redis" "$OUT/worker-a.log"
wait_for 10 grep -q "connected to Redis" "$OUT/worker-b.log"

OOBLEX_TEST_REDIS_PORT=$PORT OOBLEX_TEST_WORKER="$BUILD/ooblex-worker" "$BUILD/tests/integration/test_pipeline"
rc=$?
# Hostile browsers (issue 12): bounded memory and decoding per session, others still served.
OOBLEX_TEST_REDIS_PORT=$PORT OOBLEX_TEST_WORKER="$BUILD/ooblex-worker" "$BUILD/tests/integration/test_hostile_ingest" || rc=1
# The fleet on databases of its own: flood, kill under load, routing, metrics.
OOBLEX_TEST_REDIS_PORT=$PORT OOBLEX_TEST_WORKER="$BUILD/ooblex-worker" OOBLEX_TEST_THRESHOLD="$BUILD/.libs/threshold.so" \
  OOBLEX_TEST_STALL="$BUILD/.libs/stall.so" "$BUILD/tests/integration/test_fleet" || rc=1
# The pretrained models' effects through a worker (issue 16).
OOBLEX_TEST_REDIS_PORT=$PORT OOBLEX_TEST_WORKER="$BUILD/ooblex-worker" "$BUILD/tests/integration/test_ml_fleet" || rc=1

# A Redis that lets only an ACL user in (the default user is off), on
# 127.0.0.1 and, where there is one, ::1 ('-': optional); the password has
# what URLs must percent-encode.
ACL_PORT=$(free_port)
ACL_USER=ooblex-fleet ACL_PASSWORD='p@ss:w%rd/#1'
redis-server --port "$ACL_PORT" --bind 127.0.0.1 -::1 --save "" --appendonly no --logfile "$OUT/redis-acl.log" \
  --daemonize no --user default off --user "$ACL_USER" on ">$ACL_PASSWORD" '~*' '&*' '+@all' >/dev/null 2>&1 &
ACL_REDIS=$!
if wait_for 10 redis-cli -p "$ACL_PORT" --user "$ACL_USER" --pass "$ACL_PASSWORD" --no-auth-warning ping; then
  OOBLEX_TEST_ACL_PORT=$ACL_PORT OOBLEX_TEST_ACL_USER=$ACL_USER OOBLEX_TEST_ACL_PASSWORD=$ACL_PASSWORD \
    OOBLEX_TEST_LOG_DIR=$OUT OOBLEX_TEST_WORKER="$BUILD/ooblex-worker" "$BUILD/tests/integration/test_redis_acl" || rc=1
else
  tap_fail "a Redis with an ACL user starts" "$(tail -5 "$OUT/redis-acl.log")"; rc=1
fi
stop_pid "$ACL_REDIS" 3; ACL_REDIS=

# Workers far from Redis (a relay holding every chunk 20 ms each way), on a
# Redis of their own so that their databases are theirs.
FAR_PORT=$(free_port)
REDIS_PID_MAIN=$REDIS_PID
if start_redis "$FAR_PORT" "$OUT/redis-far.log"; then
  FAR_REDIS=$REDIS_PID
  OOBLEX_TEST_REDIS_PORT=$FAR_PORT OOBLEX_TEST_WORKER="$BUILD/ooblex-worker" \
    OOBLEX_TEST_RELAY="$BUILD/tests/tools/delay_relay" OOBLEX_TEST_STALL="$BUILD/.libs/stall.so" \
    "$BUILD/tests/integration/test_remote" || rc=1
else
  tap_fail "a Redis for the far workers starts" "$(tail -5 "$OUT/redis-far.log")"; rc=1
fi
REDIS_PID=$REDIS_PID_MAIN
stop_pid "$FAR_REDIS" 3; FAR_REDIS=

# What the worker processes themselves show.
tap_check "both workers log 'Processing frame N...'" \
  bash -c "grep -q 'Processing frame [0-9]*\.\.\.' '$OUT/worker-a.log' && grep -q 'Processing frame [0-9]*\.\.\.' '$OUT/worker-b.log'"
tap_check "malformed messages are logged and skipped" \
  bash -c "cat '$OUT'/worker-*.log | grep -c 'skipping a malformed message' | grep -qx 4"
tap_check "a killed worker's frame was reaped by a live one" bash -c "cat '$OUT'/worker-*.log | grep -q 'reaped ooblex:processing:victim: 1 frame'"
tap_check "workers are still running after garbage" bash -c "kill -0 $W1 && kill -0 $W2"
tap_check "a frame is never processed twice" \
  bash -c "! cat '$OUT'/worker-*.log | grep -o 'Processing frame [0-9]*\.\.\. (client [0-9a-f]*' | sort | uniq -d | grep -q ."
tap_check "both workers are in the registry" bash -c \
  "redis-cli -p $PORT --raw KEYS 'ooblex:worker:*' | grep -qx ooblex:worker:worker-a && redis-cli -p $PORT --raw KEYS 'ooblex:worker:*' | grep -qx ooblex:worker:worker-b"
tap_check "BATCH_SIZE is taken from the environment and shown in the registry" bash -c \
  "grep -q 'batch size 4' '$OUT/worker-b.log' && redis-cli -p $PORT --raw GET ooblex:worker:worker-b | grep -q '\"batch_size\":4'"
# What Prometheus would see: Debian's node exporter reading the textfile.
NE_PORT=$(free_port)
prometheus-node-exporter --web.listen-address="127.0.0.1:$NE_PORT" --collector.disable-defaults \
  --collector.textfile --collector.textfile.directory="$OUT/metrics" >"$OUT/node-exporter.log" 2>&1 & NE=$!
if ! wait_for 10 curl -sf -o "$OUT/scrape.txt" "http://127.0.0.1:$NE_PORT/metrics"; then
  # Why, for the next person: its own words (a port it could not bind...).
  echo "# node exporter on port $NE_PORT gave no scrape; running: $(kill -0 $NE 2>/dev/null && echo yes || echo no)"
  tail -5 "$OUT/node-exporter.log" | sed 's/^/#   /'
fi
tap_check "node exporter serves the worker's metrics" bash -c \
  "grep -Eq '^ooblex_worker_frames_total\{effect=\"invert\",worker=\"worker-a\"\} [1-9]' '$OUT/scrape.txt' &&
   grep -q '^ooblex_worker_processing_seconds_bucket{effect=\"invert\",worker=\"worker-a\",le=\"+Inf\"} [1-9]' '$OUT/scrape.txt' &&
   grep -q '^ooblex_worker_up{.*worker=\"worker-a\"} 1' '$OUT/scrape.txt'"
tap_check "node exporter finds the metrics file well-formed" grep -q '^node_textfile_scrape_error 0' "$OUT/scrape.txt"
stop_pid "$NE" 3; NE=
tap_check "a registry entry expires by itself" bash -c "[ \$(redis-cli -p $PORT TTL ooblex:worker:worker-a) -le 5 ]"
# The benchmark's load generator still drives the data path (a smoke run, no figures).
"$BUILD/tests/bench/loadgen" --port "$PORT" --sessions 2 --skip 1 --warmup 0.5 --seconds 1.5 --no-stop \
  >"$OUT/loadgen.json" 2>"$OUT/loadgen.log"
tap_check "the benchmark's load generator gets results back for two sessions" python3 -c "
import json, sys
s = json.load(open(sys.argv[1]))['steps'][0]
sys.exit(0 if s['results_delivered'] >= 30 and s['decode_errors'] == 0 and s['stages_ms']['total'] else 1)" "$OUT/loadgen.json"
stop_pid "$W1" 5; c1=$?; W1=
stop_pid "$W2" 5; c2=$?; W2=
tap_check "SIGTERM stops workers with exit code 0" test "$c1" -eq 0 -a "$c2" -eq 0
tap_check "workers print a summary when they stop" bash -c "grep -q 'stopping: [0-9]* processed' '$OUT/worker-a.log'"
tap_check "a stopped worker's metrics file is gone" test ! -e "$OUT/metrics/ooblex_worker_worker-a.prom"
tap_check "a stopped worker leaves the registry at once" bash -c "! redis-cli -p $PORT --raw KEYS 'ooblex:*' | grep -E 'ooblex:(worker|alive):worker-'"
if [ "$rc" -ne 0 ] || [ -n "${KEEP_TEST_OUTPUT:-}" ]; then echo "# logs in $OUT"; KEEP_TEST_OUTPUT=1; fi
exit $rc
