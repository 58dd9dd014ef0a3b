// The whole API of the installed `vecgate` package in Node, error paths included.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';

import {
  CandidateSet,
  Float32Matrix,
  Int8Matrix,
  batchSimilarity,
  cosineSimilarity,
  dotProduct,
  mmr,
  normalize,
  personalize,
  rerank,
  simdBackend,
  topK,
  updatePreference,
} from 'vecgate';
import { expectedBackend, jsCosine, jsExactTopK } from './exact.mjs';

const f32 = (...xs) => new Float32Array(xs);
const close = (actual, expected, tolerance = 1e-6) =>
  assert.ok(Math.abs(actual - expected) <= tolerance, `${actual} is not within ${tolerance} of ${expected}`);
const closeAll = (actual, expected, tolerance = 1e-6) => {
  assert.equal(actual.length, expected.length);
  expected.forEach((e, i) => close(actual[i], e, tolerance));
};

/** Asserts that `fn` throws a real `Error` (never a wasm trap) whose message matches `pattern`. */
function throwsError(fn, pattern) {
  assert.throws(fn, (error) => {
    assert.ok(error instanceof Error, `not an Error: ${error}`);
    assert.ok(!(error instanceof WebAssembly.RuntimeError), `a wasm trap: ${error.message}`);
    assert.doesNotMatch(error.message, /unreachable/);
    assert.match(error.message, pattern);
    return true;
  });
}

// A deterministic pseudo-random matrix with values in [-1, 1).
function randomMatrix(rows, dims, seed = 1) {
  let state = seed;
  const values = new Float32Array(rows * dims);
  for (let i = 0; i < values.length; i++) {
    state = (state * 1103515245 + 12345) % 2147483648;
    values[i] = state / 1073741824 - 1;
  }
  return values;
}
const rowsOf = (matrix, dims) =>
  Array.from({ length: matrix.length / dims }, (_, i) => matrix.subarray(i * dims, (i + 1) * dims));

test('the kernels run on wasm SIMD: the relaxed-SIMD build where this Node validates it, else simd128', () => {
  assert.equal(simdBackend(), expectedBackend());
});

