// `vecgate/web` (explicit initialization), type-checked with bundler resolution; and the default
// entry's init, named and default (`vecgate` in browsers).
import init, { initSync, relaxedSimd, CandidateSet } from 'vecgate/web';
import initDefault, { init as initNamed, initSync as initSyncDefault } from 'vecgate';

await init();
await init({ module_or_path: new URL('https://cdn.example/vecgate_bg.wasm') });
initSync({ module: new Uint8Array() });
const set: CandidateSet = new CandidateSet(2);
await initDefault();
await initNamed({ module_or_path: new URL('https://cdn.example/vecgate_bg.wasm') });
initSyncDefault({ module: new Uint8Array() });
// @ts-expect-error: initSync takes { module }
initSyncDefault(new URL('https://cdn.example/vecgate_bg.wasm'));
// The packaged build to load: relaxed SIMD (where the engine runs it) or simd128.
await initNamed({ backend: relaxedSimd() ? 'relaxed-simd' : 'simd128' });
// @ts-expect-error: backend is "simd128" or "relaxed-simd"
await initNamed({ backend: 'avx2' });

export { set };
