// Type-checked by wasm/test.sh (`tsc --noEmit`) against the installed package's .d.ts files, once
// with Node resolution and once with bundler resolution. Each @ts-expect-error line must fail to
// compile, which proves the option and result types are precise rather than `any`.
import {
  CandidateSet,
  Float32Matrix,
  Int8Matrix,
  init,
  mmr,
  rerank,
  topK,
  updatePreference,
  type CandidateHit,
  type CandidateRerankOptions,
  type Encoding,
  type RerankHit,
  type ScoredIndex,
  type UserPreference,
  type WatchEvent,
} from 'vecgate';

// Browsers need it before the first call; in Node it resolves at once. Either way, the same line.
await init();

const query = new Float32Array(384);
const set = new CandidateSet(384, 'int8');
set.push('movie-1', query, { title: 'Toy Story', year: 1995, genres: ['Animation'] });
set.push('movie-2', query);

const options: CandidateRerankOptions = {
  query,
  k: 10,
  threshold: 0.2,
  filter: { genres: ['Animation'], year: { $gte: 1990 } },
  weights: { similarity: 1 },
  mmrLambda: 0.85,
  currentYear: 2026,
};
const hits: CandidateHit[] = set.rerank(options);
const titles: string[] = hits.map((hit) => String(hit.metadata?.title));
const best: number = hits[0].score + hits[0].index;
const id: string = hits[0].id;
const asText: CandidateHit[] = set.rerank({ query: [0.1, 0.2], filter: '{"media_type": "movie"}' });

const bytes: Uint8Array = set.toBytes();
const back: CandidateSet = CandidateSet.fromBytes(bytes);
const size: number = back.len + back.dims;
const encoding: Encoding = back.encoding;
const ids: string[] = back.ids();
const vector: Float32Array = back.vector(0);

const scored: ScoredIndex[] = topK(query, new Float32Array(768), 384, 2, 0.5);
const exact: ScoredIndex[] = new Float32Matrix(new Float32Array(768), 384).topK(query, 1);
const quantized = new Int8Matrix(new Float32Array(768), 384);
const codes: Int8Array = quantized.codes;
const approx: ScoredIndex[] = Int8Matrix.fromCodes(codes, quantized.scales, 384).topK(query, 1, null);
const picked: Uint32Array = mmr(new Float32Array([1, 0.5]), new Float32Array(768), 384, 2);

const reranked: RerankHit[] = rerank(new Float32Array(768), 384, {
  query,
  years: [1995, null],
  popularity: [0.5, null],
});
const recency: number = reranked[0].signals.recency;

const event: WatchEvent = { completion: 0.9, durationRatio: 1 };
const preference: UserPreference = updatePreference(null, query, ['Animation'], event);
const next: UserPreference = updatePreference(preference, query, [], {
  completion: 0.3,
  rating: 7,
  rewatch: true,
  durationRatio: 0.5,
});
const affinity: number | undefined = next.genreAffinities['Animation'];
const learned: Float32Array = next.vector;

// @ts-expect-error the option is mmrLambda
set.rerank({ query, mmr_lambda: 0.5 });
// @ts-expect-error query is required
set.rerank({ k: 10 });
// @ts-expect-error encodings are "f32" and "int8"
new CandidateSet(384, 'f16');
// @ts-expect-error scores are numbers
const wrongScore: string = hits[0].score;
// @ts-expect-error durationRatio is required
updatePreference(null, query, [], { completion: 1 });
// @ts-expect-error weights are numbers
set.rerank({ query, weights: { similarity: 'high' } });
// @ts-expect-error metadata is a JSON object
set.push('movie-3', query, 42);
// @ts-expect-error signals are only on rerank() hits
const noSignals = hits[0].signals;

export {
  titles, best, id, asText, size, encoding, ids, vector, scored, exact, approx, picked, recency,
  affinity, learned, wrongScore, noSignals,
};
