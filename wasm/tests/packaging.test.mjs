// The installed package's entry points: Node ESM and CommonJS, `vecgate/web` with explicit init,
// `vecgate/bundler` through Node's WebAssembly ESM integration, and the error on engines without
// WebAssembly SIMD.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as esm from 'vecgate';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const packageDir = dirname(require.resolve('vecgate/package.json'));
const API = [
  'CandidateSet',
  'Float32Matrix',
  'Int8Matrix',
  'batchSimilarity',
  'cosineSimilarity',
  'dotProduct',
  'mmr',
  'normalize',
  'personalize',
  'rerank',
  'simdBackend',
  'topK',
  'updatePreference',
];

/** Runs an ES module snippet in a fresh Node process next to the installed package. */
function runNode(source, flags = []) {
  return execFileSync(process.execPath, [...flags, '--input-type=module', '-e', source], {
    cwd: here,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

test('Node resolves the package to its nodejs build, for import and require alike', () => {
  assert.equal(fileURLToPath(import.meta.resolve('vecgate')), join(packageDir, 'node', 'vecgate.js'));
  const cjs = require('vecgate');
  for (const name of API) {
    assert.equal(typeof esm[name], 'function', `ESM export ${name}`);
    assert.equal(typeof cjs[name], 'function', `CommonJS export ${name}`);
  }
  assert.equal(cjs.cosineSimilarity(new Float32Array([1, 0]), new Float32Array([1, 0])), 1);
  const pkg = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8'));
  assert.equal(pkg.name, 'vecgate');
  assert.match(pkg.version, /^\d+\.\d+\.\d+/);
});

test('the tarball holds the three builds, their types and one .wasm', () => {
  for (const file of [
    'README.md',
    'simd.js',
    'web/index.js',
    'web/index.d.ts',
    'web/manual.js',
    'web/vecgate.js',
    'web/vecgate.d.ts',
    'bundler/index.js',
    'bundler/vecgate_bg.js',
    'bundler/vecgate_bg.wasm',
    'node/vecgate.js',
    'node/vecgate.d.ts',
  ]) {
    assert.ok(existsSync(join(packageDir, file)), `missing ${file}`);
  }
  assert.ok(!existsSync(join(packageDir, 'web', 'vecgate_bg.wasm')), 'the .wasm is shipped once');
  const wasm = readFileSync(require.resolve('vecgate/vecgate_bg.wasm'));
  assert.ok(WebAssembly.validate(wasm));
  const types = readFileSync(join(packageDir, 'web', 'vecgate.d.ts'), 'utf8');
  assert.match(types, /rerank\(options: CandidateRerankOptions\): CandidateHit\[\]/);
});

test('vecgate/web initializes explicitly from bytes (initSync)', () => {
  const out = runNode(`
    import { readFileSync } from 'node:fs';
    import { createRequire } from 'node:module';
    import init, { initSync, simdBackend, CandidateSet } from 'vecgate/web';
    const require = createRequire(process.cwd() + '/');
    initSync({ module: readFileSync(require.resolve('vecgate/vecgate_bg.wasm')) });
    const set = new CandidateSet(2);
    set.push('a', new Float32Array([1, 0]));
    console.log(typeof init, simdBackend(), set.rerank({ query: [1, 0] })[0].id);
  `);
  assert.equal(out, 'function simd128 a');
});

test('vecgate/bundler runs where WebAssembly ES modules are supported', () => {
  const out = runNode(
    `const { simdBackend, topK } = await import('vecgate/bundler');
     console.log(simdBackend(), topK([1, 0], [0, 1, 1, 0], 2, 1)[0].index);`,
    ['--experimental-wasm-modules', '--no-warnings'],
  );
  assert.equal(out, 'simd128 1');
});

test('without WebAssembly SIMD the browser entries throw a clear Error', () => {
  for (const entry of ['vecgate/web', 'vecgate/bundler']) {
    const out = runNode(
      `WebAssembly.validate = () => false;
       try { await import('${entry}'); console.log('loaded'); }
       catch (e) { console.log(e instanceof Error, e.message); }`,
      ['--experimental-wasm-modules', '--no-warnings'],
    );
    assert.match(out, /^true vecgate needs WebAssembly with SIMD \(Chrome\/Edge 91\+/, entry);
  }
});

test('vecgate/embedder: its own .wasm and entries; the main .wasm stays within 90 KB gzipped', () => {
  assert.equal(fileURLToPath(import.meta.resolve('vecgate/embedder')), join(packageDir, 'embedder', 'node.js'));
  const pkg = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8'));
  assert.deepEqual(pkg.exports['./embedder'], {
    types: './embedder/index.d.ts',
    node: './embedder/node.js',
    default: './embedder/index.js',
  });
  for (const file of ['index.js', 'index.d.ts', 'node.js', 'worker.js', 'common.js', 'embedder.js', 'embedder.d.ts', 'embedder_bg.wasm']) {
    assert.ok(existsSync(join(packageDir, 'embedder', file)), `missing embedder/${file}`);
  }
  const embedderWasm = readFileSync(require.resolve('vecgate/embedder_bg.wasm'));
  assert.ok(WebAssembly.validate(embedderWasm));
  const main = readFileSync(require.resolve('vecgate/vecgate_bg.wasm'));
  const gzipped = gzipSync(main, { level: 9 }).length;
  assert.ok(gzipped <= 92_160, `vecgate_bg.wasm is ${gzipped} B gzipped, over 90 KB`);
  assert.ok(embedderWasm.length > 10 * main.length, 'the embedder is not in the main .wasm');
});

test('the browser entry of vecgate/embedder throws the SIMD Error on engines without it', () => {
  const out = runNode(
    `WebAssembly.validate = () => false;
     try { await import(${JSON.stringify(join(packageDir, 'embedder', 'index.js'))}); console.log('loaded'); }
     catch (e) { console.log(e instanceof Error, e.message); }`,
  );
  assert.match(out, /^true vecgate needs WebAssembly with SIMD/);
});
