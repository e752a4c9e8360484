#!/usr/bin/env bash
# Processed fps for ONE client of an ML effect with 1, 2 and 4 workers: the
# load generator (tests/bench/loadgen.c: the plugin's ingest, producer, reader
# and return path, without Janus) sends 640x480 camera video at 30 fps, every
# frame sampled (--skip 1), to workers that run only that effect, on a Redis
# of its own. Prints one Markdown row per worker count. No pass/fail.
#   tests/bench/ml_fleet.sh BUILD_DIR [EFFECT] [SECONDS]   (default background_blur, 8)
# Run it alone on the machine (flock /tmp/ooblex-heavy.lock ...): it measures CPU-bound rates.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/common.sh"
BUILD=$(cd "${1:?usage: ml_fleet.sh BUILD_DIR [EFFECT] [SECONDS]}" && pwd)
EFFECT=${2:-background_blur}
SECS=${3:-8}
OUT=$(mktemp -d /tmp/ooblex-ml-fleet.XXXXXX)
PORT=$(free_port)
WORKERS=()
cleanup() {
  for p in "${WORKERS[@]}"; do stop_pid "$p" 5; done
  stop_pid "${REDIS_PID:-}" 3
  rm -rf "$OUT"
}
trap cleanup EXIT
start_redis "$PORT" "$OUT/redis.log" || { echo "redis did not start" >&2; exit 1; }
[ -x "$BUILD/tests/bench/loadgen" ] || make -C "$BUILD" tests/bench/loadgen >/dev/null || exit 1
echo "| effect | workers | processed fps (one client, 30 sent) | p95 capture→sent ms | worker p50 ms |"
echo "| --- | --- | --- | --- | --- |"
for n in 1 2 4; do
  while ((${#WORKERS[@]} < n)); do
    i=${#WORKERS[@]}
    "$BUILD/ooblex-worker" --port "$PORT" --id "ml-$i" --effects "$EFFECT" >"$OUT/worker-$i.log" 2>&1 &
    WORKERS+=($!)
    wait_for 20 grep -q "connected to Redis" "$OUT/worker-$i.log"
  done
  sleep 1
  "$BUILD/tests/bench/loadgen" --port "$PORT" --sessions 1 --skip 1 --effect "$EFFECT" --warmup 2 \
    --seconds "$SECS" --no-stop >"$OUT/run-$n.json" 2>"$OUT/run-$n.log" || { tail -5 "$OUT/run-$n.log" >&2; exit 1; }
  python3 - "$OUT/run-$n.json" "$EFFECT" "$n" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
steps = doc["steps"] if isinstance(doc, dict) and "steps" in doc else doc
step = steps[0] if isinstance(steps, list) else steps
w = step["stages_ms"]["worker"]
print(f"| `{sys.argv[2]}` | {sys.argv[3]} | {step['processed_fps_per_client_mean']:.1f} | {step['p95_ms']:.0f} | {w['p50']:.1f} |")
PY
done
