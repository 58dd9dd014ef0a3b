// `vecgate/client` as an application uses it (checked by tsc with client-spec.ts). The lines
// marked ts-expect-error must fail to compile, which proves the types are precise.
import { VecgateClient, VecgateError, VecgateBatchError, createClient, OPERATIONS, type CandidateSetResponse, type SimilarContent } from 'vecgate/client';
import { CandidateSet } from 'vecgate';

const client = new VecgateClient({ baseUrl: 'http://127.0.0.1:8080', apiKey: 'key', timeoutMs: 5000, retry: { maxAttempts: 3 } });
const other: VecgateClient = createClient({ baseUrl: '', retry: false, onRetry: ({ attempt, delayMs, error }) => console.log(attempt, delayMs, error.code) });
const vector = new Float32Array(384);

const hits = await client.search({ vector, k: 10, filter: { genres: ['Comedy'] }, include: ['metadata'] });
const title: unknown = hits.results[0]?.metadata?.title;
await client.search({ text: 'toys' });
// @ts-expect-error: a search needs a vector or a text
await client.search({ k: 10 });
// @ts-expect-error: k is a number
await client.search({ text: 'toys', k: '10' });
// @ts-expect-error: include is "metadata" or "vector"
await client.search({ text: 'toys', include: ['score'] });
await client.recommend({ positive: ['movie-603'], strategy: 'best_score' });
await client.recommend({ user_ids: ['u1', 'u2'] });
// @ts-expect-error: recommend needs positive examples or user_ids
await client.recommend({ negative: ['movie-603'] });

const set: CandidateSetResponse = await client.candidates({ user_id: 'user-7', n: 500 }, { cache: false, signal: AbortSignal.timeout(1000) });
const etag: string | null = set.etag;
const fresh: boolean = set.fromCache;
const local = set.rerank({ query: vector, k: 10 });
const asSet: CandidateSet = set;

const upserted = await client.upsertContent([{ id: 'movie-1', media_type: 'movie', vector, metadata: { title: 'A' } }]);
const chunks: number = upserted.chunks.length + upserted.upserted;
await client.upsertContent({ items: [{ id: 'tv-2', media_type: 'tv', vector: [0.1, 0.2] }] }, { chunkSize: 100, timeoutMs: 60_000 });
// @ts-expect-error: chunkSize is a number
await client.upsertContent([], { chunkSize: 'all' });
// @ts-expect-error: media_type is "movie" or "tv"
await client.upsertContent([{ id: 'movie-1', media_type: 'film', vector }]);

try {
  await client.getContent('movie-1');
} catch (error) {
  if (error instanceof VecgateBatchError) console.log(error.failedChunk.start, error.written.length, error.unsentChunks);
  if (error instanceof VecgateError) console.log(error.code, error.status, error.message, error.attempts);
}

// The in-memory wrapper's methods.
const embedding: Float32Array = await client.generateEmbedding('sci-fi action movies');
interface Movie { title: string; year: number }
const found: SimilarContent<Movie>[] = await client.searchByEmbedding<Movie>(embedding, 10, 0.5, { mediaType: 'movie' });
const year: number = found[0].content.year;
await client.semanticSearch('heist in Paris', 5, { genres: ['Crime'] });
await client.findSimilarContent('movie-603', 5);
await client.findSimilarContent(603, 'movie', 5);
// @ts-expect-error: mediaType is "movie" or "tv"
await client.findSimilarContent(603, 'film', 5);
const stored: string = await client.storeContentEmbedding({ id: 603, mediaType: 'movie', title: 'The Matrix' }, embedding);
const deleted: boolean = await client.deleteContentVector(603, 'movie');
const method: 'GET' | 'POST' | 'PUT' | 'DELETE' = OPERATIONS.recordEvent.method;

export { other, title, etag, fresh, local, asSet, chunks, year, stored, deleted, method };
