// `vecgate/client` in browsers, Web Workers and bundlers. The client itself is plain JavaScript on
// `fetch`; only `candidates()` needs the package's WebAssembly, which it imports (and initializes)
// on its first call: a page that never asks for a candidate set never downloads the .wasm.
import { VecgateClient as Client } from './core.js';

export { OPERATIONS, MAX_UPSERT_ITEMS, MAX_UPSERT_BYTES, DEFAULTS, VecgateError, VecgateBatchError } from './core.js';

async function loadCandidateSet() {
  const vecgate = await import('../web/index.js');
  await vecgate.init();
  return vecgate.CandidateSet;
}

export class VecgateClient extends Client {
  constructor(options) {
    super(options, loadCandidateSet);
  }
}

export function createClient(options) {
  return new VecgateClient(options);
}
