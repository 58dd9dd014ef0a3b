// `vecgate/bundler`: for bundlers with WebAssembly ESM integration (webpack's
// `experiments.asyncWebAssembly`, vite-plugin-wasm, …); the .wasm is imported as a module.
// That import is static, so this entry always runs the simd128 build: no engine test can pick the
// relaxed-SIMD one here (`vecgate` itself, web/index.js, does; so does `vecgate/web` given
// `vecgate/vecgate_relaxed_bg.wasm`).
import '../simd.js';
export * from './vecgate.js';
