// The two builds of the .wasm in Node: the loader (node/backend.js) picks the relaxed-SIMD build
// exactly where the engine validates relaxed SIMD, and the simd128 build where it does not or where
// VECGATE_WASM_BACKEND=simd128 forces it; and both builds give bit-identical int8 results on the
// movie sample (Int8Matrix, Float32Matrix's int8 pruning, fromCodes with −128, an int8 Index).
// Node 20 runs relaxed SIMD only with --experimental-wasm-relaxed-simd, so the relaxed runs are
// child processes with that flag (where this Node validates relaxed SIMD without it, none is added).
// The Chromium half is in browser.test.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

import { engineValidatesRelaxedSimd } from './exact.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const RELAXED_FLAG = '--experimental-wasm-relaxed-simd';
/** Node flags under which this Node runs relaxed SIMD. */
const relaxedFlags = engineValidatesRelaxedSimd() ? [] : [RELAXED_FLAG];

/** Runs an ES module snippet in a fresh Node next to the installed package; its stdout, trimmed. */
function runNode(source, { flags = [], env = {} } = {}) {
  return execFileSync(process.execPath, [...flags, '--input-type=module', '-e', source], {
    cwd: here,
    encoding: 'utf8',
    env: { ...process.env, VECGATE_WASM_BACKEND: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 << 20,
  }).trim();
}

const BACKEND = `
  import { engineValidatesRelaxedSimd } from './exact.mjs';
  let backend;
  try { backend = (await import('vecgate')).simdBackend(); } catch (e) { backend = 'Error: ' + e.message; }
  console.log(JSON.stringify({ validates: engineValidatesRelaxedSimd(), backend }));
`;

test('the Node loader picks the relaxed-SIMD build where the engine validates relaxed SIMD, else simd128', () => {
  const withFlag = JSON.parse(runNode(BACKEND, { flags: relaxedFlags }));
  assert.deepEqual(withFlag, { validates: true, backend: 'relaxed-simd' }, `this Node runs relaxed SIMD with ${relaxedFlags}`);
  // Without the flag: whatever this Node validates by default decides (Node 20: no).
  const plain = JSON.parse(runNode(BACKEND));
  assert.equal(plain.backend, plain.validates ? 'relaxed-simd' : 'simd128');
  // The flag turned off explicitly: no relaxed SIMD, so the simd128 build.
  assert.deepEqual(JSON.parse(runNode(BACKEND, { flags: [`--no-${RELAXED_FLAG.slice(2)}`] })), { validates: false, backend: 'simd128' });
});

test('VECGATE_WASM_BACKEND forces a build, and a wrong value or an impossible one is a clear Error', () => {
  const forced = (value, flags = relaxedFlags) => JSON.parse(runNode(BACKEND, { flags, env: { VECGATE_WASM_BACKEND: value } })).backend;
  assert.equal(forced('simd128'), 'simd128', 'simd128 forced where relaxed SIMD runs');
  assert.equal(forced('relaxed-simd'), 'relaxed-simd');
  assert.match(forced('avx'), /^Error: vecgate: VECGATE_WASM_BACKEND must be "simd128", "relaxed-simd" or unset, not "avx"/);
  assert.match(forced('relaxed-simd', [`--no-${RELAXED_FLAG.slice(2)}`]), /^Error: vecgate: VECGATE_WASM_BACKEND=relaxed-simd, but this Node does not run relaxed SIMD/);
});

const INT8_RESULTS = `
  import * as vecgate from 'vecgate';
  import { int8Results, loadMovies } from './helpers.mjs';
  import { readFileSync } from 'node:fs';
  import { join } from 'node:path';
  const queries = readFileSync(join(process.env.VECGATE_SAMPLE_DIR, 'queries.jsonl'), 'utf8').split('\\n')
    .filter((line) => line.trim() !== '').map((line) => ({ vector: Float32Array.from(JSON.parse(line).vector) }));
  console.log(JSON.stringify(int8Results(vecgate, loadMovies(), queries)));
`;

test('int8 results are bit-identical between the simd128 and the relaxed-SIMD build (movie sample, −128 codes, int8 Index)', () => {
  const simd128 = JSON.parse(runNode(INT8_RESULTS, { flags: relaxedFlags, env: { VECGATE_WASM_BACKEND: 'simd128' } }));
  const relaxed = JSON.parse(runNode(INT8_RESULTS, { flags: relaxedFlags }));
  assert.equal(simd128.backend, 'simd128');
  assert.equal(relaxed.backend, 'relaxed-simd');
  // The runs did real work: 12 queries + 8 films, 3,200 rows each, a full index.
  assert.equal(simd128.int8TopK.length, 20);
  assert.equal(simd128.int8Scores.count, 20 * 3200);
  assert.equal(simd128.edge.length, 4);
  assert.ok(simd128.indexBytes.length > 3200 * 384, 'the int8 Index holds every film');
  for (const key of ['int8TopK', 'int8Scores', 'f32TopK', 'edge', 'indexSearches', 'indexBytes']) {
    assert.deepEqual(relaxed[key], simd128[key], key);
  }
  // The films' own vectors find themselves first: the results are search results, not noise.
  const films = simd128.indexSearches.slice(12);
  assert.ok(films.every((hits) => hits[0][1] > 0.99), 'a film searched by its own vector scores ~1');
});