describe('kernels', () => {
  test('cosine, dot and normalize match hand values', () => {
    close(cosineSimilarity(f32(1, 0, 0), f32(3, 4, 0)), 0.6);
    assert.equal(cosineSimilarity(f32(1, 0), f32(0, 1)), 0);
    assert.equal(cosineSimilarity(f32(0, 0, 0), f32(1, 2, 3)), 0, 'a zero vector scores 0, not NaN');
    close(cosineSimilarity([1, 0, 0], [3, 4, 0]), 0.6, 1e-6);
    assert.equal(dotProduct(f32(1, 2, 3), f32(4, 5, 6)), 32);
    const n = normalize(f32(3, 4, 0));
    assert.ok(n instanceof Float32Array);
    closeAll(n, [0.6, 0.8, 0]);
    assert.deepEqual(Array.from(normalize(f32(0, 0))), [0, 0]);
  });

  test('bad vectors throw errors that name the problem', () => {
    throwsError(() => cosineSimilarity(new Float32Array(384), new Float32Array(768)), /expected 384, got 768/);
    throwsError(() => dotProduct(f32(1, 2), f32(1)), /dimension mismatch/);
    throwsError(() => cosineSimilarity(f32(1, NaN), f32(1, 2)), /component 1 is NaN or infinite/);
    throwsError(() => normalize(f32(1, 2, Infinity)), /component 2 is NaN or infinite/);
    throwsError(() => dotProduct(f32(1, 2), f32(-Infinity, 2)), /component 0/);
  });

  test('batchSimilarity scores every row like a plain-JS loop', () => {
    const dims = 16;
    const matrix = randomMatrix(50, dims);
    const query = matrix.slice(3 * dims, 4 * dims);
    const scores = batchSimilarity(query, matrix, dims);
    assert.ok(scores instanceof Float32Array);
    assert.equal(scores.length, 50);
    rowsOf(matrix, dims).forEach((row, i) => close(scores[i], jsCosine(query, row), 1e-5));
    close(scores[3], 1, 1e-6);
  });

  test('topK is sorted, bounded, thresholded and breaks ties by row', () => {
    const matrix = f32(1, 0, 0, 1, 0.7, 0.7, -1, 0, 0.9, 0.1);
    const hits = topK(f32(1, 0), matrix, 2, 3);
    assert.deepEqual(hits.map((h) => h.index), [0, 4, 2]);
    close(hits[0].score, 1);
    close(hits[2].score, Math.SQRT1_2);
    assert.deepEqual(topK(f32(1, 0), matrix, 2, 10, 0.5).map((h) => h.index), [0, 4, 2]);
    assert.deepEqual(topK(f32(1, 0), matrix, 2, 10, null).length, 5);
    assert.deepEqual(topK(f32(1, 0), matrix, 2, 0), []);
    const same = new Float32Array(20).map((_, i) => (i % 2 === 0 ? 1 : 0));
    assert.deepEqual(topK(f32(1, 0), same, 2, 4).map((h) => h.index), [0, 1, 2, 3]);
  });

  test('topK equals a plain-JS exact search', () => {
    const dims = 64;
    const matrix = randomMatrix(500, dims, 7);
    const query = randomMatrix(1, dims, 99);
    const ours = topK(query, matrix, dims, 20);
    const exact = jsExactTopK(rowsOf(matrix, dims), query, 20);
    assert.deepEqual(ours.map((h) => h.index), exact.map((h) => h.index));
    ours.forEach((h, i) => close(h.score, exact[i].score, 1e-5));
  });

  test('matrix arguments are validated', () => {
    throwsError(() => topK(f32(1, 0), f32(1, 0, 1), 2, 1), /3 values is not a whole number of rows of 2/);
    throwsError(() => topK(f32(1), f32(1, 0), 2, 1), /expected 2, got 1/);
    throwsError(() => topK(f32(0, 1), f32(1, 0, 0, NaN), 2, 1), /component 3 is NaN/);
    throwsError(() => topK(f32(1, 0), f32(1, 0), 2, 1, NaN), /threshold is NaN/);
    throwsError(() => topK(f32(1, 0), f32(1, 0), 0, 1), /dims must be at least 1/);
    throwsError(() => topK(f32(1, 0), f32(1, 0), 2, -1), /k must be a whole number/);
    throwsError(() => topK(f32(1, 0), f32(1, 0), 2, 1.5), /k must be a whole number.*1\.5/);
    throwsError(() => topK(f32(1, 0), f32(1, 0), -2, 1), /dims must be a whole number/);
    throwsError(() => batchSimilarity(f32(1, 0), f32(1, 0), NaN), /dims must be a whole number/);
    throwsError(() => batchSimilarity(f32(1, 0), f32(1, 0, 1), 2), /not a whole number of rows/);
  });
});

