#!/usr/bin/env bash
# Installs the Debian 12 packages Ooblex needs to build, run and test.
# Idempotent: only packages that are missing are installed, so reruns are fast.
#   deploy/install-deps.sh            build + run (plugin, worker, Redis, Janus)
#   deploy/install-deps.sh --test     also what the tests need (Chromium, Node, sanitizers)
#   deploy/install-deps.sh --bench    the test set plus gnuplot and perf (tests/bench)
#   deploy/install-deps.sh --runtime  only what the built programs need to run (the Docker images)
# Used by run-webrtc-demo.sh, tests/run.sh, .ci/run and the Dockerfiles.
set -euo pipefail

BUILD_PKGS=(build-essential autoconf automake libtool pkg-config
  janus janus-dev libglib2.0-dev libjansson-dev libhiredis-dev libnice-dev
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libavfilter-dev libturbojpeg0-dev
  libopencv-core-dev libopencv-imgproc-dev libopencv-objdetect-dev libopencv-dnn-dev opencv-data
  redis-server redis-tools libjs-janus-gateway libjs-webrtc-adapter
  ffmpeg curl iproute2 ca-certificates openssl python3 stunnel4)
# opencv-doc: real footage with faces; python3-onnx: the tests' tiny model;
# node exporter and prometheus: the metrics files read and queried for real;
# docker-compose (no engine): validates the compose file; systemd: systemd-analyze;
# clang + libfuzzer-14-dev: the fuzz targets (tests/fuzz/run.sh).
# stunnel4 (in the build set): the TLS sidecar of remote workers, tested for real.
# GStreamer's webrtcbin (plugins-bad, nice for ICE, good for RTP/SRTP's
# neighbours) and libsoup: tests/bench/webrtc_loadgen, the browser-like
# WebRTC load generator (its smoke run is a suite of tests/run.sh).
TEST_PKGS=(chromium nodejs npm fonts-dejavu-core util-linux procps
  opencv-doc python3-onnx python3-numpy prometheus-node-exporter prometheus
  docker-compose python3-yaml systemd clang libfuzzer-14-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-nice
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstreamer-plugins-bad1.0-dev libsoup-3.0-dev)

# The benchmarks' plots and profiles.
BENCH_PKGS=(gnuplot-nox linux-perf valgrind)

# What `make install`'s output links against and uses, without compilers and headers.
RUNTIME_PKGS=(janus libglib2.0-0 libjansson4 libhiredis0.14 libavcodec59 libavformat59 libavutil57
  libswscale6 libavfilter8 libturbojpeg0 libopencv-core406 libopencv-imgproc406 libopencv-objdetect406
  libopencv-dnn406 opencv-data redis-tools libjs-janus-gateway libjs-webrtc-adapter python3 ca-certificates
  stunnel4 openssl)

case "${1:-}" in
  --runtime) pkgs=("${RUNTIME_PKGS[@]}") ;;
  --test) pkgs=("${BUILD_PKGS[@]}" "${TEST_PKGS[@]}") ;;
  --bench) pkgs=("${BUILD_PKGS[@]}" "${TEST_PKGS[@]}" "${BENCH_PKGS[@]}") ;;
  "") pkgs=("${BUILD_PKGS[@]}") ;;
  *) echo "usage: install-deps.sh [--test|--bench|--runtime]" >&2; exit 2 ;;
esac

missing=()
for p in "${pkgs[@]}"; do
  # nodejs/npm may come from elsewhere (a preinstalled Node): accept the commands.
  case "$p" in
    nodejs) command -v node >/dev/null && continue ;;
    npm) command -v npm >/dev/null && continue ;;
  esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "[install-deps] installing: ${missing[*]}" >&2
  if [[ $(id -u) -ne 0 ]]; then
    echo "[install-deps] need root to install packages" >&2; exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian starts redis-server and janus when they are installed, on the ports
# the demo wants. A service this script just installed is stopped again; one
# that was there before is the user's, and is left alone.
for svc in redis-server janus prometheus-node-exporter prometheus stunnel4; do
  [[ " ${missing[*]:-} " == *" $svc "* ]] || continue
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" 2>/dev/null || true
    systemctl disable "$svc" 2>/dev/null || true
  fi
done
exit 0
