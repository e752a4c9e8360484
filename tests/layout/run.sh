#!/usr/bin/env bash
# The folder split, enforced by the build: each folder's files compile with
# the include path make gives that folder's library (Makefile.am, the
# *_CPPFLAGS), and it does not reach the headers the folder must not use.
# For each folder, a probe that includes a header it must not see has to
# fail to compile, with that header not found; a probe that includes headers
# it may use has to compile. So the test fails both ways: a folder that sees
# too much, or a path that lost a folder it needs.
# The flags are make's own: the compile command `make -n` prints for one of
# the folder's real objects, cut before its output and source.
# A Janus header can also be reached through the system's include path
# (<janus/plugins/plugin.h>), which no flag controls: no file under
# plugin/*/, common/ or worker/ may name one (only plugin/janus_ooblex.c).
#   tests/layout/run.sh BUILD_DIR      (prints TAP lines; run after a build)
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/common.sh"
TOP=$(cd "$HERE/../.." && pwd)
BUILD=$(cd "${1:?usage: run.sh BUILD_DIR}" && pwd)
PROBES=$(mktemp -d /tmp/ooblex-layout.XXXXXX)
trap 'rm -rf "$PROBES"' EXIT
rc=0

# The sources as make names them from BUILD: through VPATH, i.e. under the
# srcdir configure was run with ("..", or an absolute path as CI's is).
SRC=$(sed -n 's/^srcdir = //p' "$BUILD/Makefile")
[ -n "$SRC" ] || SRC=$(realpath --relative-to="$BUILD" "$TOP")
# compile_flags OBJECT SOURCE: the compiler and flags make builds OBJECT
# (a target in BUILD) with, SOURCE its source from the top. -W: as if SOURCE
# had changed, so that -n prints the command even when OBJECT is up to date.
compile_flags() {
  local src=$2
  [ "$SRC" = . ] || src=$SRC/$2
  make -s -C "$BUILD" -n -W "$src" "$1" 2>/dev/null | grep -- ' -MT ' | head -1 |
    sed -e 's/^.*--mode=compile //' -e 's/^echo [^;]*;//' -e 's/ -MT .*$//'
}

# probe FLAGS FILE HEADER...: compiles a file that includes the headers.
probe() {
  local flags=$1 file=$2; shift 2
  : >"$file"
  for h in "$@"; do
    case $h in '<'*) echo "#include $h" ;; *) echo "#include \"$h\"" ;; esac
  done >>"$file"
  (cd "$BUILD" && eval "$flags -fsyntax-only $file") 2>"$file.err"
}

# A file name made of what NAME has of letters and digits.
slug() { echo "$1" | tr -c 'A-Za-z0-9\n' '_'; }