describe('Float32Matrix and Int8Matrix', () => {
  const dims = 32;
  const matrix = randomMatrix(200, dims, 3);
  const query = matrix.slice(17 * dims, 18 * dims);

  test('Float32Matrix searches like topK', () => {
    const m = new Float32Matrix(matrix, dims);
    assert.equal(m.rows, 200);
    assert.equal(m.dims, dims);
    // Rows are stored at unit length, so scores agree with topK to f32 rounding.
    const hits = m.topK(query, 10);
    const reference = topK(query, matrix, dims, 10);
    assert.deepEqual(hits.map((h) => h.index), reference.map((h) => h.index));
    hits.forEach((h, i) => close(h.score, reference[i].score, 1e-6));
    closeAll(m.similarities(query), batchSimilarity(query, matrix, dims), 1e-6);
    assert.equal(m.topK(query, 10, 0.99).length, 1);
    assert.deepEqual(new Float32Matrix(f32(0, 0, 3, 4), 2).similarities(f32(0, 1)), f32(0, 0.8));
    throwsError(() => m.topK(query, 1, NaN), /threshold is NaN/);
    m.free();
  });

  test('Float32Matrix.topK (int8 bounds, then f32) is exactly the exhaustive scan', () => {
    const dims = 96;
    const big = randomMatrix(3000, dims, 11);
    big.copyWithin(5 * dims, 9 * dims, 10 * dims); // rows 5 and 9 equal: a tie, broken by row
    const m = new Float32Matrix(big, dims);
    for (const q of [randomMatrix(1, dims, 12), big.slice(9 * dims, 10 * dims), new Float32Array(dims)]) {
      const scores = m.similarities(q);
      for (const k of [1, 10, 100]) {
        for (const threshold of [undefined, 0.1, 0.999]) {
          const expected = Array.from(scores.keys())
            .filter((i) => threshold === undefined || scores[i] >= Math.fround(threshold))
            .sort((a, b) => scores[b] - scores[a] || a - b)
            .slice(0, k);
          const hits = m.topK(q, k, threshold);
          assert.deepEqual(hits.map((h) => h.index), expected, `k ${k}, threshold ${threshold}`);
          hits.forEach((h) => assert.equal(h.score, scores[h.index]));
        }
      }
    }
  });

  test('Int8Matrix ranks like f32 within quantization error', () => {
    const q = new Int8Matrix(matrix, dims);
    assert.equal(q.rows, 200);
    assert.equal(q.dims, dims);
    assert.ok(q.codes instanceof Int8Array);
    assert.equal(q.codes.length, 200 * dims);
    assert.equal(q.scales.length, 200);
    const hits = q.topK(query, 5);
    assert.equal(hits[0].index, 17);
    close(hits[0].score, 1, 1e-3);
    const exact = batchSimilarity(query, matrix, dims);
    q.similarities(query).forEach((s, i) => close(s, exact[i], 0.02));
    // The same codes and scales give the same matrix.
    const copy = Int8Matrix.fromCodes(q.codes, q.scales, dims);
    assert.deepEqual(copy.topK(query, 5), hits);
  });

  test('bad matrices throw', () => {
    throwsError(() => new Float32Matrix(f32(1, 2, 3), 2), /not a whole number of rows/);
    throwsError(() => new Float32Matrix(f32(1, NaN), 2), /component 1 is NaN/);
    throwsError(() => new Float32Matrix(f32(1, 2), 0), /dims must be at least 1/);
    throwsError(() => new Int8Matrix(f32(1, 2, Infinity, 4), 2), /component 2/);
    throwsError(() => Int8Matrix.fromCodes(new Int8Array(4), f32(1), 2), /1 scales for 2 rows/);
    throwsError(() => Int8Matrix.fromCodes(new Int8Array(4), f32(1, -1), 2), /scale of row 1/);
    const m = new Float32Matrix(f32(1, 0, 0, 1), 2);
    throwsError(() => m.topK(f32(1, 0, 0), 1), /expected 2, got 3/);
    throwsError(() => m.topK(f32(1, 0), -3), /k must be a whole number/);
    throwsError(() => new Int8Matrix(f32(1, 0), 2).topK(f32(NaN, 0), 1), /NaN/);
  });
});

