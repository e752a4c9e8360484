# Shared helpers for the shell test drivers (sourced, not run).

# TAP output: tap_ok NAME / tap_fail NAME [REASON...]; tests/run.sh counts the lines.
tap_ok() { echo "ok - $1"; }
tap_fail() { local n=$1; shift; echo "not ok - $n"; for l in "$@"; do echo "#   $l"; done; }
tap_check() { local name=$1; shift; if "$@"; then tap_ok "$name"; else tap_fail "$name" "failed: $*"; fi; }

# A TCP port nobody listens on, from a range our fixed ports do not use, and
# below the kernel's ephemeral range: a port that is only the local end of
# some connection (a worker's to Redis, a redis-cli's) does not answer the
# probe below, yet cannot be bound; taken from there, a server we start
# would now and then fail to listen.
free_port() {
  local p eph lo=21000 hi=32000
  read -r eph _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || eph=32768
  [ "$eph" -gt "$hi" ] || hi=$((eph - 1))
  [ "$hi" -gt "$lo" ] || { lo=30000; hi=49999; }	# an unusual ephemeral range: as before
  for _ in $(seq 1 50); do
    p=$((lo + RANDOM % (hi - lo + 1)))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
  done
  return 1
}

# wait_for SECONDS COMMAND...: polls until COMMAND succeeds.
wait_for() {
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@" >/dev/null 2>&1; do
    (( $(date +%s) >= deadline )) && return 1
    sleep 0.1
  done
}

# Starts a private, non-persistent Redis on port $1 (logs to $2); sets REDIS_PID.
start_redis() {
  redis-server --port "$1" --bind 127.0.0.1 --save "" --appendonly no \
    --logfile "$2" --daemonize no >/dev/null 2>&1 &
  REDIS_PID=$!
  wait_for 10 redis-cli -p "$1" ping
}

# Stops a process by PID: TERM, then KILL after a grace period. Returns its exit code.
stop_pid() {
  local pid=$1 grace=${2:-5} rc=0
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 $((grace * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || rc=$?
  return $rc
}

# Moves the calling script into a fresh network namespace (re-executing it)
# with lo up and a veth interface carrying 127.0.0.2. Janus 1.1.2 never offers
# ICE candidates on loopback interfaces; this gives it one that is not, while
# all traffic stays on 127/8 and nothing leaves the machine. The fixed ports of
# the tests cannot clash with anything outside. Needs root.
#   enter_netns "$0" "$@"     (first thing in a script)
enter_netns() {
  if [ -z "${OOBLEX_IN_NETNS:-}" ]; then
    exec unshare --net -- env OOBLEX_IN_NETNS=1 bash "$@"
  fi
  ip link set lo up
  ip link add oob0 type veth peer name oob1
  ip link set oob0 addrgenmode none
  ip link set oob1 addrgenmode none
  ip addr add 127.0.0.2/32 dev oob0
  ip link set oob1 up
  ip link set oob0 up
}
