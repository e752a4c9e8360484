#!/usr/bin/env bash
# Scales the local Ooblex worker fleet without Docker.
#
#   deploy/scale-workers.sh N        run exactly N workers here: starts the
#                                    missing ones, drains and stops the extra
#   deploy/scale-workers.sh status   which workers run
#   deploy/scale-workers.sh stop     drains and stops them all (same as 0)
#
# With systemd (and ooblex-worker@.service installed) the workers are the
# units ooblex-worker@1 .. @N; otherwise plain processes with pid files and
# logs in $OOBLEX_RUN_DIR. Stopping sends SIGTERM: a worker finishes the
# frames it holds and exits; the others keep the stream going meanwhile.
#
# Environment (process mode): REDIS_URL (default redis://127.0.0.1:6379),
# OOBLEX_WORKER_BIN (default: build/ooblex-worker in this tree, else the one
# on PATH), OOBLEX_WORKER_ARGS (more flags, e.g. "--effects core"),
# OOBLEX_RUN_DIR (default .run/workers in a source tree, else
# $XDG_RUNTIME_DIR/ooblex-workers), OOBLEX_SYSTEMD=auto|yes|no.
# Installed as ooblex-scale-workers.
# Worker ids are ml-worker_1 .. ml-worker_N.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
CMD=${1:?usage: scale-workers.sh N|status|stop}
if [ -f "$TOP/configure.ac" ]; then RUN=${OOBLEX_RUN_DIR:-$TOP/.run/workers}
else RUN=${OOBLEX_RUN_DIR:-${XDG_RUNTIME_DIR:-/tmp}/ooblex-workers}; fi
MODE=${OOBLEX_SYSTEMD:-auto}
if [ "$MODE" = auto ]; then
  MODE=no
  if [ -d /run/systemd/system ] && systemctl cat ooblex-worker@.service >/dev/null 2>&1; then MODE=yes; fi
fi

running_units() {
  systemctl list-units --plain --no-legend --state=active 'ooblex-worker@*.service' 2>/dev/null |
    awk '{print $1}' | sed -n 's/^ooblex-worker@\([0-9]*\)\.service$/\1/p' | sort -n
}
running_procs() {
  [ -d "$RUN" ] || return 0
  for f in "$RUN"/ml-worker_*.pid; do
    [ -e "$f" ] || continue
    local i=${f##*/ml-worker_}; i=${i%.pid}
    if kill -0 "$(cat "$f")" 2>/dev/null; then echo "$i"; else rm -f "$f"; fi  # stale: a crash or a reboot
  done | sort -n
}
running() { if [ "$MODE" = yes ]; then running_units; else running_procs; fi; }

start_one() {
  local i=$1
  if [ "$MODE" = yes ]; then systemctl start "ooblex-worker@$i.service"; return; fi
  local bin=${OOBLEX_WORKER_BIN:-}
  if [ -z "$bin" ]; then
    if [ -f "$TOP/configure.ac" ] && [ -x "$TOP/build/ooblex-worker" ]; then bin=$TOP/build/ooblex-worker
    else bin=$(command -v ooblex-worker) || { echo "scale-workers.sh: no ooblex-worker found" >&2; exit 1; }; fi
  fi
  mkdir -p "$RUN"
  # setsid: the worker outlives this script and a terminal's Ctrl-C.
  # shellcheck disable=SC2086
  REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379} setsid "$bin" --id "ml-worker_$i" ${OOBLEX_WORKER_ARGS:-} \
    >>"$RUN/ml-worker_$i.log" 2>&1 </dev/null &
  echo $! >"$RUN/ml-worker_$i.pid"
}

stop_one() {
  local i=$1
  if [ "$MODE" = yes ]; then systemctl stop "ooblex-worker@$i.service"; return; fi
  local f=$RUN/ml-worker_$i.pid pid
  pid=$(cat "$f" 2>/dev/null) || return 0
  kill -TERM "$pid" 2>/dev/null || true
  # A draining worker finishes what it holds: a second, plus its frames.
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$f"
}

case "$CMD" in
  status)
    n=0
    for i in $(running); do
      n=$((n + 1))
      if [ "$MODE" = yes ]; then echo "ml-worker_$i  ooblex-worker@$i.service"
      else echo "ml-worker_$i  pid $(cat "$RUN/ml-worker_$i.pid")  log $RUN/ml-worker_$i.log"; fi
    done
    echo "$n worker(s) running ($([ "$MODE" = yes ] && echo systemd || echo "processes, $RUN"))"
    exit 0 ;;
  stop) want=0 ;;
  *)
    [[ "$CMD" =~ ^[0-9]+$ ]] || { echo "scale-workers.sh: expected a number, status or stop (got $CMD)" >&2; exit 2; }
    want=$CMD ;;
esac

have=$(running | tr '\n' ' ')
# Up: fill the lowest free numbers. Down: the highest numbers go first.
i=1
count=$(echo "$have" | wc -w)
while [ "$count" -lt "$want" ]; do
  if [[ " $have " != *" $i "* ]]; then start_one "$i"; have="$have $i "; count=$((count + 1)); fi
  i=$((i + 1))
done
for i in $(echo "$have" | tr ' ' '\n' | sed '/^$/d' | sort -rn); do
  [ "$count" -le "$want" ] && break
  stop_one "$i"
  count=$((count - 1))
done
echo "$count worker(s) running"
