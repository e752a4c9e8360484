#!/usr/bin/env bash
# The fake camera for the browser tests: ffmpeg's testsrc2 (moving, detailed)
# with the frame's index in the file written as a 16-bit barcode across the
# top 48 rows (bit i = cell i, 40 px wide, white = 1). A processed frame can
# then be matched to the exact source frame it came from, whatever the
# browser skipped or looped.
#   tests/e2e/gen-video.sh OUT.y4m [SECONDS]
set -euo pipefail
OUT=${1:?usage: gen-video.sh OUT.y4m [SECONDS]}
SECS=${2:-12}
VF="drawbox=x=0:y=0:w=640:h=48:color=black:t=fill"
for i in $(seq 0 15); do
  VF="$VF,drawbox=x=$((i * 40)):y=0:w=40:h=48:color=white:t=fill:enable='gt(bitand(n\\,$((1 << i)))\\,0)'"
done
ffmpeg -hide_banner -loglevel error -y -f lavfi -i "testsrc2=size=640x480:rate=30:duration=$SECS" \
  -vf "$VF,format=yuv420p" -f yuv4mpegpipe "$OUT"
