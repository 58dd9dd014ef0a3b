#!/usr/bin/env bash
# Builds vecgate's container image with podman: a static x86_64 binary (glibc with crt-static;
# there is no musl target here) on scratch, with the local model inside. Prints its size.
#   bash deploy/build-image.sh [tag]          (default tag: localhost/vecgate:latest)
# VECGATE_IMAGE_PROFILE=release (default) or another cargo profile; the model comes from
# $VECGATE_MODEL_DIR (default ~/.cache/vecgate/models/all-minilm-l6-v2, scripts/install-model.sh).
# Podman runs offline here with runc and deploy/containers.conf (CONTAINERS_CONF).
set -euo pipefail
cd "$(dirname "$0")/.."

tag="${1:-localhost/vecgate:latest}"
profile="${VECGATE_IMAGE_PROFILE:-release}"
model="${VECGATE_MODEL_DIR:-$HOME/.cache/vecgate/models/all-minilm-l6-v2}"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/deploy/containers.conf}"
log() { echo "[build-image] $*"; }

[[ -f "$model/model.onnx" && -f "$model/tokenizer.json" ]] ||
  { echo "no model in $model: run bash scripts/install-model.sh" >&2; exit 1; }

# Its own target dir: other RUSTFLAGS would rebuild the tests' binaries.
log "cargo build --profile $profile (static)"
RUSTFLAGS="-C target-feature=+crt-static" cargo build -q --profile "$profile" \
  --target x86_64-unknown-linux-gnu --target-dir target/static -p vecgate-edge --bin vecgate
dir="target/static/x86_64-unknown-linux-gnu/$profile"
[[ "$profile" == dev ]] && dir="target/static/x86_64-unknown-linux-gnu/debug"
# A dynamic executable names its loader (PT_INTERP); scratch has none.
if readelf -l "$dir/vecgate" | grep -q INTERP; then
  echo "$dir/vecgate is dynamically linked" >&2
  exit 1
fi

context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
cp deploy/Containerfile "$context/"
cp "$dir/vecgate" "$context/vecgate"
strip "$context/vecgate"
mkdir -p "$context/model" "$context/data"
cp "$model/model.onnx" "$model/tokenizer.json" "$context/model/"
log "podman build $tag"
# The docker format keeps HEALTHCHECK (OCI image configs have no field for it).
podman build -q --format docker -t "$tag" "$context" >/dev/null
size=$(podman image inspect --format '{{.Size}}' "$tag")
log "$tag: $((size / 1024 / 1024)) MiB ($(du -h "$context/vecgate" | cut -f1) binary, $(du -sh "$context/model" | cut -f1) model)"
