// Every entry point except Node's imports this first. The .wasm is built with SIMD128, so on an
// engine without it instantiation would fail with an opaque CompileError; fail with a clear
// message instead. Node >= 16.4 always has SIMD, so the Node entry skips the probe.
//
// It also tells whether the engine runs relaxed SIMD (`relaxedSimd()`), for web/index.js's
// `init()` to pick the relaxed-SIMD .wasm (node/backend.js does the same for Node).

// (module (func (result v128) i32.const 0 i8x16.splat i8x16.popcnt))
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15,
  253, 98, 11,
]);

if (typeof WebAssembly !== 'object' || !WebAssembly.validate(SIMD_PROBE)) {
  throw new Error(
    'vecgate needs WebAssembly with SIMD (Chrome/Edge 91+, Firefox 89+, Safari 16.4+, Node 16.4+); ' +
      'this JavaScript engine does not support it',
  );
}

// (module (func (export "f") (result i32)
//   v128.const i8x16 -100 50 127 -128 0 0 0 0 0 0 0 0 0 0 0 0
//   v128.const i8x16 127 3 127 127 0 0 0 0 0 0 0 0 0 0 0 0
//   i16x8.relaxed_dot_i8x16_i7x16_s  ;; the instruction the relaxed build's int8 kernel uses
//   i32x4.extract_lane 0))           ;; lanes 0 and 1 of the i16 result: -12,550 and -127
export const RELAXED_SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 127, 3, 2, 1, 0, 7, 5, 1, 1, 102, 0, 0, 10, 46, 1, 44, 0,
  253, 12, 156, 50, 127, 128, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 253, 12, 127, 3, 127, 127, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 253, 146, 2, 253, 27, 0, 11,
]);

let relaxed;

/** True where the engine validates relaxed SIMD and computes the probe's dot product right. */
export function relaxedSimd() {
  relaxed ??= probeRelaxedSimd();
  return relaxed;
}

function probeRelaxedSimd() {
  try {
    if (!WebAssembly.validate(RELAXED_SIMD_PROBE)) return false;
    // Validation says the instructions decode; running the 74-byte module (synchronous compile,
    // well under every engine's limit) checks that the engine computes them as the build needs.
    return new WebAssembly.Instance(new WebAssembly.Module(RELAXED_SIMD_PROBE)).exports.f() === -8270086;
  } catch {
    return false; // e.g. a content security policy that forbids compiling WebAssembly this way
  }
}
