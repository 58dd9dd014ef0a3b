// The client's types against those generated from edge/openapi.json (client-spec.test.mjs writes
// generated/openapi.d.ts with openapi-typescript, then runs tsc on this file). Each `same` line
// fails to compile unless both types are identical after flattening: the same properties, each
// as optional and of the same type. client-spec.test.mjs also compiles this against a changed
// document and expects the lines of the changed types to fail.
import type { components, operations } from './generated/openapi.js';
import type * as C from 'vecgate/client';
import type { VecgateClient } from 'vecgate/client';

type Schemas = components['schemas'];
type Body<Op extends keyof operations> = operations[Op] extends { requestBody: { content: { 'application/json': infer B } } } ? B : never;
type Ok<Op extends keyof operations> = operations[Op]['responses'] extends { 200: { content: { 'application/json': infer R } } } ? R : never;
type Text<Op extends keyof operations> = operations[Op]['responses'] extends { 200: { content: { 'text/plain': infer R } } } ? R : never;
type Query<Op extends keyof operations> = NonNullable<operations[Op]['parameters']['query']>;
type PathId<Op extends keyof operations> = operations[Op]['parameters']['path'] extends { id: infer I } ? I : never;

/** Intersections flattened into one object type, recursively (unions stay unions). */
type Flat<T> = T extends (infer U)[] ? Flat<U>[] : T extends object ? { [K in keyof T]: Flat<T[K]> } : T;
/** true when A and B are identical once flattened (optional flags and readonly included). */
type Same<A, B> = (<T>() => T extends Flat<A> ? 1 : 2) extends (<T>() => T extends Flat<B> ? 1 : 2) ? true : false;
declare function same<A, B>(identical: Same<A, B>): void;

// Every operation is a method.
type MissingMethods = Exclude<keyof operations, keyof VecgateClient>;
same<MissingMethods, never>(true);
same<C.OperationId, keyof operations>(true);

// Shared schemas.
same<C.Id, Schemas['Id']>(true);
same<C.Vector, Schemas['Vector']>(true);
same<C.Filter, Schemas['Filter']>(true);
same<C.ErrorBody, Schemas['Error']>(true);
same<C.ErrorBody, components['responses']['Error']['content']['application/json']>(true);

// Each operation's request and response.
same<C.HealthResponse, Ok<'health'>>(true);
same<string, Text<'metrics'>>(true);
same<C.OpenApiDocument, Ok<'openapi'>>(true);
same<C.Stats, Ok<'stats'>>(true);
same<C.SearchRequest, Body<'search'>>(true);
same<C.SearchResponse, Ok<'search'>>(true);
same<C.RecommendRequest, Body<'recommend'>>(true);
same<C.RecommendResponse, Ok<'recommend'>>(true);
same<C.CandidatesRequest, Body<'candidates'>>(true);
same<C.EmbedRequest, Body<'embed'>>(true);
same<C.EmbedResponse, Ok<'embed'>>(true);
same<C.UpsertContentRequest, Body<'upsertContent'>>(true);
same<C.UpsertContentResponse, Ok<'upsertContent'>>(true);
same<C.Id, PathId<'getContent'>>(true);
same<C.ContentItem, Ok<'getContent'>>(true);
same<C.DeleteContentResponse, Ok<'deleteContent'>>(true);
same<C.SimilarQuery, Query<'similar'>>(true);
same<C.SearchResponse, Ok<'similar'>>(true);
same<C.EraseUserResponse, Ok<'deleteUser'>>(true);
same<C.UserPreference, Ok<'getPreference'>>(true);
same<C.UserPreference, Body<'putPreference'>>(true);
same<C.UserPreference, Ok<'putPreference'>>(true);
same<C.WatchEvent, Body<'recordEvent'>>(true);
same<C.UserPreference, Ok<'recordEvent'>>(true);

// The methods return those types and take the generated requests as they are.
type M = VecgateClient;
type Returns<K extends keyof M> = M[K] extends (...args: never[]) => Promise<infer R> ? R : never;
same<Returns<'health'>, Ok<'health'>>(true);
same<Returns<'metrics'>, Text<'metrics'>>(true);
same<Returns<'openapi'>, Ok<'openapi'>>(true);
same<Returns<'stats'>, Ok<'stats'>>(true);
same<Returns<'search'>, Ok<'search'>>(true);
same<Returns<'recommend'>, Ok<'recommend'>>(true);
same<Returns<'embed'>, Ok<'embed'>>(true);
same<Omit<Returns<'upsertContent'>, 'chunks'>, Ok<'upsertContent'>>(true);
same<Returns<'getContent'>, Ok<'getContent'>>(true);
same<Returns<'deleteContent'>, Ok<'deleteContent'>>(true);
same<Returns<'similar'>, Ok<'similar'>>(true);
same<Returns<'deleteUser'>, Ok<'deleteUser'>>(true);
same<Returns<'getPreference'>, Ok<'getPreference'>>(true);
same<Returns<'putPreference'>, Ok<'putPreference'>>(true);
same<Returns<'recordEvent'>, Ok<'recordEvent'>>(true);

declare const client: VecgateClient;
declare const search: Body<'search'>;
declare const recommend: Body<'recommend'>;
declare const candidates: Body<'candidates'>;
declare const embed: Body<'embed'>;
declare const upsert: Body<'upsertContent'>;
declare const preference: Body<'putPreference'>;
declare const event: Body<'recordEvent'>;
declare const similar: Query<'similar'>;
declare const id: PathId<'getContent'>;
void client.search(search);
void client.recommend(recommend);
void client.candidates(candidates);
void client.embed(embed);
void client.upsertContent(upsert);
void client.upsertContent(upsert.items);
void client.putPreference(id, preference);
void client.recordEvent(id, event);
void client.similar(id, similar);
