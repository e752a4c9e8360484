#!/usr/bin/env bash
# Workers far from Redis (issue 14 item 5): figures, never pass/fail.
#
#   tests/bench/remote_workers.sh [BUILD_DIR [OUT_DIR]]     (tests/bench/run.sh calls it)
#   BENCH_QUICK=1 ...                                         shorter windows
#
# The issue's setup on one machine: 4 loadgen sessions at FRAME_SKIP=1 (120
# frames/s due, VP8 640x480, effect invert, JPEG results; loadgen drives the
# plugin's own data path), two "hosts" of two workers each, every worker
# connection through tests/tools/delay_relay (one relay per host) adding
# DELAY ms each way, for DELAY = 0, 10, 20, 40. Each delay runs twice in
# the same run: --prefetch 0 (take, process, complete one after the other,
# each waiting for Redis: main's behaviour before prefetch) and the default
# --prefetch auto; at 20 ms also with JPEG transport (frame_format jpeg).
# Reported: the fraction of due frames delivered (100 - loadgen's drops),
# per-frame latency p50/p95 (first packet to result handed to the data
# channel), the PING round trip through the relay (redis-benchmark), and the
# relay's own cost at 0 ms against PING straight to Redis.
# Writes OUT_DIR/remote_workers.json and remote_workers.md.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib/common.sh"
BUILD=$(cd "${1:-$TOP/build}" && pwd)
OUT=${2:-$TOP/tests/out/bench}
mkdir -p "$OUT"
make -C "$BUILD" -s ooblex-worker tests/bench/loadgen tests/tools/delay_relay >/dev/null
if [ -n "${BENCH_QUICK:-}" ]; then WINDOW=(--warmup 1 --seconds 3); else WINDOW=(--warmup 2 --seconds 8); fi
DELAYS=${REMOTE_DELAYS:-0 10 20 40}

PORT=$(free_port)
PIDS=()
stop_all() {
  local p
  for p in "${PIDS[@]}"; do stop_pid "$p" 3 || true; done
  PIDS=()
}
cleanup() { stop_all; stop_pid "${REDIS_PID:-}" 3 || true; }
trap cleanup EXIT
start_redis "$PORT" "$OUT/remote-redis.log"

# PING round trip (ms, mean, one client) to port $1: of 2000, or of $2.
ping_ms() {
  redis-benchmark -p "$1" -t ping_mbulk -n "${2:-2000}" -c 1 --csv 2>/dev/null |
    python3 -c 'import csv,sys; r=list(csv.reader(sys.stdin)); print(r[1][2])'
}

# run DELAY PREFETCH FORMAT: relays, 4 workers, one loadgen window; one JSON line.
run() {
  local delay=$1 prefetch=$2 format=$3 h w relay_port rtt
  stop_all
  redis-cli -p "$PORT" flushall >/dev/null
  local ports=()
  for h in 1 2; do
    relay_port=$(free_port)
    "$BUILD/tests/tools/delay_relay" "$relay_port" 127.0.0.1 "$PORT" "$delay" >/dev/null & PIDS+=($!)
    ports+=("$relay_port")
  done
  for h in 1 2; do wait_for 5 redis-cli -p "${ports[$((h - 1))]}" ping; done
  rtt=$(ping_ms "${ports[0]}" "$([ "$delay" = 0 ] && echo 2000 || echo 40)")
  for h in 1 2; do
    for w in 1 2; do
      "$BUILD/ooblex-worker" --port "${ports[$((h - 1))]}" --id "far-$h-$w" --effects core --prefetch "$prefetch" \
        >"$OUT/remote-worker-$h-$w.log" 2>&1 & PIDS+=($!)
    done
  done
  wait_for 10 bash -c "[ \$(redis-cli -p $PORT --raw keys 'ooblex:alive:far-*' | wc -l) -ge 4 ]"
  sleep 1	# the workers' round trip measured
  "$BUILD/tests/bench/loadgen" --port "$PORT" --codec vp8 --skip 1 --sessions 4 --no-stop --format "$format" \
    "${WINDOW[@]}" >"$OUT/remote-$delay-$prefetch-$format.json" 2>"$OUT/remote-$delay-$prefetch-$format.log"
  python3 - "$OUT/remote-$delay-$prefetch-$format.json" "$delay" "$prefetch" "$format" "$rtt" <<'EOF'
import json, sys
path, delay, prefetch, fmt, rtt = sys.argv[1:]
s = json.load(open(path))['steps'][0]
t = s['stages_ms']['total']
print(json.dumps({"one_way_ms": int(delay), "rtt_ms": float(rtt), "prefetch": prefetch, "format": fmt,
                  "delivered_pct": round(100 - s['drops_pct'], 1), "fps_per_client": round(s['processed_fps_per_client_mean'], 1),
                  "p50_ms": round(t['p50'], 1), "p95_ms": round(t['p95'], 1)}))
EOF
}

echo "== workers far from Redis: 4 sessions at FRAME_SKIP=1, 2 hosts x 2 workers behind delay_relay"
direct=$(ping_ms "$PORT")
RESULTS=$OUT/remote_workers.lines
: >"$RESULTS"
for d in $DELAYS; do
  for p in 0 auto; do
    # Not in a pipeline: run must see and set PIDS in this shell.
    run "$d" "$p" i420 >>"$RESULTS"; tail -1 "$RESULTS"
    if [ "$d" = 20 ]; then run "$d" "$p" jpeg >>"$RESULTS"; tail -1 "$RESULTS"; fi
  done
done
stop_all
python3 - "$RESULTS" "$direct" "$OUT" <<'EOF'
import json, sys
lines, direct, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]
rows = [json.loads(l) for l in open(lines) if l.strip()]
zero = [r['rtt_ms'] for r in rows if r['one_way_ms'] == 0]
doc = {"ping_direct_ms": direct, "ping_relay_0ms_ms": min(zero) if zero else None, "runs": rows}
json.dump(doc, open(out + "/remote_workers.json", "w"), indent=1)
md = ["| one-way delay (ms) | PING via relay (ms) | transport | prefetch | delivered | processed fps/client | p50 (ms) | p95 (ms) |",
      "|---:|---:|---|---|---:|---:|---:|---:|"]
for r in rows:
    md.append("| %d | %.2f | %s | %s | %.1f%% | %.1f | %.1f | %.1f |" % (r['one_way_ms'], r['rtt_ms'], r['format'],
              "0 (one after the other)" if r['prefetch'] == "0" else r['prefetch'], r['delivered_pct'],
              r['fps_per_client'], r['p50_ms'], r['p95_ms']))
md.append("")
md.append("PING straight to Redis: %.3f ms; through the relay at 0 ms: %s ms." % (direct,
          "%.3f" % doc['ping_relay_0ms_ms'] if zero else "n/a"))
open(out + "/remote_workers.md", "w").write("\n".join(md) + "\n")
print("\n".join(md))
EOF
