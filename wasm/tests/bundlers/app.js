// The page every bundler test builds (bundlers.test.mjs), as a front-end developer writes it:
// `import * as vg from 'vecgate'` and `vecgate/client`, built with the tool's default settings.
// It publishes what it computed as JSON in document.body.dataset.result (or .error).
import * as vg from 'vecgate';
import { VecgateClient } from 'vecgate/client';

const SIMILARITY_ONLY = { similarity: 1, personalization: 0, recency: 0, popularity: 0 };
const round = (x) => Math.round(x * 1e4) / 1e4;

async function run() {
  await vg.init();
  const cosine = vg.cosineSimilarity(new Float32Array([1, 0, 0]), new Float32Array([0.6, 0.8, 0]));
  const set = new vg.CandidateSet(3);
  set.push('x', [1, 0, 0], { title: 'X', year: 2001 });
  set.push('y', [0.8, 0.6, 0], { title: 'Y', year: 2002 });
  set.push('z', [0, 0, 1], { title: 'Z', year: 2003 });
  const local = set.rerank({ query: [1, 0, 0], k: 2, weights: SIMILARITY_ONLY }).map((h) => [h.id, round(h.score)]);

  // The client, against the test server's POST /v1/candidates on this origin.
  const client = new VecgateClient({ baseUrl: '' });
  const remote = await client.candidates({ vector: [1, 0, 0], n: 3 });
  const again = await client.candidates({ vector: [1, 0, 0], n: 3 });
  const remoteHits = again.rerank({ query: [0, 1, 0], k: 1, weights: SIMILARITY_ONLY }).map((h) => h.id);

  const result = { backend: vg.simdBackend(), cosine, local, remoteLen: remote.len, remoteHits, fromCache: [remote.fromCache, again.fromCache] };
  document.body.textContent = `cosine ${cosine.toFixed(4)} · top ${local.map(([id]) => id).join(', ')} · server set of ${remote.len}`;
  document.body.dataset.result = JSON.stringify(result);
}

run().catch((error) => {
  document.body.dataset.error = String(error?.stack ?? error);
});
