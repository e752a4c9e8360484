#!/usr/bin/env bash
# Capacity with Janus included: tests/bench/webrtc_loadgen's real WebRTC
# sessions (ICE, DTLS, SRTP, SCTP by GStreamer's webrtcbin) through a real
# Janus with the built plugin, a real Redis and real workers, and through
# Janus' echotest in the same run as the ceiling. Everything runs in a private
# network namespace (Janus never offers loopback candidates: a veth carries
# 127.0.0.2, as in tests/e2e/run.sh). Needs root.
#
#   tests/bench/webrtc.sh BUILD_DIR --smoke   2 sessions for a few seconds, each
#        path once; prints TAP (tests/run.sh's "webrtc-smoke" suite): it ran,
#        both sessions started, results came back whole and acked, latency
#        was measured, the processed video track arrived, decoded and
#        matched the worker's output for each frame (PSNR p5 >= SMOKE_PSNR_DB,
#        33), echotest echoed. Checks that it works, never how fast.
#   tests/bench/webrtc.sh BUILD_DIR [--sweep]  the capacity sweeps (figures, not
#        pass/fail): FRAME_SKIP=3 (full rate, and source-sampled: 10 fps sent)
#        and 1 with the data channel, VP8, effect
#        invert, WEBRTC_WORKERS (2) workers, then echotest at the most
#        sessions FRAME_SKIP=3 held and beyond. Writes
#        tests/out/bench/webrtc-*.json and webrtc.md (the README's rows).
#   tests/bench/webrtc.sh BUILD_DIR --overload   issue 14's overload test, TAP:
#        OVERLOAD_SESSIONS (20: twice the 10 that hold at FRAME_SKIP=1) at
#        OVERLOAD_SKIP (1), latency budget OVERLOAD_BUDGET_MS (150, the
#        default); after OVERLOAD_WARMUP s (12) a window of OVERLOAD_SECONDS
#        (10): every session's p95 (the plugin's measure, first packet in ->
#        handed to the data channel) within the budget, processed fps even
#        within +-20% of the mean, none at 0; then half hang up and the rest
#        are back at full rate within OVERLOAD_RECOVERY_S (5). The sessions
#        are source-sampled and follow the plugin's sender request as
#        ooblex.js does (OVERLOAD_SAMPLED=0: full rate, following nothing).
#        Writes OUT/overload.json.
# Environment: WEBRTC_SKIP3 / WEBRTC_SAMPLED3 / WEBRTC_SKIP1 / WEBRTC_ECHO (session lists),
# WEBRTC_SECONDS (window, default 10), WEBRTC_MAX_P95_MS (100), WEBRTC_CODEC (vp8),
# WEBRTC_RUNS (which sweeps, default "skip3 skip3-sampled skip1 echotest"; "video": the processed
# track's picture quality at the receiver, both outputs, WEBRTC_VIDEO sessions (1,4) at
# WEBRTC_VIDEO_SKIP (1), more loadgen options in WEBRTC_VIDEO_ARGS, table in webrtc-video.md; e.g. "skip3" with
# WEBRTC_SKIP3=12 to compare one change at one count), WEBRTC_PERF=1 (perf record -g of Janus
# during the skip3 sweep at WEBRTC_PERF_HZ (99): webrtc-perf.data and webrtc-profile.txt, by thread,
# library and symbol, and perf stat's context switches in webrtc-perf-stat.txt; the profile costs
# CPU of its own: take figures from a run without it).
# WEBRTC_RUNS=metadata: `faces` with pictures and with `output metadata`, WEBRTC_META
# sessions (4) at WEBRTC_META_SKIP (3): server CPU per processed frame, each.
# WEBRTC_RUNS=video: the processed video track alone (`--output video`, FRAME_SKIP
# WEBRTC_VIDEO_SKIP (1), sessions WEBRTC_VIDEO (4), every count run): its JSON and a line of
# server CPU ms per processed frame (server cores x 1000 / video frames per second received).
# WEBRTC_PLUGIN_SET='key=value ...': plugin settings written into the generated jcfg (e.g.
# 'video_reply_format="jpeg"' for the JPEG round trip the video track had before i420).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
. "$TOP/tests/lib/common.sh"
BUILD=$(cd "${1:?usage: webrtc.sh BUILD_DIR [--smoke|--sweep]}" && pwd)
MODE=${2:---sweep}
enter_netns "$0" "$@"

