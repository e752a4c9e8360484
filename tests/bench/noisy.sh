#!/usr/bin/env bash
# Noisy neighbour, before and after fair shares, in one run (issue 14): the
# browser test tests/e2e/noisy.js (real Janus with the plugin, headless
# Chromium, three workers serving the stall test module: a 2 ms client
# measured alone, then beside a 500 ms one) twice, with the plugin's
# fair_share = false (measured, not enforced: the plugin as it was) and
# true. Figures only, never pass/fail (the "before" run fails its checks by
# design). Includes Janus.
#   tests/bench/noisy.sh [BUILD_DIR] [OUT_DIR]   -> OUT_DIR/noisy.json, noisy.md
set -uo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:-$TOP/build}" && pwd)
OUT=${2:-$TOP/tests/out/bench}
mkdir -p "$OUT"
for mode in false true; do
  E2E_OUT="$OUT/noisy-fair-$mode" E2E_ONLY=noisy E2E_FAIR_SHARE=$mode "$TOP/tests/e2e/run.sh" "$BUILD" \
    >"$OUT/noisy-fair-$mode.log" 2>&1 || true
done
python3 - "$OUT" <<'PY'
import json, os, sys
out = sys.argv[1]
res = {}
for mode in ("false", "true"):
    try:
        with open(os.path.join(out, f"noisy-fair-{mode}", "noisy", "summary.json")) as f:
            res["fair_share_" + mode] = json.load(f)
    except (OSError, ValueError):
        res["fair_share_" + mode] = {}
with open(os.path.join(out, "noisy.json"), "w") as f:
    json.dump(res, f, indent=2)
def cell(m, k, nd=0):
    v = (m or {}).get(k)
    return "–" if v is None else f"{v:.{nd}f}"
rows = ["| Fast client (2 ms/frame, FRAME_SKIP 3) | fps | p50 ms | p95 ms |", "|---|---:|---:|---:|"]
for mode, label in (("false", "before (fair_share = false)"), ("true", "after (fair_share = true)")):
    r = res["fair_share_" + mode]
    rows.append(f"| {label}: alone | {cell(r.get('fast_alone'), 'fps', 1)} | {cell(r.get('fast_alone'), 'p50')} | {cell(r.get('fast_alone'), 'p95')} |")
    rows.append(f"| {label}: beside a 500 ms client | {cell(r.get('fast_with_neighbour'), 'fps', 1)} | {cell(r.get('fast_with_neighbour'), 'p50')} | {cell(r.get('fast_with_neighbour'), 'p95')} |")
with open(os.path.join(out, "noisy.md"), "w") as f:
    f.write("\n".join(rows) + "\n")
print("\n".join(rows))
PY
