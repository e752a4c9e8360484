#!/usr/bin/env bash
# Benchmarks (not part of the test run; figures, never pass/fail).
#   tests/bench/run.sh [BUILD_DIR]     writes tests/out/bench/*.md and *.json
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib/common.sh"
BUILD=$(cd "${1:-$TOP/build}" && pwd)
OUT=$TOP/tests/out/bench
mkdir -p "$OUT"
make -C "$BUILD" -s tests/bench/format_cost >/dev/null
PORT=$(free_port)
trap 'stop_pid "${REDIS_PID:-}" 3' EXIT
start_redis "$PORT" "$OUT/redis.log"
echo "== transport formats (tests/bench/format_cost)"
"$BUILD/tests/bench/format_cost" "$PORT" 150 | tee "$OUT/format_cost.md"
sed -n 's/^JSON: //p' "$OUT/format_cost.md" >"$OUT/format_cost.json"
