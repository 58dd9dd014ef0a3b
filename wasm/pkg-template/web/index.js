// The browser, Web Worker and bundler entry: `await init()` once, then use any export.
//
// No top-level await, so that every bundler builds it with its default settings (Vite's default
// target rejects top-level await; esbuild's default IIFE output cannot have it). `init()` fetches
// the .wasm shipped next to this package (`new URL(…, import.meta.url)`, which Vite and webpack
// turn into an emitted asset). Where that URL cannot be had or does not serve the module (esbuild,
// which copies no assets; a dev server's pre-bundled copy; Node), it instantiates the copy inlined
// in `vecgate_bg.inline.js` instead, imported only then (bundlers split it off).
//
// Two builds of the module ship, with the same exports and identical results: simd128, and
// simd128 + relaxed SIMD (int8 dot products 16 lanes per instruction). `init()` fetches the relaxed
// one where the engine runs relaxed SIMD (`relaxedSimd()` in simd.js), else, or where it is not
// served, the simd128 one; the inlined copy is the simd128 build only (one copy in a bundle).
// `init({ backend: 'simd128' })` forces the simd128 build.
import { relaxedSimd } from '../simd.js';
import initWasm, { initSync as initWasmSync } from './vecgate.js';

export * from './vecgate.js';

let ready = null;

/**
 * Instantiates the WebAssembly module, once: later calls return the same promise. With no
 * argument it finds the module itself (the relaxed-SIMD build where the engine runs it); pass
 * `{ module_or_path }` (a URL, a Response, bytes or a WebAssembly.Module) to load it from
 * elsewhere, e.g. a CDN, or `{ backend: 'simd128' | 'relaxed-simd' }` to pick the packaged build.
 */
export function init(input) {
  if (ready === null) {
    ready = load(input);
    ready.catch(() => {
      ready = null;
    });
  }
  return ready;
}

export default init;

/** Instantiates the module synchronously from `{ module }` (bytes or a WebAssembly.Module). */
export function initSync(input) {
  const output = initWasmSync(input);
  ready ??= Promise.resolve(output);
  return output;
}

const BACKENDS = ['simd128', 'relaxed-simd'];

async function load(input) {
  const backend = input?.backend;
  if (input !== undefined && backend === undefined) return initWasm(input);
  if (backend !== undefined && !BACKENDS.includes(backend)) {
    throw new Error(`vecgate: init({ backend }) takes "simd128" or "relaxed-simd", not ${JSON.stringify(backend)}`);
  }
  if (Object.keys(input ?? {}).some((key) => key !== 'backend')) {
    throw new Error('vecgate: init() takes either { module_or_path } or { backend }, not both');
  }
  if (backend === 'relaxed-simd' && !relaxedSimd()) {
    throw new Error('vecgate: init({ backend: "relaxed-simd" }): this engine does not run relaxed SIMD');
  }
  const relaxed = backend === undefined ? relaxedSimd() : backend === 'relaxed-simd';
  const packaged = await fetchPackaged(relaxed);
  if (packaged !== null) return initWasm({ module_or_path: packaged });
  const { default: inlineBytes } = await import('./vecgate_bg.inline.js');
  return initWasm({ module_or_path: inlineBytes() });
}

const WASM_MAGIC = [0x00, 0x61, 0x73, 0x6d];

/** The packaged .wasm (the relaxed-SIMD build if `relaxed`, falling back to the simd128 one) as a
 * Response (streaming compile) or bytes, or null where neither is served. */
async function fetchPackaged(relaxed) {
  let urls;
  try {
    // Literal `new URL(…, import.meta.url)` expressions: Vite and webpack emit both files.
    const simd128 = new URL('../bundler/vecgate_bg.wasm', import.meta.url);
    urls = relaxed ? [new URL('../bundler/vecgate_relaxed_bg.wasm', import.meta.url), simd128] : [simd128];
  } catch {
    return null; // no import.meta.url: an IIFE bundle (esbuild's default) or a classic script
  }
  for (const url of urls) {
    const module = await fetchModule(url);
    if (module !== null) return module;
  }
  return null;
}

async function fetchModule(url) {
  let response;
  try {
    response = await fetch(url);
  } catch {
    return null; // Node (file: URLs), or the network refused
  }
  if (!response.ok) return null;
  if ((response.headers.get('content-type') ?? '').split(';')[0].trim() === 'application/wasm') return response;
  // Served with another type: the module's own bytes still do, an HTML fallback page does not.
  const bytes = new Uint8Array(await response.arrayBuffer());
  return WASM_MAGIC.every((byte, i) => bytes[i] === byte) ? bytes : null;
}
