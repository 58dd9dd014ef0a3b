// `vecgate/web` (explicit initialization), type-checked with bundler resolution; and the default
// entry's init, named and default (`vecgate` in browsers).
import init, { initSync, CandidateSet } from 'vecgate/web';
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

export { set };
