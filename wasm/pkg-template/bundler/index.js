// `vecgate/bundler`: for bundlers with WebAssembly ESM integration (webpack's
// `experiments.asyncWebAssembly`, vite-plugin-wasm, …); the .wasm is imported as a module.
import '../simd.js';
export * from './vecgate.js';
