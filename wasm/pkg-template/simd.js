// Every entry point except Node's imports this first. The .wasm is built with SIMD128, so on an
// engine without it instantiation would fail with an opaque CompileError; fail with a clear
// message instead. Node >= 16.4 always has SIMD, so the Node entry skips the probe.

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
