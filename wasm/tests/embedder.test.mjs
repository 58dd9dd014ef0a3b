// `vecgate/embedder` in Node, from the installed tarball: all-MiniLM-L6-v2 on a fixed spread of 50
// film texts must match the sample's own vectors (cosine ≥ 0.995); bad input and damaged files
// throw JS Errors, never traps, and leave a loaded embedder working. Needs the model files
// (`bash scripts/install-model.sh`); fails, naming it, without them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

import { TextEmbedder, Tokenizer, createEmbedderWorker, loadEmbedder, maxTokens } from 'vecgate/embedder';
import { sampleDir } from './helpers.mjs';
import { MIN_COSINE, SAMPLE_SIZE, cosine, modelFiles, readSample } from './model.mjs';

const files = modelFiles();
const sample = readSample(sampleDir);
let embedder;
let modelBytes;
let tokenizerBytes;

before(async () => {
  embedder = await loadEmbedder({ modelUrl: files.model, tokenizerUrl: files.tokenizer });
  modelBytes = readFileSync(files.model);
  tokenizerBytes = readFileSync(files.tokenizer);
});

after(() => embedder?.free());

/** What `fn` threw (sync or async): an Error and not a wasm trap, with its message. */
async function thrown(fn) {
  try {
    await fn();
  } catch (error) {
    assert.ok(error instanceof Error, `not an Error: ${error}`);
    assert.ok(!(error instanceof WebAssembly.RuntimeError), `a wasm trap: ${error.message}`);
    return error.message;
  }
  assert.fail('did not throw');
}

test('loads from file paths: 384 dimensions, files read from disk', () => {
  assert.ok(embedder instanceof TextEmbedder);
  assert.equal(embedder.dimensions, 384);
  assert.equal(embedder.source.model, 'file');
  assert.equal(embedder.source.tokenizer, 'file');
  assert.ok(embedder.source.loadMs > 0);
  assert.equal(maxTokens(), 256);
});

test(`${SAMPLE_SIZE} film texts (every 64th line): cosine with the sample's vectors ≥ ${MIN_COSINE}`, () => {
  assert.equal(sample.length, SAMPLE_SIZE);
  const cosines = sample.map(({ text, vector }) => {
    const ours = embedder.embed(text);
    assert.ok(ours instanceof Float32Array && ours.length === 384);
    return cosine(ours, vector);
  });
  const worst = Math.min(...cosines);
  const low = sample.map((m, i) => `${m.id}: ${cosines[i]}`).filter((_, i) => cosines[i] < MIN_COSINE);
  assert.deepEqual(low, [], `below ${MIN_COSINE}`);
  // A unit vector, as the API promises.
  const norm = Math.hypot(...embedder.embed(sample[0].text));
  assert.ok(Math.abs(norm - 1) < 1e-5, `norm ${norm}`);
  console.log(`Node: ${SAMPLE_SIZE} texts, min cosine ${worst.toFixed(5)}, mean ${(cosines.reduce((a, b) => a + b) / cosines.length).toFixed(5)}`);
});

test('embedBatch gives the vectors embed gives, in order', () => {
  const texts = sample.slice(0, 6).map((m) => m.text);
  const batch = embedder.embedBatch(texts);
  assert.equal(batch.length, texts.length);
  texts.forEach((text, i) => {
    assert.ok(batch[i] instanceof Float32Array);
    assert.ok(cosine(batch[i], embedder.embed(text)) > 0.99999, `text ${i}`);
  });
});

test('the tokenizer gives the ids the embedder counts; long texts are truncated to 256 tokens', () => {
  const tokenizer = new Tokenizer(tokenizerBytes);
  const ids = tokenizer.encode('animated film for kids about toys');
  assert.ok(ids instanceof Uint32Array);
  assert.equal(ids[0], 101); // [CLS]
  assert.equal(ids[ids.length - 1], 102); // [SEP]
  assert.equal(ids.length, embedder.tokenCount('animated film for kids about toys'));
  const long = 'toys '.repeat(1000);
  assert.equal(tokenizer.encode(long).length, 256);
  assert.equal(embedder.embed(long).length, 384);
  tokenizer.free();
});

