// Loads the package on the page (through the import map; `await init()` first) and in a module
// Worker, and runs the same checks in both: the candidate set's (page.html) or the HNSW Index's (page.html?checks=index).
// The Node test reads window.pageResult and window.workerResult.
import * as vecgate from 'vecgate';
import { runChecks, runIndexChecks } from './checks.mjs';

const failure = (error) => ({ failed: String(error?.stack ?? error) });
const checks = new URL(location.href).searchParams.get('checks') ?? 'movies';
const run = { movies: runChecks, index: runIndexChecks }[checks];

window.pageResult = vecgate.init().then(() => run(vecgate)).catch(failure);

window.workerResult = new Promise((resolve) => {
  const entry = import.meta.resolve('vecgate');
  const url = `./worker.mjs?entry=${encodeURIComponent(entry)}&checks=${checks}`;
  const worker = new Worker(url, { type: 'module' });
  worker.onmessage = (event) => resolve(event.data);
  worker.onerror = (event) => resolve(failure(event.message || 'the Worker failed to load'));
});
