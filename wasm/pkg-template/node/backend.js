// Which .wasm the Node build instantiates (node/vecgate.js calls `wasmFile()` on load, a line
// wasm/build.sh puts into wasm-bindgen's glue): the relaxed-SIMD build where this Node runs relaxed
// SIMD (Node 20 only with --experimental-wasm-relaxed-simd; on by default from Node 22), else the
// simd128 build. Both have the same exports and give identical results. VECGATE_WASM_BACKEND=simd128
// forces the simd128 build, =relaxed-simd the relaxed one (an Error where Node cannot run it).
'use strict';

// (module (func (export "f") (result i32)
//   v128.const i8x16 -100 50 127 -128 0 0 0 0 0 0 0 0 0 0 0 0
//   v128.const i8x16 127 3 127 127 0 0 0 0 0 0 0 0 0 0 0 0
//   i16x8.relaxed_dot_i8x16_i7x16_s  ;; the instruction the relaxed build's int8 kernel uses
//   i32x4.extract_lane 0))           ;; lanes 0 and 1 of the i16 result: -12,550 and -127
const RELAXED_SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 127, 3, 2, 1, 0, 7, 5, 1, 1, 102, 0, 0, 10, 46, 1, 44, 0,
  253, 12, 156, 50, 127, 128, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 253, 12, 127, 3, 127, 127, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 253, 146, 2, 253, 27, 0, 11,
]);

/** True where the engine validates relaxed SIMD and computes the probe's dot product right. */
function relaxedSimd() {
  try {
    if (!WebAssembly.validate(RELAXED_SIMD_PROBE)) return false;
    return new WebAssembly.Instance(new WebAssembly.Module(RELAXED_SIMD_PROBE)).exports.f() === -8270086;
  } catch {
    return false;
  }
}

/** The file name, next to the bundler glue, of the .wasm to instantiate. */
function wasmFile() {
  const forced = process.env.VECGATE_WASM_BACKEND ?? '';
  if (forced === 'simd128') return 'vecgate_bg.wasm';
  if (forced === 'relaxed-simd') {
    if (!relaxedSimd()) {
      throw new Error('vecgate: VECGATE_WASM_BACKEND=relaxed-simd, but this Node does not run relaxed SIMD (Node 20: --experimental-wasm-relaxed-simd)');
    }
    return 'vecgate_relaxed_bg.wasm';
  }
  if (forced !== '') {
    throw new Error(`vecgate: VECGATE_WASM_BACKEND must be "simd128", "relaxed-simd" or unset, not ${JSON.stringify(forced)}`);
  }
  return relaxedSimd() ? 'vecgate_relaxed_bg.wasm' : 'vecgate_bg.wasm';
}

module.exports = { RELAXED_SIMD_PROBE, relaxedSimd, wasmFile };