test('bad text throws an Error naming the problem', async () => {
  assert.match(await thrown(() => embedder.embed('')), /text: text must not be empty/);
  assert.match(await thrown(() => embedder.embed(' \n\t ')), /text must not be empty/);
  assert.match(await thrown(() => embedder.embed(42)), /text must be a string/);
  assert.match(await thrown(() => embedder.embed(undefined)), /text must be a string/);
  assert.match(await thrown(() => embedder.embedBatch(['toys', ''])), /texts\[1\]: text must not be empty/);
  assert.match(await thrown(() => embedder.embedBatch('toys')), /texts must be an array of strings/);
  assert.match(await thrown(() => embedder.embedBatch([1])), /texts\[0\] must be a string/);
});

test('damaged model or tokenizer bytes throw an Error; the loaded embedder still works', async () => {
  const flipped = Uint8Array.from(modelBytes);
  for (let i = 4096; i < flipped.length; i += 4093) flipped[i] ^= 0x5a;
  const cases = {
    truncated: [modelBytes.subarray(0, modelBytes.length >> 1), tokenizerBytes],
    flipped: [flipped, tokenizerBytes],
    empty: [new Uint8Array(0), tokenizerBytes],
    'tokenizer as model': [tokenizerBytes, tokenizerBytes],
    'not JSON tokenizer': [modelBytes, new TextEncoder().encode('{"model": ')],
    'not bytes': ['model.onnx', tokenizerBytes],
  };
  const messages = {};
  for (const [name, [model, tokenizer]] of Object.entries(cases)) {
    messages[name] = await thrown(() => new TextEmbedder(model, tokenizer));
  }
  assert.match(messages.truncated, /^embedding model: /);
  assert.match(messages.empty, /^embedding model: /);
  assert.match(messages['tokenizer as model'], /^embedding model: /);
  assert.match(messages['not JSON tokenizer'], /^tokenizer: /);
  assert.match(messages['not bytes'], /model must be a Uint8Array or an ArrayBuffer/);
  assert.ok(messages.flipped.length > 0);
  const again = embedder.embed(sample[1].text);
  assert.ok(cosine(again, sample[1].vector) >= MIN_COSINE, 'the loaded embedder is unharmed');
});

test('loadEmbedder reads file: URLs and fetches http URLs; a missing file rejects with an Error', async () => {
  const server = createServer((request, response) => {
    const body = { '/model.onnx': modelBytes, '/tokenizer.json': tokenizerBytes }[request.url];
    if (body) response.writeHead(200).end(body);
    else response.writeHead(404).end();
  });
  await new Promise((ready) => server.listen(0, '127.0.0.1', ready));
  const origin = `http://127.0.0.1:${server.address().port}`;
  try {
    const fetched = await loadEmbedder({ modelUrl: `${origin}/model.onnx`, tokenizerUrl: new URL(`${origin}/tokenizer.json`) });
    assert.deepEqual([fetched.source.model, fetched.source.tokenizer], ['network', 'network']);
    assert.ok(cosine(fetched.embed(sample[2].text), sample[2].vector) >= MIN_COSINE);
    fetched.free();
    assert.match(
      await thrown(() => loadEmbedder({ modelUrl: `${origin}/missing.onnx`, tokenizerUrl: files.tokenizer })),
      /^vecgate\/embedder: GET http:\/\/127\.0\.0\.1:\d+\/missing\.onnx: HTTP 404$/,
    );
  } finally {
    server.close();
  }
  const byUrl = await loadEmbedder({ modelUrl: pathToFileURL(files.model), tokenizerUrl: pathToFileURL(files.tokenizer).href });
  assert.equal(byUrl.source.model, 'file');
  byUrl.free();
  assert.match(
    await thrown(() => loadEmbedder({ modelUrl: '/no/such/model.onnx', tokenizerUrl: files.tokenizer })),
    /^vecgate\/embedder: cannot read \/no\/such\/model\.onnx: ENOENT/,
  );
  assert.match(await thrown(() => loadEmbedder({ modelUrl: files.model })), /tokenizerUrl must be a non-empty string or a URL/);
  assert.match(
    await thrown(() => loadEmbedder({ modelUrl: files.model, tokenizerUrl: files.tokenizer, cahce: false })),
    /unknown option "cahce"/,
  );
  assert.match(await thrown(() => createEmbedderWorker({ modelUrl: files.model, tokenizerUrl: files.tokenizer })), /needs Web Workers/);
});
