// Types of the browser entry (`vecgate` outside Node): every export after `await init()`.
import type { InitInput, InitOutput, SyncInitInput } from './vecgate.js';

export * from './vecgate.js';

/**
 * Instantiates the WebAssembly module once (later calls return the same promise). Call it before
 * any other export. With no argument the module is found next to the package (or inlined where a
 * bundler copies no assets): the relaxed-SIMD build where the engine runs relaxed SIMD, else the
 * simd128 build (same exports, identical results; `simdBackend()` tells which). `{ backend }`
 * picks the packaged build; `{ module_or_path }` loads a module from elsewhere.
 */
export declare function init(
  input?: { module_or_path: InitInput | Promise<InitInput> } | { backend: 'simd128' | 'relaxed-simd' },
): Promise<InitOutput>;
export default init;

/** Instantiates the module synchronously from its bytes or a compiled `WebAssembly.Module`. */
export declare function initSync(input: { module: SyncInitInput }): InitOutput;
