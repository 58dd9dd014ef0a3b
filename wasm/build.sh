#!/usr/bin/env bash
# Builds the npm package `vecgate` into wasm/pkg (or $1): the release .wasm twice, with SIMD128
# (every engine) and with SIMD128 + relaxed SIMD (its int8 dot product; same exports, same results,
# picked at load time where the engine has it), the wasm-bindgen glue for the web (ESM, also Web
# Workers), bundler and nodejs targets (one glue for both .wasm: checked identical), the text
# embedder (`vecgate/embedder`: a .wasm of its own, vecgate-embed-wasm, with its web glue), and the
# hand-written entry points from wasm/pkg-template. Prints the raw and gzipped size of every .wasm.
# Needs what scripts/install-wasm-deps.sh installs.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-wasm/pkg}
log() { echo "[wasm/build] $*"; }

crate_version=$(cargo pkgid -p vecgate-wasm | sed 's/.*[#@]//')
bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
if [ "$(wasm-bindgen --version)" != "wasm-bindgen $bindgen_version" ]; then
  echo "[wasm/build] wasm-bindgen CLI $(wasm-bindgen --version) does not match the crate ($bindgen_version);" \
    "run scripts/install-wasm-deps.sh" >&2
  exit 1
fi

# The whole wasm build (core included) is optimized for size: opt-level z gives a .wasm ~11%
# smaller gzipped than the release profile's 3 (wasm/README.md has the figures).
# WASM_OPT_LEVEL=3 builds for speed instead. The level is a profile setting given on this command
# line only (native builds keep the profile's 3), not a RUSTFLAGS one, because build scripts see
# it: zmij (serde_json's float writer) drops its 17 KB of tables at opt-level s or z.
opt_level=${WASM_OPT_LEVEL:-z}
case $opt_level in s | z) opt_level_toml="\"$opt_level\"" ;; *) opt_level_toml=$opt_level ;; esac
log "cargo build (wasm32-unknown-unknown, release, simd128, opt-level $opt_level)"
RUSTFLAGS="-C target-feature=+simd128" \
  cargo build -p vecgate-wasm --release --target wasm32-unknown-unknown \
  --config "profile.release.opt-level=$opt_level_toml"
target_dir=$(cargo metadata --format-version 1 --no-deps | node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(0, "utf8")).target_directory)')
wasm=$target_dir/wasm32-unknown-unknown/release/vecgate_wasm.wasm

# The same crate with relaxed SIMD on as well: only the int8 dot product differs (core's
# kernels/wasm.rs; exact, so results are identical). Its own target directory, so that the two
# sets of RUSTFLAGS do not rebuild each other every time.
log "cargo build (wasm32-unknown-unknown, release, simd128 + relaxed-simd, opt-level $opt_level)"
RUSTFLAGS="-C target-feature=+simd128,+relaxed-simd" \
  cargo build -p vecgate-wasm --release --target wasm32-unknown-unknown \
  --target-dir "$target_dir/wasm-relaxed" \
  --config "profile.release.opt-level=$opt_level_toml"
relaxed_wasm=$target_dir/wasm-relaxed/wasm32-unknown-unknown/release/vecgate_wasm.wasm

# The embedder is inference: built for speed (opt-level 3, the release profile's), not size. It is
# a download of its own, fetched only by pages that embed text, next to a 23 MB model.
# EMBED_WASM_OPT_LEVEL=z builds it for size instead (wasm/README.md has both figures).
embed_opt_level=${EMBED_WASM_OPT_LEVEL:-3}
case $embed_opt_level in s | z) embed_opt_level_toml="\"$embed_opt_level\"" ;; *) embed_opt_level_toml=$embed_opt_level ;; esac
log "cargo build -p vecgate-embed-wasm (wasm32-unknown-unknown, release, simd128, opt-level $embed_opt_level)"
RUSTFLAGS="-C target-feature=+simd128" \
  cargo build -p vecgate-embed-wasm --release --target wasm32-unknown-unknown \
  --config "profile.release.opt-level=$embed_opt_level_toml"
embed_wasm=$target_dir/wasm32-unknown-unknown/release/vecgate_embed_wasm.wasm

staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
for target in web bundler nodejs; do
  wasm-bindgen --target "$target" --out-dir "$staging/$target" --out-name vecgate \
    --remove-name-section --remove-producers-section "$wasm"
  wasm-bindgen --target "$target" --out-dir "$staging/relaxed-$target" --out-name vecgate \
    --remove-name-section --remove-producers-section "$relaxed_wasm"
  # One glue for both modules: every generated JS and .d.ts file must be byte-identical (same
  # exports and imports), or the relaxed .wasm would be loaded by glue that was not made for it.
  for file in "$staging/$target"/*; do
    case $file in *.wasm) continue ;; esac
    cmp -s "$file" "$staging/relaxed-$target/$(basename "$file")" ||
      { echo "[wasm/build] $target/$(basename "$file") of the relaxed-SIMD build differs from the simd128 build's" >&2; exit 1; }
  done
  [ "$(ls "$staging/$target")" = "$(ls "$staging/relaxed-$target")" ] ||
    { echo "[wasm/build] wasm-bindgen wrote different files for the relaxed-SIMD build ($target)" >&2; exit 1; }
done
# The relaxed build must really differ (relaxed instructions in it), or the flags did not apply.
cmp -s "$staging/bundler/vecgate_bg.wasm" "$staging/relaxed-bundler/vecgate_bg.wasm" &&
  { echo "[wasm/build] the relaxed-SIMD .wasm is identical to the simd128 one" >&2; exit 1; }
# The embedder: the web glue only; Node instantiates it from the same file (embedder/node.js).
wasm-bindgen --target web --out-dir "$staging/embedder" --out-name embedder \
  --remove-name-section --remove-producers-section "$embed_wasm"
# The three targets embed the same .wasm; ship it once, next to the bundler glue (bundlers resolve
# the .wasm's own import of "./vecgate_bg.js" relative to it), and point the others at it.
for target in bundler nodejs; do
  cmp -s "$staging/web/vecgate_bg.wasm" "$staging/$target/vecgate_bg.wasm" ||
    { echo "[wasm/build] the $target .wasm differs from the web one" >&2; exit 1; }
  cmp -s "$staging/relaxed-web/vecgate_bg.wasm" "$staging/relaxed-$target/vecgate_bg.wasm" ||
    { echo "[wasm/build] the relaxed $target .wasm differs from the relaxed web one" >&2; exit 1; }
done

rm -rf "$out"
mkdir -p "$out"
cp -R wasm/pkg-template/. "$out/"
cp "$staging/web/vecgate.js" "$staging/web/vecgate.d.ts" "$out/web/"
cp "$staging/bundler/vecgate.js" "$staging/bundler/vecgate_bg.js" "$staging/bundler/vecgate.d.ts" \
  "$staging/bundler/vecgate_bg.wasm" "$out/bundler/"
cp "$staging/relaxed-bundler/vecgate_bg.wasm" "$out/bundler/vecgate_relaxed_bg.wasm"
cp "$staging/nodejs/vecgate.js" "$staging/nodejs/vecgate.d.ts" "$out/node/"
cp "$staging/embedder/embedder.js" "$staging/embedder/embedder.d.ts" "$staging/embedder/embedder_bg.wasm" \
  "$out/embedder/"

# Point each glue file at the shared .wasm. Each pattern must match exactly once, so a change in
# wasm-bindgen's output fails the build instead of shipping a broken path.
repoint() {
  local file=$1 from=$2 to=$3
  local count
  count=$(grep -cF -- "$from" "$file" || true)
  if [ "$count" != 1 ]; then
    echo "[wasm/build] expected one '$from' in $file, found $count" >&2
    exit 1
  fi
  FROM=$from TO=$to perl -0pi -e 's/\Q$ENV{FROM}\E/$ENV{TO}/' "$file"
}
repoint "$out/web/vecgate.js" "new URL('vecgate_bg.wasm', import.meta.url)" \
  "new URL('../bundler/vecgate_bg.wasm', import.meta.url)"
# Node: the relaxed-SIMD module where the engine runs it (node/backend.js decides; the bundler
# glue imports the simd128 one statically, and web/index.js picks its URL itself).
repoint "$out/node/vecgate.js" '`${__dirname}/vecgate_bg.wasm`' '`${__dirname}/../bundler/${require('"'"'./backend.js'"'"').wasmFile()}`'

# Before init() the web glue's `wasm` is undefined, and any call fails with "Cannot read properties
# of undefined". Start it as an object whose every property read throws an Error that says what to
# do instead (the glue tests `wasm !== undefined` to know whether it is initialized: twice).
repoint "$out/web/vecgate.js" 'let wasmModule, wasmInstance, wasm;' \
  "const NOT_INITIALIZED = new Proxy({}, { get() { throw new Error('vecgate: call \`await init()\` (exported by the package) before using it: the WebAssembly module is not instantiated yet'); } });
let wasmModule, wasmInstance, wasm = NOT_INITIALIZED;"
count=$(grep -cF 'if (wasm !== undefined) return wasm;' "$out/web/vecgate.js" || true)
if [ "$count" != 2 ]; then
  echo "[wasm/build] expected two 'if (wasm !== undefined) return wasm;' in $out/web/vecgate.js, found $count" >&2
  exit 1
fi
perl -pi -e 's/\Qif (wasm !== undefined) return wasm;\E/if (wasm !== NOT_INITIALIZED) return wasm;/' "$out/web/vecgate.js"

# The browser entry (web/index.js) is used after `await init()`; Node's build is ready when loaded,
# so it gets an `init` (and `initSync`) that do nothing, for code shared by browsers and Node.
cat >>"$out/node/vecgate.js" <<'JS'

// Added by wasm/build.sh: the module is instantiated above, on load. The browser entry needs
// `await init()` first; here both are no-ops, so the same code runs in browsers and Node.
exports.init = function init() {
    return Promise.resolve();
};
exports.initSync = function initSync() {};
JS
cat >>"$out/node/vecgate.d.ts" <<'TS'

/** Resolves at once: in Node the module is instantiated on load (browsers need `await init()`). */
export function init(input?: unknown): Promise<void>;
/** Does nothing in Node (the module is instantiated on load). */
export function initSync(input?: unknown): void;
TS

