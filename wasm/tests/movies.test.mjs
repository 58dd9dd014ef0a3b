// The 3,200-film sample in Node: candidate sets built with the package and reranked for
// "animated film for kids about toys", compared with plain-JS exact search.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import * as vecgate from 'vecgate';
import {
  TOYS_QUERY,
  TOY_STORY_IDS,
  assertMovieResults,
  buildCandidateSet,
  checkMovies,
  expectedBackend,
  jsCosine,
  jsExactTopK,
  loadMovies,
  loadQuery,
} from './helpers.mjs';

const { CandidateSet, Float32Matrix, Int8Matrix } = vecgate;
const movies = loadMovies();
const query = loadQuery(TOYS_QUERY);

test('the sample loads: 3,200 films of 384 dimensions', () => {
  assert.equal(movies.length, 3200);
  assert.equal(query.length, 384);
});

test('a candidate set of the sample reranks like exact search, Toy Story films first', () => {
  const set = buildCandidateSet(CandidateSet, movies);
  const result = checkMovies(vecgate, CandidateSet.fromBytes(set.toBytes()), movies, query);
  assertMovieResults(result, expectedBackend());
  assert.deepEqual(result.topTitles.filter((t) => t.startsWith('Toy Story')).sort(), [
    'Toy Story',
    'Toy Story 2',
    'Toy Story 3',
  ]);
});

test('the int8 candidate set is a quarter of the size and keeps Toy Story in the top 4', () => {
  const f32Bytes = buildCandidateSet(CandidateSet, movies).toBytes();
  const set = CandidateSet.fromBytes(buildCandidateSet(CandidateSet, movies, 'int8').toBytes());
  const vectorBytes = 3200 * 384;
  assert.ok(f32Bytes.length - set.toBytes().length > 2.9 * vectorBytes, 'int8 saves ~3 bytes per component');
  const top4 = set.rerank({ query, k: 4, weights: { similarity: 1, personalization: 0, recency: 0, popularity: 0 } });
  for (const id of ['movie-993', 'movie-2987', 'movie-2988']) {
    assert.ok(top4.map((h) => h.id).includes(id), id);
  }
});

test('filters select the same films as a plain-JS predicate', () => {
  const set = buildCandidateSet(CandidateSet, movies);
  const filter = { genres: ['Comedy', 'Adventure'], year: { $gte: 1995, $lt: 2005 }, rating: { $gt: 6 } };
  const keep = (m) =>
    m.metadata.genres.some((g) => g === 'Comedy' || g === 'Adventure') &&
    m.metadata.year >= 1995 &&
    m.metadata.year < 2005 &&
    typeof m.metadata.rating === 'number' &&
    m.metadata.rating > 6;
  const matching = movies.filter(keep);
  assert.ok(matching.length > 20, `${matching.length} matching films`);
  const hits = set.rerank({ query, k: 1000, filter, weights: { similarity: 1, personalization: 0, recency: 0, popularity: 0 } });
  assert.equal(hits.length, matching.length);
  const exact = jsExactTopK(matching.map((m) => m.vector), query, 1000);
  assert.deepEqual(hits.map((h) => h.id), exact.map((h) => matching[h.index].id));
});

test('Float32Matrix and Int8Matrix find the Toy Story films over the sample', () => {
  const dims = 384;
  const values = new Float32Array(movies.length * dims);
  movies.forEach((m, i) => values.set(m.vector, i * dims));
  const exact = jsExactTopK(movies.map((m) => m.vector), query, 10);
  const f32 = new Float32Matrix(values, dims).topK(query, 10);
  assert.deepEqual(f32.map((h) => h.index), exact.map((h) => h.index));
  f32.forEach((h, i) => assert.ok(Math.abs(h.score - exact[i].score) < 1e-5));
  const int8 = new Int8Matrix(values, dims).topK(query, 4).map((h) => movies[h.index].id);
  for (const id of TOY_STORY_IDS) assert.ok(int8.includes(id), `${id} not in the int8 top 4: ${int8}`);
  assert.ok(Math.abs(jsCosine(query, movies[f32[0].index].vector) - f32[0].score) < 1e-5);
});

test('CandidateSet.recommend: examples never return, a negative sequel drops, groups follow the formula', () => {
  const set = buildCandidateSet(CandidateSet, movies);
  const byTitle = (title) => movies.find((m) => m.metadata.title === title);
  const [toyStory, sequel, third] = ['Toy Story', 'Toy Story 2', 'Toy Story 3'].map(byTitle);
  const ids = (hits) => hits.map((h) => h.id);

  // average: cosine to normalize(2·avg⁺ − avg⁻), computed here in plain JS.
  const direction = toyStory.vector.map((x, i) => 2 * x - sequel.vector[i]);
  const others = movies.filter((m) => m !== toyStory && m !== sequel);
  const expected = jsExactTopK(others.map((m) => m.vector), direction, 10).map((e) => ({
    id: others[e.index].id,
    score: e.score,
  }));
  const steered = set.recommend({ positive: [toyStory.id], negative: [sequel.id], k: 10 });
  assert.deepEqual(ids(steered), expected.map((e) => e.id));
  steered.forEach((hit, i) => assert.ok(Math.abs(hit.score - expected[i].score) < 1e-5));
  assert.ok(!ids(steered).includes(third.id), 'the negative sequel pushes Toy Story 3 down');

  const plain = set.recommend({ positive: [toyStory.id], strategy: 'best_score', k: 5 });
  assert.ok(!ids(plain).includes(toyStory.id));
  assert.ok(ids(plain).slice(0, 3).includes(third.id));
  const bestSteered = set.recommend({
    positive: [toyStory.id], negative: [sequel.id], strategy: 'best_score', k: 10,
  });
  assert.ok(!ids(bestSteered).includes(third.id));

  // A group: 0.6·min + 0.4·mean of the members' cosine.
  const group = [
    { vector: toyStory.vector, confidence: 0.9 },
    { vector: byTitle('The Godfather').vector, confidence: 0.4, genreAffinities: {} },
  ];
  const groupScore = (v) => {
    const s = group.map((m) => jsCosine(v, m.vector));
    return 0.6 * Math.min(...s) + 0.4 * (s[0] + s[1]) / 2;
  };
  const reference = movies
    .map((m) => ({ id: m.id, score: groupScore(m.vector) }))
    .sort((a, b) => b.score - a.score)
    .slice(0, 10);
  const forGroup = set.recommend({ group, k: 10 });
  assert.deepEqual(ids(forGroup), reference.map((r) => r.id));
  forGroup.forEach((hit, i) => assert.ok(Math.abs(hit.score - reference[i].score) < 1e-5));

  assert.throws(() => set.recommend({ positive: ['movie-0-missing'] }), /not in the candidate set.*movie-0-missing/);
  assert.throws(() => set.recommend({}), /positive example or a group/);
  assert.throws(() => set.recommend({ positive: [toyStory.id], strategy: 'median' }), /strategy must be one of/);
  assert.throws(() => set.recommend({ group, strategy: 'best_score' }), /group formula/);
  assert.throws(() => set.recommend({ positive: [toyStory.id], negativ: [] }), /unknown field `negativ`/);
});
