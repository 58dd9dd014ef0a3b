// `vecgate/web` (explicit initialization), type-checked with bundler resolution.
import init, { initSync, CandidateSet } from 'vecgate/web';

await init();
await init({ module_or_path: new URL('https://cdn.example/vecgate_bg.wasm') });
initSync({ module: new Uint8Array() });
const set: CandidateSet = new CandidateSet(2);

export { set };