describe('personalize, rerank and mmr', () => {
  test('personalize matches DESIGN.md by hand', () => {
    // normalize(0.7·[1, 0] + 0.3·0.5·[0, 1]) = [0.7, 0.15] / 0.7158911
    closeAll(personalize(f32(1, 0), f32(0, 1), 0.5), [0.9778024, 0.2095291]);
    closeAll(personalize(f32(3, 4), f32(0, 1), 0), [0.6, 0.8]);
    throwsError(() => personalize(f32(1, 0, 0), f32(1, 0), 0.5), /preference/);
    throwsError(() => personalize(f32(1, 0), f32(0, 1), 1.5), /confidence must be a finite number in \[0, 1\]/);
    throwsError(() => personalize(f32(1, 0), f32(0, 1), undefined), /confidence/);
  });

  // A = [1, 0] (2014, popularity 0.2), B = [0.6, 0.8] (2024, 0.9), C = [0, 1] (no year, none).
  const matrix = f32(1, 0, 0.6, 0.8, 0, 1);
  const options = {
    query: f32(1, 0),
    preference: f32(0, 1),
    years: [2014, 2024, null],
    popularity: [0.2, 0.9, null],
    currentYear: 2024,
  };

  test('rerank blends the four signals as in DESIGN.md', () => {
    const hits = rerank(matrix, 2, options);
    // B: 0.5·0.6 + 0.25·0.8 + 0.15·1 + 0.1·0.9 = 0.74
    // A: 0.5·1 + 0 + 0.15·e^−1 + 0.1·0.2 = 0.5751819; C: 0.25·1 = 0.25
    assert.deepEqual(hits.map((h) => h.index), [1, 0, 2]);
    close(hits[0].score, 0.74);
    close(hits[1].score, 0.5751819);
    close(hits[2].score, 0.25);
    close(hits[1].signals.recency, Math.exp(-1));
    assert.deepEqual(hits[2].signals, { similarity: 0, personalization: 1, recency: 0, popularity: 0 });
  });

  test('rerank options: k, threshold, weights, no preference, plain arrays', () => {
    assert.deepEqual(rerank(matrix, 2, { ...options, k: 1 }).map((h) => h.index), [1]);
    assert.deepEqual(rerank(matrix, 2, { ...options, threshold: 0.5 }).map((h) => h.index), [1, 0]);
    const similarityOnly = { similarity: 1, personalization: 0, recency: 0, popularity: 0 };
    assert.deepEqual(rerank(matrix, 2, { ...options, weights: similarityOnly }).map((h) => h.index), [0, 1, 2]);
    const noPreference = rerank(matrix, 2, { ...options, preference: null });
    assert.deepEqual(noPreference.map((h) => h.index), [0, 1, 2]);
    close(noPreference[1].score, 0.54);
    const partialWeights = rerank(matrix, 2, { ...options, weights: { popularity: 1 } });
    close(partialWeights[0].score, 0.74 - 0.1 * 0.9 + 0.9, 1e-6);
    assert.deepEqual(rerank([1, 0, 0.6, 0.8, 0, 1], 2, { ...options, query: [1, 0] }), rerank(matrix, 2, options));
    // Without a year the current year is irrelevant; with one, the default is this year.
    const thisYear = new Date().getFullYear();
    const recent = rerank(f32(1, 0), 2, { query: f32(1, 0), years: [thisYear], weights: { similarity: 0, recency: 1, popularity: 0 } });
    close(recent[0].score, 1);
  });

  test('rerank rejects bad options with the field in the message', () => {
    const bad = (extra, pattern) => throwsError(() => rerank(matrix, 2, { ...options, ...extra }), pattern);
    bad({ years: [2014] }, /years has 1 entries for 3 rows/);
    bad({ popularity: [0.2, 1.5, null] }, /candidate 1: popularity must be a finite number in \[0, 1\]/);
    bad({ years: [NaN, 2024, null] }, /candidate 0: year must be finite/);
    bad({ threshold: NaN }, /threshold is NaN/);
    bad({ k: -1 }, /k must be a whole number/);
    bad({ preference: f32(0, 1, 0) }, /preference/);
    bad({ query: 'toys' }, /query must be a Float32Array or an array of numbers/);
    bad({ query: [1, 'x'] }, /query\[1\] is not a number/);
    bad({ weights: { similarity: -1 } }, /weight similarity must be a finite number ≥ 0/);
    bad({ weights: { similarty: 1 } }, /weights: unknown field `similarty`/);
    bad({ current_year: 2024 }, /rerank options: unknown field `current_year`/);
    bad({ currentYear: Infinity }, /current year must be finite/);
    throwsError(() => rerank(matrix, 2, { years: [1, 2, 3] }), /missing field `query`/);
    throwsError(() => rerank(matrix, 2, null), /rerank options/);
    throwsError(() => rerank(matrix, 4, options), /not a whole number of rows/);
  });

  test('mmr trades relevance for diversity', () => {
    // A, a near-duplicate of A (cos 0.96) and C, orthogonal to A.
    const vectors = f32(1, 0, 0.96, 0.28, 0, 1);
    const relevance = f32(0.9, 0.85, 0.5);
    const picked = mmr(relevance, vectors, 2, 3, 0.5);
    assert.ok(picked instanceof Uint32Array);
    assert.deepEqual(Array.from(picked), [0, 2, 1]);
    assert.deepEqual(Array.from(mmr(relevance, vectors, 2, 3)), [0, 1, 2], 'default λ 0.85');
    assert.deepEqual(Array.from(mmr(relevance, vectors, 2, 3, 1)), [0, 1, 2]);
    assert.deepEqual(Array.from(mmr(relevance, vectors, 2, 10, 0.5)).length, 3);
    throwsError(() => mmr(f32(0.9, 0.5), vectors, 2, 3), /2 relevance scores for 3 vectors/);
    throwsError(() => mmr(relevance, vectors, 2, 3, 1.1), /lambda must be a finite number in \[0, 1\]/);
    throwsError(() => mmr(relevance, vectors, 4, 3), /not a whole number of rows/);
    throwsError(() => mmr(f32(NaN, 1, 1), vectors, 2, 3), /relevance/);
  });
});

