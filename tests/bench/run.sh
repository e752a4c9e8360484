#!/usr/bin/env bash
# Benchmarks: figures measured in one run, never pass/fail (this machine is
# shared and noisy). Not part of tests/run.sh.
#
#   tests/bench/run.sh [BUILD_DIR]          everything (about 11 minutes on 2 cores)
#   BENCH_QUICK=1 tests/bench/run.sh        shorter windows and sweeps, for a smoke run
#
# Writes tests/out/bench/: results.json (every figure), results.md (the
# table the README shows), *.png (gnuplot), profile.txt (perf), and the raw
# output of each part. What each part measures, and which include Janus:
#   - loadgen: N sessions of pre-encoded 640x480 30 fps VP8/H.264 through the
#     plugin's data path (ingest, Redis producer/reader, reorder, return) with
#     a real Redis and real workers; Janus' own ICE/DTLS/SRTP/SCTP excluded;
#   - capacity with Janus included: tests/bench/webrtc.sh, N real WebRTC
#     sessions (webrtc_loadgen: webrtcbin's ICE/DTLS/SRTP/SCTP) through Janus
#     and the plugin, FRAME_SKIP 3 and 1, and Janus' echotest as the ceiling
#     (webrtc-*.json, webrtc.md: the README's headline rows);
#   - glass-to-glass: Chromium, Janus and the plugin, against Janus'
#     echotest on the same pattern (tests/e2e/video.js): includes Janus;
#     every path (echotest, processed video track, data channel) is timed at
#     one point, when the frame's pixels are readable by the page (see
#     html/js/testpattern.js), named in glass-to-glass.json's g2gPoint;
#   - noisy neighbour: tests/bench/noisy.sh, a 2 ms client alone and beside a
#     500 ms one, fair_share off and on (Chromium, Janus): includes Janus;
#   - throughput: frames straight into the queue, 1/2/4 workers, CPU-heavy effects;
#   - format_cost: raw (I420, RGB24) against JPEG through Redis;
#   - jpeg_quality: bytes per result against PSNR/SSIM per JPEG quality and
#     subsampling, on vtest.avi and Megamind.avi (README, "JPEG quality");
#   - remote_workers: 4 sessions with 4 workers behind a relay delaying 0/10/20/40
#     ms each way, --prefetch 0 against auto (tests/bench/remote_workers.sh);
#   - fuzz: every tests/fuzz target for FUZZ_SECONDS each (default 60; 600
#     for a longer hunt; 0 skips), execs and coverage per target;
#   - soak: tests/bench/soak.sh, 16 sessions for SOAK_SECONDS (default 600;
#     0 skips) under ASan/LSan, RSS growth from minute 1 to the end (aim <= 5%).
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib/common.sh"
BUILD=$(cd "${1:-$TOP/build}" && pwd)
OUT=$TOP/tests/out/bench
rm -rf "$OUT"
mkdir -p "$OUT"
"$TOP/deploy/install-deps.sh" --bench >/dev/null
make -C "$BUILD" -s all tests/bench/format_cost tests/bench/loadgen tests/bench/jpeg_quality >/dev/null

FOOTAGE=/usr/share/doc/opencv-doc/examples/data/vtest.avi
if [ -n "${BENCH_QUICK:-}" ]; then
  WINDOW=(--warmup 1 --seconds 3); SKIP1=1,2,4,6,8; SKIP3=1,4,8,16,24,32; THROUGHPUT_FRAMES=40
else
  WINDOW=(--warmup 2 --seconds 8); SKIP1=1,2,4,6,8,10,12,14,16,20; SKIP3=1,2,4,8,12,16,20,24,28,32,40,48,56,64
  THROUGHPUT_FRAMES=150
fi
FUZZ_SECONDS=${FUZZ_SECONDS:-$([ -n "${BENCH_QUICK:-}" ] && echo 10 || echo 60)}
SOAK_SECONDS=${SOAK_SECONDS:-$([ -n "${BENCH_QUICK:-}" ] && echo 60 || echo 600)}
WORKERS=${BENCH_WORKERS:-2}

