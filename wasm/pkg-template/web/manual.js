// `vecgate/web`: initialize explicitly, e.g. `await init({ module_or_path: url })` to load the
// .wasm from a CDN or a cache, or `initSync({ module: bytes })` inside a Worker. Either packaged
// build works with this glue: `relaxedSimd()` tells whether the engine runs the relaxed-SIMD one
// (`vecgate/vecgate_relaxed_bg.wasm`; else `vecgate/vecgate_bg.wasm`).
export { relaxedSimd } from '../simd.js';
export * from './vecgate.js';
export { default } from './vecgate.js';
