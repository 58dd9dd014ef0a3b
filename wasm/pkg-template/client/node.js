// `vecgate/client` in Node: the same client; `candidates()` loads the package's Node build (the
// same instance as `import 'vecgate'`) on its first call.
import { VecgateClient as Client } from './core.js';

export { OPERATIONS, MAX_UPSERT_ITEMS, MAX_UPSERT_BYTES, DEFAULTS, VecgateError, VecgateBatchError } from './core.js';

async function loadCandidateSet() {
  const vecgate = await import('../node/vecgate.js');
  return vecgate.CandidateSet ?? vecgate.default.CandidateSet;
}

export class VecgateClient extends Client {
  constructor(options) {
    super(options, loadCandidateSet);
  }
}

export function createClient(options) {
  return new VecgateClient(options);
}