PORT=$(free_port)
WPIDS=()
stop_workers() {
  local p
  for p in "${WPIDS[@]}"; do stop_pid "$p" 3 || true; done
  WPIDS=()
}
cleanup() {
  stop_workers
  stop_pid "${REDIS_PID:-}" 3 || true
}
trap cleanup EXIT
start_redis "$PORT" "$OUT/redis.log"
start_workers() {
  local i
  stop_workers
  for i in $(seq 1 "$1"); do
    "$BUILD/ooblex-worker" --port "$PORT" --id "bench-$i" >"$OUT/worker-$i.log" 2>&1 &
    WPIDS+=($!)
  done
  # Registered and alive before any frame goes out.
  wait_for 10 bash -c "[ \$(redis-cli -p $PORT --raw keys 'ooblex:alive:bench-*' | wc -l) -ge $1 ]"
}
watch_args() {
  local a=(--watch "redis=$REDIS_PID") i=1
  for p in "${WPIDS[@]}"; do a+=(--watch "worker_$i=$p"); i=$((i + 1)); done
  echo "${a[@]}"
}

echo "== machine"
{
  echo "{\"cpu\": \"$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)\", \"cores\": $(nproc),"
  echo " \"memory_gib\": $(awk '/MemTotal/ {printf "%.0f", $2 / 1048576}' /proc/meminfo),"
  echo " \"os\": \"$(. /etc/os-release; echo "$PRETTY_NAME")\", \"kernel\": \"$(uname -r)\","
  echo " \"janus\": \"$(dpkg-query -W -f '${Version}' janus)\", \"redis\": \"$(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/')\","
  echo " \"ffmpeg\": \"$(dpkg-query -W -f '${Version}' libavcodec59)\", \"commit\": \"$(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo unknown)\","
  echo " \"date\": \"$(date -u +%Y-%m-%dT%H:%MZ)\"}"
} | tee "$OUT/machine.json"

echo "== sessions: how many this machine holds (loadgen, $WORKERS workers, effect invert)"
start_workers "$WORKERS"
for codec in vp8 h264; do
  for skip in 3 1; do
    list=$SKIP3; [ "$skip" = 1 ] && list=$SKIP1
    # shellcheck disable=SC2046
    "$BUILD/tests/bench/loadgen" --port "$PORT" --codec "$codec" --skip "$skip" --sessions "$list" \
      --source "$FOOTAGE" "${WINDOW[@]}" $(watch_args) >"$OUT/sessions-$codec-skip$skip.json"
  done
done

echo "== the video track output: re-encoding costs (VP8, FRAME_SKIP 1 and 3)"
for skip in 3 1; do
  # shellcheck disable=SC2046
  "$BUILD/tests/bench/loadgen" --port "$PORT" --codec vp8 --skip "$skip" --sessions 1,4 --no-stop --output video \
    --source "$FOOTAGE" "${WINDOW[@]}" $(watch_args) >"$OUT/video-output-skip$skip.json"
done

echo "== where the data path's time goes (perf during the window: 8 sessions, VP8, FRAME_SKIP 1)"
"$BUILD/tests/bench/loadgen" --port "$PORT" --codec vp8 --skip 1 --sessions 8 --no-stop --source "$FOOTAGE" \
  --warmup 1 --seconds 6 >"$OUT/profile-run.json" 2>"$OUT/profile-run.log" &
LG=$!
wait_for 60 grep -q measuring "$OUT/profile-run.log" || true
if perf record -e cpu-clock -g -p "$LG" -o "$OUT/perf.data" -- sleep 5 >/dev/null 2>&1; then
  report() { perf report -i "$OUT/perf.data" --no-children -g none --stdio "$@" 2>/dev/null | grep -E '^ +[0-9]'; }
  { echo "# by thread"; report --sort comm; echo "# by library"; report --sort dso | head -12
    echo "# by function, outside libavcodec/libvpx (Debian ships those without symbols)"
    report --sort dso,symbol | grep -Ev 'libavcodec|libvpx' | head -25
    echo "# who calls memmove"
    perf report -i "$OUT/perf.data" --no-children --stdio -S __memmove_avx512_unaligned_erms -G 2>/dev/null |
      grep -E '[0-9.]+%.*[a-z_]' | head -25
  } >"$OUT/profile.txt" || true
  rm -f "$OUT/perf.data"
else
  echo "perf is not usable here" >"$OUT/profile.txt"
