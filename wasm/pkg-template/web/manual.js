// `vecgate/web`: initialize explicitly, e.g. `await init({ module_or_path: url })` to load the
// .wasm from a CDN or a cache, or `initSync({ module: bytes })` inside a Worker.
import '../simd.js';
export * from './vecgate.js';
export { default } from './vecgate.js';