describe('updatePreference', () => {
  test('a new user, then an existing one, match DESIGN.md by hand', () => {
    const first = updatePreference(null, f32(3, 4), ['Drama'], { completion: 0.9, durationRatio: 1 });
    // signal 0.61: p = normalize(e); confidence 0.5 → 0.55; Drama 0.5 + 0.5·0.061 = 0.5305
    assert.ok(first.vector instanceof Float32Array);
    closeAll(first.vector, [0.6, 0.8]);
    close(first.confidence, 0.55);
    close(first.genreAffinities.Drama, 0.5305);

    const second = updatePreference(first, f32(0.8, -0.6), ['Drama', 'Comedy'], {
      completion: 0.3,
      rating: 2,
      rewatch: false,
      durationRatio: 0.3,
    });
    // signal 0.21; α = 0.263175; p = normalize(0.736825·[0.6, 0.8] + 0.263175·[0.8, −0.6])
    closeAll(second.vector, [0.8341297, 0.5515684]);
    close(second.confidence, 0.5225);
    close(second.genreAffinities.Drama, 0.5193595);
    close(second.genreAffinities.Comedy, 0.4895);

    // A stored preference with plain arrays and no affinities is accepted too.
    const stored = updatePreference({ vector: [0.6, 0.8], confidence: 0.55 }, f32(0.8, -0.6), [], {
      completion: 0.3,
      rating: 2,
      durationRatio: 0.3,
    });
    closeAll(stored.vector, second.vector);
    assert.deepEqual(stored.genreAffinities, {});
  });

  test('bad events and stored preferences throw', () => {
    const event = { completion: 0.5, durationRatio: 0.5 };
    throwsError(() => updatePreference(null, f32(1), [], { ...event, completion: 1.2 }), /completion/);
    throwsError(() => updatePreference(null, f32(1), [], { ...event, rating: 11 }), /rating must be a finite number in \[0, 10\]/);
    throwsError(() => updatePreference(null, f32(1), [], { ...event, durationRatio: NaN }), /duration ratio/);
    throwsError(() => updatePreference(null, f32(1), [], { completion: 0.5 }), /missing field `durationRatio`/);
    throwsError(() => updatePreference(null, f32(1), [], { ...event, duration_ratio: 1 }), /unknown field `duration_ratio`/);
    throwsError(() => updatePreference(null, f32(), [], event), /content vector is empty/);
    throwsError(() => updatePreference(null, f32(1, NaN), [], event), /content vector/);
    throwsError(() => updatePreference(null, f32(1), 'Drama', event), /genres/);
    throwsError(() => updatePreference(null, f32(1), [1], event), /genres/);
    const stored = { vector: f32(0.6, 0.8), confidence: 0.5 };
    throwsError(() => updatePreference(stored, f32(1, 0, 0), [], event), /2.*3|3.*2/);
    throwsError(() => updatePreference({ ...stored, confidence: 1.5 }, f32(0, 1), [], event), /confidence/);
    throwsError(() => updatePreference({ ...stored, genreAffinities: { Drama: 2 } }, f32(0, 1), [], event), /Drama/);
    throwsError(() => updatePreference({ confidence: 0.5 }, f32(0, 1), [], event), /missing field `vector`/);
  });
});

