// The all-MiniLM-L6-v2 files the embedder tests need, and the fixed sample they embed.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** `$VECGATE_MODEL_DIR`, else where `bash scripts/install-model.sh` puts the files. */
export const modelDir = process.env.VECGATE_MODEL_DIR ?? join(homedir(), '.cache', 'vecgate', 'models', 'all-minilm-l6-v2');

/** Absolute paths of model.onnx and tokenizer.json; throws, naming the install script, when missing. */
export function modelFiles() {
  const files = { model: join(modelDir, 'model.onnx'), tokenizer: join(modelDir, 'tokenizer.json') };
  for (const file of Object.values(files)) {
    if (!existsSync(file)) {
      throw new Error(`the embedder tests need ${file}: run \`bash scripts/install-model.sh\` (or set VECGATE_MODEL_DIR)`);
    }
  }
  return files;
}

/** Every SAMPLE_STRIDE-th line of movies.jsonl, SAMPLE_SIZE of them. */
export const SAMPLE_STRIDE = 64;
export const SAMPLE_SIZE = 50;
/** The bar: cosine between our embedding and the file's vector. */
export const MIN_COSINE = 0.995;

/** [{id, text, vector: number[]}] of the fixed spread of films, from movies.jsonl's text. */
export function sampleTexts(moviesJsonl) {
  const lines = moviesJsonl.split('\n').filter((line) => line.trim() !== '');
  const picked = [];
  for (let i = 0; picked.length < SAMPLE_SIZE; i += SAMPLE_STRIDE) {
    if (i >= lines.length) throw new Error(`movies.jsonl has ${lines.length} lines, fewer than the sample needs`);
    const { id, text, vector } = JSON.parse(lines[i]);
    if (typeof text !== 'string' || text.trim() === '') throw new Error(`movies.jsonl line ${i + 1} has no text`);
    picked.push({ id, text, vector });
  }
  return picked;
}

export function readSample(sampleDir) {
  if (!sampleDir) throw new Error('set VECGATE_SAMPLE_DIR to the movie sample directory');
  return sampleTexts(readFileSync(join(sampleDir, 'movies.jsonl'), 'utf8'));
}

export function cosine(a, b) {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return dot / Math.sqrt(na * nb);
}