OUT=${WEBRTC_OUT:-$TOP/tests/out/$([ "$MODE" = --smoke ] && echo webrtc-smoke || echo bench)}
[ "$MODE" = --smoke ] && rm -rf "$OUT"
mkdir -p "$OUT"
LG=$BUILD/tests/bench/webrtc_loadgen
FOOTAGE=/usr/share/doc/opencv-doc/examples/data/vtest.avi
CODEC=${WEBRTC_CODEC:-vp8}
REDIS_PORT=16379
PIDS=()
cleanup() {
  for ((i=${#PIDS[@]}-1; i>=0; i--)); do stop_pid "${PIDS[$i]}" 5; done
  stop_pid "${REDIS_PID:-}" 3
}
trap cleanup EXIT

if [ ! -x "$LG" ]; then
  tap_fail "webrtc_loadgen is built" "make -C $BUILD tests/bench/webrtc_loadgen (needs gstreamer1.0-plugins-bad, libsoup-3.0-dev)"
  exit 1
fi
start_redis "$REDIS_PORT" "$OUT/webrtc-redis.log" || { tap_fail "redis starts"; exit 1; }
WORKERS=${WEBRTC_WORKERS:-2}
WATCH=(--watch "redis=$REDIS_PID")
for w in $(seq 1 "$WORKERS"); do
  "$BUILD/ooblex-worker" --port "$REDIS_PORT" --id "bench-$w" >"$OUT/webrtc-worker-$w.log" 2>&1 &
  PIDS+=($!)
  WATCH+=(--watch "worker_$w=$!")
done
wait_for 10 bash -c "[ \$(redis-cli -p $REDIS_PORT --raw keys 'ooblex:alive:bench-*' | wc -l) -ge $WORKERS ]"
"$TOP/deploy/janus-conf.sh" "$OUT/webrtc-janus" "$BUILD/.libs/libjanus_ooblex.so" \
  --http-port 18088 --ws-port 18188 --admin-port 17088 --ice-enforce 127.0.0.2 --admin-secret bench \
  --redis-url "redis://127.0.0.1:$REDIS_PORT" --echotest >/dev/null
for kv in ${WEBRTC_PLUGIN_SET:-}; do
  key=${kv%%=*}
  grep -Eq "^\s*#?\s*$key = " "$OUT/webrtc-janus/conf/janus.plugin.ooblex.jcfg" || {
    echo "webrtc.sh: WEBRTC_PLUGIN_SET: no setting $key in the plugin config" >&2; exit 1; }
  sed -i -E "s|^(\s*)#?\s*$key = .*|\1$key = ${kv#*=}|" "$OUT/webrtc-janus/conf/janus.plugin.ooblex.jcfg"
  echo "# plugin config: $(grep -E "^\s*$key = " "$OUT/webrtc-janus/conf/janus.plugin.ooblex.jcfg" | tr -d '\t')" >&2
done
janus -C "$OUT/webrtc-janus/conf/janus.jcfg" -F "$OUT/webrtc-janus/conf" -P "$OUT/webrtc-janus/plugins" -o \
  >"$OUT/webrtc-janus.log" 2>&1 &
JANUS_PID=$!
PIDS+=($JANUS_PID)
if ! wait_for 15 bash -c "exec 3<>/dev/tcp/127.0.0.1/18188"; then
  tap_fail "janus starts with the plugin" "$(tail -20 "$OUT/webrtc-janus.log")"; exit 1
fi
WATCH+=(--watch "janus=$JANUS_PID")
# webrtcbin's libnice probes UPnP and logs about it: harmless here.
export GST_DEBUG=${GST_DEBUG:-1}
lg() { ${WEBRTC_LG_WRAP:-} "$LG" --janus ws://127.0.0.1:18188 --source "$FOOTAGE" --codec "$CODEC" "${WATCH[@]}" "$@"; }

if [ "$MODE" = --overload ]; then
  N=${OVERLOAD_SESSIONS:-20}
  SKIP=${OVERLOAD_SKIP:-1}
  BUDGET=${OVERLOAD_BUDGET_MS:-150}
  RECOVERY=${OVERLOAD_RECOVERY_S:-5}
  # As ooblex.js does by default: source-sampled, and following the plugin's
  # sender request (OVERLOAD_SAMPLED=0: full-rate senders that follow nothing).
  SAMPLED=()
  [ "${OVERLOAD_SAMPLED:-1}" = 1 ] && SAMPLED=(--source-sampled --follow-sender)
  # Mid-window, where one session's time goes (the plugin's per-stage p95, Admin API).
  ( sleep $(( ${OVERLOAD_WARMUP:-12} + N / 10 + 5 )); python3 - >"$OUT/overload-stages.json" 2>/dev/null <<'PY'
import json, urllib.request
def admin(body, path=""):
    body.update({"transaction": "s", "admin_secret": "bench"})
    return json.load(urllib.request.urlopen("http://127.0.0.1:17088/admin" + path, json.dumps(body).encode()))
out = []
for s in admin({"janus": "list_sessions"})["sessions"][:3]:
    for h in admin({"janus": "list_handles"}, f"/{s}")["handles"]:
        ps = admin({"janus": "handle_info"}, f"/{s}/{h}")["info"].get("plugin_specific", {})
        if ps.get("started"):
            out.append({"latency_ms": {k: v.get("p95") for k, v in ps["latency_ms"].items() if isinstance(v, dict)},
                        "latency": ps.get("latency"), "fair": ps.get("fair"), "frames": {k: ps["frames"].get(k) for k in
                        ("decoded", "sampled", "shed_latency", "deferred_in_flight", "deferred_fair_share", "packets_dropped")}})
print(json.dumps(out))
PY
  ) &
  STAGES_PID=$!
  lg --overload "$N" --skip "$SKIP" --budget-ms "$BUDGET" --warmup "${OVERLOAD_WARMUP:-12}" "${SAMPLED[@]}" \
    --seconds "${OVERLOAD_SECONDS:-10}" --start-timeout 40 --recovery-timeout $((RECOVERY * 3)) \
    >"$OUT/overload.json" 2>"$OUT/overload.log"
  grep '^webrtc_loadgen: overload' "$OUT/overload.log" | sed 's/^webrtc_loadgen: /# /'
  wait "$STAGES_PID"
  python3 -c "import json,sys; [print('# mid-window, one session: p95 by stage', json.dumps(x['latency_ms']), 'frames', json.dumps(x['frames'])) for x in json.load(open(sys.argv[1]))[:2]]" "$OUT/overload-stages.json" 2>/dev/null || true
  [ "$BUDGET" = 0 ] && BUDGET=1e9   # off: the checks below judge nothing of the budget
  o() { python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['overload']; sys.exit(0 if eval(sys.argv[2], {}, r) else 1)" "$OUT/overload.json" "$1"; }
  tap_check "overload: all $N sessions start" o "started == sessions"
  tap_check "overload: every session's p95 within its $BUDGET ms budget" o "p95_max_ms <= $BUDGET and all(x['p95_ms'] > 0 for x in per_session)"
  tap_check "overload: processed fps shared evenly (within 20% of the mean)" o "fps_min >= 0.8 * fps_per_client and fps_max <= 1.2 * fps_per_client"
  tap_check "overload: no session gets 0 fps" o "sessions_at_0 == 0 and fps_min > 0"
  tap_check "overload: when half leave, the rest are back at full rate within $RECOVERY s" o "0 <= recovered_after_s <= $RECOVERY"
  # What the plugin did, from its Admin API (the latency object).
  curl -s -d '{"janus":"message_plugin","transaction":"t","admin_secret":"bench","plugin":"janus.plugin.ooblex","request":{"request":"stats"}}' \
    http://127.0.0.1:17088/admin | python3 -c "import json,sys; print('# latency:', json.dumps(json.load(sys.stdin)['response']['latency']))" || true
  tap_check "janus is still running" kill -0 "$JANUS_PID"
  exit 0
fi

if [ "$MODE" = --smoke ]; then
  # Each path once, 2 sessions, a few seconds: that it works, not how fast.
  q() { python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['runs'][0]; eval(sys.argv[2], {'json': json}, r)" "$@"; }
  SMOKE_PSNR_DB=${SMOKE_PSNR_DB:-33}
  for run in dc:"--output datachannel --skip 1" h264:"--codec h264 --output datachannel --skip 1" \
      sampled:"--output datachannel --skip 3 --source-sampled" video:"--output both --skip 1" echo:"--plugin echotest"; do
    name=${run%%:*}
    # shellcheck disable=SC2086
    lg ${run#*:} --sessions 2 --warmup 1 --seconds 3 --start-timeout 20 --max-p95-ms 1e9 --max-missing-pct 100 \
      >"$OUT/smoke-$name.json" 2>"$OUT/smoke-$name.log"
    tap_check "webrtc_loadgen ($name) runs and reports" q "$OUT/smoke-$name.json" "'runs' and True"
    tap_check "$name: both sessions start (ICE, DTLS, SRTP, SCTP)" q "$OUT/smoke-$name.json" "started == 2 or exit(1)"
    # Why, when it did not (the generator's own lines, not webrtcbin's noise).
    q "$OUT/smoke-$name.json" "started == 2 or exit(1)" || grep '^webrtc_loadgen' "$OUT/smoke-$name.log" | sed 's/^/#   /'
    tap_check "$name: frames come back to every client, latency measured on one clock" \
      q "$OUT/smoke-$name.json" "(fps_per_client_min > 0 and latency_ms['p50'] > 0) or exit(1)"
    case $name in
      dc|h264|sampled) tap_check "$name: results reassembled whole and acked (more results than the unacked window)" \
            q "$OUT/smoke-$name.json" "(broken_frames == 0 and fps_per_client * window_s > 8) or exit(1)"
          tap_check "$name: the generator's and the plugin's CPU are measured" \
            q "$OUT/smoke-$name.json" "(cpu_cores['generator'] > 0 and cpu_cores['janus'] > 0 and 'janus_plugin_threads' in cpu_cores) or exit(1)" ;;
      video) tap_check "video: the processed video track arrives and is counted" \
            q "$OUT/smoke-$name.json" "video_fps_per_client > 0 or exit(1)"
          q "$OUT/smoke-$name.json" "print('# video track at the receiver:', video_kbps_per_client, 'kbit/s per client;', json.dumps(track_quality))" || true
          # Every received picture against the worker's output for the same
          # frame (matched exactly: RTP timestamp = capture time at 90 kHz).
          # Healthy, 2 sessions at 1.5 Mbit/s: PSNR Y p5 38.2 dB, U/V 45.5. What
          # a broken egress would give, measured on the same run: the previous
          # frame's picture 27-31 dB (Y), U and V swapped 22 dB, chroma left
          # uninverted 16 dB, a green frame far less: 33 dB is 5 dB under the
          # healthy worst 5 % and 2 dB over the wrong frame. Loss (a veth, but
          # a starved receiver thread can drop) waits for a keyframe: up to 10 %
          # of pictures undecodable or without their reference (the data
          # channel drops results under backpressure) are allowed.
          tap_check "video: the received track is decoded and its pictures matched to the worker's output for their frames" \
            q "$OUT/smoke-$name.json" "(track_quality['compared'] >= 20 and track_quality['size_mismatch'] == 0 and track_quality['bad_references'] == 0 and track_quality['undecodable'] + track_quality['unmatched'] <= 0.1 * track_quality['pictures']) or exit(1)"
          tap_check "video: the track's pictures are the worker's output for their frames (PSNR p5 >= $SMOKE_PSNR_DB dB in Y and U/V, SSIM Y p5 >= 0.9)" \
            q "$OUT/smoke-$name.json" "(track_quality['psnr_y_db']['p5'] >= $SMOKE_PSNR_DB and track_quality['psnr_uv_db']['p5'] >= $SMOKE_PSNR_DB and track_quality['ssim_y']['p5'] >= 0.9) or exit(1)" ;;
    esac
  done
  tap_check "janus is still running" kill -0 "$JANUS_PID"
  exit 0
fi

# --- the sweeps (figures)
SECONDS_W=${WEBRTC_SECONDS:-10}
P95=${WEBRTC_MAX_P95_MS:-100}
sweep() {
  local name=$1; shift
  echo "== $name" >&2
  lg "$@" --warmup 3 --seconds "$SECONDS_W" --max-p95-ms "$P95" --max-missing-pct 1 \
    >"$OUT/webrtc-$name.json" 2>"$OUT/webrtc-$name.log"
  grep '^webrtc_loadgen: {' "$OUT/webrtc-$name.log" | sed 's/^webrtc_loadgen: /  /' >&2
}
# A line per run of FILE: server CPU per processed frame, by process (fps
# from FPS_KEY: fps_per_client for the data channel, video_fps_per_client
# for the track). per_frame_cpu FILE LABEL FPS_KEY
per_frame_cpu() {
  python3 - "$@" <<'PY' >&2
import json, sys
path, label, key = sys.argv[1:4]
for x in json.load(open(path))["runs"]:
    fps = x[key] * x["started"]
    c = x["cpu_cores"]
    per = lambda cores: f"{cores * 1000 / fps:.2f}" if fps > 0 else "-"
    w = sum(v for k, v in c.items() if k.startswith("worker_"))
    print(f"  {label}, {x['sessions']} sessions: {fps:.1f} processed frames/s, p50/p95 "
          f"{x['latency_ms']['p50']}/{x['latency_ms']['p95']} ms; server CPU {per(x['server_cores'])} ms per processed "
          f"frame (Janus {per(c.get('janus', 0))}, plugin threads {per(c.get('janus_plugin_threads', 0))}, "
          f"workers {per(w)}, Redis {per(c.get('redis', 0))}; the generator {per(c.get('generator', 0))})")
PY
}
RUNS=" ${WEBRTC_RUNS:-skip3 skip3-sampled skip1 echotest} "
if [[ $RUNS == *" skip3 "* ]]; then
  if [ -n "${WEBRTC_PERF:-}" ]; then
    # Janus as a whole (its threads and the plugin's), call graphs, for the profile by step.
    perf record -q -g -F "${WEBRTC_PERF_HZ:-99}" -p "$JANUS_PID" -o "$OUT/webrtc-perf.data" >/dev/null 2>&1 &
    PERF_PID=$!
    # Context switches: what handing packets from thread to thread costs.
    perf stat -e context-switches,task-clock -p "$JANUS_PID" -o "$OUT/webrtc-perf-stat.txt" >/dev/null 2>&1 &
    PERF_STAT_PID=$!
  fi
  sweep skip3 --skip 3 --sessions "${WEBRTC_SKIP3:-4,8,12,16,18,20,24,28}"
  if [ -n "${PERF_PID:-}" ]; then
    kill -INT "$PERF_PID" "$PERF_STAT_PID"; wait "$PERF_PID" "$PERF_STAT_PID"
    grep -E 'context-switches|task-clock|seconds time' "$OUT/webrtc-perf-stat.txt" >&2
    perf report -i "$OUT/webrtc-perf.data" --no-children --sort comm,dso,sym --percent-limit 0.7 --stdio 2>/dev/null \
      | grep -v '^$' | grep -E '^ +[0-9]' >"$OUT/webrtc-profile.txt"
    head -30 "$OUT/webrtc-profile.txt" >&2
  fi
fi
# Source-side sampling, as html/js/ooblex.js does by default: each session
# sends every third camera frame (10 fps, same bitrate) and starts
# source_sampled, so the plugin decodes a third of the frames.
[[ $RUNS == *" skip3-sampled "* ]] && sweep skip3-sampled --skip 3 --source-sampled --sessions "${WEBRTC_SAMPLED3:-12,16,20,24,28,32,36}"
[[ $RUNS == *" skip1 "* ]] && sweep skip1 --skip 1 --sessions "${WEBRTC_SKIP1:-4,6,8,10,12,14}"
if [[ $RUNS == *" video "* ]]; then
  # Figures, not a capacity: every count runs (nothing comes back on the data channel to hold by).
  sweep video --output video --skip "${WEBRTC_VIDEO_SKIP:-1}" --no-stop --sessions "${WEBRTC_VIDEO:-4}"
  per_frame_cpu "$OUT/webrtc-video.json" "video output" video_fps_per_client
fi
if [[ $RUNS == *" metadata "* ]]; then
  # Metadata-only frames against pictures, for an effect that detects:
  # `faces` with the data channel (JPEG + the boxes) and with `output
  # metadata` (the boxes alone), the same sessions one after the other;
  # figures, not a capacity (every count runs).
  for out in datachannel metadata; do
    sweep "faces-$out" --effect faces --output "$out" --skip "${WEBRTC_META_SKIP:-3}" --no-stop --sessions "${WEBRTC_META:-4}"
  done
  for out in datachannel metadata; do
    per_frame_cpu "$OUT/webrtc-faces-$out.json" "faces, output $out" fps_per_client
  done
fi
if [[ $RUNS == *" echotest "* ]]; then
  HELD=$([ -f "$OUT/webrtc-skip3.json" ] && python3 -c "import json; print(json.load(open('$OUT/webrtc-skip3.json'))['most_sessions_holding'])" || echo 4)
  [ "$HELD" -ge 2 ] || HELD=4
  sweep echotest --plugin echotest --no-stop --sessions "${WEBRTC_ECHO:-$HELD,$((HELD * 2)),$((HELD * 3))}"
fi
# The processed video track at the receiver (not in the default set: its
# decode and comparison cost the generator CPU): both outputs, so the data
# channel carries the worker's output each received picture is compared with.
if [[ $RUNS == *" video "* ]]; then
  # shellcheck disable=SC2086
  sweep video --output both --skip "${WEBRTC_VIDEO_SKIP:-1}" --no-stop --sessions "${WEBRTC_VIDEO:-1,4}" ${WEBRTC_VIDEO_ARGS:-}
  python3 - "$OUT" "$(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo unknown)" <<'EOF' | tee "$OUT/webrtc-video.md"
import json, sys, time
r = json.load(open(f"{sys.argv[1]}/webrtc-video.json"))
c = r["config"]
print(f"Measured {time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())} at commit {sys.argv[2]}: {c['codec'].upper()}, effect `{c['effect']}`, "
      f"FRAME_SKIP={c['frame_skip']}, from {c['source'].split('/')[-1]} at ~{c['source_kbps']} kbit/s, {c['seconds_s']:.0f} s window; "
      "each received picture against the worker's output for the same frame (p5 = the worst 5 %)")
print()
print("| Sessions | track kbit/s per client | track fps per client | pictures compared | unmatched | PSNR Y dB mean / p5 | PSNR U,V dB mean / p5 | SSIM Y mean / p5 | results latency p95 ms |")
print("|---:|---:|---:|---:|---:|---|---|---|---:|")
for x in r["runs"]:
    q = x.get("track_quality") or {}
    f = lambda k, d=1: f"{q[k]['mean']:.{d}f} / {q[k]['p5']:.{d}f}" if q.get(k) else "–"
    print(f"| {x['sessions']} | {x['video_kbps_per_client']:.0f} | {x['video_fps_per_client']:.1f} | {q.get('compared', 0)} | {q.get('unmatched', 0)} | "
          f"{f('psnr_y_db')} | {f('psnr_uv_db')} | {f('ssim_y', 4)} | {x['latency_ms']['p95']:.0f} |")
EOF
fi
# Only the full set makes the README's table.
# (Each name on its own: one pattern for all four would need two spaces between names.)
for run in skip3 skip3-sampled skip1 echotest; do [[ $RUNS == *" $run "* ]] || exit 0; done
python3 - "$OUT" "$SECONDS_W" "$P95" "$(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo unknown)" <<'EOF' | tee "$OUT/webrtc.md"
import json, sys, time
out, secs, p95, commit = sys.argv[1:5]
def load(n): return json.load(open(f"{out}/webrtc-{n}.json"))
cfg = load("skip3")["config"]
print(f"Measured {time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())} at commit {commit} with `tests/bench/webrtc.sh build` "
      f"(also part of `tests/bench/run.sh`): {cfg['codec'].upper()} from {cfg['source'].split('/')[-1]} at ~{cfg['source_kbps']} kbit/s per session, "
      f"effect `{cfg['effect']}`, data channel output, 2 workers, {secs} s windows; holds = all started, p95 ≤ {p95} ms, < 1% missing. "
      "Cores = the window's CPU time ÷ its length; server = Janus + workers + Redis; machine = all cores' busy time (kernel included), "
      "not ours = machine - server - generator (the kernel's share of UDP/SCTP, and anything else running on the machine); "
      "the generator runs on the same 2 cores.")
print()
print("| Path | FRAME_SKIP | Sessions that hold | there: results fps/client, latency p50 / p95 / p99 ms, missing | server cores (per session) | Janus: hloop / plugin threads / rest | workers, Redis | generator | machine busy (of which not ours) | first count past it |")
print("|---|---:|---:|---|---|---|---|---:|---|---|")
for name, label in (("skip3", "Ooblex, full rate"), ("skip3-sampled", "Ooblex, source-sampled (10 fps sent)"),
                    ("skip1", "Ooblex"), ("echotest", "Janus echotest (ceiling)")):
    r = load(name)
    runs = r["runs"]
    held = [x for x in runs if x["holds"]]
    x = max(held, key=lambda y: y["sessions"]) if held else runs[0]
    nxt = [y for y in runs if y["sessions"] > x["sessions"] and not y["holds"]]
    c = x["cpu_cores"]
    w = round(sum(v for k, v in c.items() if k.startswith("worker_")), 2)
    count = str(x["sessions"]) if held else "none"
    if held and not nxt:
        count = "≥ " + count
    past = (f"{nxt[0]['sessions']}: p95 {nxt[0]['latency_ms']['p95']:.0f} ms, {nxt[0]['missing_pct']}% missing, "
            f"{nxt[0]['failed_to_start']} failed to start") if nxt else "not reached"
    skip = r["config"]["frame_skip"] if name != "echotest" else "–"
    lat = x["latency_ms"]
    print(f"| {label} | {skip} | {count} | {x['fps_per_client']:.1f}, {lat['p50']:.0f} / {lat['p95']:.0f} / {lat['p99']:.0f}, {x['missing_pct']}% | "
          f"{x['server_cores']} ({x['server_cores_per_session']}) | {c.get('janus')}: {c.get('janus_hloop')} / {c.get('janus_plugin_threads')} / {c.get('janus_other')} | "
          f"{w}, {c.get('redis')} | {c.get('generator')} | {c.get('machine_busy', 0)} ({max(0, round(c.get('machine_busy', 0) - x['server_cores'] - c['generator'], 2))}) | {past} |")
EOF