describe('CandidateSet', () => {
  function sample(encoding) {
    const set = new CandidateSet(3, encoding);
    set.push('movie-1', f32(1, 0, 0), { title: 'A', year: 1999, rating: 9 });
    set.push('movie-2', f32(0, 0.6, 0.8));
    set.push('tv-3', f32(-0.5, 0.5, 0), { genres: ['Drama'], year: 2020, popularity: 0.5 });
    return set;
  }
  const similarityOnly = { similarity: 1, personalization: 0, recency: 0, popularity: 0 };

  test('builds, reads back and round-trips through bytes in both encodings', () => {
    for (const encoding of ['f32', 'int8']) {
      const set = sample(encoding);
      assert.equal(set.len, 3);
      assert.equal(set.dims, 3);
      assert.equal(set.encoding, encoding);
      assert.deepEqual(set.ids(), ['movie-1', 'movie-2', 'tv-3']);
      assert.equal(set.id(2), 'tv-3');
      assert.deepEqual(set.metadata(0), { title: 'A', year: 1999, rating: 9 });
      assert.equal(set.metadata(1), null);
      closeAll(set.vector(1), f32(0, 0.6, 0.8), encoding === 'f32' ? 0 : 0.01);
      const bytes = set.toBytes();
      assert.ok(bytes instanceof Uint8Array);
      assert.deepEqual(Array.from(bytes.subarray(0, 4)), [...'VGCS'].map((c) => c.charCodeAt(0)));
      const back = CandidateSet.fromBytes(bytes);
      assert.deepEqual(back.ids(), set.ids());
      assert.equal(back.encoding, encoding);
      assert.deepEqual(Array.from(back.toBytes()), Array.from(bytes));
      assert.deepEqual(back.metadata(2), { genres: ['Drama'], popularity: 0.5, year: 2020 });
    }
    assert.ok(sample('int8').toBytes().length < sample('f32').toBytes().length);
    assert.equal(new CandidateSet(4).encoding, 'f32');
  });

  test('rerank: similarity, filter, threshold, k and MMR', () => {
    const set = sample('f32');
    const q = f32(1, 0.1, 0);
    const hits = set.rerank({ query: q, weights: similarityOnly });
    assert.deepEqual(hits.map((h) => h.id), ['movie-1', 'movie-2', 'tv-3']);
    assert.deepEqual(Object.keys(hits[0]).sort(), ['id', 'index', 'metadata', 'score']);
    close(hits[0].score, jsCosine(q, [1, 0, 0]), 1e-6);
    assert.deepEqual(hits[0].metadata, { title: 'A', year: 1999, rating: 9 });
    assert.equal(hits[1].metadata, null);

    const drama = set.rerank({ query: q, filter: { genres: 'Drama' } });
    assert.deepEqual(drama.map((h) => h.id), ['tv-3']);
    const asText = set.rerank({ query: q, filter: '{"genres": {"$in": ["Drama"]}}' });
    assert.deepEqual(asText, drama);
    const recent = set.rerank({ query: q, filter: { $or: [{ year: { $gte: 2000 } }, { rating: { $gt: 8 } }] } });
    assert.deepEqual(recent.map((h) => h.id).sort(), ['movie-1', 'tv-3']);
    assert.deepEqual(set.rerank({ query: q, filter: { year: { $lt: 1900 } } }), []);

    assert.deepEqual(set.rerank({ query: q, weights: similarityOnly, threshold: 0.5 }).map((h) => h.id), ['movie-1']);
    assert.deepEqual(set.rerank({ query: q, weights: similarityOnly, k: 2 }).length, 2);
    assert.deepEqual(set.rerank({ query: q, k: 0 }), []);

    const dup = new CandidateSet(2);
    dup.push('a', f32(1, 0));
    dup.push('a2', f32(0.99, 0.05));
    dup.push('b', f32(0.6, 0.8));
    const plain = dup.rerank({ query: f32(1, 0), weights: similarityOnly });
    assert.deepEqual(plain.map((h) => h.id), ['a', 'a2', 'b']);
    const diverse = dup.rerank({ query: f32(1, 0), weights: similarityOnly, mmrLambda: 0.3 });
    assert.deepEqual(diverse.map((h) => h.id), ['a', 'b', 'a2']);
  });

  test('rerank: recency from metadata.year, popularity from popularity or rating/10', () => {
    const set = new CandidateSet(2);
    set.push('old', f32(1, 0), { year: 1950, rating: 9 });
    set.push('new', f32(1, 0), { year: 2026, rating: 5 });
    const only = (recency, popularity) => ({ similarity: 0, personalization: 0, recency, popularity });
    const byRecency = set.rerank({ query: f32(1, 0), weights: only(1, 0), currentYear: 2026 });
    assert.equal(byRecency[0].id, 'new');
    close(byRecency[0].score, 1);
    close(byRecency[1].score, Math.exp(-7.6), 1e-6);
    const byPopularity = set.rerank({ query: f32(1, 0), weights: only(0, 1) });
    assert.equal(byPopularity[0].id, 'old');
    close(byPopularity[0].score, 0.9);
    // A preference adds the personalization signal.
    const personal = set.rerank({ query: f32(1, 0), preference: f32(0, 1), weights: { similarity: 0, personalization: 1, recency: 0, popularity: 0 } });
    close(personal[0].score, 0);
  });

  test('bad items, options and indices throw', () => {
    const set = sample('f32');
    throwsError(() => set.push('', f32(1, 0, 0)), /id must be 1..=1024 bytes/);
    throwsError(() => set.push('x', f32(1, 0)), /expected 3, got 2/);
    throwsError(() => set.push('x', f32(1, NaN, 0)), /component 1 is NaN/);
    throwsError(() => set.push('x', f32(1, 0, 0), 'title'), /metadata must be an object/);
    throwsError(() => set.push('x', f32(1, 0, 0), [1, 2]), /metadata must be an object/);
    assert.equal(set.len, 3, 'failed pushes add nothing');
    throwsError(() => new CandidateSet(0), /dims must be in 1..=65536/);
    throwsError(() => new CandidateSet(70000), /dims must be in 1..=65536/);
    throwsError(() => new CandidateSet(3, 'f16'), /encoding must be one of "f32", "int8", got "f16"/);
    throwsError(() => set.id(3), /index 3 is out of range for 3 items/);
    throwsError(() => set.vector(-1), /index must be a whole number/);
    throwsError(() => set.metadata(1.5), /index must be a whole number/);
    const q = f32(1, 0, 0);
    throwsError(() => set.rerank({ query: f32(1, 0) }), /expected 3, got 2/);
    throwsError(() => set.rerank({ query: q, filter: { genres: { $foo: 1 } } }), /invalid filter at genres: unknown operator \$foo/);
    throwsError(() => set.rerank({ query: q, filter: { $and: [] } }), /invalid filter/);
    throwsError(() => set.rerank({ query: q, filter: '{"genres": ' }), /invalid filter: not valid JSON/);
    throwsError(() => set.rerank({ query: q, mmrLambda: 2 }), /lambda/);
    throwsError(() => set.rerank({ query: q, mmr_lambda: 0.5 }), /unknown field `mmr_lambda`/);
    throwsError(() => set.rerank({ query: q, k: 1e20 }), /k must be a whole number/);
    throwsError(() => set.rerank({ query: q, threshold: 'high' }), /threshold/);
    throwsError(() => set.rerank(), /rerank options/);
  });

  test('metadata goes through the binary format as it goes through JSON', () => {
    // Parsed, not a literal: an object literal's `__proto__` would set the prototype.
    const metadata = JSON.parse(
      '{"__proto__": {"polluted": true}, "big": 9007199254740993, "neg": -3, "tenth": 0.1, "tiny": 5e-324,' +
        ' "text": "é \\u0000 \\"q\\" 🎬", "list": [null, true, false, {"nested": []}], "empty": {}}',
    );
    const set = new CandidateSet(2);
    set.push('a', f32(1, 0), metadata);
    set.push('b', f32(0, 1), { toJSON: () => ({ via: 'toJSON' }) });
    set.push('c', f32(1, 1));
    const back = CandidateSet.fromBytes(set.toBytes());
    for (const got of [set.metadata(0), back.metadata(0)]) {
      assert.deepEqual(got, JSON.parse(JSON.stringify(metadata)));
      assert.ok(Object.hasOwn(got, '__proto__'), '__proto__ stays an own field');
      assert.equal(Object.getPrototypeOf(got), Object.prototype);
      assert.equal({}.polluted, undefined);
    }
    assert.deepEqual(back.metadata(1), { via: 'toJSON' });
    assert.equal(back.metadata(2), null);
    let deep = 1;
    for (let i = 0; i < 200; i++) deep = [deep];
    throwsError(() => set.push('d', f32(1, 0), { deep }), /metadata is not valid JSON: nested deeper than 128 levels/);
    throwsError(() => set.push('d', f32(1, 0), { big: 10n }), /metadata is not representable as JSON|BigInt/);
    assert.equal(set.len, 3, 'failed pushes add nothing');
  });

  test('corrupted, truncated and foreign bytes throw; the module keeps working', () => {
    const bytes = sample('int8').toBytes();
    throwsError(() => CandidateSet.fromBytes(new Uint8Array()), /not a vecgate candidate set/);
    throwsError(() => CandidateSet.fromBytes(new TextEncoder().encode('{"items": []}')), /bad magic/);
    for (let n = 4; n < bytes.length; n++) {
      throwsError(() => CandidateSet.fromBytes(bytes.subarray(0, n)), /invalid bytes/);
    }
    for (let i = 0; i < bytes.length; i++) {
      const flipped = bytes.slice();
      flipped[i] ^= 0x40;
      throwsError(() => CandidateSet.fromBytes(flipped), /invalid bytes/);
    }
    const flipped = bytes.slice();
    flipped[bytes.length - 1] ^= 1;
    throwsError(() => CandidateSet.fromBytes(flipped), /checksum/);
    assert.equal(CandidateSet.fromBytes(bytes).len, 3);
  });
});

