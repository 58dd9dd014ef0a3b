export * from './vecgate.js';
export { default } from './vecgate.js';

/** True where the engine runs relaxed SIMD (and so the packaged `vecgate_relaxed_bg.wasm`). */
export declare function relaxedSimd(): boolean;
