// The browser and Web Worker entry: fetches and instantiates the .wasm next to this package
// (`new URL(…, import.meta.url)`, which bundlers such as Vite and webpack 5 understand) before
// any export is used, so no init call is needed.
import init from './manual.js';

await init();

export * from './manual.js';
