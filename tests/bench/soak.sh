#!/usr/bin/env bash
# Soak: 16 sessions for 10 minutes through the plugin's data path, built with
# AddressSanitizer + LeakSanitizer + UBSan, watching the memory of the process
# that holds the sessions. A figure, never pass/fail (tests/bench/run.sh calls
# it; it also runs alone):
#
#   tests/bench/soak.sh [ASAN_BUILD_DIR]      (default build-asan, configured here if missing)
#   SOAK_SECONDS=120 tests/bench/soak.sh      a shorter run
#
# The load generator (tests/bench/loadgen: the plugin's ingest, Redis producer
# and reader, reorder and data channel chunking, per session, with a real
# Redis and two real workers from the same sanitized build) runs SOAK_SESSIONS
# (16) VP8 sessions at FRAME_SKIP 3 for SOAK_SECONDS (600). Its RSS is sampled
# every SOAK_SAMPLE_S (5) seconds; the growth reported is between minute 1
# (SOAK_BASELINE_S, or half the run when shorter than 2 minutes: allocators
# and the encoder's look-ahead settle first) and the end, with the slope of a
# least-squares line through the samples after the baseline. The aim is
# growth <= 5%. The load generator keeps 48 bytes per delivered frame for its
# percentiles; that share of the growth is reported too (own_samples_kib).
# Sanitizer reports (leaks at exit included) of the load generator and the
# workers are counted.
#
# Writes tests/out/bench/soak.json, soak-rss.tsv, soak-run.json/.log,
# soak-sanitizer.* (reports, if any).
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib/common.sh"
BUILD=${1:-$TOP/build-asan}
OUT=${SOAK_OUT:-$TOP/tests/out/bench}
SOAK_SECONDS=${SOAK_SECONDS:-600}
SESSIONS=${SOAK_SESSIONS:-16}
SAMPLE_S=${SOAK_SAMPLE_S:-5}
if [ -n "${SOAK_BASELINE_S:-}" ]; then BASELINE_S=$SOAK_BASELINE_S
elif [ "$SOAK_SECONDS" -ge 120 ]; then BASELINE_S=60
else BASELINE_S=$((SOAK_SECONDS / 2)); fi
FOOTAGE=/usr/share/doc/opencv-doc/examples/data/vtest.avi
mkdir -p "$OUT"
rm -f "$OUT"/soak-sanitizer.*

SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
if [ ! -f "$BUILD/Makefile" ]; then
  # As tests/run.sh's sanitizer build.
  mkdir -p "$BUILD"
  (cd "$BUILD" && "$TOP/configure" CFLAGS="-O1 -g $SAN" CXXFLAGS="-O1 -g $SAN" LDFLAGS="$SAN" >configure.log 2>&1)
fi
make -C "$BUILD" -s -j2 all tests/bench/loadgen >"$OUT/soak-make.log" 2>&1 || { tail -20 "$OUT/soak-make.log"; exit 1; }

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1:log_path=$OUT/soak-sanitizer
export LSAN_OPTIONS=suppressions=$TOP/tests/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$OUT/soak-sanitizer

PORT=$(free_port)
WPIDS=()
LG=""
cleanup() {
  local p
  [ -n "$LG" ] && stop_pid "$LG" 5
  for p in "${WPIDS[@]}"; do stop_pid "$p" 5 || true; done
  stop_pid "${REDIS_PID:-}" 3 || true
}
trap cleanup EXIT
start_redis "$PORT" "$OUT/soak-redis.log"
for i in 1 2; do
  "$BUILD/ooblex-worker" --port "$PORT" --id "soak-$i" >"$OUT/soak-worker-$i.log" 2>&1 &
  WPIDS+=($!)
done
wait_for 20 bash -c "[ \$(redis-cli -p $PORT --raw keys 'ooblex:alive:soak-*' | wc -l) -ge 2 ]"

echo "== soak: $SESSIONS sessions for $SOAK_SECONDS s under ASan/LSan (RSS every $SAMPLE_S s, baseline at $BASELINE_S s)"
"$BUILD/tests/bench/loadgen" --port "$PORT" --codec vp8 --skip 3 --sessions "$SESSIONS" --no-stop \
  --max-p95-ms 100000 --max-drops-pct 100 --source "$FOOTAGE" --warmup 0 --seconds "$SOAK_SECONDS" \
  >"$OUT/soak-run.json" 2>"$OUT/soak-run.log" &