fi
wait "$LG" || true

echo "== throughput: 1, 2, 4 workers on CPU-heavy effects"
for workers in 1 2 4; do
  start_workers "$workers"
  for fx in "ffmpeg:nlmeans=s=2:p=3:r=7|frames_to_process" "faces|frames_to_process:faces"; do
    "$BUILD/tests/bench/loadgen" --port "$PORT" --throughput "$THROUGHPUT_FRAMES" --effect "${fx%%|*}" \
      --queue "${fx##*|}" --source "$FOOTAGE" | sed "s/^{/{\"workers\":$workers,/" >>"$OUT/throughput.jsonl"
  done
done
stop_workers

echo "== workers far from Redis (tests/bench/remote_workers.sh): prefetch against one after the other"
"$TOP/tests/bench/remote_workers.sh" "$BUILD" "$OUT"

echo "== transport formats (tests/bench/format_cost)"
"$BUILD/tests/bench/format_cost" "$PORT" 150 >"$OUT/format_cost.md"
sed -n 's/^JSON: //p' "$OUT/format_cost.md" >"$OUT/format_cost.json"

echo "== JPEG quality and subsampling against picture quality (tests/bench/jpeg_quality)"
for clip in vtest Megamind; do
  "$BUILD/tests/bench/jpeg_quality" --footage "/usr/share/doc/opencv-doc/examples/data/$clip.avi" --frames 150 \
    --qualities 40,50,60,65,70,75,80,85,90 >"$OUT/jpeg_quality-$clip.md"
done

if [ "$FUZZ_SECONDS" -gt 0 ]; then
  echo "== fuzz: every target for $FUZZ_SECONDS s (tests/fuzz/run.sh)"
  "$TOP/tests/fuzz/run.sh" fuzz "$FUZZ_SECONDS" >"$OUT/fuzz.log" 2>&1 || echo "(fuzzing found something: see $OUT/fuzz.log)"
  grep -E '^(not ok|# fuzz )' "$OUT/fuzz.log" || true
  cp "$TOP/tests/out/fuzz/summary.json" "$OUT/fuzz.json" 2>/dev/null || true
fi

if [ "$SOAK_SECONDS" -gt 0 ]; then
  echo "== soak: 16 sessions for $SOAK_SECONDS s under ASan/LSan (tests/bench/soak.sh)"
  SOAK_SECONDS=$SOAK_SECONDS SOAK_OUT=$OUT "$TOP/tests/bench/soak.sh" "${SOAK_BUILD:-$TOP/build-asan}" ||
    echo "(the soak run failed: see $OUT/soak-run.log)"
fi

echo "== capacity with Janus included: real WebRTC sessions (tests/bench/webrtc.sh), echotest as the ceiling"
make -C "$BUILD" -s tests/bench/webrtc_loadgen >/dev/null
if [ -n "${BENCH_QUICK:-}" ]; then
  export WEBRTC_SECONDS=${WEBRTC_SECONDS:-4} WEBRTC_SKIP3=${WEBRTC_SKIP3:-2,8} WEBRTC_SKIP1=${WEBRTC_SKIP1:-2,4}
fi
WEBRTC_OUT=$OUT "$TOP/tests/bench/webrtc.sh" "$BUILD" --sweep || echo "(the WebRTC sweep failed: see $OUT/webrtc-*.log)"

echo "== glass-to-glass in Chromium, against Janus' echotest (tests/e2e/video.js)"
if E2E_ONLY=video "$TOP/tests/e2e/run.sh" "$BUILD" >"$OUT/glass-to-glass.log" 2>&1; then :; else
  echo "(the browser run reported failures; see $OUT/glass-to-glass.log)"; fi
cp "$TOP/tests/out/e2e/video/summary.json" "$OUT/glass-to-glass.json" 2>/dev/null || echo '{}' >"$OUT/glass-to-glass.json"

echo "== noisy neighbour, before and after fair shares (tests/bench/noisy.sh)"
"$TOP/tests/bench/noisy.sh" "$BUILD" "$OUT" >/dev/null

echo "== report"
python3 "$TOP/tests/bench/report.py" "$OUT"
echo "Results: $OUT/results.md, $OUT/results.json, $OUT/*.png"
