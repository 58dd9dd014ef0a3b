// Loads the package on the page (through the import map) and in a module Worker, and runs the
// same checks in both; the Node test reads window.pageResult and window.workerResult.
import * as vecgate from 'vecgate';
import { runChecks } from './checks.mjs';

const failure = (error) => ({ failed: String(error?.stack ?? error) });

window.pageResult = runChecks(vecgate).catch(failure);

window.workerResult = new Promise((resolve) => {
  const entry = import.meta.resolve('vecgate');
  const worker = new Worker(`./worker.mjs?entry=${encodeURIComponent(entry)}`, { type: 'module' });
  worker.onmessage = (event) => resolve(event.data);
  worker.onerror = (event) => resolve(failure(event.message || 'the Worker failed to load'));
});