test('garbage arguments never trap the module', () => {
  const garbage = [undefined, null, NaN, -1, 1.5, 2 ** 40, 'x', {}, [], [NaN], f32(NaN), new Float32Array(0), true];
  const calls = [
    (x) => cosineSimilarity(f32(1, 2), x),
    (x) => topK(f32(1, 2), f32(1, 2, 3, 4), 2, x),
    (x) => topK(f32(1, 2), f32(1, 2, 3, 4), x, 1),
    (x) => batchSimilarity(x, f32(1, 2), 2),
    (x) => personalize(f32(1, 0), f32(0, 1), x),
    (x) => rerank(f32(1, 0), 2, x),
    (x) => rerank(f32(1, 0), 2, { query: f32(1, 0), k: x }),
    (x) => rerank(f32(1, 0), 2, { query: f32(1, 0), weights: x }),
    (x) => mmr(f32(1), f32(1, 0), 2, 1, x),
    (x) => updatePreference(x, f32(1, 0), [], { completion: 1, durationRatio: 1 }),
    (x) => updatePreference(null, f32(1, 0), [], x),
    (x) => new CandidateSet(x),
    (x) => new CandidateSet(2).rerank({ query: f32(1, 0), filter: x }),
    (x) => new CandidateSet(2).rerank({ query: x }),
    (x) => new Float32Matrix(f32(1, 0), x),
    (x) => Int8Matrix.fromCodes(new Int8Array(2), f32(1), x),
  ];
  let threw = 0;
  for (const call of calls) {
    for (const x of garbage) {
      try {
        call(x);
      } catch (error) {
        threw++;
        assert.ok(error instanceof Error, `${call} with ${String(x)}: ${error}`);
        assert.ok(!(error instanceof WebAssembly.RuntimeError), `${call} with ${String(x)}: ${error.message}`);
        assert.doesNotMatch(error.message, /unreachable|RuntimeError/);
      }
    }
  }
  assert.ok(threw > calls.length * 4, `only ${threw} errors`);
  close(cosineSimilarity(f32(1, 0), f32(1, 0)), 1);
});