# folder NAME OBJECT SOURCE "ALLOWED..." "FORBIDDEN..." (FORBIDDEN: header=where)
folder() {
  local name=$1 object=$2 source=$3 allowed=$4 forbidden=$5 flags file
  flags=$(compile_flags "$object" "$source")
  if [ -z "$flags" ]; then
    tap_fail "$name: make gives the flags of $object" "no compile command from make -n"; rc=1; return
  fi
  file="$PROBES/$(slug "$name")"
  # shellcheck disable=SC2086
  if probe "$flags" "$file-allowed.c" $allowed; then
    tap_ok "$name can include $allowed"
  else
    tap_fail "$name can include $allowed" "$(head -3 "$file-allowed.c.err")"; rc=1
  fi
  local entry h where p
  for entry in $forbidden; do
    h=${entry%%=*} where=${entry#*=} p="$file-$(slug "$h").c"
    if probe "$flags" "$p" "$h"; then
      tap_fail "$name cannot include $h ($where)" "it compiled"; rc=1
    elif grep -q "${h//[<>]/}: No such file or directory" "$p.err"; then
      tap_ok "$name cannot include $h ($where)"
    else
      tap_fail "$name cannot include $h ($where)" "failed for another reason:" "$(head -3 "$p.err")"; rc=1
    fi
  done
}

JANUS='<plugins/plugin.h>=Janus'
WORKER='effects.h=worker/effects worker_loop.h=worker'
folder common common/ooblex_wire.lo common/ooblex_wire.c \
  "ooblex_wire.h ooblex_redis.h effect_grammar.h" \
  "reorder.h=plugin/lib ingest.h=plugin/ingest producer.h=plugin/queue video_output.h=plugin/egress $WORKER $JANUS"
folder plugin/lib plugin/lib/libooblex_lib_la-reorder.lo plugin/lib/reorder.c \
  "reorder.h stage_stats.h latency_budget.h ooblex_wire.h" \
  "ingest.h=plugin/ingest producer.h=plugin/queue video_output.h=plugin/egress $WORKER $JANUS"
folder plugin/ingest plugin/ingest/libooblex_ingest_la-ingest.lo plugin/ingest/ingest.c \
  "ingest.h video_decoder.h reorder.h ooblex_codec.h" \
  "video_encoder.h=plugin/egress video_output.h=plugin/egress producer.h=plugin/queue plugin_metrics.h=plugin/metrics $WORKER $JANUS"
folder plugin/queue plugin/queue/libooblex_queue_la-producer.lo plugin/queue/producer.c \
  "producer.h results.h fleet.h ooblex_keys.h" \
  "reorder.h=plugin/lib ingest.h=plugin/ingest video_output.h=plugin/egress $WORKER $JANUS"
folder plugin/egress plugin/egress/libooblex_egress_la-video_output.lo plugin/egress/video_output.c \
  "video_output.h video_encoder.h reorder.h ooblex_codec.h" \
  "depay.h=plugin/ingest video_decoder.h=plugin/ingest producer.h=plugin/queue $WORKER $JANUS"
folder plugin/metrics plugin/metrics/libooblex_metrics_la-plugin_metrics.lo plugin/metrics/plugin_metrics.c \
  "plugin_metrics.h fleet.h stage_stats.h latency_budget.h" \
  "ingest.h=plugin/ingest video_output.h=plugin/egress $WORKER $JANUS"
folder "plugin (the Janus glue)" plugin/libjanus_ooblex_la-janus_ooblex.lo plugin/janus_ooblex.c \
  "<plugins/plugin.h> ingest.h producer.h results.h video_output.h plugin_metrics.h" \
  "$WORKER"
folder worker/effects worker/effects/libooblex_effects_la-effects.lo worker/effects/effects.c \
  "effects.h ooblex_jpeg.h ooblex_wire.h" \
  "reorder.h=plugin/lib ingest.h=plugin/ingest producer.h=plugin/queue video_output.h=plugin/egress $JANUS"
folder "worker (ooblex-worker)" worker/ooblex_worker-worker_main.o worker/worker_main.c \
  "effects.h worker_loop.h worker_metrics.h ooblex_jpeg.h" \
  "reorder.h=plugin/lib ingest.h=plugin/ingest producer.h=plugin/queue video_output.h=plugin/egress $JANUS"

# Janus' headers, wherever the glue's include path finds them.
janus_dir=
for f in $(compile_flags plugin/libjanus_ooblex_la-janus_ooblex.lo plugin/janus_ooblex.c); do
  case $f in -I*) [ -f "${f#-I}/plugins/plugin.h" ] && janus_dir=${f#-I} ;; esac
done
if [ -z "$janus_dir" ]; then
  tap_fail "the Janus glue's flags name the Janus headers" "no -I with plugins/plugin.h"; rc=1
else
  bad=
  cd "$TOP" || exit 1
  while IFS= read -r line; do
    file=${line%%:*} target=$(echo "$line" | sed -E 's/^[^:]*:[0-9]+:\s*#\s*include\s*[<"]([^>"]+)[>"].*/\1/')
    name=${target#janus/}
    # A project header of the same name is not Janus'.
    [ -n "$(find common plugin worker -name "$(basename "$name")" -print -quit)" ] && [ "$name" = "$target" ] && continue
    [ -f "$janus_dir/$name" ] && bad="$bad $file:$target"
  done < <(grep -rnE --include='*.[ch]' --include='*.cpp' '^\s*#\s*include\s*[<"]' plugin/*/ common worker)
  if [ -z "$bad" ]; then
    tap_ok "no file under plugin/*/, common/ or worker/ includes a Janus header"
  else
    tap_fail "no file under plugin/*/, common/ or worker/ includes a Janus header" $bad; rc=1
  fi
fi
exit $rc
