// The browser, Web Worker and bundler entry: `await init()` once, then use any export.
//
// No top-level await, so that every bundler builds it with its default settings (Vite's default
// target rejects top-level await; esbuild's default IIFE output cannot have it). `init()` fetches
// the .wasm shipped next to this package (`new URL(…, import.meta.url)`, which Vite and webpack
// turn into an emitted asset). Where that URL cannot be had or does not serve the module (esbuild,
// which copies no assets; a dev server's pre-bundled copy; Node), it instantiates the copy inlined
// in `vecgate_bg.inline.js` instead, imported only then (bundlers split it off).
import '../simd.js';
import initWasm, { initSync as initWasmSync } from './vecgate.js';

export * from './vecgate.js';

let ready = null;

/**
 * Instantiates the WebAssembly module, once: later calls return the same promise. With no
 * argument it finds the module itself; pass `{ module_or_path }` (a URL, a Response, bytes or a
 * WebAssembly.Module) to load it from elsewhere, e.g. a CDN.
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

async function load(input) {
  if (input !== undefined) return initWasm(input);
  const packaged = await fetchPackaged();
  if (packaged !== null) return initWasm({ module_or_path: packaged });
  const { default: inlineBytes } = await import('./vecgate_bg.inline.js');
  return initWasm({ module_or_path: inlineBytes() });
}

const WASM_MAGIC = [0x00, 0x61, 0x73, 0x6d];

/** The packaged .wasm as a Response (streaming compile) or bytes, or null where it is not served. */
async function fetchPackaged() {
  let url;
  try {
    url = new URL('../bundler/vecgate_bg.wasm', import.meta.url);
  } catch {
    return null; // no import.meta.url: an IIFE bundle (esbuild's default) or a classic script
  }
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
