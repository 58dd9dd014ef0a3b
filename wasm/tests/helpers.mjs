// The movie sample, for the Node tests (the Chromium page fetches it instead).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { TOY_STORY_IDS } from './exact.mjs';

export * from './exact.mjs';

/** The 3,200-film sample (`$VECGATE_SAMPLE_DIR`, set by wasm/test.sh to ../shared/data/movies). */
export const sampleDir = process.env.VECGATE_SAMPLE_DIR;

function jsonl(file) {
  if (!sampleDir) throw new Error('set VECGATE_SAMPLE_DIR to the movie sample directory');
  return readFileSync(join(sampleDir, file), 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line));
}

/** [{id, metadata, vector: Float32Array}] */
export function loadMovies() {
  return jsonl('movies.jsonl').map((m) => ({
    id: m.id,
    metadata: m.metadata,
    vector: Float32Array.from(m.vector),
  }));
}

export function loadQuery(text) {
  const query = jsonl('queries.jsonl').find((q) => q.text === text);
  if (!query) throw new Error(`no query "${text}" in queries.jsonl`);
  return Float32Array.from(query.vector);
}

/** Asserts what every run of checkMovies (Node, page, Worker) must show; `backend` is the build
 * the run's loader must have picked. */
export function assertMovieResults(result, backend) {
  assert.equal(result.backend, backend);
  assert.equal(result.len, 3200);
  assert.equal(result.dims, 384);
  for (const id of TOY_STORY_IDS) {
    assert.ok(result.similarityIds.slice(0, 4).includes(id), `${id} not in the top 4: ${result.similarityIds}`);
  }
  // The default blend is checked for equality only: the sample dates some 1930s films 2030s
  // (two-digit years), and recency lifts them above Toy Story (1995).
  assert.deepEqual(result.similarityIds, result.exactIds);
  assert.ok(result.similarityMaxDiff < 1e-5, `scores differ by ${result.similarityMaxDiff}`);
  assert.deepEqual(result.blendIds, result.expectedBlendIds);
  assert.ok(result.blendMaxDiff < 1e-5, `blended scores differ by ${result.blendMaxDiff}`);
}