LG=$!
# The sessions start when it says "measuring" (the source is encoded first).
wait_for 300 grep -q measuring "$OUT/soak-run.log" || { echo "soak: the load generator did not start"; cat "$OUT/soak-run.log"; exit 1; }
t0=$(date +%s%N)
: >"$OUT/soak-rss.tsv"
while kill -0 "$LG" 2>/dev/null; do
  rss=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$LG/status" 2>/dev/null || true)
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  # Only while the sessions run: the teardown after the window frees memory.
  if [ -n "$rss" ] && [ "$ms" -le $((SOAK_SECONDS * 1000)) ]; then
    printf '%d.%03d\t%s\n' $((ms / 1000)) $((ms % 1000)) "$rss" >>"$OUT/soak-rss.tsv"
  fi
  sleep "$SAMPLE_S"
done
lg_rc=0
wait "$LG" || lg_rc=$?
LG=""
for p in "${WPIDS[@]}"; do stop_pid "$p" 10 || true; done
WPIDS=()

python3 - "$OUT" "$SESSIONS" "$SOAK_SECONDS" "$SAMPLE_S" "$BASELINE_S" "$lg_rc" <<'EOF'
import glob, json, os, sys
out, sessions, seconds, sample_s, baseline_s, lg_rc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
    float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
samples = []
with open(os.path.join(out, "soak-rss.tsv")) as f:
    for line in f:
        t, kib = line.split()
        samples.append((float(t), int(kib)))
base = next((s for s in samples if s[0] >= baseline_s), None)
end = samples[-1] if samples else None
after = [s for s in samples if base and s[0] >= base[0]]
slope = None
if len(after) >= 2:
    n = len(after)
    mt = sum(t for t, _ in after) / n
    mk = sum(k for _, k in after) / n
    var = sum((t - mt) ** 2 for t, _ in after)
    if var > 0:
        slope = sum((t - mt) * (k - mk) for t, k in after) / var * 60.0
try:
    run = json.load(open(os.path.join(out, "soak-run.json")))
    step = run["steps"][0]
except (OSError, ValueError, KeyError, IndexError):
    run, step = {}, {}
reports = sorted(glob.glob(os.path.join(out, "soak-sanitizer.*")))
leaks = sum(open(r, errors="replace").read().count("ERROR: LeakSanitizer") for r in reports)
errors = sum(open(r, errors="replace").read().count("ERROR: AddressSanitizer") +
             open(r, errors="replace").read().count("runtime error:") for r in reports)
fps = step.get("processed_fps_per_client_mean")
# Frames delivered between the baseline and the end, 48 bytes each in the
# load generator's own percentile log.
own = (fps or 0) * sessions * ((end[0] - base[0]) if base and end else 0) * 48 / 1024
growth = (end[1] - base[1]) * 100.0 / base[1] if base and end and base[1] else None
doc = {"sessions": sessions, "seconds": seconds, "sample_s": sample_s, "baseline_s": base[0] if base else None,
       "rss_kib_baseline": base[1] if base else None, "rss_kib_end": end[1] if end else None,
       "rss_kib_max": max(k for _, k in samples) if samples else None,
       "growth_pct": growth, "slope_kib_per_min": slope, "own_samples_kib": own, "aim_growth_pct": 5,
       "met": growth is not None and growth <= 5, "processed_fps_per_client": fps,
       "drops_pct": step.get("drops_pct"), "p95_ms": step.get("p95_ms"),
       "loadgen_exit": lg_rc, "sanitizer_reports": [os.path.basename(r) for r in reports],
       "leak_reports": leaks, "error_reports": errors, "samples": samples}
json.dump(doc, open(os.path.join(out, "soak.json"), "w"), indent=1)
g = "–" if growth is None else f"{growth:+.2f}%"
s = "–" if slope is None else f"{slope:+.0f} KiB/min"
print(f"soak: {sessions} sessions, {seconds} s: RSS {base[1] if base else '?'} KiB at {base[0] if base else '?'} s -> "
      f"{end[1] if end else '?'} KiB at {end[0] if end else '?'} s ({g}, slope {s}; the load generator's own "
      f"per-frame log accounts for {own:.0f} KiB); {fps or 0:.1f} fps/client; sanitizer reports: {len(reports)} "
      f"({leaks} leak, {errors} error); loadgen exit {lg_rc}")
EOF
