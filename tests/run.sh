#!/usr/bin/env bash
# Runs every Ooblex test on this machine and ends with "N passed, N failed".
#   tests/run.sh            install what is missing, build, run all suites
#   tests/run.sh --no-e2e   skip the browser test (no root / no namespaces)
# Suites: unit (C), layout (each folder's include path refuses what it must not use), js (the client module, in Node), integration (Redis + 2 workers), install (make install into
# a scratch root, loaded by Janus), fuzz (tests/fuzz: corpus replay, ~30 s of libFuzzer per target), e2e (Chromium + Janus +
# Redis + 3 workers, needs root for its network namespace), webrtc-smoke (tests/bench/webrtc.sh
# --smoke: the WebRTC load generator, 2 sessions through Janus), demo (the README's
# ./run-webrtc-demo.sh, used by Chromium, then Ctrl-C), and the unit,
# integration and browser suites again built with AddressSanitizer +
# UndefinedBehaviorSanitizer (the plugin inside Janus with the runtime preloaded).
# Logs: tests/out/<suite>.log. Debian 12, run as root.
set -uo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"
E2E=1
for a in "$@"; do
  case "$a" in
    --no-e2e) E2E=0 ;;
    *) echo "usage: tests/run.sh [--no-e2e]" >&2; exit 2 ;;
  esac
done
OUT=$TOP/tests/out
mkdir -p "$OUT"
JOBS=$(nproc 2>/dev/null || echo 2)

step() { echo "== $*"; }
die() { echo "tests/run.sh: $*" >&2; echo "0 passed, 1 failed"; exit 1; }

step "dependencies"
deploy/install-deps.sh --test || die "installing Debian packages failed"
# The ML effects' pretrained models (npm), where the worker looks by default.
deploy/install-models.sh || die "installing the models failed"
if [ "$E2E" = 1 ]; then
  (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed in tests/e2e"
fi

# build DIR [configure args...]: configures once, builds plugin, worker and tests.
build() {
  local dir=$1; shift
  mkdir -p "$dir"
  (cd "$dir" && { [ -f Makefile ] || "$TOP/configure" "$@" >configure.log 2>&1 || { tail -20 configure.log; exit 1; }; } &&
    make -j"$JOBS" >make.log 2>&1 && make -j"$JOBS" check TESTS= >>make.log 2>&1 &&
    make -j"$JOBS" tests/bench/format_cost tests/bench/loadgen tests/bench/webrtc_loadgen >>make.log 2>&1) ||
    { tail -30 "$dir/make.log" 2>/dev/null; return 1; }
  if grep -E "warning:" "$dir/make.log"; then echo "tests/run.sh: the build has warnings (see above)"; return 1; fi
}

step "build"
[ -x configure ] || ./autogen.sh >"$OUT/autoreconf.log" 2>&1 || die "autoreconf failed: $(tail -5 "$OUT/autoreconf.log")"
build build || die "build failed"

PASSED=0 FAILED=0
# suite NAME COMMAND...: runs a TAP-printing command, counts its ok / not ok
# lines; a command that fails without reporting a failed case counts as one.
suite() {
  local name=$1; shift
  step "$name"
  local log="$OUT/$name.log"
  "$@" >"$log" 2>&1
  local rc=$?
  cat "$log"
  local ok bad
  ok=$(grep -c '^ok ' "$log")
  bad=$(grep -c '^not ok ' "$log")
  if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
    echo "not ok - $name exited with status $rc without reporting a failed case"
    bad=1
  fi
  PASSED=$((PASSED + ok)); FAILED=$((FAILED + bad))
}

unit_tests() {
  local dir=$1 rc=0
  for t in "$dir"/tests/unit/test_*; do
    [ -x "$t" ] || continue
    echo "# $(basename "$t")"
    "$t" || rc=1
  done
  return $rc
}

suite unit unit_tests build
# The folder split: each folder's include path, as make compiles it.
suite layout tests/layout/run.sh build
suite js node --test --test-reporter=tap tests/js/test_ooblex_client.js
suite integration tests/integration/run.sh build
suite install tests/install/run.sh build
# Every fuzz target: its seed corpus replayed without libFuzzer, then ~30 s of
# fuzzing each (execs, execs/s and coverage in the log's TAP comments), from a
# fixed seed so that a run repeats what the last one did (a new find then
# comes from the change, not from chance: longer, seedless runs are
# FUZZ_SECONDS in tests/bench/run.sh).
suite fuzz env FUZZ_SEED=1 tests/fuzz/run.sh fuzz 30
if [ "$E2E" = 1 ]; then
  suite e2e tests/e2e/run.sh build
  suite demo tests/demo/run.sh
  suite ops tests/ops/run.sh
  # The WebRTC load generator (tests/bench/webrtc_loadgen) through Janus:
  # 2 sessions for a few seconds on each path, so that it cannot rot.
  suite webrtc-smoke tests/bench/webrtc.sh build --smoke
fi

step "sanitizer build"
# float-cast-overflow: GCC leaves it out of "undefined"; a result's far-apart
# timestamps once reached one (tests/unit/test_metrics.c).
SAN="-fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=undefined,float-cast-overflow -fno-omit-frame-pointer"
if build build-asan CFLAGS="-O1 -g $SAN" CXXFLAGS="-O1 -g $SAN" LDFLAGS="$SAN"; then
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
  export LSAN_OPTIONS=suppressions=$TOP/tests/lsan.supp:print_suppressions=0
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  suite unit-asan unit_tests build-asan
  suite integration-asan tests/integration/run.sh build-asan
  unset ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS
  if [ "$E2E" = 1 ]; then
    # The sanitized plugin inside a real Janus, with browsers, malformed
    # requests and four sessions coming and going.
    suite e2e-asan tests/e2e/run.sh build-asan --sanitized
  fi
else
  echo "not ok - sanitizer build"
  FAILED=$((FAILED + 1))
fi

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
