#!/usr/bin/env node
// Writes www/queries.json, the demo page's sample phrases with their precomputed vectors (there is
// no embedding model in the browser), from the movie sample's queries.jsonl.
// Usage: node scripts/www-queries.mjs [path/to/queries.jsonl]
// (default: $VECGATE_SAMPLE_DIR/queries.jsonl, else ../shared/data/movies/queries.jsonl).
// The output is committed; rerun this when the sample's queries change.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const sampleDir = process.env.VECGATE_SAMPLE_DIR ?? join(repo, '..', 'shared', 'data', 'movies');
const input = process.argv[2] ?? join(sampleDir, 'queries.jsonl');
const output = join(repo, 'www', 'queries.json');

const queries = readFileSync(input, 'utf8')
  .split('\n')
  .filter((line) => line.trim() !== '')
  .map((line, i) => {
    const { text, vector } = JSON.parse(line);
    if (typeof text !== 'string' || text === '') throw new Error(`${input}:${i + 1}: no text`);
    if (!Array.isArray(vector) || !vector.every(Number.isFinite)) {
      throw new Error(`${input}:${i + 1}: the vector is not an array of finite numbers`);
    }
    return { text, vector };
  });
if (queries.length === 0) throw new Error(`${input}: no queries`);
const dims = queries[0].vector.length;
const odd = queries.find((q) => q.vector.length !== dims);
if (odd) throw new Error(`"${odd.text}" has ${odd.vector.length} dimensions, the others ${dims}`);

// One query per line keeps the committed file's diffs readable.
const lines = queries.map((q) => `    ${JSON.stringify(q)}`);
writeFileSync(output, `{\n  "dims": ${dims},\n  "queries": [\n${lines.join(',\n')}\n  ]\n}\n`);
console.log(`wrote ${output}: ${queries.length} queries, ${dims} dimensions`);