# The module inlined as base64, for `init()` where the packaged .wasm cannot be fetched (bundlers
# that copy no assets, such as esbuild; web/index.js imports it only then).
node -e '
  const fs = require("fs");
  const [wasmFile, outFile] = process.argv.slice(1);
  const base64 = fs.readFileSync(wasmFile).toString("base64");
  fs.writeFileSync(outFile, `// Generated by wasm/build.sh from bundler/vecgate_bg.wasm: the same module as base64, for
// init() where the .wasm file cannot be fetched (web/index.js imports this only then).
const BASE64 = "${base64}";

export default function wasmBytes() {
  const text = atob(BASE64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}
`);
' "$out/bundler/vecgate_bg.wasm" "$out/web/vecgate_bg.inline.js"

VERSION=$crate_version node -e '
  const fs = require("fs");
  const file = process.argv[1];
  const pkg = JSON.parse(fs.readFileSync(file, "utf8"));
  pkg.version = process.env.VERSION;
  fs.writeFileSync(file, JSON.stringify(pkg, null, 2) + "\n");
' "$out/package.json"

log "built $out (vecgate $crate_version, wasm-bindgen $bindgen_version)"
for file in vecgate_bg.wasm vecgate_relaxed_bg.wasm; do
  raw=$(stat -c %s "$out/bundler/$file")
  gz=$(gzip -9 -c "$out/bundler/$file" | wc -c)
  case $file in vecgate_bg.wasm) what="simd128" ;; *) what="simd128 + relaxed-simd" ;; esac
  log "$file ($what): $raw bytes raw ($((raw / 1024)) KiB), $gz bytes gzipped ($((gz / 1024)) KiB)"
done
embed_raw=$(stat -c %s "$out/embedder/embedder_bg.wasm")
embed_gz=$(gzip -9 -c "$out/embedder/embedder_bg.wasm" | wc -c)
log "embedder/embedder_bg.wasm: $embed_raw bytes raw ($((embed_raw / 1024)) KiB), $embed_gz bytes gzipped ($((embed_gz / 1024)) KiB)"
